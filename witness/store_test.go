package witness_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/witness"
)

// TestStoreGroupCommit writes from many goroutines at once, so that the
// committer groups them: every write lands, a write for a smaller size is
// refused without affecting the others in its group, and the state is on
// disk after reopening.
func TestStoreGroupCommit(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := witness.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := set(ctx, s, "log-0", witness.State{Size: 10, Root: hash("r10"), Note: []byte("n10")}); err != nil {
		t.Fatal(err)
	}
	if err := set(ctx, s, "log-0", witness.State{Size: 11, Root: []byte("r11"), Note: []byte("n11")}); err == nil {
		t.Error("a root hash of 3 bytes was stored")
	}
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range 200 {
		wg.Go(func() {
			st := witness.State{Size: uint64(i + 1), Root: hash("r"), Note: fmt.Appendf(nil, "n%d", i)}
			origin := fmt.Sprintf("log-%d", i)
			if i == 0 {
				st.Size = 5 // smaller than the stored 10
			}
			errs[i] = set(ctx, s, origin, st)
		})
	}
	wg.Wait()
	if errs[0] == nil {
		t.Error("a smaller size was stored")
	}
	if got := s.Writes(); got != 200 {
		t.Errorf("Writes() = %d, want 200: the first state and 199 of the 200 in the group", got)
	}
	for i, err := range errs[1:] {
		if err != nil {
			t.Errorf("log-%d: %v", i+1, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := set(ctx, s, "log-1", witness.State{Size: 99}); !errors.Is(err, witness.ErrClosed) {
		t.Errorf("Update after Close = %v, want ErrClosed", err)
	}
	s, err = witness.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all := s.All()
	if len(all) != 200 || all["log-0"].Size != 10 || string(all["log-0"].Note) != "n10" || all["log-199"].Size != 200 {
		t.Errorf("after reopening: %d logs, log-0 %+v, log-199 %+v", len(all), all["log-0"], all["log-199"])
	}
}

// set stores st as origin's state, with an Update that takes it as it is:
// what the store itself refuses, it refuses.
func set(ctx context.Context, s *witness.Store, origin string, st witness.State) error {
	return s.Update(ctx, origin, func(witness.State, bool) (*witness.State, error) { return &st, nil })
}

// hash returns the SHA-256 hash of s, a root hash for tests.
func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// TestStoreHistoryAndForks checks the bounds of what a store keeps per
// log: the history of cosigned checkpoints keeps the newest, in the
// database and in memory, also after reopening; fork evidence is stored
// once per offered root and up to a cap, and another root for the stored
// size is refused.
func TestStoreHistoryAndForks(t *testing.T) {
	defer witness.SetBounds(4, 3)()
	ctx := context.Background()
	dir := t.TempDir()
	s, err := witness.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	// checkHistory checks that the history holds the sizes from first to
	// last, in the database and in memory.
	checkHistory := func(first, last uint64) {
		t.Helper()
		for size := uint64(1); size <= last+1; size++ {
			want := first <= size && size <= last
			st, ok, err := s.History(ctx, "log", size)
			if err != nil {
				t.Fatal(err)
			}
			if ok != want || ok && (!bytes.Equal(st.Root, hash(fmt.Sprint("r", size))) || string(st.Note) != fmt.Sprintf("n%d", size)) {
				t.Errorf("History(%d) = %x, %q, %v; want it kept: %v", size, st.Root, st.Note, ok, want)
			}
			root, ok := s.CosignedRoot("log", size)
			if ok != want || ok && !bytes.Equal(root, hash(fmt.Sprint("r", size))) {
				t.Errorf("CosignedRoot(%d) = %x, %v; want it kept: %v", size, root, ok, want)
			}
		}
	}
	for size := uint64(1); size <= 10; size++ {
		st := witness.State{Size: size, Root: hash(fmt.Sprint("r", size)), Note: fmt.Appendf(nil, "n%d", size)}
		if err := set(ctx, s, "log", st); err != nil {
			t.Fatal(err)
		}
		// A history of 4 (4/16 = 0 more) is pruned back to 4 at its fifth.
		first := uint64(1)
		if size > 4 {
			first = size - 3
		}
		checkHistory(first, size)
	}
	if err := set(ctx, s, "log", witness.State{Size: 10, Root: hash("other"), Note: []byte("other")}); err == nil {
		t.Error("another root for the stored size was stored")
	}
	checkHistory(7, 10)
	if _, ok, _ := s.History(ctx, "another log", 10); ok {
		t.Error("History of another log found")
	}
	if _, ok := s.CosignedRoot("another log", 10); ok {
		t.Error("CosignedRoot of another log found")
	}

	writes := s.Writes()
	for i, tc := range []struct {
		size  uint64
		root  string
		added bool
		err   error
	}{
		{8, "a", true, nil},
		{8, "a", false, nil}, // the same again
		{8, "b", true, nil},
		{9, "a", true, nil},
		{9, "a", false, nil},
		{7, "c", false, witness.ErrForksFull},
	} {
		f := witness.Fork{Origin: "log", Size: tc.size, Held: []byte("held"), Offered: fmt.Appendf(nil, "offered %d", i), OfferedRoot: []byte(tc.root), Seen: time.Now()}
		if added, err := s.AddFork(ctx, f); added != tc.added || !errors.Is(err, tc.err) {
			t.Errorf("AddFork(size %d, root %q) = %v, %v; want %v, %v", tc.size, tc.root, added, err, tc.added, tc.err)
		}
	}
	if added, err := s.AddFork(ctx, witness.Fork{Origin: "another log", Size: 1, OfferedRoot: []byte("a"), Held: []byte("h"), Offered: []byte("o")}); !added || err != nil {
		t.Errorf("AddFork for another log = %v, %v; the cap is per log", added, err)
	}
	forks, err := s.Forks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(forks) != 4 || string(forks[0].Offered) != "offered 0" || string(forks[0].OfferedRoot) != "a" {
		t.Errorf("Forks() = %+v, want 4, the first offered first", forks)
	}
	if got := s.Writes() - writes; got != 4 {
		t.Errorf("%d writes for 4 forks stored", got)
	}

	// After reopening: the history is the same, in memory too, and the
	// evidence kept is known without a write.
	s.Close()
	if s, err = witness.OpenStore(ctx, dir); err != nil {
		t.Fatal(err)
	}
	checkHistory(7, 10)
	for _, f := range []witness.Fork{
		{Origin: "log", Size: 8, Held: []byte("held"), Offered: []byte("again"), OfferedRoot: []byte("b")},
		{Origin: "log", Size: 9, Held: []byte("held"), Offered: []byte("new"), OfferedRoot: []byte("b")},
	} {
		if added, err := s.AddFork(ctx, f); added || err != nil && !errors.Is(err, witness.ErrForksFull) {
			t.Errorf("AddFork(size %d, root %q) after reopening = %v, %v; want false", f.Size, f.OfferedRoot, added, err)
		}
	}
	if s.Writes() != 0 {
		t.Errorf("%d writes after reopening, want none", s.Writes())
	}
}

// TestStoreMigration opens a database made before the history and the
// deduplication of forks: the latest checkpoint starts the history, the
// old evidence stays, and new evidence is deduplicated.
func TestStoreMigration(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, witness.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`
CREATE TABLE latest (origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL, note BLOB NOT NULL, updated INTEGER NOT NULL);
CREATE TABLE forks (id INTEGER PRIMARY KEY, origin TEXT NOT NULL, size INTEGER NOT NULL, held BLOB NOT NULL, offered BLOB NOT NULL, seen INTEGER NOT NULL);
INSERT INTO latest VALUES ('log', 7, zeroblob(32), 'n7', 0);
INSERT INTO forks (origin, size, held, offered, seen) VALUES ('log', 7, 'n7', 'old evidence', 0);`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for range 2 { // the migration runs at each opening
		s, err := witness.OpenStore(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if st, ok, err := s.History(ctx, "log", 7); err != nil || !ok || string(st.Note) != "n7" {
			t.Errorf("History(7) after the migration = %+v, %v, %v", st, ok, err)
		}
		if root, ok := s.CosignedRoot("log", 7); !ok || !bytes.Equal(root, make([]byte, 32)) {
			t.Errorf("CosignedRoot(7) after the migration = %x, %v", root, ok)
		}
		f := witness.Fork{Origin: "log", Size: 7, Held: []byte("n7"), Offered: []byte("new evidence"), OfferedRoot: []byte("x")}
		if _, err := s.AddFork(ctx, f); err != nil {
			t.Fatal(err)
		}
		forks, err := s.Forks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(forks) != 2 || string(forks[0].Offered) != "old evidence" || string(forks[1].Offered) != "new evidence" {
			t.Errorf("Forks() after the migration = %+v", forks)
		}
		s.Close()
	}
}

// TestStoreHistoryInMemory writes the histories of two logs at once, so
// that the committer groups their writes, with a history bound that
// prunes a few rows at a time: the history in memory always matches the
// database, and holds the newest, at least the bound and at most a
// sixteenth more.
func TestStoreHistoryInMemory(t *testing.T) {
	const bound = 32
	defer witness.SetBounds(bound, 3)()
	ctx := context.Background()
	s, err := witness.OpenStore(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const last = 100
	var wg sync.WaitGroup
	for _, origin := range []string{"log-a", "log-b"} {
		wg.Go(func() {
			for size := uint64(1); size <= last; size++ {
				st := witness.State{Size: size, Root: hash(fmt.Sprint(origin, size)), Note: fmt.Appendf(nil, "n%d", size)}
				if err := set(ctx, s, origin, st); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, origin := range []string{"log-a", "log-b"} {
		kept := 0
		for size := uint64(1); size <= last; size++ {
			st, inDB, err := s.History(ctx, origin, size)
			if err != nil {
				t.Fatal(err)
			}
			root, inMemory := s.CosignedRoot(origin, size)
			if inDB != inMemory || !bytes.Equal(root, st.Root) {
				t.Errorf("%s, size %d: History = %x, %v; CosignedRoot = %x, %v", origin, size, st.Root, inDB, root, inMemory)
			}
			if inDB {
				kept++
			} else if size > last-bound {
				t.Errorf("%s: size %d, among the newest %d, is not kept", origin, size, bound)
			}
		}
		if kept < bound || kept > bound+bound/16 {
			t.Errorf("%s: %d checkpoints kept, want %d to %d", origin, kept, bound, bound+bound/16)
		}
	}
}
