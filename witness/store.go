package witness

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fwledger/fwledger/internal/dirlock"
	"github.com/fwledger/fwledger/internal/groupcommit"
	"github.com/fwledger/fwledger/internal/sqlitedb"
	_ "github.com/mattn/go-sqlite3" // the SQLite driver
	"maps"
)

// Files in a witness's data directory.
const (
	DatabaseFile = "witness.db"
	LockFile     = "witness.lock"
)

// ErrLocked means another process holds the data directory.
var ErrLocked = dirlock.ErrLocked

// A Store keeps a witness's state in SQLite: for each log origin, the
// latest checkpoint it cosigned and the history of at least the last
// HistorySize ones (at most a sixteenth more); and the evidence of forks
// it was shown, at most MaxForks per origin. Every write is durable (WAL,
// synchronous=FULL) when it returns. Concurrent Sets (for different logs)
// are written in one transaction, so that they share one sync to disk
// (group commit).
//
// The store also holds in memory the size and root of each checkpoint in
// the histories, and which fork evidence it keeps (origin, size and
// offered root), loaded when it opens and updated once a write commits:
// so [Store.CosignedRoot] and a fork offered again cost no database read.
type Store struct {
	sdb *sqlitedb.DB
	db  *sql.DB // sdb.W

	// insertStmt and pruneStmt, prepared once on the writer, add a
	// checkpoint to a history and drop its oldest rows.
	insertStmt, pruneStmt *sql.Stmt

	// sets writes advances in groups, each group in one transaction.
	sets   *groupcommit.Queue[*setReq, struct{}]
	closed atomic.Bool

	writes atomic.Uint64 // records written durably
	reads  atomic.Uint64 // database reads by History

	mu sync.RWMutex // guards latest, locks, hist and forks
	// latest is each origin's state: the row of the largest size of its
	// history, with its note.
	latest map[string]State
	// locks serialize the Updates of each origin.
	locks map[string]*sync.Mutex
	// hist is each origin's history, in memory, by increasing size. Only
	// the committer changes it.
	hist map[string][]cosignedRoot
	// forks is the fork evidence kept for each origin, in memory.
	forks map[string]*forkIndex

	// forkMu is held by AddFork, so that it writes each record once.
	forkMu sync.Mutex
}

// A cosignedRoot is a checkpoint in a history: 40 bytes.
type cosignedRoot struct {
	size uint64
	root [32]byte
}

// A forkIndex is what a Store keeps in memory of one origin's fork
// evidence: which (size, offered root) it holds, and how many records
// (some from before the deduplication have no offered root).
type forkIndex struct {
	offered map[forkKey]bool
	count   int
}

type forkKey struct {
	size uint64
	root string
}

// A setReq is a state waiting for the committer.
type setReq struct {
	origin string
	st     State
}

// maxGroup bounds the states written in one transaction, and queueSize
// those waiting to be.
const (
	maxGroup  = 256
	queueSize = 1024
)

// Bounds of what a Store keeps per log origin.
const (
	// HistorySize is the number of the latest cosigned checkpoints kept
	// per log, against which offered checkpoints are checked for forks.
	HistorySize = 1024
	// MaxForks is the most fork evidence records kept per log; the first
	// ones are kept.
	MaxForks = 256
)

// The bounds in use (tests lower them).
var historySize, maxForks = HistorySize, MaxForks

// ErrForksFull means that the evidence of a fork was not stored because
// the store keeps MaxForks records for its log already.
var ErrForksFull = errors.New("the witness keeps the most fork evidence it keeps for this log")

// State is what a witness holds for one log.
type State struct {
	Size uint64
	Root []byte
	// Note is the latest cosigned checkpoint: the log's signatures and
	// this witness's cosignatures.
	Note []byte
}

// A Fork is evidence of a log signing two different roots for one size.
type Fork struct {
	Origin string
	Size   uint64
	// Held is the checkpoint the witness had cosigned; Offered the
	// conflicting one, signed by the log, exactly as sent, and
	// OfferedRoot its root hash (one record per origin, size and
	// OfferedRoot).
	Held, Offered []byte
	OfferedRoot   []byte
	Seen          time.Time
}

