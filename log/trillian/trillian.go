// Package trillian is the log storage for more than one machine: Google
// Trillian holds the Merkle tree, and MySQL (or MariaDB) holds what fwlog
// serves, so that any number of stateless frontends share one log.
//
// # Division of labour
//
// A submission is sequenced in fwlog's own database: one transaction locks
// the state row, finds duplicates in the lookup index, and writes the
// entries with their indices, leaf hashes and lookup keys. Its commit is
// the acknowledgement; the index is known at once and deduplication is
// exact, because both happen under one lock.
//
// The holder of the publisher lease (log.SharedStorage) then integrates: it
// hands the new entries to Trillian with AddSequencedLeaves on a
// PREORDERED_LOG tree, waits for Trillian's signer to integrate them, reads
// the leaves back with GetLeavesByRange, checks each against the leaf hash
// fwlog recorded, recomputes the root from them, and checks it against
// Trillian's root and Trillian's consistency proof from the previous tree.
// Only then does it write the C2SP tiles and entry bundles and advance the
// tree, in one transaction that holds the lease; the log signs a checkpoint
// only for a tree so written. A root that disagrees stops integration:
// Integrate returns a *RootMismatchError, which is logged and counted
// (fwlog_trillian_root_mismatches_total), and nothing is published past it.
//
// Why PREORDERED_LOG and not QueueLeaf on a LOG tree: QueueLeaf answers
// before Trillian assigns an index, so a frontend would wait for the
// signer to learn it, and duplicates of another entry under one key (the
// ledger's Dedup) could not be judged in the same transaction that orders
// the entry. docs/BENCHMARKS.md measures both calls on the same database.
//
// # Schema
//
// The tables mirror package sqlite's: state (one row: sequenced and
// integrated sizes, root, compact range, stored checkpoints), entries
// (sequenced entries until their bundle is full), bundles, tiles (at their
// widest version), lookup (key, index, and in the first key's row the leaf
// hash), meta (identity, tree ID, index version) and lease. Open creates
// them.
package trillian

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/internal/sqlrows"
	"github.com/fwledger/fwledger/tiles"
	"github.com/go-sql-driver/mysql"
	tpb "github.com/google/trillian"
	"github.com/google/trillian/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

var schema = []string{
	`CREATE TABLE IF NOT EXISTS meta (
	k VARCHAR(64) NOT NULL PRIMARY KEY,
	v VARBINARY(4096) NOT NULL
) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS state (
	id              TINYINT NOT NULL PRIMARY KEY,
	sequenced       BIGINT UNSIGNED NOT NULL,
	integrated      BIGINT UNSIGNED NOT NULL,
	root            VARBINARY(32) NOT NULL,
	compact_range   VARBINARY(4096) NOT NULL,
	checkpoint_size BIGINT UNSIGNED NOT NULL,
	reindexing      TINYINT NOT NULL DEFAULT 0, -- 1 while Reindex rebuilds the lookup index
	checkpoint      MEDIUMBLOB NULL,
	witnessed_size  BIGINT UNSIGNED NULL,
	witnessed       MEDIUMBLOB NULL
) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS entries (
	idx  BIGINT UNSIGNED NOT NULL PRIMARY KEY,
	data MEDIUMBLOB NOT NULL,
	leaf BINARY(32) NOT NULL
) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS bundles (
	idx  BIGINT UNSIGNED NOT NULL PRIMARY KEY,
	data LONGBLOB NOT NULL
) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS bundle_ends (
	idx  BIGINT UNSIGNED NOT NULL PRIMARY KEY,
	ends BLOB NOT NULL -- where each entry of full bundle idx ends in it, 4-byte big-endian offsets
) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS tiles (
	id   BIGINT UNSIGNED NOT NULL PRIMARY KEY,
	data BLOB NOT NULL
) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS lookup (
	k    VARBINARY(80) NOT NULL,
	idx  BIGINT UNSIGNED NOT NULL,
	leaf VARBINARY(32) NOT NULL,
	PRIMARY KEY (k, idx)
) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS growth (
	hour BIGINT NOT NULL PRIMARY KEY, -- hours since the Unix epoch
	size BIGINT UNSIGNED NOT NULL     -- the size of the last checkpoint stored in that hour
) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS lease (
	id      TINYINT NOT NULL PRIMARY KEY,
	holder  VARCHAR(255) NOT NULL,
	expires DATETIME(6) NOT NULL
) ENGINE=InnoDB`,
}

// Config configures a Storage.
type Config struct {
	// DB is fwlog's database (OpenDB opens one with the settings the
	// storage needs). Every frontend of one log uses the same database.
	DB *sql.DB
	// Client is a Trillian log client, and TreeID a PREORDERED_LOG tree
	// with the RFC 6962 SHA-256 hasher, used by this log only.
	Client tpb.TrillianLogClient
	TreeID int64
	// Holder names this handle in the publisher lease (default: the
	// host name, the process ID and a random suffix).
	Holder string
	// IntegrateTimeout bounds how long Integrate waits for Trillian's
	// signer to integrate the leaves it handed over (default 30s).
	IntegrateTimeout time.Duration
	// Logger receives structured logs (default slog.Default()).
	Logger *slog.Logger
	// Registerer receives the storage's metrics (default: not registered).
	Registerer prometheus.Registerer
}

// Storage is a log.SharedStorage on Trillian and MySQL.
type Storage struct {
	db      *sql.DB
	client  tpb.TrillianLogClient
	tree    int64
	holder  string
	timeout time.Duration
	logger  *slog.Logger

	mismatches prometheus.Counter
	pushed     prometheus.Counter

	// entries reads single entries.
	entries *sqlrows.EntryReader
}

