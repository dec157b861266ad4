package log_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/sqlite"
	"github.com/fwledger/fwledger/log/storagetest"
	"github.com/fwledger/fwledger/tiles"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// mechanism is a running log over SQLite in a temporary directory, with no
// ledger in front of it: entries are opaque bytes.
type mechanism struct {
	*log.Log
	verifier note.Verifier
	stop     func()
}

func startMechanism(t *testing.T, cfg log.Config) *mechanism {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "example.com/mechanism")
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return runMechanism(t, cfg, skey, vkey, store)
}

// runMechanism opens a log over store with the key skey (vkey) and runs it
// until the test ends, or until stop is called; stop closes store.
func runMechanism(t *testing.T, cfg log.Config, skey, vkey string, store log.Storage) *mechanism {
	t.Helper()
	ctx := context.Background()
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	cfg.Signer, cfg.Verifier, cfg.VerifierKey, cfg.Storage = signer, verifier, vkey, store
	cfg.IntegrateInterval = time.Millisecond
	cfg.Logger = slog.New(slog.DiscardHandler)
	l, err := log.New(ctx, cfg)
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.Run(rctx) }()
	m := &mechanism{Log: l, verifier: verifier}
	var once sync.Once
	m.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			store.Close()
		})
	}
	t.Cleanup(func() { m.stop() })
	return m
}