// The cosigned table is each log's history, and its row of the largest
// size is the log's latest checkpoint: an advance writes one row, in one
// table, as a witness without a history did.
const schema = `
CREATE TABLE IF NOT EXISTS cosigned (
	origin TEXT NOT NULL,
	size   INTEGER NOT NULL,
	root   BLOB NOT NULL,
	note   BLOB NOT NULL,
	PRIMARY KEY (origin, size)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS forks (
	id           INTEGER PRIMARY KEY,
	origin       TEXT NOT NULL,
	size         INTEGER NOT NULL,
	held         BLOB NOT NULL,
	offered      BLOB NOT NULL,
	seen         INTEGER NOT NULL,
	offered_root BLOB
);`

// migrate brings a database made before the history of cosigned
// checkpoints up to date: the latest checkpoints, kept in a table of their
// own, start the history, and the table goes. And fork evidence is
// deduplicated.
const migrate = `
CREATE UNIQUE INDEX IF NOT EXISTS forks_offered ON forks (origin, size, offered_root);`

const migrateLatest = `
INSERT OR IGNORE INTO cosigned (origin, size, root, note) SELECT origin, size, root, note FROM latest;
DROP TABLE latest;`

// OpenStore opens (creating if needed) the witness database in dir, and
// locks dir against a second process.
func OpenStore(ctx context.Context, dir string) (*Store, error) {
	sdb, err := sqlitedb.Open(ctx, dir, DatabaseFile, LockFile, sqlitedb.Options{})
	if err != nil {
		return nil, err
	}
	if err := create(ctx, sdb.W); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("couldn't create the witness database: %w", err)
	}
	st := &Store{sdb: sdb, db: sdb.W, locks: map[string]*sync.Mutex{}}
	// A row goes in only if no larger size is stored for the origin: the
	// store refuses a rollback on its own, whatever the history in memory
	// says.
	if st.insertStmt, err = sdb.W.PrepareContext(ctx, `INSERT OR IGNORE INTO cosigned (origin, size, root, note)
		SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM cosigned WHERE origin = ?1 AND size > ?2)`); err == nil {
		st.pruneStmt, err = sdb.W.PrepareContext(ctx, `DELETE FROM cosigned WHERE origin = ?1
		AND size <= (SELECT size FROM cosigned WHERE origin = ?1 ORDER BY size DESC LIMIT 1 OFFSET ?2)`)
	}
	if err != nil {
		sdb.Close()
		return nil, fmt.Errorf("couldn't prepare the witness database's statements: %w", err)
	}
	if err := st.load(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("couldn't read the witness database: %w", err)
	}
	st.sets = groupcommit.New(queueSize, maxGroup, st.writeGroup)
	go st.sets.Run()
	return st, nil
}

// create creates the tables, or brings them up to date.
func create(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return err
	}
	var hasRoot bool
	if err := db.QueryRowContext(ctx, `SELECT count(*) > 0 FROM pragma_table_info('forks') WHERE name = 'offered_root'`).Scan(&hasRoot); err != nil {
		return err
	}
	if !hasRoot {
		if _, err := db.ExecContext(ctx, `ALTER TABLE forks ADD COLUMN offered_root BLOB`); err != nil {
			return err
		}
	}
	if _, err := db.ExecContext(ctx, migrate); err != nil {
		return err
	}
	var hasLatest bool
	if err := db.QueryRowContext(ctx, `SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'latest'`).Scan(&hasLatest); err != nil {
		return err
	}
	if hasLatest {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, migrateLatest); err != nil {
			return err
		}
		return tx.Commit()
	}
	return nil
}

