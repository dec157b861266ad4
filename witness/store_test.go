package witness_test

import (
	"context"
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
	if err := s.Set(ctx, "log-0", witness.State{Size: 10, Root: []byte("r10"), Note: []byte("n10")}, time.Now()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range 200 {
		wg.Go(func() {
			st := witness.State{Size: uint64(i + 1), Root: []byte("r"), Note: fmt.Appendf(nil, "n%d", i)}
			origin := fmt.Sprintf("log-%d", i)
			if i == 0 {
				st.Size = 5 // smaller than the stored 10
			}
			errs[i] = s.Set(ctx, origin, st, time.Now())
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
	if err := s.Set(ctx, "log-1", witness.State{Size: 99}, time.Now()); !errors.Is(err, witness.ErrClosed) {
		t.Errorf("Set after Close = %v, want ErrClosed", err)
	}
	s, err = witness.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all, err := s.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 200 || all["log-0"].Size != 10 || string(all["log-0"].Note) != "n10" || all["log-199"].Size != 200 {
		t.Errorf("after reopening: %d logs, log-0 %+v, log-199 %+v", len(all), all["log-0"], all["log-199"])
	}
}

// TestStoreHistoryAndForks checks the bounds of what a store keeps per
// log: the history of cosigned checkpoints keeps the newest, fork evidence
// is stored once per offered root and up to a cap, and another root for
// the stored size is refused.
func TestStoreHistoryAndForks(t *testing.T) {
	defer witness.SetBounds(4, 3)()
	ctx := context.Background()
	s, err := witness.OpenStore(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for size := uint64(1); size <= 10; size++ {
		st := witness.State{Size: size, Root: fmt.Appendf(nil, "r%d", size), Note: fmt.Appendf(nil, "n%d", size)}
		if err := s.Set(ctx, "log", st, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Set(ctx, "log", witness.State{Size: 10, Root: []byte("other"), Note: []byte("other")}, time.Now()); err == nil {
		t.Error("another root for the stored size was stored")
	}
	for size := uint64(1); size <= 10; size++ {
		st, ok, err := s.History(ctx, "log", size)
		if err != nil {
			t.Fatal(err)
		}
		if want := size > 6; ok != want || ok && (string(st.Root) != fmt.Sprintf("r%d", size) || string(st.Note) != fmt.Sprintf("n%d", size)) {
			t.Errorf("History(%d) = %q, %q, %v; want it kept: %v", size, st.Root, st.Note, ok, want)
		}
	}
	if _, ok, _ := s.History(ctx, "another log", 10); ok {
		t.Error("History of another log found")
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
INSERT INTO latest VALUES ('log', 7, 'r7', 'n7', 0);
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