// A RootMismatchError reports a tree that Trillian and fwlog's own
// recomputation from Trillian's leaves disagree on: Trillian's root, or its
// consistency proof, or a leaf differs from what fwlog sequenced. Nothing is
// integrated or signed past it until an operator finds out why.
type RootMismatchError struct {
	// Size is the tree size at issue, What what disagreed.
	Size uint64
	What string
}

func (e *RootMismatchError) Error() string {
	return fmt.Sprintf("Trillian's tree of size %d disagrees with fwlog's entries: %s; nothing is published past it", e.Size, e.What)
}

// OpenDB opens fwlog's MySQL database from a Go MySQL driver DSN
// (user:password@tcp(host:port)/dbname), with the settings the storage
// relies on: parameters interpolated on the client (one round trip a
// query), and a packet limit large enough for a full entry bundle (the
// server's max_allowed_packet must allow it too: 64 MiB).
func OpenDB(dsn string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("invalid MySQL DSN: %w", err)
	}
	cfg.InterpolateParams = true
	cfg.MaxAllowedPacket = 64 << 20
	cfg.ParseTime = false
	cfg.MultiStatements = false
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("invalid MySQL DSN: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// Open checks the tree and the database and creates the schema if needed.
// The database is bound to the tree on first use: Open refuses a database
// made for another tree.
func Open(ctx context.Context, cfg Config) (*Storage, error) {
	if cfg.DB == nil || cfg.Client == nil || cfg.TreeID == 0 {
		return nil, errors.New("trillian: DB, Client and TreeID are required")
	}
	if cfg.Holder == "" {
		host, _ := os.Hostname()
		var r [4]byte
		rand.Read(r[:])
		cfg.Holder = fmt.Sprintf("%s:%d:%x", host, os.Getpid(), r)
	}
	if cfg.IntegrateTimeout <= 0 {
		cfg.IntegrateTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Storage{
		db: cfg.DB, client: cfg.Client, tree: cfg.TreeID, holder: cfg.Holder, timeout: cfg.IntegrateTimeout, logger: cfg.Logger,
		mismatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fwlog_trillian_root_mismatches_total",
			Help: "Integrations refused because Trillian's root, consistency proof or leaves disagree with fwlog's entries (publication stops).",
		}),
		pushed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fwlog_trillian_leaves_added_total",
			Help: "Leaves handed to Trillian with AddSequencedLeaves.",
		}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(s.mismatches, s.pushed)
	}
	for _, q := range schema {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("couldn't create the schema: %w", err)
		}
	}
	// Full bundles written before bundle_ends existed gain their rows.
	begin := func(ctx context.Context) (*sql.Tx, error) { return s.db.BeginTx(ctx, nil) }
	if err := sqlrows.FillEnds(ctx, s.db, begin, `INSERT IGNORE INTO bundle_ends (idx, ends) VALUES (?, ?)`, s.logger); err != nil {
		return nil, fmt.Errorf("couldn't index the entry bundles: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT IGNORE INTO state (id, sequenced, integrated, root, compact_range, checkpoint_size) VALUES (0, 0, 0, ?, '', 0)`, tiles.EmptyRoot()); err != nil {
		return nil, err
	}
	// The lease row exists from the start (expired, held by nobody), so
	// that frontends starting together all update it.
	if _, err := s.db.ExecContext(ctx, `INSERT IGNORE INTO lease (id, holder, expires) VALUES (0, '', UTC_TIMESTAMP(6))`); err != nil {
		return nil, err
	}
	if err := s.bindMeta(ctx, "tree_id", fmt.Append(nil, cfg.TreeID), func(stored []byte) error {
		return fmt.Errorf("the database belongs to Trillian tree %s, not %d", stored, cfg.TreeID)
	}); err != nil {
		return nil, err
	}
	tr, err := s.trillianRoot(ctx)
	if err != nil {
		return nil, fmt.Errorf("couldn't read tree %d from Trillian: %w", cfg.TreeID, err)
	}
	st, err := readState(ctx, s.db, "")
	if err != nil {
		return nil, err
	}
	if tr.TreeSize > st.sequenced {
		return nil, fmt.Errorf("Trillian's tree %d holds %d leaves, and this database sequenced %d: the tree belongs to another log, or the database lost entries", cfg.TreeID, tr.TreeSize, st.sequenced)
	}
	if s.entries, err = sqlrows.NewEntryReader(ctx, s.db); err != nil {
		return nil, err
	}
	return s, nil
}

// Holder returns the name this handle takes the publisher lease under.
func (s *Storage) Holder() string { return s.holder }

// Close closes nothing: the database and the client belong to the caller.
func (s *Storage) Close() error {
	s.entries.Close()
	return nil
}

