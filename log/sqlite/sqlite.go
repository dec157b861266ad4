// Package sqlite is the embedded SQLite storage for a log: one file in a data
// directory, written by one process.
//
// # Durability
//
// The database runs in WAL mode with synchronous=FULL, so a transaction is on
// disk when its commit returns. Every write is one BEGIN IMMEDIATE
// transaction on the single writer connection. A lock file (flock) in the data
// directory keeps a second process from opening it.
//
// # Schema
//
// Entries are stored once. A sequenced entry lives in the entries table until
// its entry bundle is full; integration then writes the full bundle to the
// bundles table and deletes the rows. Beside each full bundle, the
// bundle_ends table keeps where each of its entries ends, so that reading
// one entry reads its own bytes rather than its 256 entries. Tiles are
// stored at their widest version (a narrower partial tile is a prefix of
// it). The lookup table maps each key of an entry (such as its subject
// digest) to its index and leaf hash. Duplicate detection looks up a new entry's first key (or, for an
// entry without keys, its leaf hash as the key) and compares leaf hashes, so
// one random-key index serves both lookups and exact deduplication.
//
// # Tuning
//
// Random-key index pages dominate the cost of a write as the log grows, so
// the writer keeps a 256 MiB page cache and reads through a 1 GiB mmap, and
// WAL checkpoints run on a background connection instead of inside commits.
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"time"

	"github.com/fwledger/fwledger/internal/dirlock"
	"github.com/fwledger/fwledger/internal/sqlitedb"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/internal/sqlrows"
	"github.com/fwledger/fwledger/tiles"
)

