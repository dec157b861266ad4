package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/sqlite"
	"github.com/fwledger/fwledger/log/storagetest"
	"github.com/fwledger/fwledger/tiles"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) log.Storage {
		s, err := sqlite.Open(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestConformanceFaulty runs the conformance suite on the fault-injecting
// wrapper with no fault set: it is the storage it wraps.
func TestConformanceFaulty(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) log.Storage {
		s, err := sqlite.Open(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return storagetest.NewFaulty(s)
	})
}

// TestFaults checks what each injected fault leaves behind: nothing before
// the commit; the write after it, or on a failed sync (with EIO).
func TestFaults(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		fault   storagetest.Fault
		written bool
		eio     bool
	}{
		{storagetest.BeforeCommit, false, false},
		{storagetest.AfterCommit, true, false},
		{storagetest.OnSync, true, true},
	} {
		s, err := sqlite.Open(ctx, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		f := storagetest.NewFaulty(s)
		f.Fail(storagetest.OpSequence, tc.fault)
		_, err = f.Sequence(ctx, []log.Leaf{{Data: []byte("a"), Hash: tiles.LeafHash([]byte("a"))}})
		if !errors.Is(err, storagetest.ErrInjected) || errors.Is(err, syscall.EIO) != tc.eio {
			t.Errorf("%s: Sequence = %v", tc.fault, err)
		}
		if _, n, err := f.Tree(ctx); err != nil || (n == 1) != tc.written {
			t.Errorf("%s: %d entries sequenced (%v), want written %v", tc.fault, n, err, tc.written)
		}
		// The fault was for one call only.
		if _, err := f.Sequence(ctx, []log.Leaf{{Data: []byte("b"), Hash: tiles.LeafHash([]byte("b"))}}); err != nil {
			t.Errorf("%s: the next Sequence = %v", tc.fault, err)
		}
		s.Close()
	}
}

// TestSecondOpenRefused shows that a second opener of a data directory is
// refused while the first holds it, and admitted after it closes.
func TestSecondOpenRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, dir); !errors.Is(err, sqlite.ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := s2.IntegrityCheck(ctx); err != nil {
		t.Error(err)
	}
	s2.Close()
}

// openWithDB opens a storage in a new directory, and its database file
// directly, for a test to alter behind the storage's back.
func openWithDB(t *testing.T) (*sqlite.Storage, *sql.DB) {
	t.Helper()
	dir := t.TempDir()
	s, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, sqlite.DatabaseFile)+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, db
}