// bindMeta records value under key on first use; later, it returns
// mismatch(stored) if the stored value differs.
func (s *Storage) bindMeta(ctx context.Context, key string, value []byte, mismatch func(stored []byte) error) error {
	if _, err := s.db.ExecContext(ctx, `INSERT IGNORE INTO meta (k, v) VALUES (?, ?)`, key, value); err != nil {
		return err
	}
	var stored []byte
	if err := s.db.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = ?`, key).Scan(&stored); err != nil {
		return err
	}
	if !bytes.Equal(stored, value) {
		return mismatch(stored)
	}
	return nil
}

// BindIdentity implements log.Storage.
func (s *Storage) BindIdentity(ctx context.Context, id string) error {
	return s.bindMeta(ctx, "identity", []byte(id), func(stored []byte) error {
		return &log.IdentityError{Stored: string(stored), Given: id}
	})
}

func (s *Storage) begin(ctx context.Context) (*sql.Tx, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, fmt.Errorf("couldn't begin a transaction: %w", err)
	}
	return tx, nil
}

// insertChunk is the most rows one INSERT statement writes, and
// insertBytes about the most bytes.
const (
	insertChunk = 256
	insertBytes = 4 << 20
)

// insertRows writes rows (each a slice of len(cols) values) with multi-row
// INSERT statements: prefix is "INSERT INTO t (a, b) VALUES", suffix an
// optional ON DUPLICATE KEY clause.
func insertRows(ctx context.Context, tx *sql.Tx, prefix, suffix string, cols int, rows [][]any) error {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	for len(rows) > 0 {
		n, size := 0, 0
		for n < len(rows) && n < insertChunk && size < insertBytes {
			for _, v := range rows[n] {
				if b, ok := v.([]byte); ok {
					size += len(b)
				}
			}
			n++
		}
		var q strings.Builder
		q.WriteString(prefix)
		args := make([]any, 0, n*cols)
		for i := 0; i < n; i++ {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString(one)
			args = append(args, rows[i]...)
		}
		q.WriteString(suffix)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// Sequence implements log.Storage.
func (s *Storage) Sequence(ctx context.Context, leaves []log.Leaf) ([]log.Sequenced, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var next uint64
	var reindexing bool
	if err := tx.QueryRowContext(ctx, `SELECT sequenced, reindexing FROM state WHERE id = 0 FOR UPDATE`).Scan(&next, &reindexing); err != nil {
		return nil, err
	}
	if reindexing {
		return nil, ErrReindexing
	}
	start := next
	var entryRows, allKeyRows [][]any
	out, next, err := sqlrows.Assign(leaves, next, func(key, hash []byte) (int64, []uint64, bool, error) {
		return candidates(ctx, tx, key, hash, start)
	}, func(key []byte, above int64) (bool, error) {
		return tripped(ctx, tx, `SELECT 1 FROM lookup WHERE k = ? AND idx > ? AND idx < ? LIMIT 1`, key, above, start)
	}, func(idx uint64, l log.Leaf, keys [][]byte) error {
		entryRows = append(entryRows, []any{idx, l.Data, l.Hash})
		allKeyRows = append(allKeyRows, keyRows(idx, l.Hash, keys)...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if next == start {
		return out, nil
	}
	if err := insertRows(ctx, tx, `INSERT INTO entries (idx, data, leaf) VALUES `, "", 3, entryRows); err != nil {
		return nil, err
	}
	if err := insertRows(ctx, tx, `INSERT IGNORE INTO lookup (k, idx, leaf) VALUES `, "", 3, allKeyRows); err != nil {
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

// tripped runs query, which finds an entry under a key above an index and
// below another, and reports whether it found one.
func tripped(ctx context.Context, tx *sql.Tx, query string, key []byte, above int64, start uint64) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, query, key, above, start).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// keyRows returns the lookup rows of entry idx with leaf hash leaf, one a
// key: the leaf hash in the first key's row only, where duplicate
// detection looks.
func keyRows(idx uint64, leaf []byte, keys [][]byte) [][]any {
	rows := make([][]any, 0, len(keys))
	for j, k := range keys {
		l := []byte{}
		if j == 0 {
			l = leaf
		}
		rows = append(rows, []any{k, idx, l})
	}
	return rows
}

// candidates reads the entries sequenced under key: the index of one whose
// leaf hash is hash (same, -1 if none), and the others sequenced before
// index start (at most log.MaxDedupCandidates; more if there are more).
// Only an entry's first key's row holds its leaf hash.
func candidates(ctx context.Context, tx *sql.Tx, key, hash []byte, start uint64) (same int64, others []uint64, more bool, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT idx, leaf FROM lookup WHERE k = ? ORDER BY idx LIMIT ?`, key, log.MaxDedupCandidates+1)
	if err != nil {
		return -1, nil, false, err
	}
	defer rows.Close()
	same = -1
	var n int
	var last uint64
	for rows.Next() {
		var idx uint64
		var leaf []byte
		if err := rows.Scan(&idx, &leaf); err != nil {
			return -1, nil, false, err
		}
		n, last = n+1, idx
		switch {
		case bytes.Equal(leaf, hash):
			same = int64(idx)
		case idx >= start:
		case len(others) == log.MaxDedupCandidates:
			more = true
		default:
			others = append(others, idx)
		}
	}
	if err := rows.Err(); err != nil {
		return -1, nil, false, err
	}
	rows.Close()
	if same < 0 && n == log.MaxDedupCandidates+1 {
		// An exact duplicate may be beyond the candidates: look for the
		// hash itself among the rest (a replay must not log an entry
		// twice, however many share its key).
		var idx uint64
		switch err := tx.QueryRowContext(ctx, `SELECT idx FROM lookup WHERE k = ? AND idx > ? AND leaf = ? ORDER BY idx LIMIT 1`, key, last, hash).Scan(&idx); {
		case err == nil:
			same = int64(idx)
		case !errors.Is(err, sql.ErrNoRows):
			return -1, nil, false, err
		}
	}
	return same, others, more, nil
}

func tileKey(level, index uint64) uint64 { return level<<56 | index }

type state struct {
	sequenced, integrated uint64
	root, rng             []byte
}

func readState(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, suffix string) (state, error) {
	var st state
	err := q.QueryRowContext(ctx, `SELECT sequenced, integrated, root, compact_range FROM state WHERE id = 0`+suffix).Scan(&st.sequenced, &st.integrated, &st.root, &st.rng)
	return st, err
}