const schema = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (
	id              INTEGER PRIMARY KEY CHECK (id = 0),
	sequenced       INTEGER NOT NULL,
	integrated      INTEGER NOT NULL,
	root            BLOB NOT NULL,
	compact_range   BLOB NOT NULL,
	checkpoint_size INTEGER NOT NULL,
	checkpoint      BLOB
);
CREATE TABLE IF NOT EXISTS witnessed (
	id   INTEGER PRIMARY KEY CHECK (id = 0),
	size INTEGER NOT NULL,
	note BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
	idx  INTEGER PRIMARY KEY,
	data BLOB NOT NULL,
	leaf BLOB -- the leaf hash, checked at integration (NULL in rows written before it was kept)
);
CREATE TABLE IF NOT EXISTS bundles (
	idx  INTEGER PRIMARY KEY,
	data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS bundle_ends (
	idx  INTEGER PRIMARY KEY,
	ends BLOB NOT NULL -- where each entry of full bundle idx ends in it, 4-byte big-endian offsets
);
CREATE TABLE IF NOT EXISTS tiles (
	id   INTEGER PRIMARY KEY, -- level<<56 | index
	data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS growth (
	hour INTEGER PRIMARY KEY, -- hours since the Unix epoch
	size INTEGER NOT NULL     -- the size of the last checkpoint stored in that hour
);
CREATE TABLE IF NOT EXISTS lookup (
	key  BLOB NOT NULL,
	idx  INTEGER NOT NULL,
	leaf BLOB NOT NULL, -- in the row of an entry's first key, the first leafPrefix bytes of its leaf hash (more in rows written before), for duplicate detection
	PRIMARY KEY (key, idx)
) WITHOUT ROWID;
`

// DatabaseFile and LockFile are the names of the files in the data directory.
const (
	DatabaseFile = "log.db"
	LockFile     = "LOCK"
)

// ErrLocked is returned by Open when another process holds the data directory.
var ErrLocked = dirlock.ErrLocked

// Storage is a log.Storage in a SQLite database.
type Storage struct {
	db *sqlitedb.DB
	w  *sql.DB // the one writer connection (db.W)
	r  *sql.DB // readers (db.R)

	// The lookups, prepared once on the readers (a lookup is on the path
	// of every submission).
	lookupAfter, lookupBefore *sql.Stmt

	// entries reads single entries.
	entries *sqlrows.EntryReader

	// partial is the entry bundle being filled as the last integration
	// left it, ending at entry partialEnd, so that the next integration
	// need not read its entries again. Only Integrate uses it, and
	// integrations do not overlap (log.Storage).
	partial    []byte
	partialEnd uint64
}

// bundleCap is the capacity a new entry bundle starts with: room for a
// bundle of typical entries without growing.
const bundleCap = 256 << 10

// Open opens (creating if needed) the log database in dir and locks dir.
func Open(ctx context.Context, dir string) (*Storage, error) {
	return OpenLogged(ctx, dir, slog.New(slog.DiscardHandler))
}

// OpenLogged is Open, telling logger of the work an upgrade makes it do
// (which, once, takes some seconds a million entries).
func OpenLogged(ctx context.Context, dir string, logger *slog.Logger) (*Storage, error) {
	db, err := sqlitedb.Open(ctx, dir, DatabaseFile, LockFile, sqlitedb.Options{
		CacheKiB: 256 << 10, Readers: 8, ReaderCacheKiB: 16 << 10, Mmap: 1 << 30, BackgroundCheckpoints: true,
	})
	if err != nil {
		return nil, err
	}
	s := &Storage{db: db, w: db.W, r: db.R}
	if err := s.open(ctx, filepath.Join(dir, DatabaseFile), logger); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Storage) open(ctx context.Context, path string, logger *slog.Logger) error {
	if _, err := s.w.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("couldn't create the schema in %s: %w", path, err)
	}
	// Databases made before entries kept their leaf hash gain the column.
	var hasLeaf bool
	if err := s.w.QueryRowContext(ctx, `SELECT count(*) > 0 FROM pragma_table_info('entries') WHERE name = 'leaf'`).Scan(&hasLeaf); err != nil {
		return err
	}
	if !hasLeaf {
		if _, err := s.w.ExecContext(ctx, `ALTER TABLE entries ADD COLUMN leaf BLOB`); err != nil {
			return fmt.Errorf("couldn't add the leaf column to %s: %w", path, err)
		}
	}
	if _, err := s.w.ExecContext(ctx, `INSERT OR IGNORE INTO state (id, sequenced, integrated, root, compact_range, checkpoint_size) VALUES (0, 0, 0, ?, x'', 0)`, tiles.EmptyRoot()); err != nil {
		return err
	}
	// Full bundles written before bundle_ends existed gain their rows.
	begin := func(ctx context.Context) (*sql.Tx, error) { return s.w.BeginTx(ctx, nil) }
	if err := sqlrows.FillEnds(ctx, s.w, begin, `INSERT OR IGNORE INTO bundle_ends (idx, ends) VALUES (?, ?)`, logger.With("data", filepath.Dir(path))); err != nil {
		return fmt.Errorf("couldn't index the entry bundles of %s: %w", path, err)
	}
	var err error
	if s.entries, err = sqlrows.NewEntryReader(ctx, s.r); err != nil {
		return err
	}
	if s.lookupAfter, err = s.r.PrepareContext(ctx, `SELECT idx FROM lookup WHERE key = ? AND idx > ? ORDER BY idx LIMIT ?`); err != nil {
		return err
	}
	if s.lookupBefore, err = s.r.PrepareContext(ctx, `SELECT idx FROM lookup WHERE key = ? AND idx < ? ORDER BY idx DESC LIMIT ?`); err != nil {
		return err
	}
	return nil
}

// Close closes the database and releases the lock.
func (s *Storage) Close() error {
	for _, st := range []*sql.Stmt{s.lookupAfter, s.lookupBefore} {
		if st != nil {
			st.Close()
		}
	}
	if s.entries != nil {
		s.entries.Close()
	}
	return s.db.Close()
}

// Check implements log.Checker: the sequenced entries not yet integrated
// against the leaf hashes recorded when they were acknowledged, and the
// bundle_ends rows against their bundles.
func (s *Storage) Check(ctx context.Context) (_ []string, err error) {
	defer sqlitedb.WrapOS(&err)
	var integrated uint64
	if err := s.r.QueryRowContext(ctx, `SELECT integrated FROM state WHERE id = 0`).Scan(&integrated); err != nil {
		return nil, err
	}
	return sqlrows.Check(ctx, s.r, integrated)
}

// IntegrityCheck runs SQLite's PRAGMA integrity_check.
func (s *Storage) IntegrityCheck(ctx context.Context) error {
	rows, err := s.r.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(msgs) != 1 || msgs[0] != "ok" {
		return fmt.Errorf("integrity_check: %v", msgs)
	}
	return nil
}

// BindIdentity implements log.Storage.
func (s *Storage) BindIdentity(ctx context.Context, id string) (err error) {
	defer sqlitedb.WrapOS(&err)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var stored []byte
	switch err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'identity'`).Scan(&stored); {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('identity', ?)`, []byte(id)); err != nil {
			return err
		}
		return tx.Commit()
	case err != nil:
		return err
	}
	if string(stored) != id {
		return &log.IdentityError{Stored: string(stored), Given: id}
	}
	return nil
}

// Sequence implements log.Storage.
func (s *Storage) Sequence(ctx context.Context, leaves []log.Leaf) (_ []log.Sequenced, err error) {
	defer sqlitedb.WrapOS(&err)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("couldn't begin a write transaction: %w", err)
	}
	defer tx.Rollback()
	var next uint64
	if err := tx.QueryRowContext(ctx, `SELECT sequenced FROM state WHERE id = 0`).Scan(&next); err != nil {
		return nil, err
	}
	start := next
	find, err := tx.PrepareContext(ctx, `SELECT idx, leaf FROM lookup WHERE key = ? ORDER BY idx LIMIT ?`)
	if err != nil {
		return nil, err
	}
	defer find.Close()
	addEntry, err := tx.PrepareContext(ctx, `INSERT INTO entries (idx, data, leaf) VALUES (?, ?, ?)`)
	if err != nil {
		return nil, err
	}
	defer addEntry.Close()
	addKey, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO lookup (key, idx, leaf) VALUES (?, ?, ?)`)
	if err != nil {
		return nil, err
	}
	defer addKey.Close()

	out, next, err := sqlrows.Assign(leaves, next, func(key, hash []byte) (int64, []uint64, bool, error) {
		return candidates(ctx, tx, find, key, hash, start)
	}, func(key []byte, above int64) (bool, error) {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM lookup WHERE key = ? AND idx > ? AND idx < ? LIMIT 1`, key, above, start).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	}, func(idx uint64, l log.Leaf, keys [][]byte) error {
		if _, err := addEntry.ExecContext(ctx, idx, l.Data, l.Hash); err != nil {
			return err
		}
		return insertKeys(ctx, addKey, idx, l.Hash, keys)
	})
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE state SET sequenced = ? WHERE id = 0`, next); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("couldn't commit sequenced entries: %w", err)
	}
	return out, nil
}