// load reads the histories' sizes and roots and the fork evidence's keys
// into memory.
func (s *Store) load(ctx context.Context) error {
	s.hist = map[string][]cosignedRoot{}
	rows, err := s.db.QueryContext(ctx, `SELECT origin, size, root FROM cosigned ORDER BY origin, size`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var origin string
		var c cosignedRoot
		var root []byte
		if err := rows.Scan(&origin, &c.size, &root); err != nil {
			return err
		}
		if len(root) != len(c.root) {
			return fmt.Errorf("the history of %q holds a root hash of %d bytes for size %d, want %d", origin, len(root), c.size, len(c.root))
		}
		copy(c.root[:], root)
		s.hist[origin] = append(s.hist[origin], c)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if s.latest, err = s.all(ctx); err != nil {
		return err
	}
	s.forks = map[string]*forkIndex{}
	rows, err = s.db.QueryContext(ctx, `SELECT origin, size, offered_root FROM forks`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var origin string
		var size uint64
		var root []byte
		if err := rows.Scan(&origin, &size, &root); err != nil {
			return err
		}
		s.forkIndex(origin).add(size, root)
	}
	return rows.Err()
}

// forkIndex returns origin's fork index, making it if needed. The caller
// holds s.mu for writing, or is load.
func (s *Store) forkIndex(origin string) *forkIndex {
	fi := s.forks[origin]
	if fi == nil {
		fi = &forkIndex{offered: map[forkKey]bool{}}
		s.forks[origin] = fi
	}
	return fi
}

// add records a fork evidence record (root nil: one from before the
// deduplication).
func (fi *forkIndex) add(size uint64, root []byte) {
	if root != nil {
		fi.offered[forkKey{size, string(root)}] = true
	}
	fi.count++
}

// ErrClosed means the store is closed.
var ErrClosed = errors.New("the witness store is closed")

// writeGroup writes the Sets of group in one transaction and returns each
// one's error. Each Set also adds its checkpoint to the log's history and
// drops the oldest beyond HistorySize. A Set refused for a smaller size
// changes nothing and does not affect the others; if the transaction
// fails, all fail. Once it commits, the histories in memory are updated
// the same way.
func (s *Store) writeGroup(group []*setReq) []groupcommit.Result[struct{}] {
	errs := make([]groupcommit.Result[struct{}], len(group))
	fail := func(err error) []groupcommit.Result[struct{}] {
		for i := range errs {
			errs[i].Err = fmt.Errorf("couldn't store the checkpoint of %q: %w", group[i].origin, err)
		}
		return errs
	}
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	hist := tx.StmtContext(ctx, s.insertStmt)
	defer hist.Close()
	prune := tx.StmtContext(ctx, s.pruneStmt)
	defer prune.Close()
	// What the transaction does to the histories, done in memory once it
	// commits; and the number of rows of each history by then.
	type histOp struct {
		origin string
		add    cosignedRoot
		prune  bool
	}
	var ops []histOp
	counts := map[string]int{}
	written := make([]bool, len(group))
	for i, r := range group {
		if len(r.st.Root) != 32 {
			errs[i].Err = fmt.Errorf("refusing to store size %d for %q: a root hash of %d bytes, want 32", r.st.Size, r.origin, len(r.st.Root))
			continue
		}
		n, ok := counts[r.origin]
		if !ok {
			// Only the committer changes s.hist: it reads it unlocked.
			n = len(s.hist[r.origin])
		}
		res, err := hist.ExecContext(ctx, r.origin, r.st.Size, r.st.Root, r.st.Note)
		if err != nil {
			return fail(err)
		}
		if added, _ := res.RowsAffected(); added != 1 {
			// The latest checkpoint again is stored already; anything
			// else at its size or below is refused.
			var latest sql.NullInt64
			var root []byte
			if err := tx.QueryRowContext(ctx, `SELECT max(size), (SELECT root FROM cosigned WHERE origin = ?1 AND size = ?2) FROM cosigned WHERE origin = ?1`, r.origin, r.st.Size).Scan(&latest, &root); err != nil {
				return fail(err)
			}
			if !latest.Valid || uint64(latest.Int64) != r.st.Size || !bytes.Equal(root, r.st.Root) {
				errs[i].Err = fmt.Errorf("refusing to store size %d for %q: a larger size, or another root for this size, is stored", r.st.Size, r.origin)
			}
			continue
		}
		written[i] = true
		op := histOp{origin: r.origin, add: cosignedRoot{size: r.st.Size}}
		copy(op.add.root[:], r.st.Root)
		// Pruning walks the history's index, so it runs once the history
		// holds historySize/16 rows more than it keeps, not every write.
		if n++; n > historySize+historySize/16 {
			if _, err := prune.ExecContext(ctx, r.origin, historySize); err != nil {
				return fail(err)
			}
			op.prune, n = true, historySize
		}
		ops = append(ops, op)
		counts[r.origin] = n
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	s.mu.Lock()
	for i, r := range group {
		if written[i] {
			s.latest[r.origin] = r.st
		}
	}
	for _, op := range ops {
		h := insertCosigned(s.hist[op.origin], op.add)
		if op.prune {
			h = h[:copy(h, h[len(h)-historySize:])]
		}
		s.hist[op.origin] = h
	}
	s.mu.Unlock()
	for _, w := range written {
		if w {
			s.writes.Add(1)
		}
	}
	return errs
}

// insertCosigned returns h, sorted by size, with c in it. Sizes only grow,
// so c goes at the end, but the order does not depend on it.
func insertCosigned(h []cosignedRoot, c cosignedRoot) []cosignedRoot {
	i, found := slices.BinarySearchFunc(h, c.size, compareSize)
	if found {
		h[i] = c
		return h
	}
	return slices.Insert(h, i, c)
}

func compareSize(c cosignedRoot, size uint64) int { return cmp.Compare(c.size, size) }

// CosignedRoot returns, from memory, the root hash of the checkpoint of
// the given size cosigned for origin, if it is in origin's history.
func (s *Store) CosignedRoot(origin string, size uint64) ([]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := s.hist[origin]
	i, found := slices.BinarySearchFunc(h, size, compareSize)
	if !found {
		return nil, false
	}
	return bytes.Clone(h[i].root[:]), true
}

// CosignedSizes returns, from memory, the sizes of origin's history: the
// checkpoints cosigned for it that the store keeps, in increasing order.
func (s *Store) CosignedSizes(origin string) []uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]uint64, len(s.hist[origin]))
	for i, c := range s.hist[origin] {
		out[i] = c.size
	}
	return out
}