// trillianRoot returns Trillian's latest root of the tree.
func (s *Storage) trillianRoot(ctx context.Context) (*types.LogRootV1, error) {
	resp, err := s.client.GetLatestSignedLogRoot(ctx, &tpb.GetLatestSignedLogRootRequest{LogId: s.tree})
	if err != nil {
		return nil, err
	}
	if resp.GetSignedLogRoot() == nil {
		return nil, errors.New("Trillian returned no log root")
	}
	var r types.LogRootV1
	if err := r.UnmarshalBinary(resp.GetSignedLogRoot().GetLogRoot()); err != nil {
		return nil, fmt.Errorf("Trillian's log root: %w", err)
	}
	return &r, nil
}

// pushChunk and pushBytes bound one AddSequencedLeaves request, under
// gRPC's default 4 MiB message limit.
const (
	pushChunk = 1000
	pushBytes = 3 << 20
)

// push hands the sequenced entries [from, to) to Trillian, and returns the
// leaf hashes recorded when they were sequenced, in order. Leaves Trillian
// holds already are answered with an error status per leaf, and are
// checked when read back.
func (s *Storage) push(ctx context.Context, from, to uint64) ([][]byte, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT idx, data, leaf FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx`, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	hashes := make([][]byte, 0, to-from)
	var leaves []*tpb.LogLeaf
	size := 0
	want := from
	send := func() error {
		if len(leaves) == 0 {
			return nil
		}
		resp, err := s.client.AddSequencedLeaves(ctx, &tpb.AddSequencedLeavesRequest{LogId: s.tree, Leaves: leaves})
		if err != nil {
			return fmt.Errorf("Trillian's AddSequencedLeaves: %w", err)
		}
		for _, r := range resp.GetResults() {
			if c := codes.Code(r.GetStatus().GetCode()); c != codes.OK && c != codes.FailedPrecondition && c != codes.AlreadyExists {
				return fmt.Errorf("Trillian refused leaf %d: %s", r.GetLeaf().GetLeafIndex(), r.GetStatus().GetMessage())
			}
		}
		s.pushed.Add(float64(len(leaves)))
		leaves, size = leaves[:0], 0
		return nil
	}
	for rows.Next() {
		var idx uint64
		var data, leaf []byte
		if err := rows.Scan(&idx, &data, &leaf); err != nil {
			return nil, err
		}
		if idx != want {
			return nil, fmt.Errorf("sequenced entry %d is missing from storage", want)
		}
		want++
		// Trillian hashes what it is given, and keeps it for good: an
		// entry altered since it was sequenced must never reach it.
		if h := tiles.LeafHash(data); !bytes.Equal(h, leaf) {
			return nil, &log.CorruptError{Index: idx, Want: leaf, Got: h}
		}
		hashes = append(hashes, leaf)
		if len(leaves) == pushChunk || size+len(data) > pushBytes {
			if err := send(); err != nil {
				return nil, err
			}
		}
		leaves = append(leaves, &tpb.LogLeaf{LeafIndex: int64(idx), LeafValue: data, MerkleLeafHash: leaf, LeafIdentityHash: identityHash(idx, leaf)})
		size += len(data) + 100
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if want != to {
		return nil, fmt.Errorf("sequenced entry %d is missing from storage", want)
	}
	return hashes, send()
}

// identityHash is the identity Trillian keeps leaf idx under. Trillian
// holds one leaf an identity in a tree, and would leave a hole at the index
// of a second leaf with the identity of a first; fwlog may log the same
// bytes twice (Sequence finds duplicates among the first
// log.MaxDedupCandidates entries of a key only), so the identity is the
// leaf's index and hash, unique in the tree.
func identityHash(idx uint64, leaf []byte) []byte {
	h := sha256.New()
	h.Write([]byte("fwledger leaf identity\x00"))
	h.Write(binary.BigEndian.AppendUint64(nil, idx))
	h.Write(leaf)
	return h.Sum(nil)
}

// awaitTrillian waits until Trillian's tree holds at least size leaves, and
// returns its root then.
func (s *Storage) awaitTrillian(ctx context.Context, size uint64) (*types.LogRootV1, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		r, err := s.trillianRoot(ctx)
		if err != nil {
			return nil, err
		}
		if r.TreeSize >= size {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("Trillian's tree has %d leaves after %v, not the %d handed to it: is trillian_log_signer running for tree %d? (%w)", r.TreeSize, s.timeout, size, s.tree, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// fetchChunk is the most leaves one GetLeavesByRange asks for; maxFetch is
// the largest answer accepted (256 entries of 64 KiB and their hashes).
const (
	fetchChunk = 256
	maxFetch   = 32 << 20
)

// leaves reads the leaves [from, to) from Trillian and checks each: its
// index, its leaf hash against its value, and that it is the entry fwlog
// sequenced there (its leaf hash in the entries table). known holds the
// recorded leaf hashes of the first entries, if push just read them; the
// others are read here.
func (s *Storage) leaves(ctx context.Context, from, to uint64, known [][]byte) ([][]byte, error) {
	want := make(map[uint64][]byte, to-from)
	for i, h := range known {
		want[from+uint64(i)] = h
	}
	rows, err := s.db.QueryContext(ctx, `SELECT idx, leaf FROM entries WHERE idx >= ? AND idx < ?`, from+uint64(len(known)), to)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var idx uint64
		var leaf []byte
		if err := rows.Scan(&idx, &leaf); err != nil {
			rows.Close()
			return nil, err
		}
		want[idx] = leaf
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([][]byte, 0, to-from)
	for next := from; next < to; {
		n := min(to-next, fetchChunk)
		resp, err := s.client.GetLeavesByRange(ctx, &tpb.GetLeavesByRangeRequest{LogId: s.tree, StartIndex: int64(next), Count: int64(n)}, grpc.MaxCallRecvMsgSize(maxFetch))
		if err != nil {
			return nil, fmt.Errorf("Trillian's GetLeavesByRange(%d, %d): %w", next, n, err)
		}
		if len(resp.GetLeaves()) == 0 {
			return nil, fmt.Errorf("Trillian returned no leaves from %d, below its tree size %d", next, to)
		}
		for _, l := range resp.GetLeaves() {
			if next == to {
				break
			}
			if l.GetLeafIndex() != int64(next) {
				return nil, &RootMismatchError{Size: to, What: fmt.Sprintf("asked for leaf %d, Trillian returned leaf %d", next, l.GetLeafIndex())}
			}
			h := tiles.LeafHash(l.GetLeafValue())
			if !bytes.Equal(h, l.GetMerkleLeafHash()) {
				return nil, &RootMismatchError{Size: to, What: fmt.Sprintf("leaf %d's value does not hash to its Merkle leaf hash", next)}
			}
			if w, ok := want[next]; !ok || !bytes.Equal(w, h) {
				return nil, &RootMismatchError{Size: to, What: fmt.Sprintf("leaf %d is not the entry fwlog sequenced at that index", next)}
			}
			out = append(out, l.GetLeafValue())
			next++
		}
	}
	return out, nil
}

// Integrate implements log.Storage: see the package documentation.
func (s *Storage) Integrate(ctx context.Context, max int) (_ log.Tree, err error) {
	defer func() {
		var rm *RootMismatchError
		if errors.As(err, &rm) {
			s.mismatches.Inc()
			s.logger.Error("integration stopped: Trillian disagrees with fwlog", "tree_id", s.tree, "size", rm.Size, "problem", rm.What)
		}
	}()
	defer func() {
		// An integration that failed while another frontend held the
		// lease read what that one was writing (its tiles, beyond the
		// state read first): it failed for not being the publisher.
		if err != nil && !errors.Is(err, log.ErrNotPublisher) {
			if lerr := s.holdsLease(ctx); errors.Is(lerr, log.ErrNotPublisher) {
				err = fmt.Errorf("%w (integrating failed meanwhile: %v)", lerr, err)
			}
		}
	}()
	st, err := readState(ctx, s.db, "")
	if err != nil {
		return log.Tree{}, err
	}
	size := st.integrated
	tr, err := s.trillianRoot(ctx)
	if err != nil {
		return log.Tree{}, fmt.Errorf("Trillian's root: %w", err)
	}
	if tr.TreeSize > st.sequenced {
		return log.Tree{}, &RootMismatchError{Size: tr.TreeSize, What: fmt.Sprintf("Trillian holds %d leaves, fwlog sequenced %d (is the tree used by another log?)", tr.TreeSize, st.sequenced)}
	}
	if tr.TreeSize < size {
		return log.Tree{}, &RootMismatchError{Size: tr.TreeSize, What: fmt.Sprintf("Trillian's tree has %d leaves, fewer than the %d fwlog integrated (was Trillian's database restored from an older backup?)", tr.TreeSize, size)}
	}
	if st.sequenced == size {
		return log.Tree{Size: size, Root: st.root}, nil
	}
	end := tr.TreeSize
	var pushed [][]byte
	if end == size {
		// Hand Trillian the next batch, and wait for its signer.
		end = min(st.sequenced, size+uint64(max))
		if pushed, err = s.push(ctx, size, end); err != nil {
			return log.Tree{}, err
		}
		if tr, err = s.awaitTrillian(ctx, end); err != nil {
			return log.Tree{}, err
		}
		end = tr.TreeSize // more, if a publisher before handed it more
		if end > st.sequenced {
			return log.Tree{}, &RootMismatchError{Size: end, What: fmt.Sprintf("Trillian holds %d leaves, fwlog sequenced %d", end, st.sequenced)}
		}
	}
	// Trillian's tree must extend the one fwlog integrated.
	if size > 0 {
		resp, err := s.client.GetConsistencyProof(ctx, &tpb.GetConsistencyProofRequest{LogId: s.tree, FirstTreeSize: int64(size), SecondTreeSize: int64(end)})
		if err != nil {
			return log.Tree{}, fmt.Errorf("Trillian's GetConsistencyProof(%d, %d): %w", size, end, err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size, end, resp.GetProof().GetHashes(), st.root, tr.RootHash); err != nil {
			return log.Tree{}, &RootMismatchError{Size: end, What: fmt.Sprintf("Trillian's consistency proof from fwlog's tree of size %d does not verify: %v", size, err)}
		}
	}
	entries, err := s.leaves(ctx, size, end, pushed)
	if err != nil {
		return log.Tree{}, err
	}

	rng, err := tiles.DecodeRange(size, st.rng)
	if err != nil {
		return log.Tree{}, fmt.Errorf("stored compact range: %w", err)
	}
	b := tiles.NewBuilder(rng, func(id tiles.ID) ([]byte, error) { return s.tileOrNil(ctx, id.Level, id.Index) })
	var bundle []byte
	first := size / tiles.Width * tiles.Width
	if first < size {
		if bundle, err = sqlrows.EntryRows(ctx, s.db, first, size); err != nil {
			return log.Tree{}, err
		}
	}
	var bundleRows, endsRows [][]any
	for i, data := range entries {
		if err := b.Append(tiles.LeafHash(data)); err != nil {
			return log.Tree{}, err
		}
		if bundle, err = tiles.AppendEntry(bundle, data); err != nil {
			return log.Tree{}, err
		}
		if idx := size + uint64(i) + 1; idx%tiles.Width == 0 {
			ends, err := sqlrows.Ends(bundle)
			if err != nil {
				return log.Tree{}, err
			}
			bundleRows = append(bundleRows, []any{idx/tiles.Width - 1, bundle})
			endsRows = append(endsRows, []any{idx/tiles.Width - 1, ends})
			bundle = nil
		}
	}
	root, err := b.Range().GetRootHash(nil)
	if err != nil {
		return log.Tree{}, err
	}
	if !bytes.Equal(root, tr.RootHash) {
		return log.Tree{}, &RootMismatchError{Size: end, What: fmt.Sprintf("Trillian's root is %x, the leaves hash to %x", tr.RootHash, root)}
	}
	changed, err := b.Tiles()
	if err != nil {
		return log.Tree{}, err
	}
	var tileRows [][]any
	for id, data := range changed {
		tileRows = append(tileRows, []any{tileKey(id.Level, id.Index), data})
	}

	err = s.publish(ctx, func(tx *sql.Tx) error {
		cur, err := readState(ctx, tx, " FOR UPDATE")
		if err != nil {
			return err
		}
		if cur.integrated != size {
			return fmt.Errorf("another publisher integrated the tree to %d meanwhile", cur.integrated)
		}
		if err := insertRows(ctx, tx, `INSERT INTO tiles (id, data) VALUES `, ` ON DUPLICATE KEY UPDATE data = IF(LENGTH(VALUES(data)) > LENGTH(data), VALUES(data), data)`, 2, tileRows); err != nil {
			return err
		}
		if err := insertRows(ctx, tx, `INSERT INTO bundles (idx, data) VALUES `, "", 2, bundleRows); err != nil {
			return err
		}
		if err := insertRows(ctx, tx, `INSERT INTO bundle_ends (idx, ends) VALUES `, "", 2, endsRows); err != nil {
			return err
		}
		if len(bundleRows) > 0 {
			last := bundleRows[len(bundleRows)-1][0].(uint64)
			if _, err := tx.ExecContext(ctx, `DELETE FROM entries WHERE idx < ?`, (last+1)*tiles.Width); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE state SET integrated = ?, root = ?, compact_range = ? WHERE id = 0`, end, root, tiles.EncodeRange(b.Range()))
		return err
	})
	if err != nil {
		return log.Tree{}, err
	}
	return log.Tree{Size: end, Root: root}, nil
}