// candidates reads the entries sequenced under key: the index of one whose
// leaf hash is hash (same, -1 if none), and the others sequenced before
// index start, that is before this write (at most log.MaxDedupCandidates;
// more if there are more). Only an entry's first key's row holds its leaf
// hash, so an entry with key as another key is among the others. The row
// holds the hash's first leafPrefix bytes; an entry whose prefix matches is
// read to compare the whole hash, which costs a read only for a duplicate.
func candidates(ctx context.Context, tx *sql.Tx, find *sql.Stmt, key, hash []byte, start uint64) (same int64, others []uint64, more bool, err error) {
	type row struct {
		idx  uint64
		leaf []byte
	}
	var found []row
	rows, err := find.QueryContext(ctx, key, log.MaxDedupCandidates+1)
	if err != nil {
		return -1, nil, false, err
	}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.idx, &r.leaf); err != nil {
			rows.Close()
			return -1, nil, false, err
		}
		found = append(found, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return -1, nil, false, err
	}
	same = -1
	for _, r := range found {
		if len(r.leaf) > 0 && len(r.leaf) < len(hash) && bytes.HasPrefix(hash, r.leaf) {
			// Only a prefix: the whole hash decides.
			if r.leaf, err = leafHashTx(ctx, tx, r.idx); err != nil {
				return -1, nil, false, err
			}
		}
		switch {
		case bytes.Equal(r.leaf, hash):
			same = int64(r.idx)
		case r.idx >= start:
		case len(others) == log.MaxDedupCandidates:
			more = true
		default:
			others = append(others, r.idx)
		}
	}
	if same < 0 && len(found) == log.MaxDedupCandidates+1 {
		// An exact duplicate may be beyond the candidates: look for the
		// hash itself among the rest (a replay must not log an entry
		// twice, however many share its key).
		if same, err = sameBeyond(ctx, tx, key, hash, found[len(found)-1].idx); err != nil {
			return -1, nil, false, err
		}
	}
	return same, others, more, nil
}

