// Package sqlrows is what the SQL storages of a log (log/sqlite and
// log/trillian) share: reading rows of entries into an entry bundle, rows
// of indices and blobs, an entry out of a stored full bundle, and the
// batching of a reindex. Their SQL differs; what they do with the rows
// does not.
package sqlrows

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/tiles"
	lru "github.com/hashicorp/golang-lru/v2"
)

// Bundle reads rows of (index, entry), in index order, into an entry
// bundle of the entries [from, to), and closes rows. A missing index is an
// error.
func Bundle(rows *sql.Rows, from, to uint64) ([]byte, error) {
	defer rows.Close()
	var bundle []byte
	want := from
	for rows.Next() {
		var idx uint64
		var data []byte
		if err := rows.Scan(&idx, &data); err != nil {
			return nil, err
		}
		if idx != want {
			return nil, fmt.Errorf("entry %d is missing from storage", want)
		}
		want++
		var err error
		if bundle, err = tiles.AppendEntry(bundle, data); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if want != to {
		return nil, fmt.Errorf("entry %d is missing from storage", want)
	}
	return bundle, nil
}

// EntryRows returns the entries [from, to) of table entries as an entry
// bundle.
func EntryRows(ctx context.Context, q Tx, from, to uint64) ([]byte, error) {
	rows, err := q.QueryContext(ctx, `SELECT idx, data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx`, from, to)
	if err != nil {
		return nil, err
	}
	return Bundle(rows, from, to)
}

// ReadBundle returns entry bundle index holding every integrated entry it
// covers: a full bundle from table bundles, or a partial one from table
// entries, read in one read-only transaction of db with opts (a snapshot,
// so that an integration that fills the bundle meanwhile cannot tear the
// read).
func ReadBundle(ctx context.Context, db *sql.DB, opts *sql.TxOptions, index uint64) ([]byte, error) {
	if index >= 1<<56 {
		return nil, fmt.Errorf("entry bundle %d: %w", index, log.ErrNotFound)
	}
	var data []byte
	err := db.QueryRowContext(ctx, `SELECT data FROM bundles WHERE idx = ?`, index).Scan(&data)
	if err == nil {
		return data, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var integrated uint64
	if err := tx.QueryRowContext(ctx, `SELECT integrated FROM state WHERE id = 0`).Scan(&integrated); err != nil {
		return nil, err
	}
	start := index * tiles.Width
	if start >= integrated {
		return nil, fmt.Errorf("entry bundle %d: %w", index, log.ErrNotFound)
	}
	if err := tx.QueryRowContext(ctx, `SELECT data FROM bundles WHERE idx = ?`, index).Scan(&data); err == nil {
		return data, nil
	}
	return EntryRows(ctx, tx, start, min(integrated, start+tiles.Width))
}

// Indices reads rows of one unsigned integer, and closes rows.
func Indices(rows *sql.Rows) ([]uint64, error) {
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var idx uint64
		if err := rows.Scan(&idx); err != nil {
			return nil, err
		}
		out = append(out, idx)
	}
	return out, rows.Err()
}

// Blobs reads rows of one blob, and closes rows.
func Blobs(rows *sql.Rows) ([][]byte, error) {
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var d []byte
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// EntryReader reads single entries out of a storage's tables, with
// statements prepared once (reading an entry is on the path of every
// explorer page and proof bundle).
//
// An entry is in the row of table entries until its entry bundle is full,
// then in the full bundle of table bundles, whose row in bundle_ends says
// where each of its entries lies, so that reading one reads its own bytes.
// A full bundle without such a row (written before the table existed, or
// by an older frontend of a shared storage) is read whole, and its
// entries are cached, since full bundles never change.
type EntryReader struct {
	find   *sql.Stmt // the entry's row, or its bundle's ends
	span   *sql.Stmt // bytes of a bundle
	bundle *sql.Stmt // a whole bundle
	full   *lru.Cache[uint64, [][]byte]
}

// NewEntryReader prepares the reads of entries on db.
func NewEntryReader(ctx context.Context, db *sql.DB) (*EntryReader, error) {
	r := &EntryReader{}
	r.full, _ = lru.New[uint64, [][]byte](16)
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		// One statement is one snapshot, in which an entry is in exactly
		// one of the two tables: integration moves it in one transaction.
		{&r.find, `SELECT data, 0 FROM entries WHERE idx = ? UNION ALL SELECT ends, 1 FROM bundle_ends WHERE idx = ?`},
		// substr counts from 1, in bytes of a blob.
		{&r.span, `SELECT substr(data, ?, ?) FROM bundles WHERE idx = ?`},
		{&r.bundle, `SELECT data FROM bundles WHERE idx = ?`},
	} {
		var err error
		if *p.stmt, err = db.PrepareContext(ctx, p.query); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// Close releases the prepared statements.
func (r *EntryReader) Close() {
	for _, st := range []*sql.Stmt{r.find, r.span, r.bundle} {
		if st != nil {
			st.Close()
		}
	}
}

// ReadEntry returns the sequenced entry at index.
func (r *EntryReader) ReadEntry(ctx context.Context, index uint64) ([]byte, error) {
	if index >= 1<<63 {
		return nil, fmt.Errorf("entry %d: %w", index, log.ErrNotFound)
	}
	n, k := index/tiles.Width, int(index%tiles.Width)
	if es, ok := r.full.Get(n); ok {
		return bytes.Clone(es[k]), nil
	}
	var data []byte
	var isEnds bool
	err := r.find.QueryRowContext(ctx, index, n).Scan(&data, &isEnds)
	switch {
	case err == nil && !isEnds:
		return data, nil
	case err == nil:
		return r.readSpan(ctx, index, data)
	case !errors.Is(err, sql.ErrNoRows):
		return nil, err
	}
	err = r.bundle.QueryRowContext(ctx, n).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("entry %d: %w", index, log.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	es, err := tiles.SplitBundle(data)
	if err != nil || len(es) != tiles.Width {
		return nil, fmt.Errorf("stored entry bundle %d is corrupt: %v", n, err)
	}
	r.full.Add(n, es)
	return bytes.Clone(es[k]), nil
}

// readSpan reads entry index out of its full bundle, whose bundle_ends
// row is ends: the entry's length prefix and bytes alone, checked against
// each other.
func (r *EntryReader) readSpan(ctx context.Context, index uint64, ends []byte) ([]byte, error) {
	n, k := index/tiles.Width, int(index%tiles.Width)
	if len(ends) != 4*tiles.Width {
		return nil, fmt.Errorf("the stored ends of entry bundle %d are corrupt: %d bytes", n, len(ends))
	}
	var start uint32
	if k > 0 {
		start = binary.BigEndian.Uint32(ends[4*(k-1):])
	}
	end := binary.BigEndian.Uint32(ends[4*k:])
	if end < start+2 || end-start-2 > 0xffff {
		return nil, fmt.Errorf("the stored ends of entry bundle %d are corrupt at entry %d", n, index)
	}
	var span []byte
	err := r.span.QueryRowContext(ctx, start+1, end-start, n).Scan(&span)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("entry bundle %d has stored ends but no data", n)
	}
	if err != nil {
		return nil, err
	}
	if len(span) != int(end-start) || int(binary.BigEndian.Uint16(span)) != len(span)-2 {
		return nil, fmt.Errorf("entry %d does not lie where the stored ends of entry bundle %d say", index, n)
	}
	return span[2:], nil
}

// Ends returns what table bundle_ends keeps beside the full entry bundle
// data: the offset in data at which each of its entries ends, as 4-byte
// big-endian integers, so that one entry can be read out of the stored
// bundle without reading all of it.
func Ends(data []byte) ([]byte, error) {
	es, err := tiles.SplitBundle(data)
	if err != nil || len(es) != tiles.Width {
		return nil, fmt.Errorf("entry bundle is not full: %d entries, %v", len(es), err)
	}
	ends := make([]byte, 0, 4*tiles.Width)
	off := 0
	for _, e := range es {
		off += 2 + len(e)
		ends = binary.BigEndian.AppendUint32(ends, uint32(off))
	}
	return ends, nil
}

// FillEnds writes the bundle_ends row of every full bundle in db that has
// none (those written before the table existed), in transactions of
// ReindexBatch/16 bundles begun by begin, with insert (the storage's
// statement that adds a row (idx, ends) unless there is one). Once an
// upgraded log's first start-up has done this (some seconds a million
// entries), it finds nothing to do; logger hears of the work if there is
// any.
func FillEnds(ctx context.Context, db *sql.DB, begin func(context.Context) (*sql.Tx, error), insert string, logger *slog.Logger) error {
	rows, err := db.QueryContext(ctx, `SELECT b.idx FROM bundles b LEFT JOIN bundle_ends e ON e.idx = b.idx WHERE e.idx IS NULL ORDER BY b.idx`)
	if err != nil {
		return err
	}
	missing, err := Indices(rows)
	if err != nil || len(missing) == 0 {
		return err
	}
	start := time.Now()
	logger.Info("recording where the entries of each full entry bundle lie, once after an upgrade", "bundles", len(missing))
	for batch := range slices.Chunk(missing, ReindexBatch/16) {
		if err := fillEnds(ctx, begin, insert, batch); err != nil {
			return err
		}
	}
	logger.Info("recorded where the entries of each full entry bundle lie", "bundles", len(missing), "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

func fillEnds(ctx context.Context, begin func(context.Context) (*sql.Tx, error), insert string, bundles []uint64) error {
	tx, err := begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, n := range bundles {
		var data []byte
		if err := tx.QueryRowContext(ctx, `SELECT data FROM bundles WHERE idx = ?`, n).Scan(&data); err != nil {
			return fmt.Errorf("entry bundle %d: %w", n, err)
		}
		ends, err := Ends(data)
		if err != nil {
			return fmt.Errorf("stored entry bundle %d: %w", n, err)
		}
		if _, err := tx.ExecContext(ctx, insert, n, ends); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ReindexBatch is the most entries whose keys one Reindex transaction
// writes.
const ReindexBatch = 4096

// Reindex runs step over [0, total) in consecutive ranges of ReindexBatch
// entries, the last with last set, and reports progress after each.
func Reindex(total uint64, step func(start, end uint64, last bool) error, progress func(done, total uint64)) error {
	for start := uint64(0); ; start += ReindexBatch {
		end := min(total, start+ReindexBatch)
		if err := step(start, end, end == total); err != nil {
			return err
		}
		if progress != nil {
			progress(end, total)
		}
		if end == total {
			return nil
		}
	}
}

// KeysOf calls keysOf for each entry of a bundle that starts at index
// first and is in [start, end), and add with its index, its leaf hash and
// the keys keysOf gave.
func KeysOf(first uint64, entries [][]byte, start, end uint64, keysOf func(uint64, []byte) ([][]byte, error), add func(idx uint64, leaf []byte, keys [][]byte) error) error {
	for j, data := range entries {
		idx := first + uint64(j)
		if idx < start || idx >= end {
			continue
		}
		keys, err := keysOf(idx, data)
		if err != nil {
			return fmt.Errorf("entry %d: %w", idx, err)
		}
		if err := add(idx, tiles.LeafHash(data), keys); err != nil {
			return err
		}
	}
	return nil
}

// Tx is what EntriesFrom reads through: a transaction of either storage.
type Tx interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// EntriesFrom returns the sequenced entries of the entry bundle that
// starts at index first: a full stored bundle (table bundles), or the rows
// of table entries. Both storages name their tables and columns alike.
func EntriesFrom(ctx context.Context, tx Tx, first uint64) ([][]byte, error) {
	var data []byte
	err := tx.QueryRowContext(ctx, `SELECT data FROM bundles WHERE idx = ?`, first/tiles.Width).Scan(&data)
	if err == nil {
		return tiles.SplitBundle(data)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx`, first, first+tiles.Width)
	if err != nil {
		return nil, err
	}
	return Blobs(rows)
}

// Found reports what is sequenced under a leaf's first key: the index of
// the entry with the leaf's hash (same, -1 if none), and the others
// sequenced before the call (at most log.MaxDedupCandidates; more if there
// are more), in increasing order.
type Found func(key, hash []byte) (same int64, others []uint64, more bool, err error)

// Assign decides what log.Storage.Sequence answers for leaves, the first
// new one getting index next: a leaf whose hash is earlier in the call, or
// sequenced already under its first key (found), or that its Dedup judges
// a duplicate of an entry found, gets that index with Dup set; every other
// gets the next index and is passed to add with its keys (its hash alone
// for a leaf without keys). A key longer than log.MaxKeySize fails the
// call. It returns the answers and the index after the last new leaf.
//
// A leaf whose fence trips (tripped says whether an entry was sequenced
// under the key above the index, before the call) is answered Fenced and
// left out; each fence is asked once a call.
func Assign(leaves []log.Leaf, next uint64, found Found, tripped func(key []byte, above int64) (bool, error), add func(idx uint64, l log.Leaf, keys [][]byte) error) ([]log.Sequenced, uint64, error) {
	for _, l := range leaves {
		for _, k := range l.Keys {
			if len(k) > log.MaxKeySize {
				return nil, next, fmt.Errorf("lookup key of %d bytes is longer than %d", len(k), log.MaxKeySize)
			}
		}
	}
	out := make([]log.Sequenced, len(leaves))
	batch := make(map[string]uint64)
	fences := map[string]bool{}
	for i, l := range leaves {
		fenced := false
		for _, f := range l.Fences {
			id := fmt.Sprintf("%x/%d", f.Key, f.Above)
			t, ok := fences[id]
			if !ok {
				var err error
				if t, err = tripped(f.Key, f.Above); err != nil {
					return nil, next, err
				}
				fences[id] = t
			}
			fenced = fenced || t
		}
		if fenced {
			out[i] = log.Sequenced{Fenced: true}
			continue
		}
		if idx, ok := batch[string(l.Hash)]; ok {
			out[i] = log.Sequenced{Index: idx, Dup: true}
			continue
		}
		keys := l.Keys
		if len(keys) == 0 {
			keys = [][]byte{l.Hash}
		}
		same, others, more, err := found(keys[0], l.Hash)
		if err != nil {
			return nil, next, err
		}
		if same >= 0 {
			out[i] = log.Sequenced{Index: uint64(same), Dup: true}
			continue
		}
		if l.Dedup != nil && len(others) > 0 {
			if idx, dup := l.Dedup(others, more); dup {
				out[i] = log.Sequenced{Index: idx, Dup: true}
				continue
			}
		}
		if err := add(next, l, keys); err != nil {
			return nil, next, err
		}
		batch[string(l.Hash)] = next
		out[i] = log.Sequenced{Index: next}
		next++
	}
	return out, next, nil
}

// Check returns the problems of the rows a storage keeps beside its tree:
// those of checkSequenced from index from, and of checkEnds.
func Check(ctx context.Context, tx Tx, from uint64) ([]string, error) {
	seq, err := checkSequenced(ctx, tx, from)
	if err != nil {
		return nil, err
	}
	ends, err := checkEnds(ctx, tx)
	return append(seq, ends...), err
}

// checkEnds returns a problem for each row of bundle_ends that does not
// say where the entries of its full bundle end (reading those entries
// would fail).
func checkEnds(ctx context.Context, tx Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT e.idx, e.ends, b.data FROM bundle_ends e LEFT JOIN bundles b ON b.idx = e.idx ORDER BY e.idx`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var idx uint64
		var ends, data []byte
		if err := rows.Scan(&idx, &ends, &data); err != nil {
			return nil, err
		}
		if data == nil {
			problems = append(problems, fmt.Sprintf("entry bundle %d has a row in bundle_ends but is not stored", idx))
			continue
		}
		if want, err := Ends(data); err != nil || !bytes.Equal(ends, want) {
			problems = append(problems, fmt.Sprintf("the row of entry bundle %d in bundle_ends does not say where its entries end: its entries cannot be read one at a time (delete the row, and the next start-up writes it again)", idx))
		}
	}
	return problems, rows.Err()
}

// checkSequenced re-hashes the sequenced entries from index from on (the
// rows of table entries), and returns a problem for each whose bytes do not
// hash to the leaf hash recorded when it was sequenced (rows without one,
// written by an older fwlog, are not checked).
func checkSequenced(ctx context.Context, tx Tx, from uint64) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT idx, data, leaf FROM entries WHERE idx >= ? ORDER BY idx`, from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var idx uint64
		var data, leaf []byte
		if err := rows.Scan(&idx, &data, &leaf); err != nil {
			return nil, err
		}
		if leaf != nil && !bytes.Equal(tiles.LeafHash(data), leaf) {
			problems = append(problems, fmt.Sprintf("sequenced entry %d does not hash to the leaf hash recorded when it was acknowledged: it was altered, and will not be integrated", idx))
		}
	}
	return problems, rows.Err()
}

// GrowthHour is the hour a checkpoint stored at now is counted in: the
// growth table's key, hours since the Unix epoch.
func GrowthHour(now time.Time) int64 { return now.Unix() / 3600 }

// Growth reads the growth table (hour, size) from since's hour on: the
// newest log.MaxGrowthSamples rows, in order.
func Growth(ctx context.Context, q Tx, since time.Time) ([]log.GrowthSample, error) {
	rows, err := q.QueryContext(ctx, `SELECT hour, size FROM growth WHERE hour >= ? ORDER BY hour DESC LIMIT ?`, GrowthHour(since), log.MaxGrowthSamples)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []log.GrowthSample
	for rows.Next() {
		var hour int64
		var size uint64
		if err := rows.Scan(&hour, &size); err != nil {
			return nil, err
		}
		out = append(out, log.GrowthSample{Hour: time.Unix(hour*3600, 0).UTC(), Size: size})
	}
	slices.Reverse(out)
	return out, rows.Err()
}