// tileOrNil reads tile level/index: nil if there is none.
func (s *Storage) tileOrNil(ctx context.Context, level, index uint64) ([]byte, error) {
	var data []byte
	err := s.db.QueryRowContext(ctx, `SELECT data FROM tiles WHERE id = ?`, tileKey(level, index)).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return data, err
}

// checkLease fails with log.ErrNotPublisher unless this handle holds an
// unexpired lease; it locks the lease row until tx ends, so that the lease
// cannot pass to another handle before tx commits.
func (s *Storage) checkLease(ctx context.Context, tx *sql.Tx) error {
	var holder string
	var valid bool
	err := tx.QueryRowContext(ctx, `SELECT holder, expires > UTC_TIMESTAMP(6) FROM lease WHERE id = 0 FOR UPDATE`).Scan(&holder, &valid)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: no frontend holds it", log.ErrNotPublisher)
	case err != nil:
		return err
	case holder != s.holder:
		return fmt.Errorf("%w: %s holds it", log.ErrNotPublisher, holder)
	case !valid:
		return fmt.Errorf("%w: this frontend's lease expired", log.ErrNotPublisher)
	}
	return nil
}

// holdsLease returns log.ErrNotPublisher unless this handle holds an
// unexpired lease now.
func (s *Storage) holdsLease(ctx context.Context) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return s.checkLease(ctx, tx)
}