// waitPublished waits until the published checkpoint covers size entries.
func (m *mechanism) waitPublished(t *testing.T, size uint64) log.Published {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if p := m.Published(); p.Size >= size {
			return p
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("the published checkpoint does not reach size %d", size)
	return log.Published{}
}

func leaf(data string, keys ...string) log.Leaf {
	l := log.Leaf{Data: []byte(data)}
	for _, k := range keys {
		l.Keys = append(l.Keys, []byte(k))
	}
	return l
}

// TestMechanism logs opaque entries and checks what the log serves: the
// signed checkpoint, the entries, and inclusion, consistency and tlog-proofs
// that verify against it.
func TestMechanism(t *testing.T) {
	ctx := context.Background()
	m := startMechanism(t, log.Config{})
	var want [][]byte
	for batch := range 3 {
		var leaves []log.Leaf
		for i := range 100 {
			leaves = append(leaves, leaf(fmt.Sprintf("entry %d.%d", batch, i), fmt.Sprintf("key-%d", i%7)))
		}
		seq, err := m.Sequence(ctx, leaves, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range seq {
			if s.Dup || s.Index != uint64(len(want)+i) {
				t.Fatalf("leaf %d of batch %d got %+v, want index %d", i, batch, s, len(want)+i)
			}
		}
		for _, l := range leaves {
			want = append(want, l.Data)
		}
	}
	p := m.waitPublished(t, 300)
	cp, _, _, err := flog.ParseCheckpoint(p.Note, m.verifier.Name(), m.verifier)
	if err != nil {
		t.Fatalf("published checkpoint: %v", err)
	}
	if cp.Size != 300 {
		t.Fatalf("checkpoint size %d, want 300", cp.Size)
	}
	leafHashes := make([][]byte, len(want))
	for i, data := range want {
		leafHashes[i] = rfc6962.DefaultHasher.HashLeaf(data)
		got, err := m.Entry(ctx, uint64(i))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Entry(%d) = %q, %v; want %q", i, got, err, data)
		}
	}
	for _, i := range []uint64{0, 1, 137, 255, 256, 299} {
		hashes, err := m.InclusionProof(ctx, i, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, cp.Size, leafHashes[i], hashes, cp.Hash); err != nil {
			t.Errorf("inclusion proof of %d: %v", i, err)
		}
		raw, err := m.TLogProof(ctx, i)
		if err != nil || !bytes.Contains(raw, p.Note) {
			t.Errorf("TLogProof(%d) = %q, %v; want a proof holding the checkpoint", i, raw, err)
		}
	}
	// The root of any earlier size is consistent with the checkpoint's.
	for _, from := range []uint64{1, 100, 256} {
		hashes, err := m.ConsistencyProof(ctx, from, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		old := rootOf(leafHashes[:from])
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, from, cp.Size, hashes, old, cp.Hash); err != nil {
			t.Errorf("consistency proof from %d: %v", from, err)
		}
	}
	// A full tile and entry bundle, and a partial one.
	if tile, err := m.Tile(ctx, 0, 0, 0); err != nil || len(tile) != tiles.Width*tiles.HashSize || !bytes.Equal(tile[:32], leafHashes[0]) {
		t.Errorf("Tile(0, 0) = %d bytes, %v", len(tile), err)
	}
	bundle, err := m.EntryBundle(ctx, 1, 44)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := tiles.SplitBundle(bundle)
	if err != nil || len(entries) != 44 || !bytes.Equal(entries[43], want[299]) {
		t.Errorf("EntryBundle(1, 44) = %d entries, %v", len(entries), err)
	}
	// Lookups by key find the entries sequenced under it, in order.
	idx, err := m.Lookup(ctx, []byte("key-3"), -1, 1000)
	if err != nil || len(idx) != 3*14 || idx[0] != 3 || idx[1] != 10 {
		t.Errorf("Lookup(key-3) = %v, %v", idx, err)
	}
}

// rootOf is the RFC 6962 root of leaf hashes, computed the slow way.
func rootOf(hashes [][]byte) []byte {
	if len(hashes) == 1 {
		return hashes[0]
	}
	k := 1
	for k*2 < len(hashes) {
		k *= 2
	}
	return rfc6962.DefaultHasher.HashChildren(rootOf(hashes[:k]), rootOf(hashes[k:]))
}

// TestSequenceDedup checks deduplication: the same bytes get the earlier
// index, in another call or the same one, and a leaf's Dedup can answer with
// an entry of other bytes under its first key.
func TestSequenceDedup(t *testing.T) {
	ctx := context.Background()
	m := startMechanism(t, log.Config{})
	seq, err := m.Sequence(ctx, []log.Leaf{leaf("a", "k"), leaf("b", "k"), leaf("a", "k")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if seq[0] != (log.Sequenced{Index: 0}) || seq[1] != (log.Sequenced{Index: 1}) || seq[2] != (log.Sequenced{Index: 0, Dup: true}) {
		t.Fatalf("Sequence = %+v", seq)
	}
	again, err := m.Sequence(ctx, []log.Leaf{leaf("b", "k")}, nil)
	if err != nil || again[0] != (log.Sequenced{Index: 1, Dup: true}) {
		t.Fatalf("Sequence of b again = %+v, %v", again, err)
	}
	// "c" under key k: Dedup sees the candidates and calls it a copy of 1.
	var saw []uint64
	c := leaf("c", "k")
	c.Dedup = func(indices []uint64, more bool) (uint64, bool) {
		saw = indices
		return 1, true
	}
	dup, err := m.Sequence(ctx, []log.Leaf{c}, nil)
	if err != nil || dup[0] != (log.Sequenced{Index: 1, Dup: true}) {
		t.Fatalf("Sequence with Dedup = %+v, %v", dup, err)
	}
	if len(saw) != 2 || saw[0] != 0 || saw[1] != 1 {
		t.Errorf("Dedup saw candidates %v, want [0 1]", saw)
	}
	// Declined, it is logged.
	c.Dedup = func([]uint64, bool) (uint64, bool) { return 0, false }
	if s, err := m.Sequence(ctx, []log.Leaf{c}, nil); err != nil || s[0] != (log.Sequenced{Index: 2}) {
		t.Fatalf("Sequence with Dedup declining = %+v, %v", s, err)
	}
}

// TestSequenceRefuses checks what Sequence refuses, and that done is called
// whatever happens.
func TestSequenceRefuses(t *testing.T) {
	ctx := context.Background()
	m := startMechanism(t, log.Config{})
	calls := 0
	_, err := m.Sequence(ctx, []log.Leaf{{Data: make([]byte, tiles.MaxEntrySize+1)}}, func() { calls++ })
	if !errors.Is(err, log.ErrEntryTooLarge) {
		t.Errorf("Sequence of an entry over %d bytes = %v, want ErrEntryTooLarge", tiles.MaxEntrySize, err)
	}
	if _, err := m.Sequence(ctx, []log.Leaf{leaf("x")}, func() { calls++ }); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("done was called %d times, want 2", calls)
	}
}

// TestRangeErrors checks that proofs beyond the published checkpoint, or for
// inverted ranges, are *RangeError holding what was asked.
func TestRangeErrors(t *testing.T) {
	ctx := context.Background()
	m := startMechanism(t, log.Config{})
	if _, err := m.Sequence(ctx, []log.Leaf{leaf("0"), leaf("1"), leaf("2")}, nil); err != nil {
		t.Fatal(err)
	}
	m.waitPublished(t, 3)
	for _, tc := range []struct {
		name string
		err  error
		want log.RangeError
	}{
		{"inclusion beyond the checkpoint", second(m.InclusionProof(ctx, 1, 4)), log.RangeError{Proof: "inclusion", From: 1, To: 4, Published: 3}},
		{"index not below the size", second(m.InclusionProof(ctx, 2, 2)), log.RangeError{Proof: "inclusion", From: 2, To: 2, Published: 3}},
		{"consistency beyond the checkpoint", second(m.ConsistencyProof(ctx, 1, 9)), log.RangeError{Proof: "consistency", From: 1, To: 9, Published: 3}},
		{"inverted", second(m.ConsistencyProof(ctx, 3, 2)), log.RangeError{Proof: "consistency", From: 3, To: 2, Published: 3}},
		{"from the empty tree", second(m.ConsistencyProof(ctx, 0, 2)), log.RangeError{Proof: "consistency", From: 0, To: 2, Published: 3}},
	} {
		var re *log.RangeError
		if !errors.As(tc.err, &re) || *re != tc.want {
			t.Errorf("%s: %v, want %+v", tc.name, tc.err, tc.want)
		}
	}
	if _, err := m.Entry(ctx, 3); !errors.Is(err, log.ErrNotFound) {
		t.Errorf("Entry beyond the checkpoint = %v, want ErrNotFound", err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestStorageFaults runs the log over a storage that fails one write:
// before its commit, after it, or on the sync that makes it durable. A
// failed Sequence is not acknowledged, and its retry gets the entries'
// indices (the same ones, if the write was made); a failed integration or
// checkpoint write is retried until the log publishes everything; and a
// restart finds every acknowledged entry where it was acknowledged.
func TestStorageFaults(t *testing.T) {
	ctx := context.Background()
	for _, op := range []string{storagetest.OpSequence, storagetest.OpIntegrate, storagetest.OpSetCheckpoint} {
		for _, fault := range []storagetest.Fault{storagetest.BeforeCommit, storagetest.AfterCommit, storagetest.OnSync} {
			t.Run(op+" "+fault.String(), func(t *testing.T) {
				skey, vkey, err := note.GenerateKey(rand.Reader, "example.com/faults")
				if err != nil {
					t.Fatal(err)
				}
				dir := t.TempDir()
				store, err := sqlite.Open(ctx, dir)
				if err != nil {
					t.Fatal(err)
				}
				faulty := storagetest.NewFaulty(store)
				m := runMechanism(t, log.Config{}, skey, vkey, faulty)
				batch := func(from int) []log.Leaf {
					var ls []log.Leaf
					for i := from; i < from+10; i++ {
						ls = append(ls, leaf(fmt.Sprintf("entry %d", i)))
					}
					return ls
				}
				if _, err := m.Sequence(ctx, batch(0), nil); err != nil {
					t.Fatal(err)
				}
				m.waitPublished(t, 10)

				faulty.Fail(op, fault)
				seq, err := m.Sequence(ctx, batch(10), nil)
				if op == storagetest.OpSequence {
					var se *log.StorageError
					if !errors.As(err, &se) {
						t.Fatalf("Sequence under a fault %s = %v, want a *log.StorageError", fault, err)
					}
					// The client retries.
					if seq, err = m.Sequence(ctx, batch(10), nil); err != nil {
						t.Fatalf("retry: %v", err)
					}
					written := fault != storagetest.BeforeCommit
					for i, s := range seq {
						if s.Index != uint64(10+i) || s.Dup != written {
							t.Fatalf("retry: leaf %d got %+v, want index %d, duplicate %v", i, s, 10+i, written)
						}
					}
				} else if err != nil {
					t.Fatalf("Sequence: %v", err)
				}
				m.waitPublished(t, 20)
				if n := faulty.Injected(op); n != 1 {
					t.Errorf("%d faults injected, want 1", n)
				}
				checkEntries(t, m, 20)

				// A restart finds the same log.
				m.stop()
				store, err = sqlite.Open(ctx, dir)
				if err != nil {
					t.Fatal(err)
				}
				m = runMechanism(t, log.Config{}, skey, vkey, store)
				if p := m.Published(); p.Size != 20 {
					t.Fatalf("after a restart the log publishes size %d, want 20", p.Size)
				}
				checkEntries(t, m, 20)
			})
		}
	}
}

// checkEntries checks that entries 0 to n-1 are "entry <i>", included under
// the published checkpoint.
func checkEntries(t *testing.T, m *mechanism, n int) {
	t.Helper()
	ctx := context.Background()
	p := m.Published()
	cp, _, _, err := flog.ParseCheckpoint(p.Note, m.verifier.Name(), m.verifier)
	if err != nil {
		t.Fatalf("published checkpoint: %v", err)
	}
	for i := range n {
		data, err := m.Entry(ctx, uint64(i))
		if err != nil || string(data) != fmt.Sprintf("entry %d", i) {
			t.Fatalf("Entry(%d) = %q, %v", i, data, err)
		}
		hashes, err := m.InclusionProof(ctx, uint64(i), cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), cp.Size, rfc6962.DefaultHasher.HashLeaf(data), hashes, cp.Hash); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
}
