// Package handover is how a log hands over to a successor when its key
// changes. A new log key means a new origin (C2SP tlog-checkpoint: the key
// name is the origin), so the old log is frozen: its last entry names the
// successor, and every checkpoint from then on, the final one, carries an
// extension line naming it too:
//
//	example.com/fwlog
//	1424
//	8qHfpT1hK2vnLSDnDvlwTwkTCE9oXTlk4eDvS9CQLYc=
//	fwledger.dev/revocations 2 pX0pQhUdN8Gx3bzeuAo7yhQXSA0T6rNGfWRS+IF5Zt4=
//	fwledger.dev/successor example.com/fwlog-2027+7c1a4f00+AaRz...
//
// A verifier that trusts the old log key verifies the final checkpoint
// and takes the successor's key from it ([Verify]); an auditor finds the
// same successor in the final entry, which the tree holds for everyone.
// The old log takes no entry after it.
package handover

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/fwledger/fwledger/tlogpolicy"
	flog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// LineKeyword starts the checkpoint extension line naming the successor.
const LineKeyword = "fwledger.dev/successor"

// leafPrefix starts the handover entry.
const leafPrefix = "fwledger.dev/handover/v1\nsuccessor "

// Leaf returns the log entry that freezes a log and names its successor
// by its verifier key.
func Leaf(successor string) []byte {
	return []byte(leafPrefix + successor + "\n")
}

// ParseLeaf returns the successor's verifier key a handover entry names,
// or false if data is not one.
func ParseLeaf(data []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(data, []byte(leafPrefix))
	if !ok || len(rest) == 0 || rest[len(rest)-1] != '\n' {
		return "", false
	}
	vkey := string(rest[:len(rest)-1])
	if _, err := note.NewVerifier(vkey); err != nil || strings.ContainsAny(vkey, "\n ") {
		return "", false
	}
	return vkey, true
}

// Line returns the checkpoint extension line naming the successor.
func Line(successor string) string { return LineKeyword + " " + successor }

// Check checks that successor, a verifier key, can succeed the log whose
// origin is origin: a valid key under another name.
func Check(origin, successor string) error {
	v, err := note.NewVerifier(successor)
	if err != nil {
		return fmt.Errorf("invalid successor key: %w", err)
	}
	if v.Name() == origin {
		return fmt.Errorf("the successor's key is named %q, the log's own origin: a new log key needs a new origin", origin)
	}
	return nil
}

// ErrNotFrozen is returned by Verify for a checkpoint that names no
// successor.
var ErrNotFrozen = errors.New("the checkpoint names no successor: the log is not frozen")

// Verify verifies the final checkpoint of a frozen log with the old log's
// verifier, and returns it and a verifier of the successor it names. It
// trusts the old key alone: a verifier with a witness policy uses
// VerifyUnder.
func Verify(old note.Verifier, final []byte) (*flog.Checkpoint, note.Verifier, error) {
	cp, ext, _, err := flog.ParseCheckpoint(final, old.Name(), old)
	if err != nil {
		return nil, nil, fmt.Errorf("the final checkpoint does not verify with the old log's key: %w", err)
	}
	return successorOf(cp, ext)
}

// VerifyUnder is Verify for a verifier that trusts the old log, whose
// origin is origin, under a witness policy: the checkpoint must also
// carry the policy's quorum of cosignatures. Witnesses do not judge
// extension lines, so this does not stop a holder of the old log key from
// naming a successor; it makes the naming public: the witnesses hold it
// (and serve it from their history), and the honest log's next checkpoint
// is then a fork they refuse. A device accepts a successor only if its
// trust names it too, and checks the checkpoint against the one it
// stored, as for any checkpoint.
func VerifyUnder(p *tlogpolicy.Policy, origin string, final []byte) (*flog.Checkpoint, note.Verifier, error) {
	v, err := p.VerifyCheckpoint(final)
	if err != nil {
		return nil, nil, fmt.Errorf("the final checkpoint does not meet the witness policy: %w", err)
	}
	if v.Checkpoint.Origin != origin {
		return nil, nil, fmt.Errorf("the checkpoint is of the log %q, not %q", v.Checkpoint.Origin, origin)
	}
	return successorOf(&v.Checkpoint, v.Extensions)
}

// successorOf returns the successor the extension lines of cp name.
func successorOf(cp *flog.Checkpoint, ext []byte) (*flog.Checkpoint, note.Verifier, error) {
	successor, err := successorIn(ext)
	if err != nil {
		return nil, nil, err
	}
	if err := Check(cp.Origin, successor); err != nil {
		return nil, nil, err
	}
	v, _ := note.NewVerifier(successor)
	return cp, v, nil
}

// successorIn returns the successor a checkpoint's extension lines name.
func successorIn(ext []byte) (string, error) {
	var successor string
	for _, l := range strings.Split(strings.TrimSuffix(string(ext), "\n"), "\n") {
		kw, rest, _ := strings.Cut(l, " ")
		if kw != LineKeyword {
			continue
		}
		if successor != "" {
			return "", fmt.Errorf("the checkpoint has two %s lines", LineKeyword)
		}
		if rest == "" {
			return "", fmt.Errorf("the %s line names no key", LineKeyword)
		}
		successor = rest
	}
	if successor == "" {
		return "", ErrNotFrozen
	}
	return successor, nil
}