// Lease implements log.SharedStorage, by the database's clock. InnoDB may
// end one of two frontends' first takes of the lease as a deadlock; that
// one is tried again.
func (s *Storage) Lease(ctx context.Context, ttl time.Duration) (bool, error) {
	for try := 0; ; try++ {
		held, err := s.lease(ctx, ttl)
		var me *mysql.MySQLError
		if try < 3 && errors.As(err, &me) && me.Number == 1213 { // ER_LOCK_DEADLOCK
			continue
		}
		return held, err
	}
}

func (s *Storage) lease(ctx context.Context, ttl time.Duration) (bool, error) {
	// Open makes the row; should it be gone, make it again, expired, in a
	// statement of its own (inside the locking transaction, two frontends
	// doing so at once deadlock).
	if _, err := s.db.ExecContext(ctx, `INSERT IGNORE INTO lease (id, holder, expires) VALUES (0, '', UTC_TIMESTAMP(6))`); err != nil {
		return false, err
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var holder string
	var valid bool
	err = tx.QueryRowContext(ctx, `SELECT holder, expires > UTC_TIMESTAMP(6) FROM lease WHERE id = 0 FOR UPDATE`).Scan(&holder, &valid)
	switch {
	case err != nil:
	case holder == s.holder || !valid:
		_, err = tx.ExecContext(ctx, `UPDATE lease SET holder = ?, expires = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND WHERE id = 0`, s.holder, ttl.Microseconds())
	default:
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	if holder != s.holder {
		s.logger.Info("took the publisher lease", "holder", s.holder, "previous", holder)
	}
	return true, nil
}

// Release implements log.SharedStorage.
func (s *Storage) Release(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `UPDATE lease SET expires = UTC_TIMESTAMP(6) WHERE id = 0 AND holder = ?`, s.holder)
	return err
}

// Tree implements log.Storage.
func (s *Storage) Tree(ctx context.Context) (log.Tree, uint64, error) {
	st, err := readState(ctx, s.db, "")
	return log.Tree{Size: st.integrated, Root: st.root}, st.sequenced, err
}

// Checkpoint implements log.Storage.
func (s *Storage) Checkpoint(ctx context.Context) ([]byte, error) {
	var cp []byte
	err := s.db.QueryRowContext(ctx, `SELECT checkpoint FROM state WHERE id = 0`).Scan(&cp)
	return cp, err
}

// publish runs write in a transaction that holds the publisher lease, and
// commits it: it fails with log.ErrNotPublisher, changing nothing, unless
// this handle holds an unexpired lease.
func (s *Storage) publish(ctx context.Context, write func(tx *sql.Tx) error) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := s.checkLease(ctx, tx); err != nil {
		return err
	}
	if err := write(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// SetCheckpoint implements log.Storage.
func (s *Storage) SetCheckpoint(ctx context.Context, size uint64, cp []byte) error {
	return s.publish(ctx, func(tx *sql.Tx) error { return setCheckpoint(ctx, tx, size, cp) })
}

func setCheckpoint(ctx context.Context, tx *sql.Tx, size uint64, cp []byte) error {
	var integrated, stored uint64
	var old []byte
	if err := tx.QueryRowContext(ctx, `SELECT integrated, checkpoint_size, checkpoint FROM state WHERE id = 0 FOR UPDATE`).Scan(&integrated, &stored, &old); err != nil {
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
	_, err := tx.ExecContext(ctx, `INSERT INTO growth (hour, size) VALUES (?, ?) ON DUPLICATE KEY UPDATE size = GREATEST(size, VALUES(size))`,
		sqlrows.GrowthHour(time.Now()), size)
	return err
}

// Growth implements log.GrowthStorage.
func (s *Storage) Growth(ctx context.Context, since time.Time) ([]log.GrowthSample, error) {
	return sqlrows.Growth(ctx, s.db, since)
}

// Witnessed implements log.Storage.
func (s *Storage) Witnessed(ctx context.Context) ([]byte, error) {
	var cp []byte
	err := s.db.QueryRowContext(ctx, `SELECT witnessed FROM state WHERE id = 0`).Scan(&cp)
	return cp, err
}

// SetWitnessed implements log.Storage.
func (s *Storage) SetWitnessed(ctx context.Context, size uint64, cp []byte) error {
	return s.publish(ctx, func(tx *sql.Tx) error { return setWitnessed(ctx, tx, size, cp) })
}

func setWitnessed(ctx context.Context, tx *sql.Tx, size uint64, cp []byte) error {
	var signed uint64
	var hasSigned bool
	var stored sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT checkpoint_size, checkpoint IS NOT NULL, witnessed_size FROM state WHERE id = 0 FOR UPDATE`).Scan(&signed, &hasSigned, &stored); err != nil {
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
	_, err := tx.ExecContext(ctx, `UPDATE state SET witnessed_size = ?, witnessed = ? WHERE id = 0`, size, cp)
	return err
}

// ReadTile implements log.Storage.
func (s *Storage) ReadTile(ctx context.Context, level, index uint64) ([]byte, error) {
	if level > 63 || index >= 1<<56 {
		return nil, fmt.Errorf("tile %d/%d: %w", level, index, log.ErrNotFound)
	}
	data, err := s.tileOrNil(ctx, level, index)
	if err == nil && data == nil {
		return nil, fmt.Errorf("tile %d/%d: %w", level, index, log.ErrNotFound)
	}
	return data, err
}

// ReadEntryBundle implements log.Storage.
func (s *Storage) ReadEntryBundle(ctx context.Context, index uint64) ([]byte, error) {
	return sqlrows.ReadBundle(ctx, s.db, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, index)
}

// ReadEntry implements log.Storage.
func (s *Storage) ReadEntry(ctx context.Context, index uint64) ([]byte, error) {
	return s.entries.ReadEntry(ctx, index)
}

// ErrReindexing is returned by Sequence and the lookups while a Reindex,
// by this frontend or another, rebuilds the lookup index: sequencing would
// miss duplicates, and a lookup might miss entries (a revocation that a
// checkpoint must commit to, say). A Reindex that died leaves it set until
// one finishes: fwlog reindexes at start-up when the index is not current.
var ErrReindexing = errors.New("the lookup index is being rebuilt (an upgrade of fwlog); retry later")

// Lookup implements log.Storage.
func (s *Storage) Lookup(ctx context.Context, key []byte, after int64, limit int) ([]uint64, error) {
	return s.lookup(ctx, `l.idx > ? ORDER BY l.idx`, key, after, limit)
}

// LookupBefore implements log.Storage.
func (s *Storage) LookupBefore(ctx context.Context, key []byte, before uint64, limit int) ([]uint64, error) {
	if before > math.MaxInt64 {
		before = math.MaxInt64
	}
	return s.lookup(ctx, `l.idx < ? ORDER BY l.idx DESC`, key, int64(before), limit)
}

// lookup reads the indices under key that meet cond (which orders them),
// and the reindexing flag with them in one query: a lookup during a
// Reindex is an error, not a short answer.
func (s *Storage) lookup(ctx context.Context, cond string, key []byte, bound int64, limit int) ([]uint64, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT s.reindexing, l.idx FROM state s LEFT JOIN lookup l ON l.k = ? AND `+cond+` LIMIT ?`, key, bound, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var reindexing bool
		var idx sql.NullInt64
		if err := rows.Scan(&reindexing, &idx); err != nil {
			return nil, err
		}
		if reindexing {
			return nil, ErrReindexing
		}
		if idx.Valid {
			out = append(out, uint64(idx.Int64))
		}
	}
	return out, rows.Err()
}

// IndexVersion implements log.Storage.
func (s *Storage) IndexVersion(ctx context.Context) (int, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = 'index_version'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n int
	if _, err := fmt.Sscan(string(v), &n); err != nil {
		return 0, fmt.Errorf("stored index version %q: %w", v, err)
	}
	return n, nil
}

// Reindex implements log.Storage. One frontend at a time reindexes (a
// named lock of the database, held by a connection of its own, so that it
// goes with a frontend that dies). It sets the reindexing flag, which
// makes every frontend's Sequence and lookups fail with ErrReindexing,
// forgets the version, empties the lookup table, writes the new keys in
// transactions of sqlrows.ReindexBatch entries, and records the version
// and clears the flag in the last one.
func (s *Storage) Reindex(ctx context.Context, version int, keysOf func(uint64, []byte) ([][]byte, error), progress func(done, total uint64)) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(CONCAT(DATABASE(), '.fwlog_reindex'), 3600)`).Scan(&got); err != nil {
		return fmt.Errorf("couldn't take the reindex lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return errors.New("another frontend has been reindexing for an hour: couldn't take the reindex lock")
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT RELEASE_LOCK(CONCAT(DATABASE(), '.fwlog_reindex'))`)
	// The flag waits for sequencing in progress (the state row's lock);
	// then no entry is sequenced until the index is whole again.
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := readState(ctx, tx, " FOR UPDATE")
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE state SET reindexing = 1 WHERE id = 0`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM meta WHERE k = 'index_version'`); err != nil {
		return fmt.Errorf("couldn't forget the index version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM lookup`); err != nil {
		return fmt.Errorf("couldn't empty the lookup index: %w", err)
	}
	return sqlrows.Reindex(st.sequenced, func(start, end uint64, last bool) error {
		return s.reindex(ctx, start, end, keysOf, last, version)
	}, progress)
}