// TestIntegrateRefusesCorruptEntry: an entry altered after it was
// sequenced, before it was integrated, is refused by Integrate, which
// changes nothing; the tree never commits to bytes other than those
// acknowledged.
func TestIntegrateRefusesCorruptEntry(t *testing.T) {
	ctx := context.Background()
	s, db := openWithDB(t)
	var leaves []log.Leaf
	for i := 0; i < 5; i++ {
		data := []byte(fmt.Sprint("entry ", i))
		leaves = append(leaves, log.Leaf{Data: data, Hash: tiles.LeafHash(data)})
	}
	if _, err := s.Sequence(ctx, leaves); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE entries SET data = 'entry X' WHERE idx = 3`); err != nil {
		t.Fatal(err)
	}
	_, err := s.Integrate(ctx, 10)
	var ce *log.CorruptError
	if !errors.As(err, &ce) || ce.Index != 3 || !bytes.Equal(ce.Want, leaves[3].Hash) {
		t.Fatalf("Integrate of a corrupt entry = %v, want a CorruptError for entry 3", err)
	}
	if tree, _, err := s.Tree(ctx); err != nil || tree.Size != 0 {
		t.Errorf("after the refusal the tree is %+v, %v; want it unchanged", tree, err)
	}
}

// TestDuplicateByLeafPrefix checks duplicate detection now that an entry's
// first lookup row holds only a prefix of its leaf hash: an entry that
// shares the prefix but not the hash is new (and is offered to Dedup as
// another entry under the key), an exact duplicate is found whether its
// original is in the entries table or in a full entry bundle (without
// reading the bundle), and rows written with more of the hash, as before,
// still match.
func TestDuplicateByLeafPrefix(t *testing.T) {
	ctx := context.Background()
	s, db := openWithDB(t)
	key := []byte("image")
	first := log.Leaf{Data: []byte("first"), Hash: tiles.LeafHash([]byte("first")), Keys: [][]byte{key}}
	if _, err := s.Sequence(ctx, []log.Leaf{first}); err != nil {
		t.Fatal(err)
	}
	// An entry row from before leaf hashes were kept: the hash comes from
	// the data.
	if _, err := db.Exec(`UPDATE entries SET leaf = NULL WHERE idx = 0`); err != nil {
		t.Fatal(err)
	}
	// Another entry whose (claimed) leaf hash shares the first 8 bytes (more
	// than the row holds).
	collide := append(append([]byte(nil), first.Hash[:8]...), bytes.Repeat([]byte{1}, 24)...)
	var offered []uint64
	other := log.Leaf{Data: []byte("other"), Hash: collide, Keys: [][]byte{key}, Dedup: func(idxs []uint64, more bool) (uint64, bool) {
		offered = idxs
		return 0, false
	}}
	res, err := s.Sequence(ctx, []log.Leaf{other, first})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Dup || res[0].Index != 1 {
		t.Errorf("an entry sharing only the prefix = %+v, want new at index 1", res[0])
	}
	if len(offered) != 1 || offered[0] != 0 {
		t.Errorf("Dedup was offered %v, want [0]", offered)
	}
	if !res[1].Dup || res[1].Index != 0 {
		t.Errorf("the first entry again = %+v, want a duplicate of 0", res[1])
	}

	// Fill the first entry bundle, so that entry 0 moves out of the entries
	// table, and submit it again.
	var fill []log.Leaf
	for i := 2; i < tiles.Width+1; i++ {
		d := []byte(fmt.Sprint("fill ", i))
		fill = append(fill, log.Leaf{Data: d, Hash: tiles.LeafHash(d)})
	}
	fill = append(fill, log.Leaf{Data: []byte("tail"), Hash: tiles.LeafHash([]byte("tail"))})
	if _, err := s.Sequence(ctx, fill); err != nil {
		t.Fatal(err)
	}
	// Entry 1's stored leaf hash is not its data's (the test claimed one),
	// so integration stops there; correct it first, as a real leaf would be.
	if _, err := db.Exec(`UPDATE entries SET leaf = ? WHERE idx = 1`, tiles.LeafHash([]byte("other"))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Integrate(ctx, tiles.Width+10); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM entries WHERE idx = 0`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("entry 0 is still in the entries table (%d, %v)", n, err)
	}
	// The hash of a bundled entry comes from its level-0 tile: a replay,
	// which anyone can send, must not cost a read of a whole entry bundle.
	// Without the bundle, the duplicate is still found.
	if _, err := db.Exec(`DELETE FROM bundles WHERE idx = 0`); err != nil {
		t.Fatal(err)
	}
	res, err = s.Sequence(ctx, []log.Leaf{first})
	if err != nil || !res[0].Dup || res[0].Index != 0 {
		t.Errorf("entry 0 again, once bundled = %+v, %v; want a duplicate of 0", res, err)
	}

	// Rows written with more of the leaf hash, as before: 8 bytes, and all.
	for _, n := range []int{8, 32} {
		if _, err := db.Exec(`UPDATE lookup SET leaf = ? WHERE key = ? AND idx = 0`, first.Hash[:n], key); err != nil {
			t.Fatal(err)
		}
		res, err = s.Sequence(ctx, []log.Leaf{first})
		if err != nil || !res[0].Dup || res[0].Index != 0 {
			t.Errorf("entry 0 again, under a row with %d bytes of its hash = %+v, %v; want a duplicate of 0", n, res, err)
		}
	}
}