// Writes returns the number of records the store has written durably
// since it was opened: states stored by Set and forks by AddFork.
func (s *Store) Writes() uint64 { return s.writes.Load() }

// Close writes the states queued, closes the database and releases the
// lock.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return ErrClosed
	}
	s.sets.Close()
	s.insertStmt.Close()
	s.pruneStmt.Close()
	return s.sdb.Close()
}

// All returns the state of every log.
func (s *Store) All() map[string]State {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return maps.Clone(s.latest)
}

// Latest returns origin's state, and whether there is one.
func (s *Store) Latest(origin string) (State, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.latest[origin]
	return st, ok
}

// all reads the state of every log: the history's row of the largest size.
func (s *Store) all(ctx context.Context) (map[string]State, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT c.origin, c.size, c.root, c.note FROM cosigned c
		JOIN (SELECT origin, max(size) AS size FROM cosigned GROUP BY origin) m ON c.origin = m.origin AND c.size = m.size`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]State{}
	for rows.Next() {
		var origin string
		var st State
		if err := rows.Scan(&origin, &st.Size, &st.Root, &st.Note); err != nil {
			return nil, err
		}
		out[origin] = st
	}
	return out, rows.Err()
}

// Update is the witness's check-and-persist for one log, as in
// transparency-dev/witness.
//
// SPEC: Note that checking the old size against the latest checkpoint and
// persisting the new checkpoint must be performed atomically, otherwise
// the following race can occur: [...] *rolling back K leaves*.
//
// It calls check with origin's state (known is
// false if there is none), holding origin's lock, so that no other Update
// of origin runs between the check and the write; and if check returns a
// next state, it stores it, with its place in origin's history, before it
// returns. A nil next changes nothing. Once the write is queued, Update
// waits for it whatever ctx says, so that the caller never answers before
// knowing whether it is durable.
//
// The store refuses on its own, and changes nothing, a next state smaller
// than the stored one, or another root for its size: no bug above it can
// roll a log back or store a fork.
func (s *Store) Update(ctx context.Context, origin string, check func(prev State, known bool) (next *State, err error)) error {
	s.mu.Lock()
	lk := s.locks[origin]
	if lk == nil {
		lk = new(sync.Mutex)
		s.locks[origin] = lk
	}
	s.mu.Unlock()
	lk.Lock()
	defer lk.Unlock()
	prev, known := s.Latest(origin)
	next, err := check(prev, known)
	if err != nil || next == nil {
		return err
	}
	res, err := s.sets.Enqueue(ctx, &setReq{origin: origin, st: *next})
	if errors.Is(err, groupcommit.ErrClosed) {
		return ErrClosed
	}
	if err != nil {
		return err
	}
	return (<-res).Err
}

// History returns the checkpoint of the given size cosigned for origin,
// if it is among the last HistorySize ones, read from the database.
func (s *Store) History(ctx context.Context, origin string, size uint64) (State, bool, error) {
	s.reads.Add(1)
	st := State{Size: size}
	err := s.db.QueryRowContext(ctx, `SELECT root, note FROM cosigned WHERE origin = ? AND size = ?`, origin, size).Scan(&st.Root, &st.Note)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return State{}, false, nil
	case err != nil:
		return State{}, false, fmt.Errorf("couldn't read the history of %q: %w", origin, err)
	}
	return st, true, nil
}

// AddFork records evidence of a fork, once: it returns false, and stores
// nothing, if the evidence of the same root offered for that origin and
// size is stored already, or if MaxForks records are stored for the
// origin (then with ErrForksFull). It knows both from memory: only new
// evidence costs a database transaction.
func (s *Store) AddFork(ctx context.Context, f Fork) (bool, error) {
	s.forkMu.Lock()
	defer s.forkMu.Unlock()
	switch kept, full := s.forkKept(f.Origin, f.Size, f.OfferedRoot); {
	case kept:
		return false, nil
	case full:
		return false, ErrForksFull
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("couldn't store the evidence of a fork: %w", err)
	}
	defer tx.Rollback()
	var same, all int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE size = ? AND offered_root = ?), count(*) FROM forks WHERE origin = ?`,
		f.Size, f.OfferedRoot, f.Origin).Scan(&same, &all); err != nil {
		return false, fmt.Errorf("couldn't store the evidence of a fork: %w", err)
	}
	switch {
	case same > 0:
		return false, nil
	case all >= maxForks:
		return false, ErrForksFull
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO forks (origin, size, held, offered, offered_root, seen) VALUES (?, ?, ?, ?, ?, ?)`,
		f.Origin, f.Size, f.Held, f.Offered, f.OfferedRoot, f.Seen.Unix()); err != nil {
		return false, fmt.Errorf("couldn't store the evidence of a fork: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("couldn't store the evidence of a fork: %w", err)
	}
	s.mu.Lock()
	s.forkIndex(f.Origin).add(f.Size, f.OfferedRoot)
	s.mu.Unlock()
	s.writes.Add(1)
	return true, nil
}

// forkKept tells, from memory, whether the evidence that origin's log
// signed offeredRoot for size is kept already, and whether origin has
// MaxForks records (so AddFork would store neither).
func (s *Store) forkKept(origin string, size uint64, offeredRoot []byte) (kept, full bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fi := s.forks[origin]
	if fi == nil {
		return false, false
	}
	return fi.offered[forkKey{size, string(offeredRoot)}], fi.count >= maxForks
}

// Forks returns the evidence of forks, oldest first.
func (s *Store) Forks(ctx context.Context) ([]Fork, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT origin, size, held, offered, offered_root, seen FROM forks ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Fork
	for rows.Next() {
		var f Fork
		var seen int64
		if err := rows.Scan(&f.Origin, &f.Size, &f.Held, &f.Offered, &f.OfferedRoot, &seen); err != nil {
			return nil, err
		}
		f.Seen = time.Unix(seen, 0).UTC()
		out = append(out, f)
	}
	return out, rows.Err()
}