func (s *Storage) reindex(ctx context.Context, start, end uint64, keysOf func(uint64, []byte) ([][]byte, error), last bool, version int) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var rows [][]any
	for first := start / tiles.Width * tiles.Width; first < end; first += tiles.Width {
		entries, err := sqlrows.EntriesFrom(ctx, tx, first)
		if err != nil {
			return err
		}
		if err := sqlrows.KeysOf(first, entries, start, end, keysOf, func(idx uint64, leaf []byte, keys [][]byte) error {
			if len(keys) == 0 {
				keys = [][]byte{leaf}
			}
			for _, k := range keys {
				if len(k) > log.MaxKeySize {
					return fmt.Errorf("lookup key of %d bytes is longer than %d", len(k), log.MaxKeySize)
				}
			}
			rows = append(rows, keyRows(idx, leaf, keys)...)
			return nil
		}); err != nil {
			return err
		}
	}
	if err := insertRows(ctx, tx, `INSERT IGNORE INTO lookup (k, idx, leaf) VALUES `, "", 3, rows); err != nil {
		return err
	}
	if last {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES ('index_version', ?) ON DUPLICATE KEY UPDATE v = VALUES(v)`, fmt.Append(nil, version)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE state SET reindexing = 0 WHERE id = 0`); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Check implements log.Checker: the sequenced entries not yet integrated
