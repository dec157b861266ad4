package fwtest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/revocation"
	"github.com/transparency-dev/formats/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"
)

// CosignAt returns signed with a cosignature/v1 line of each witness key
// appended, timestamped at, for tests of stale or future cosignatures
// (keys' own signer always uses the current time).
func CosignAt(t testing.TB, signed []byte, at time.Time, witnesses ...*keys.PrivateKey) []byte {
	t.Helper()
	out, err := AppendCosignatures(signed, at, witnesses...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// AppendCosignatures is CosignAt for callers without a testing.TB.
func AppendCosignatures(signed []byte, at time.Time, witnesses ...*keys.PrivateKey) ([]byte, error) {
	text, _, ok := bytes.Cut(signed, []byte("\n\n"))
	if !ok {
		return nil, fmt.Errorf("not a signed note: %q", signed)
	}
	out := bytes.Clone(signed)
	for _, w := range witnesses {
		s, err := w.CosignatureSignerAt(at)
		if err != nil {
			return nil, err
		}
		one, err := note.Sign(&note.Note{Text: string(text) + "\n"}, s)
		if err != nil {
			return nil, err
		}
		out = append(out, one[bytes.LastIndex(one, []byte("\n— "))+1:]...)
	}
	return out, nil
}

// A Tree is an in-memory log of entries that makes bundles under
// checkpoints of any size it has reached, signed by LogKey and cosigned
// by Witnesses at CosignTime (the current time if zero): the offline
// counterpart of a real log with witnesses, for tests that need
// checkpoints a log would never sign (forks, stale cosignatures).
type Tree struct {
	LogKey     *keys.PrivateKey
	Witnesses  []*keys.PrivateKey
	CosignTime time.Time
	// Extensions are extension lines for the checkpoints.
	Extensions []string
	entries    [][]byte
	tree       *testonly.Tree
}

// NewTree returns an empty tree, whose checkpoints commit to no
// revocation (as an fwledger log's without any).
func NewTree(logKey *keys.PrivateKey, witnesses ...*keys.PrivateKey) *Tree {
	none, err := revocation.Commit(nil)
	if err != nil {
		panic(err)
	}
	return &Tree{LogKey: logKey, Witnesses: witnesses, Extensions: []string{none.Line()}, tree: testonly.New(rfc6962.DefaultHasher)}
}

// Append adds entries and returns the index of the first.
func (tr *Tree) Append(entries ...[]byte) uint64 {
	first := uint64(len(tr.entries))
	tr.entries = append(tr.entries, entries...)
	tr.tree.AppendData(entries...)
	return first
}

// Size is the number of entries.
func (tr *Tree) Size() uint64 { return uint64(len(tr.entries)) }

// Checkpoint returns the signed and cosigned checkpoint of the first size
// entries.
func (tr *Tree) Checkpoint(t testing.TB, size uint64) []byte {
	t.Helper()
	cp := SignCheckpoint(t, tr.LogKey, size, tr.tree.HashAt(size), tr.Extensions...)
	at := tr.CosignTime
	if at.IsZero() {
		at = time.Now()
	}
	return CosignAt(t, cp, at, tr.Witnesses...)
}

// Bundle returns the bundle of the release at index under the checkpoint
// of the first size entries, with the entries at prov as its provenance,
// and, if from is non-negative, the consistency proof from that size.
func (tr *Tree) Bundle(t testing.TB, index int, size uint64, from int64, prov ...int) []byte {
	t.Helper()
	return tr.BundleUnder(t, tr.Checkpoint(t, size), index, from, prov...)
}

// BundleUnder is Bundle under a given signed checkpoint, whose size and
// root must be one of the tree's.
func (tr *Tree) BundleUnder(t testing.TB, cp []byte, index int, from int64, prov ...int) []byte {
	t.Helper()
	size := checkpointSize(t, cp)
	entry := func(i int) bundle.Entry {
		hashes, err := tr.tree.InclusionProof(uint64(i), size)
		if err != nil {
			t.Fatal(err)
		}
		tp := proof.TLogProof{Index: uint64(i), Checkpoint: cp}
		for _, h := range hashes {
			tp.Hashes = append(tp.Hashes, [32]byte(h))
		}
		return bundle.Entry{Data: tr.entries[i], Proof: tp}
	}
	b := &bundle.Bundle{Release: entry(index)}
	for _, i := range prov {
		b.Provenance = append(b.Provenance, entry(i))
	}
	if from >= 0 {
		hashes, err := tr.tree.ConsistencyProof(uint64(from), size)
		if err != nil {
			t.Fatal(err)
		}
		b.Consistency = &bundle.Consistency{From: uint64(from), Hashes: hashes}
	}
	out, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkpointSize(t testing.TB, cp []byte) uint64 {
	t.Helper()
	var size uint64
	lines := bytes.SplitN(cp, []byte("\n"), 3)
	if len(lines) < 3 {
		t.Fatalf("not a checkpoint: %q", cp)
	}
	if _, err := fmt.Sscanf(string(lines[1]), "%d", &size); err != nil {
		t.Fatalf("checkpoint size line %q: %v", lines[1], err)
	}
	return size
}

// Entry returns the entry at index i.
func (tr *Tree) Entry(i uint64) []byte { return tr.entries[i] }

// Root returns the root hash of the first size entries.
func (tr *Tree) Root(size uint64) []byte { return tr.tree.HashAt(size) }