// sameBeyond returns the index above after of the entry sequenced under key
// whose leaf hash is hash, or -1.
func sameBeyond(ctx context.Context, tx *sql.Tx, key, hash []byte, after uint64) (int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT idx FROM lookup WHERE key = ? AND idx > ? AND substr(leaf, 1, ?) = ? ORDER BY idx`, key, after, leafPrefix, hash[:leafPrefix])
	if err != nil {
		return -1, err
	}
	idxs, err := sqlrows.Indices(rows)
	if err != nil {
		return -1, err
	}
	for _, idx := range idxs {
		leaf, err := leafHashTx(ctx, tx, idx)
		if err != nil {
			return -1, err
		}
		if bytes.Equal(leaf, hash) {
			return int64(idx), nil
		}
	}
	return -1, nil
}

// leafPrefix is how many bytes of an entry's leaf hash its first lookup row
// holds: enough that another entry under the same key (another release of
// one image, say) rarely shares them, which costs a read of that entry, not
// a wrong answer.
const leafPrefix = 4

// leafHashTx reads the leaf hash of entry idx in tx: from the entries
// table (hashing the entry in rows written before the hash was kept), or
// from the level-0 tile once its entry bundle is full. Either costs a small
// read, whatever the size of the entry bundle: a replay of a logged entry,
// which anyone can send, must not make the writer read a whole bundle.
func leafHashTx(ctx context.Context, tx *sql.Tx, idx uint64) ([]byte, error) {
	var leaf []byte
	err := tx.QueryRowContext(ctx, `SELECT leaf FROM entries WHERE idx = ?`, idx).Scan(&leaf)
	switch {
	case err == nil && len(leaf) == tiles.HashSize:
		return leaf, nil
	case err == nil:
		var data []byte
		if err := tx.QueryRowContext(ctx, `SELECT data FROM entries WHERE idx = ?`, idx).Scan(&data); err != nil {
			return nil, err
		}
		return tiles.LeafHash(data), nil
	case !errors.Is(err, sql.ErrNoRows):
		return nil, err
	}
	tile, err := tileTx(ctx, tx, 0, idx/tiles.Width)
	if err != nil {
		return nil, fmt.Errorf("entry %d, found in the lookup index: %w", idx, err)
	}
	i := int(idx%tiles.Width) * tiles.HashSize
	if len(tile) < i+tiles.HashSize {
		return nil, fmt.Errorf("entry %d, found in the lookup index, is beyond its level-0 tile of %d bytes", idx, len(tile))
	}
	return tile[i : i+tiles.HashSize], nil
}

func tileKey(level, index uint64) int64 { return int64(level<<56 | index) }

// tileTx reads tile level/index in tx: nil if there is none.
func tileTx(ctx context.Context, tx *sql.Tx, level, index uint64) ([]byte, error) {
	var data []byte
	err := tx.QueryRowContext(ctx, `SELECT data FROM tiles WHERE id = ?`, tileKey(level, index)).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return data, err
}

// Integrate implements log.Storage.
func (s *Storage) Integrate(ctx context.Context, max int) (_ log.Tree, err error) {
	defer sqlitedb.WrapOS(&err)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return log.Tree{}, fmt.Errorf("couldn't begin a write transaction: %w", err)
	}
	defer tx.Rollback()
	var (
		sequenced, size uint64
		root, rngData   []byte
	)
	if err := tx.QueryRowContext(ctx, `SELECT sequenced, integrated, root, compact_range FROM state WHERE id = 0`).Scan(&sequenced, &size, &root, &rngData); err != nil {
		return log.Tree{}, err
	}
	if sequenced == size {
		return log.Tree{Size: size, Root: root}, nil
	}
	rng, err := tiles.DecodeRange(size, rngData)
	if err != nil {
		return log.Tree{}, fmt.Errorf("stored compact range: %w", err)
	}
	b := tiles.NewBuilder(rng, func(id tiles.ID) ([]byte, error) { return tileTx(ctx, tx, id.Level, id.Index) })

	end := min(sequenced, size+uint64(max))
	rows, err := tx.QueryContext(ctx, `SELECT idx, data, leaf FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx`, size, end)
	if err != nil {
		return log.Tree{}, err
	}
	// bundle holds the entries of the entry bundle being filled.
	var bundle []byte
	first := size / tiles.Width * tiles.Width
	switch {
	case first == size:
	case s.partial != nil && s.partialEnd == size:
		bundle = s.partial // appended to in place: it is dropped below until the commit
	default:
		part, err := sqlrows.EntryRows(ctx, tx, first, size)
		if err != nil {
			rows.Close()
			return log.Tree{}, err
		}
		bundle = append(make([]byte, 0, bundleCap), part...)
	}
	s.partial = nil
	var fullBundles []uint64
	var bundleData [][]byte
	want := size
	for rows.Next() {
		var idx uint64
		var data, leaf []byte
		if err := rows.Scan(&idx, &data, &leaf); err != nil {
			rows.Close()
			return log.Tree{}, err
		}
		if idx != want {
			rows.Close()
			return log.Tree{}, fmt.Errorf("entry %d is missing from storage (found %d)", want, idx)
		}
		want++
		h := tiles.LeafHash(data)
		if leaf != nil && !bytes.Equal(h, leaf) {
			rows.Close()
			return log.Tree{}, &log.CorruptError{Index: idx, Want: leaf, Got: h}
		}
		if err := b.Append(h); err != nil {
			rows.Close()
			return log.Tree{}, err
		}
		if bundle == nil {
			bundle = make([]byte, 0, bundleCap)
		}
		if bundle, err = tiles.AppendEntry(bundle, data); err != nil {
			rows.Close()
			return log.Tree{}, err
		}
		if want%tiles.Width == 0 {
			fullBundles = append(fullBundles, want/tiles.Width-1)
			bundleData = append(bundleData, bundle)
			bundle = nil
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return log.Tree{}, err
	}
	if want != end {
		return log.Tree{}, fmt.Errorf("entries %d to %d are missing from storage", want, end)
	}
	changed, err := b.Tiles()
	if err != nil {
		return log.Tree{}, err
	}
	for id, data := range changed {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO tiles (id, data) VALUES (?, ?)`, tileKey(id.Level, id.Index), data); err != nil {
			return log.Tree{}, err
		}
	}
	for i, n := range fullBundles {
		if _, err := tx.ExecContext(ctx, `INSERT INTO bundles (idx, data) VALUES (?, ?)`, n, bundleData[i]); err != nil {
			return log.Tree{}, err
		}
		ends, err := sqlrows.Ends(bundleData[i])
		if err != nil {
			return log.Tree{}, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO bundle_ends (idx, ends) VALUES (?, ?)`, n, ends); err != nil {
			return log.Tree{}, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM entries WHERE idx >= ? AND idx < ?`, n*tiles.Width, (n+1)*tiles.Width); err != nil {
			return log.Tree{}, err
		}
	}
	newRoot, err := b.Range().GetRootHash(nil)
	if err != nil {
		return log.Tree{}, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE state SET integrated = ?, root = ?, compact_range = ? WHERE id = 0`, end, newRoot, tiles.EncodeRange(b.Range())); err != nil {
		return log.Tree{}, err
	}
	if err := tx.Commit(); err != nil {
		return log.Tree{}, fmt.Errorf("couldn't commit integration: %w", err)
	}
	s.partial, s.partialEnd = bundle, end
	return log.Tree{Size: end, Root: newRoot}, nil
}

// Tree implements log.Storage.
func (s *Storage) Tree(ctx context.Context) (_ log.Tree, _ uint64, err error) {
	defer sqlitedb.WrapOS(&err)
	var t log.Tree
	var sequenced uint64
	err = s.r.QueryRowContext(ctx, `SELECT integrated, root, sequenced FROM state WHERE id = 0`).Scan(&t.Size, &t.Root, &sequenced)
	return t, sequenced, err
}

// Checkpoint implements log.Storage.
func (s *Storage) Checkpoint(ctx context.Context) (_ []byte, err error) {
	defer sqlitedb.WrapOS(&err)
	var cp []byte
	err = s.r.QueryRowContext(ctx, `SELECT checkpoint FROM state WHERE id = 0`).Scan(&cp)
	return cp, err
}

// SetCheckpoint implements log.Storage.
func (s *Storage) SetCheckpoint(ctx context.Context, size uint64, cp []byte) (err error) {
	defer sqlitedb.WrapOS(&err)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var integrated, stored uint64
	var old []byte
	if err := tx.QueryRowContext(ctx, `SELECT integrated, checkpoint_size, checkpoint FROM state WHERE id = 0`).Scan(&integrated, &stored, &old); err != nil {
		return err
	}
	if old != nil && size <= stored {
		return fmt.Errorf("refusing to store a checkpoint for size %d: one for size %d is stored", size, stored)
	}
	if size > integrated {
		return fmt.Errorf("refusing to store a checkpoint for size %d: only %d entries are integrated", size, integrated)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE state SET checkpoint_size = ?, checkpoint = ? WHERE id = 0`, size, cp); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO growth (hour, size) VALUES (?, ?) ON CONFLICT (hour) DO UPDATE SET size = max(size, excluded.size)`,
		sqlrows.GrowthHour(time.Now()), size); err != nil {
		return err
	}
	return tx.Commit()
}

// Growth implements log.GrowthStorage.
func (s *Storage) Growth(ctx context.Context, since time.Time) (_ []log.GrowthSample, err error) {
	defer sqlitedb.WrapOS(&err)
	return sqlrows.Growth(ctx, s.r, since)
}

// Witnessed implements log.Storage.
func (s *Storage) Witnessed(ctx context.Context) (_ []byte, err error) {
	defer sqlitedb.WrapOS(&err)
	var cp []byte
	err = s.r.QueryRowContext(ctx, `SELECT note FROM witnessed WHERE id = 0`).Scan(&cp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return cp, err
}

// SetWitnessed implements log.Storage.
func (s *Storage) SetWitnessed(ctx context.Context, size uint64, cp []byte) (err error) {
	defer sqlitedb.WrapOS(&err)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var signed uint64
	var hasSigned bool
	var stored sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT checkpoint_size, checkpoint IS NOT NULL, (SELECT size FROM witnessed WHERE id = 0) FROM state WHERE id = 0`).Scan(&signed, &hasSigned, &stored); err != nil {
		return err
	}
	if !hasSigned {
		return errors.New("refusing to store a witnessed checkpoint: no checkpoint is signed")
	}
	if stored.Valid && size < uint64(stored.Int64) {
		return fmt.Errorf("refusing to store a witnessed checkpoint for size %d: one for size %d is stored", size, stored.Int64)
	}
	if size > signed {
		return fmt.Errorf("refusing to store a witnessed checkpoint for size %d: the latest signed checkpoint is for size %d", size, signed)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO witnessed (id, size, note) VALUES (0, ?, ?) ON CONFLICT (id) DO UPDATE SET size = excluded.size, note = excluded.note`, size, cp); err != nil {
		return err
	}
	return tx.Commit()
}

// ReadTile implements log.Storage.
func (s *Storage) ReadTile(ctx context.Context, level, index uint64) (_ []byte, err error) {
	defer sqlitedb.WrapOS(&err)
	if level > 63 || index >= 1<<56 {
		return nil, fmt.Errorf("tile %d/%d: %w", level, index, log.ErrNotFound)
	}
	var data []byte
	err = s.r.QueryRowContext(ctx, `SELECT data FROM tiles WHERE id = ?`, tileKey(level, index)).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("tile %d/%d: %w", level, index, log.ErrNotFound)
	}
	return data, err
}

// ReadEntryBundle implements log.Storage.
func (s *Storage) ReadEntryBundle(ctx context.Context, index uint64) (_ []byte, err error) {
	defer sqlitedb.WrapOS(&err)
	return sqlrows.ReadBundle(ctx, s.r, &sql.TxOptions{ReadOnly: true}, index)
}

// ReadEntry implements log.Storage.
func (s *Storage) ReadEntry(ctx context.Context, index uint64) (_ []byte, err error) {
	defer sqlitedb.WrapOS(&err)
	return s.entries.ReadEntry(ctx, index)
}

// Lookup implements log.Storage.
func (s *Storage) Lookup(ctx context.Context, key []byte, after int64, limit int) (_ []uint64, err error) {
	defer sqlitedb.WrapOS(&err)
	return s.lookup(ctx, s.lookupAfter, key, after, limit)
}

// LookupBefore implements log.Storage.
func (s *Storage) LookupBefore(ctx context.Context, key []byte, before uint64, limit int) (_ []uint64, err error) {
	defer sqlitedb.WrapOS(&err)
	if before > math.MaxInt64 {
		before = math.MaxInt64
	}
	return s.lookup(ctx, s.lookupBefore, key, int64(before), limit)
}

func (s *Storage) lookup(ctx context.Context, stmt *sql.Stmt, key []byte, bound int64, limit int) ([]uint64, error) {
	rows, err := stmt.QueryContext(ctx, key, bound, limit)
	if err != nil {
		return nil, err
	}
	return sqlrows.Indices(rows)
}

// IndexVersion implements log.Storage.
func (s *Storage) IndexVersion(ctx context.Context) (_ int, err error) {
	defer sqlitedb.WrapOS(&err)
	var v int
	err = s.r.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'index_version'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// Reindex implements log.Storage. It forgets the version and empties the
// lookup table, writes the new keys in transactions of
// sqlrows.ReindexBatch entries, and records the version in the last one.
func (s *Storage) Reindex(ctx context.Context, version int, keysOf func(uint64, []byte) ([][]byte, error), progress func(done, total uint64)) (err error) {
	defer sqlitedb.WrapOS(&err)
	var total uint64
	if err := s.w.QueryRowContext(ctx, `SELECT sequenced FROM state WHERE id = 0`).Scan(&total); err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM meta WHERE key = 'index_version'; DELETE FROM lookup`); err != nil {
		return fmt.Errorf("couldn't empty the lookup index: %w", err)
	}
	return sqlrows.Reindex(total, func(start, end uint64, last bool) error {
		return s.reindex(ctx, start, end, keysOf, last, version)
	}, progress)
}