// against their leaf hashes, the bundle_ends rows against their bundles,
// and Trillian's tree against fwlog's (at least
// as large, and consistent with it by Trillian's proof).
func (s *Storage) Check(ctx context.Context) ([]string, error) {
	st, err := readState(ctx, s.db, "")
	if err != nil {
		return nil, err
	}
	problems, err := sqlrows.Check(ctx, s.db, st.integrated)
	if err != nil {
		return nil, err
	}
	tr, err := s.trillianRoot(ctx)
	if err != nil {
		return nil, fmt.Errorf("Trillian's root: %w", err)
	}
	switch {
	case tr.TreeSize < st.integrated:
		problems = append(problems, fmt.Sprintf("Trillian's tree %d has %d leaves, fewer than the %d fwlog integrated: integration is stopped", s.tree, tr.TreeSize, st.integrated))
	case tr.TreeSize == st.integrated:
		if !bytes.Equal(tr.RootHash, st.root) {
			problems = append(problems, fmt.Sprintf("Trillian's root of tree %d at size %d is %x, fwlog's is %x", s.tree, tr.TreeSize, tr.RootHash, st.root))
		}
	case st.integrated > 0:
		resp, err := s.client.GetConsistencyProof(ctx, &tpb.GetConsistencyProofRequest{LogId: s.tree, FirstTreeSize: int64(st.integrated), SecondTreeSize: int64(tr.TreeSize)})
		if err != nil {
			return nil, fmt.Errorf("Trillian's GetConsistencyProof: %w", err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, st.integrated, tr.TreeSize, resp.GetProof().GetHashes(), st.root, tr.RootHash); err != nil {
			problems = append(problems, fmt.Sprintf("Trillian's tree %d of size %d is not consistent with fwlog's of size %d: %v", s.tree, tr.TreeSize, st.integrated, err))
		}
	}
	return problems, nil
}

// String names the storage in logs: the tree and the lease holder.
func (s *Storage) String() string {
	return "trillian tree " + fmt.Sprint(s.tree) + " as " + s.holder
}

var _ log.SharedStorage = (*Storage)(nil)
