package trillian_test

// Review of issue 14 (fwlog on Trillian with several frontends): proofs of
// concept of the problems found. Each test fails while the problem is
// there.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/trillian"
	"github.com/fwledger/fwledger/log/trillian/trilliantest"
	"github.com/fwledger/fwledger/tiles"
	"github.com/go-sql-driver/mysql"
	tpb "github.com/google/trillian"
	"github.com/google/trillian/types"
	"golang.org/x/mod/sumdb/note"
)

// waitPublishedWithin reports whether f publishes a checkpoint of at least
// size within d.
func waitPublishedWithin(f *frontend, size uint64, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f.Published().Size >= size {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// TestReview14DuplicateBeyondCandidates: Sequence finds an exact duplicate
// only among the first log.MaxDedupCandidates+1 rows of the leaf's first
// key. Resubmitting (a client's retry, or anyone replaying public data) an
// entry that is later than that under its key sequences it again at a new
// index with the same leaf hash. Trillian's PREORDERED_LOG keys its leaves
// by their identity hash, which fwlog sets to the leaf hash: it answers
// that leaf with FailedPrecondition "conflicting LeafIdentityHash" and
// does not sequence it, which push takes for "already there". The index
// stays a hole in Trillian's tree, its signer never integrates past it,
// and no checkpoint is ever published again.
func TestReview14DuplicateBeyondCandidates(t *testing.T) {
	e := trilliantest.New(t)
	f := startFrontend(t, e, newKey(t), "a", nil, log.Config{}, nil)
	f.failing = true // its final integration fails too while the hole is there
	ctx := context.Background()
	const n = log.MaxDedupCandidates + 6
	for i := 0; i < n; i += 200 {
		var leaves []log.Leaf
		for j := i; j < min(i+200, n); j++ {
			leaves = append(leaves, entry("many", j))
		}
		if _, err := f.Sequence(ctx, leaves, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitPublished(t, f, n)

	// The last entry under the key, again: the same bytes.
	again := entry("many", n-1)
	res, err := f.Sequence(ctx, []log.Leaf{again}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Dup || res[0].Index != n-1 {
		t.Errorf("the same entry again = %+v, want {Index: %d, Dup: true}: a second copy at another index", res[0], n-1)
	}
	// Whatever the answer, publication must go on.
	res, err = f.Sequence(ctx, []log.Leaf{entry("after", 0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := res[0].Index + 1
	if !waitPublishedWithin(f, want, 15*time.Second) {
		t.Fatalf("no checkpoint of size %d after 15 s: publication is stuck at %d (integrated %d); Integrate says: %v",
			want, f.Published().Size, f.Integrated(), integrateErr(f))
	}
}

// integrateErr is what one more Integrate on f's storage says (f does not
// publish meanwhile only if it is stuck, which is when this is called).
func integrateErr(f *frontend) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := f.store.Integrate(ctx, 100)
	return err
}

// TestReview14EmptyEntry: an empty entry is a valid tlog-tiles entry and
// the SQLite backend logs it, but Trillian refuses a leaf with an empty
// LeafValue (InvalidArgument, for the whole AddSequencedLeaves request):
// every later integration fails, and publication stops for good. Either
// the log refuses empty entries on every backend (log.Sequence), or the
// Trillian backend hands Trillian something it takes.
func TestReview14EmptyEntry(t *testing.T) {
	e := trilliantest.New(t)
	f := startFrontend(t, e, newKey(t), "a", nil, log.Config{}, nil)
	f.failing = true
	ctx := context.Background()
	res, err := f.Sequence(ctx, []log.Leaf{{Data: []byte{}}, entry("empty", 1)}, nil)
	if err != nil {
		return // refused: the entry is not acknowledged, nothing is stuck
	}
	want := res[1].Index + 1
	if !waitPublishedWithin(f, want, 15*time.Second) {
		t.Fatalf("an empty entry was acknowledged (index %d) and no checkpoint of size %d follows after 15 s (published %d); Integrate says: %v",
			res[0].Index, want, f.Published().Size, integrateErr(f))
	}
	data, err := f.Entry(ctx, res[0].Index)
	if err != nil || len(data) != 0 {
		t.Errorf("Entry(%d) = %q, %v; want the empty entry", res[0].Index, data, err)
	}
}

// TestReview14ReindexWhileFrontendsSequence: ledger.New reindexes at
// start-up when the stored index version is not its own (every upgrade
// that changes the lookup keys, or a frontend started beside one that has
// just created the database). Storage.Reindex says no frontend may
// sequence meanwhile, but on a shared storage the others do: Reindex
// empties the lookup table and refills it in transactions of 4096 entries,
// so meanwhile a running frontend finds no duplicates (a replayed entry is
// sequenced again: the same leaf hash at another index, which wedges
// Trillian as in TestReview14DuplicateBeyondCandidates), and its lookups
// (the revocations its submissions are judged by and its checkpoints
// commit to, the handover) come back empty.
func TestReview14ReindexWhileFrontendsSequence(t *testing.T) {
	e := trilliantest.New(t)
	a := startFrontend(t, e, newKey(t), "a", nil, log.Config{}, nil)
	a.failing = true
	b := openEnv(t, e, "b") // a frontend starting up: ledger.New reindexes before Run
	ctx := context.Background()
	x := entry("reindex", 0)
	if _, err := a.Sequence(ctx, []log.Leaf{x}, nil); err != nil {
		t.Fatal(err)
	}
	waitPublished(t, a, 1)

	started, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(proceed) }) // never leave the Reindex hanging
	done := make(chan error, 1)
	go func() {
		first := true
		done <- b.Reindex(ctx, 99, func(index uint64, data []byte) ([][]byte, error) {
			if first {
				first = false
				close(started)
				<-proceed // a large log takes a while
			}
			return [][]byte{[]byte("reindex")}, nil
		}, nil)
	}()
	<-started
	// Fixed: while any frontend reindexes, lookups and sequencing fail
	// (503 to clients) rather than answer from a partial index.
	idx, err := a.Lookup(ctx, []byte("reindex"), -1, 10)
	if !errors.Is(err, trillian.ErrReindexing) {
		t.Errorf("during another frontend's Reindex, Lookup = %v, %v; want ErrReindexing", idx, err)
	}
	res, err := a.Sequence(ctx, []log.Leaf{x}, nil)
	if !errors.Is(err, trillian.ErrReindexing) {
		t.Errorf("during another frontend's Reindex, the same entry again = %+v, %v; want ErrReindexing", res, err)
	}
	once.Do(func() { close(proceed) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if idx, err := a.Lookup(ctx, []byte("reindex"), -1, 10); err != nil || len(idx) != 1 {
		t.Errorf("after the Reindex, Lookup = %v, %v; want [0]", idx, err)
	}
	res, err = a.Sequence(ctx, []log.Leaf{entry("reindex", 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := res[0].Index + 1; !waitPublishedWithin(a, want, 15*time.Second) {
		t.Fatalf("no checkpoint of size %d after 15 s: publication is stuck at %d; Integrate says: %v", want, a.Published().Size, integrateErr(a))
	}
}

// openTZ opens a storage handle on e whose database session has the time
// zone tz.
func openTZ(t *testing.T, e *trilliantest.Env, holder, tz string) *trillian.Storage {
	t.Helper()
	cfg, err := mysql.ParseDSN(e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'" + tz + "'"
	db, err := trillian.OpenDB(cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := trillian.Open(context.Background(), trillian.Config{DB: db, Client: e.Client, TreeID: e.TreeID, Holder: holder, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReview14LeaseTimeZone: the lease's expiry is a DATETIME computed
// and compared with NOW(6), which is the session's local time: frontends
// whose sessions have different time zones (a time_zone in one DSN, or
// servers and clients in local time) disagree on whether a lease has
// expired, and a server in a zone with summer time moves every lease an
// hour when the clocks go back. Here a frontend five hours "ahead" takes
// the lease its peer holds, and after it releases the lease (shutdown)
// its peer cannot take it for five hours: publication stops although
// nobody publishes. UTC_TIMESTAMP(6) (or a BIGINT of microseconds since
// the epoch) gives one clock whatever the session.
func TestReview14LeaseTimeZone(t *testing.T) {
	e := trilliantest.New(t)
	a := openTZ(t, e, "a", "+00:00")
	b := openTZ(t, e, "b", "+05:00")
	ctx := context.Background()
	if ok, err := a.Lease(ctx, 10*time.Second); err != nil || !ok {
		t.Fatalf("a.Lease = %v, %v", ok, err)
	}
	if ok, err := b.Lease(ctx, 10*time.Second); err != nil || ok {
		t.Errorf("b.Lease while a holds an unexpired lease = %v, %v; want false", ok, err)
	}
	// Whoever holds it now gives it up, and the other takes it.
	for _, s := range []*trillian.Storage{a, b} {
		if err := s.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := b.Lease(ctx, 10*time.Second); err != nil || !ok {
		t.Fatalf("b.Lease after a released = %v, %v", ok, err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.Lease(ctx, 10*time.Second); err != nil || !ok {
		t.Errorf("a.Lease after b released the lease = %v, %v; want true (nobody holds it)", ok, err)
	}
}

// TestReview14NonEmptyTree: Open binds a new database to a Trillian tree
// that already holds leaves (another log's, or this log's before its
// database was lost or restored from an older backup) without a word. The
// frontends then acknowledge every submission, and Integrate refuses every
// round (the tree holds leaves fwlog did not sequence there): nothing
// acknowledged is ever published, and the operator learns it from a
// metric. Open (or BindIdentity, on first use) should refuse a tree whose
// size is not between the integrated and the sequenced sizes.
func TestReview14NonEmptyTree(t *testing.T) {
	e := trilliantest.New(t)
	ctx := context.Background()
	foreign := []byte("another log's entry")
	if _, err := e.Client.AddSequencedLeaves(ctx, &tpb.AddSequencedLeavesRequest{LogId: e.TreeID, Leaves: []*tpb.LogLeaf{{LeafIndex: 0, LeafValue: foreign}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := e.Client.GetLatestSignedLogRoot(ctx, &tpb.GetLatestSignedLogRootRequest{LogId: e.TreeID})
		if err != nil {
			t.Fatal(err)
		}
		var r types.LogRootV1
		if err := r.UnmarshalBinary(resp.SignedLogRoot.LogRoot); err != nil {
			t.Fatal(err)
		}
		if r.TreeSize == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Trillian did not integrate the foreign leaf")
		}
		time.Sleep(50 * time.Millisecond)
	}
	db, err := trillian.OpenDB(e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := trillian.Open(ctx, trillian.Config{DB: db, Client: e.Client, TreeID: e.TreeID, Logger: slog.New(slog.DiscardHandler)}); err == nil {
		t.Errorf("Open bound a new database to a tree that holds a leaf it never sequenced")
	} else {
		return // fixed: refused at Open, nothing acknowledged
	}
	f := startFrontend(t, e, newKey(t), "a", nil, log.Config{}, nil)
	f.failing = true
	res, err := f.Sequence(ctx, []log.Leaf{entry("acked", 0), entry("acked", 1)}, nil)
	if err != nil {
		return // refused: fine
	}
	if !waitPublishedWithin(f, res[1].Index+1, 5*time.Second) {
		t.Errorf("entries acknowledged at %d and %d are never published: %v", res[0].Index, res[1].Index, integrateErr(f))
	}
}

// TestReview14StopAfterLosingLease: a publisher whose lease passed to
// another frontend while it was not looking (a pause longer than the
// lease, simulated here by giving the lease up behind its back) still
// believes it publishes until its next renewal, a quarter of the lease
// later. Stopped meanwhile (SIGTERM), its Run makes the final integration,
// which the storage refuses with ErrNotPublisher, and returns that error:
// fwlog logs "stopped with errors" and exits 1 on a clean shutdown in
// which nothing went wrong. Run should treat ErrNotPublisher in the final
// integration as following.
func TestReview14StopAfterLosingLease(t *testing.T) {
	e := trilliantest.New(t)
	k := newKey(t)
	cfg := log.Config{LeaseTTL: 20 * time.Second}
	a := startFrontend(t, e, k, "a", nil, cfg, nil)
	b := startFrontend(t, e, k, "b", nil, cfg, nil)
	ctx := context.Background()
	if !a.Publishing() || b.Publishing() {
		t.Fatalf("Publishing: a %v, b %v; want a only", a.Publishing(), b.Publishing())
	}
	if err := a.store.Release(ctx); err != nil { // a's lease runs out
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !b.Publishing() {
		if time.Now().After(deadline) {
			t.Fatal("b did not take the free lease")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := a.Sequence(ctx, []log.Leaf{entry("stop", 0)}, nil); err != nil {
		t.Fatal(err)
	}
	a.stop() // a clean shutdown: Run must return nil
}

// TestReview14CorruptRowPoisonsTrillian: Integrate hands Trillian the
// sequenced entries' bytes without checking them against the leaf hashes
// fwlog recorded when it acknowledged them (SQLite's Integrate does, and
// stops with a *log.CorruptError, changing nothing). One entry row altered
// in MySQL (a bad disk, an operator's UPDATE, a restore gone wrong) is
// thereby integrated by Trillian for good: the check after reading the
// leaves back stops publication, but restoring the row does not help,
// since Trillian's tree now holds the altered leaf at that index. The log
// can never publish past it again; a check in push would have left the
// operator a row to repair.
func TestReview14CorruptRowPoisonsTrillian(t *testing.T) {
	e := trilliantest.New(t)
	s := openEnv(t, e, "a")
	ctx := context.Background()
	if ok, err := s.Lease(ctx, time.Hour); err != nil || !ok {
		t.Fatalf("Lease = %v, %v", ok, err)
	}
	var leaves []log.Leaf
	for i := 0; i < 3; i++ {
		l := entry("corrupt", i)
		l.Hash = tiles.LeafHash(l.Data)
		leaves = append(leaves, l)
	}
	if _, err := s.Sequence(ctx, leaves); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE entries SET data = ? WHERE idx = 1`, []byte("altered")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Integrate(ctx, 100); err == nil {
		t.Fatal("Integrate of an altered entry succeeded")
	} else {
		t.Logf("Integrate of an altered entry: %v", err)
	}
	// The operator repairs the row.
	if _, err := db.Exec(`UPDATE entries SET data = ? WHERE idx = 1`, leaves[1].Data); err != nil {
		t.Fatal(err)
	}
	tree, err := s.Integrate(ctx, 100)
	if err != nil || tree.Size != 3 {
		t.Errorf("Integrate after the row was repaired = %d, %v; want the tree of 3 entries: Trillian holds the altered leaf for good", tree.Size, err)
	}
}

// TestReview14FsckMisses: fwlog fsck on the Trillian backend checks only
// fwlog's own tables, and only the integrated entries. It reports "ok"
// for (1) a sequenced entry row whose bytes no longer hash to the leaf
// hash recorded when it was acknowledged, which stops publication for
// good at the next integration (TestReview14CorruptRowPoisonsTrillian),
// and (2) a Trillian tree that no longer holds what fwlog integrated
// (its database restored from an older backup, the tree recreated; here
// the database is pointed at a new tree), on which Integrate refuses
// every round. fsck is what an operator runs when the root-mismatch
// metric fires; it should check the sequenced rows and Trillian's tree
// (its size between the integrated and sequenced sizes, its root at the
// integrated size by a consistency proof).
func TestReview14FsckMisses(t *testing.T) {
	e := trilliantest.New(t)
	k := newKey(t)
	s := openEnv(t, e, "a")
	ctx := context.Background()
	if ok, err := s.Lease(ctx, time.Hour); err != nil || !ok {
		t.Fatalf("Lease = %v, %v", ok, err)
	}
	var leaves []log.Leaf
	for i := 0; i < 4; i++ {
		l := entry("fsck", i)
		l.Hash = tiles.LeafHash(l.Data)
		leaves = append(leaves, l)
	}
	if _, err := s.Sequence(ctx, leaves[:3]); err != nil {
		t.Fatal(err)
	}
	if tree, err := s.Integrate(ctx, 100); err != nil || tree.Size != 3 {
		t.Fatalf("Integrate = %d, %v", tree.Size, err)
	}
	if _, err := s.Sequence(ctx, leaves[3:]); err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(k.vkey)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// (1) The sequenced entry 3, altered.
	if _, err := db.Exec(`UPDATE entries SET data = ? WHERE idx = 3`, []byte("altered")); err != nil {
		t.Fatal(err)
	}
	if rep, err := log.Fsck(ctx, s, v, nil); err == nil && rep.OK() {
		t.Errorf("Fsck with sequenced entry 3 altered: ok (%d integrated, %d sequenced checked)", rep.Entries, rep.Sequenced)
	}
	if _, err := db.Exec(`UPDATE entries SET data = ? WHERE idx = 3`, leaves[3].Data); err != nil {
		t.Fatal(err)
	}

	// (2) Trillian's tree lost what fwlog integrated.
	other := trilliantest.New(t)
	if _, err := db.Exec(`UPDATE meta SET v = ? WHERE k = 'tree_id'`, fmt.Append(nil, other.TreeID)); err != nil {
		t.Fatal(err)
	}
	odb, err := trillian.OpenDB(e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer odb.Close()
	s2, err := trillian.Open(ctx, trillian.Config{DB: odb, Client: other.Client, TreeID: other.TreeID, Holder: "a", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_, ierr := s2.Integrate(ctx, 100)
	if rep, err := log.Fsck(ctx, s2, v, nil); err == nil && rep.OK() {
		t.Errorf("Fsck with a Trillian tree of 0 leaves under 3 integrated: ok; Integrate says: %v", ierr)
	}
}

// TestReview14FirstLeaseRace: the lease row is created by the first Lease
// (INSERT), not by Open. Two frontends started together on a new database
// both find no row and both insert it: the second gets a duplicate-key
// error, which log.New takes for "couldn't read the publisher lease" and
// refuses to start. Open could create the row (INSERT IGNORE, as it does
// the state row), or Lease use INSERT IGNORE and read again.
func TestReview14FirstLeaseRace(t *testing.T) {
	e := trilliantest.New(t)
	a, b := openEnv(t, e, "a"), openEnv(t, e, "b")
	db, err := sql.Open("mysql", e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	fails := 0
	for round := 0; round < 30; round++ {
		if _, err := db.Exec(`DELETE FROM lease`); err != nil { // a new database
			t.Fatal(err)
		}
		start := make(chan struct{})
		errs := make(chan error, 2)
		for _, s := range []*trillian.Storage{a, b} {
			go func() {
				<-start
				_, err := s.Lease(ctx, time.Minute)
				errs <- err
			}()
		}
		close(start)
		for range 2 {
			if err := <-errs; err != nil {
				fails++
				if fails == 1 {
					t.Errorf("two frontends taking the lease of a new database at once: Lease = %v", err)
				}
			}
		}
	}
	if fails > 0 {
		t.Logf("%d of 30 rounds failed", fails)
	}
}