func (s *Storage) reindex(ctx context.Context, start, end uint64, keysOf func(uint64, []byte) ([][]byte, error), last bool, version int) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	addKey, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO lookup (key, idx, leaf) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	defer addKey.Close()
	for first := start / tiles.Width * tiles.Width; first < end; first += tiles.Width {
		entries, err := sqlrows.EntriesFrom(ctx, tx, first)
		if err != nil {
			return err
		}
		if err := sqlrows.KeysOf(first, entries, start, end, keysOf, func(idx uint64, leaf []byte, keys [][]byte) error {
			return insertKeys(ctx, addKey, idx, leaf, keys)
		}); err != nil {
			return err
		}
	}
	if last {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('index_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, fmt.Append(nil, version)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// insertKeys writes the lookup rows of entry idx: the leaf hash goes in the
// first key's row only, where duplicate detection looks.
func insertKeys(ctx context.Context, addKey *sql.Stmt, idx uint64, leafHash []byte, keys [][]byte) error {
	if len(keys) == 0 {
		keys = [][]byte{leafHash}
	}
	for j, k := range keys {
		if len(k) > log.MaxKeySize {
			return fmt.Errorf("lookup key of %d bytes is longer than %d", len(k), log.MaxKeySize)
		}
		leaf := leafHash[:leafPrefix]
		if j > 0 {
			leaf = []byte{}
		}
		if _, err := addKey.ExecContext(ctx, k, idx, leaf); err != nil {
			return err
		}
	}
	return nil
}
