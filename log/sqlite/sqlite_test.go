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

// TestIntegrateRefusesCorruptEntry: an entry altered after it was
// sequenced, before it was integrated, is refused by Integrate, which
// changes nothing; the tree never commits to bytes other than those
// acknowledged.
func TestIntegrateRefusesCorruptEntry(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var leaves []log.Leaf
	for i := 0; i < 5; i++ {
		data := []byte(fmt.Sprint("entry ", i))
		leaves = append(leaves, log.Leaf{Data: data, Hash: tiles.LeafHash(data)})
	}
	if _, err := s.Sequence(ctx, leaves); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, sqlite.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE entries SET data = 'entry X' WHERE idx = 3`); err != nil {
		t.Fatal(err)
	}
	_, err = s.Integrate(ctx, 10)
	var ce *log.CorruptError
	if !errors.As(err, &ce) || ce.Index != 3 || !bytes.Equal(ce.Want, leaves[3].Hash) {
		t.Fatalf("Integrate of a corrupt entry = %v, want a CorruptError for entry 3", err)
	}
	if tree, _, err := s.Tree(ctx); err != nil || tree.Size != 0 {
		t.Errorf("after the refusal the tree is %+v, %v; want it unchanged", tree, err)
	}
}
