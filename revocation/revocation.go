// Package revocation is what a verifier needs so that a log cannot hide a
// revocation from it: the checkpoint extension line by which the log
// commits to every revocation logged below the checkpoint's size, and the
// set of revocations that line is checked against and that revokes keys
// and releases.
//
// # The commitment
//
// Every checkpoint an fwledger log signs carries one extension line (C2SP
// tlog-checkpoint) after its root hash:
//
//	example.com/fwlog
//	1423
//	pX0pQhUdN8Gx3bzeuAo7yhQXSA0T6rNGfWRS+IF5Zt4=
//	fwledger.dev/revocations 2 8qHfpT1hK2vnLSDnDvlwTwkTCE9oXTlk4eDvS9CQLYc=
//
// The line gives the number of revocation entries the log holds below
// the checkpoint's size and the RFC 6962 Merkle tree hash of their leaf
// hashes (the log's own leaf hashes), in log order; with none, the count
// is 0 and the hash is that of the empty tree. A bundle carries those
// revocations, each with its inclusion proof, so a verifier recomputes
// the line from what it holds: a bundle that leaves one out, adds one or
// reorders them does not match the signed line (docs/FORMATS.md,
// "Revocations"; DESIGN.md threat 13).
//
// The line is the log's signed claim. A log that lies in it signs the lie
// under its key, to everyone its witnesses cosign for; an auditor, which
// reads every entry, recomputes the line of every checkpoint it sees and
// holds the signed checkpoint and the omitted revocation's inclusion
// proof as evidence.
package revocation

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fwledger/fwledger/bundle"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// LineKeyword starts the commitment's extension line.
const LineKeyword = "fwledger.dev/revocations"

// MaxRevocations is the most revocations a log holds: a bundle carries
// them all.
const MaxRevocations = bundle.MaxRevocations

// MaxSize is the largest revocation entry a log takes.
const MaxSize = bundle.MaxRevocationSize

// A Commitment is what a checkpoint's extension line says: how many
// revocations the log holds below the checkpoint's size, and the Merkle
// tree hash of their leaf hashes in log order.
type Commitment struct {
	Count uint64
	Root  []byte
}

// Commit returns the commitment to revocations whose leaf hashes, in log
// order, are leafHashes.
func Commit(leafHashes [][]byte) (Commitment, error) {
	c := Commitment{Count: uint64(len(leafHashes)), Root: rfc6962.DefaultHasher.EmptyRoot()}
	if len(leafHashes) == 0 {
		return c, nil
	}
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for _, h := range leafHashes {
		if len(h) != rfc6962.DefaultHasher.Size() {
			return Commitment{}, fmt.Errorf("a leaf hash is %d bytes, want %d", len(h), rfc6962.DefaultHasher.Size())
		}
		if err := r.Append(h, nil); err != nil {
			return Commitment{}, err
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return Commitment{}, err
	}
	c.Root = root
	return c, nil
}

// Line returns the checkpoint extension line of c, without a newline.
func (c Commitment) Line() string {
	return fmt.Sprintf("%s %d %s", LineKeyword, c.Count, base64.StdEncoding.EncodeToString(c.Root))
}

// Equal reports whether c and o commit to the same revocations.
func (c Commitment) Equal(o Commitment) bool {
	return c.Count == o.Count && bytes.Equal(c.Root, o.Root)
}

// ErrNoCommitment is returned by FromCheckpoint for a checkpoint without
// the line: a log that predates revocations, or is not an fwledger log.
var ErrNoCommitment = errors.New("the checkpoint commits to no revocation set (no " + LineKeyword + " line): the log predates revocations or is not an fwledger log")

// FromCheckpoint returns the commitment in the text of a checkpoint (the
// note text, or the signed note: its text is read up to its last blank
// line, as note.Open reads it; a text with an empty line is refused).
// It does not verify the checkpoint: pass only checkpoint text that
// verified. Other extension lines are ignored; a second commitment line,
// or a malformed one, is an error.
func FromCheckpoint(text []byte) (Commitment, error) {
	// The text ends where a signed note's does: at its last blank line.
	body := text
	if i := bytes.LastIndex(text, []byte("\n\n")); i >= 0 {
		body = text[:i]
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines) < 3 {
		return Commitment{}, errors.New("not a checkpoint: fewer than three lines")
	}
	if slices.Contains(lines, "") {
		return Commitment{}, errors.New("not a checkpoint: an empty line in its text")
	}
	var found *Commitment
	for _, l := range lines[3:] {
		kw, rest, _ := strings.Cut(l, " ")
		if kw != LineKeyword {
			continue
		}
		if found != nil {
			return Commitment{}, fmt.Errorf("the checkpoint has two %s lines", LineKeyword)
		}
		c, err := parseLine(rest)
		if err != nil {
			return Commitment{}, fmt.Errorf("malformed %s line %q: %w", LineKeyword, truncate(l), err)
		}
		found = &c
	}
	if found == nil {
		return Commitment{}, ErrNoCommitment
	}
	return *found, nil
}

// parseLine parses "<count> <base64 root>", in canonical form only.
func parseLine(s string) (Commitment, error) {
	n, root, ok := strings.Cut(s, " ")
	if !ok {
		return Commitment{}, errors.New("want a count and a root hash")
	}
	count, err := strconv.ParseUint(n, 10, 64)
	if err != nil || strconv.FormatUint(count, 10) != n {
		return Commitment{}, errors.New("the count is not a decimal number without leading zeros")
	}
	h, err := base64.StdEncoding.DecodeString(root)
	if err != nil || len(h) != rfc6962.DefaultHasher.Size() || base64.StdEncoding.EncodeToString(h) != root {
		return Commitment{}, errors.New("the root is not the standard base64 of 32 bytes")
	}
	if count == 0 && !bytes.Equal(h, rfc6962.DefaultHasher.EmptyRoot()) {
		return Commitment{}, errors.New("a count of 0 with a root other than the empty tree's")
	}
	if count > MaxRevocations {
		return Commitment{}, fmt.Errorf("a count of %d, more than the %d a log holds", count, MaxRevocations)
	}
	return Commitment{Count: count, Root: h}, nil
}

func truncate(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
