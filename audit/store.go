package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fwledger/fwledger/internal/sqlitedb"
)

// DatabaseFile and LockFile are the auditor's files in its state
// directory.
const (
	DatabaseFile = "audit.db"
	LockFile     = "audit.lock"
)

const schema = `
CREATE TABLE IF NOT EXISTS state (
	k TEXT PRIMARY KEY,
	v BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alerts (
	id INTEGER PRIMARY KEY,
	key TEXT NOT NULL UNIQUE,
	type TEXT NOT NULL,
	alert BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS releases (
	model TEXT NOT NULL,
	version TEXT NOT NULL,
	image BLOB NOT NULL,
	idx INTEGER NOT NULL,
	PRIMARY KEY (model, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS security (
	model TEXT NOT NULL,
	channel TEXT NOT NULL,
	version INTEGER NOT NULL,
	idx INTEGER NOT NULL,
	PRIMARY KEY (model, channel)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subjects (
	image INTEGER NOT NULL,
	idx INTEGER NOT NULL,
	PRIMARY KEY (image, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rebuilds_due (
	idx INTEGER PRIMARY KEY,
	due INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS key_models (
	key TEXT NOT NULL,
	model TEXT NOT NULL,
	idx INTEGER NOT NULL,
	PRIMARY KEY (key, model)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS signers (
	key TEXT NOT NULL,
	idx INTEGER NOT NULL,
	PRIMARY KEY (key, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deferred (
	digest TEXT PRIMARY KEY,
	note BLOB NOT NULL,
	size INTEGER NOT NULL,
	seen INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS statements (
	idx INTEGER PRIMARY KEY,
	dkey INTEGER NOT NULL,
	digest BLOB NOT NULL,
	kind TEXT NOT NULL,
	data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS statements_dkey ON statements (dkey);
CREATE INDEX IF NOT EXISTS statements_revocations ON statements (idx) WHERE ` + isRevocation + `;
`

// The index tables that grow with the log are keyed by integers where they
// can, for small index pages: entries arrive in log order, but their
// digests, and the images they are about, in random order, so each insert
// into an index by digest lands on a random page, and the smaller the
// index, the more of it stays in the page cache, and the fewer pages a
// commit writes.
//
//   - statements holds, in log order, the statements releases may name
//     (provenance, layouts, links) and revocations; dkey (see prefixKey)
//     indexes them by digest, and digest tells apart two whose digests
//     share a prefix.
//   - subjects indexes provenance by the images it is about: image is
//     prefixKey of the image's SHA-256 or SHA-512 digest, idx the
//     statement's. A prefix shared by another image only adds a candidate,
//     which judgeRebuilds checks.
//   - statements_revocations is the revocations, which are few, so that
//     reading them does not scan every statement.

// A store is the auditor's state: what it verified, what it indexed, and
// the alerts it raised. What the rules change for a run of entries is
// written in one transaction with the range read up to them, so that after
// a crash it resumes where the last transaction ended, and raises no alert
// twice.
type store struct {
	db *sqlitedb.DB
}

// schemaVersion is the layout of the audit database, in its user_version:
// 0 before statements and subjects were indexed by integers (prefixKey).
const schemaVersion = 1

func openStore(ctx context.Context, dir string) (*store, error) {
	// Readers serve the pages (Status, AlertsBefore, Alert) without
	// waiting for a catch-up's open transaction.
	db, err := sqlitedb.Open(ctx, dir, DatabaseFile, LockFile, sqlitedb.Options{Readers: 2})
	if err != nil {
		return nil, err
	}
	if err := setUp(ctx, db.W); err != nil {
		db.Close()
		return nil, fmt.Errorf("couldn't set up the audit database: %w", err)
	}
	return &store{db: db}, nil
}

// setUp creates the audit database's tables, or brings those of an earlier
// version up to date, in one transaction.
func setUp(ctx context.Context, db *sql.DB) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > schemaVersion {
		return fmt.Errorf("it is of version %d, from a later fwctl than this one (version %d)", version, schemaVersion)
	}
	t, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer t.Rollback()
	var old int
	if err := t.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'statements'").Scan(&old); err != nil {
		return err
	}
	if version == 0 && old > 0 {
		if _, err := t.ExecContext(ctx, "ALTER TABLE statements RENAME TO statements_v0; ALTER TABLE subjects RENAME TO subjects_v0"); err != nil {
			return err
		}
	}
	if _, err := t.ExecContext(ctx, schema+probeSchema); err != nil {
		return err
	}
	if version == 0 && old > 0 {
		if err := migrateV0(ctx, t); err != nil {
			return fmt.Errorf("couldn't bring it up from version 0: %w", err)
		}
	}
	if _, err := t.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return err
	}
	return t.Commit()
}

// migrateV0 copies statements_v0 and subjects_v0, the tables of version 0,
// indexed by digest (and by image and digest), into statements and
// subjects, a thousand rows at a time, and drops them.
func migrateV0(ctx context.Context, t *sql.Tx) error {
	const chunk = 1000
	type statement struct {
		idx          int64
		digest, data []byte
		kind         string
	}
	for after := int64(-1); ; {
		rows, err := t.QueryContext(ctx, "SELECT idx, digest, kind, data FROM statements_v0 WHERE idx > ? ORDER BY idx LIMIT ?", after, chunk)
		if err != nil {
			return err
		}
		var todo []statement
		for rows.Next() {
			var s statement
			if err := rows.Scan(&s.idx, &s.digest, &s.kind, &s.data); err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, s := range todo {
			if len(s.digest) < 8 {
				return fmt.Errorf("statement %d has a digest of %d bytes", s.idx, len(s.digest))
			}
			if _, err := t.ExecContext(ctx, "INSERT INTO statements (idx, dkey, digest, kind, data) VALUES (?, ?, ?, ?, ?)", s.idx, prefixKey(s.digest), s.digest, s.kind, s.data); err != nil {
				return err
			}
			after = s.idx
		}
		if len(todo) < chunk {
			break
		}
	}
	// subjects_v0 names an image "<alg>:<digest>", and a statement by its
	// digest.
	var image, stmt []byte
	for first := true; ; first = false {
		q := "SELECT image, digest FROM subjects_v0 ORDER BY image, digest LIMIT ?"
		args := []any{chunk}
		if !first {
			q = "SELECT image, digest FROM subjects_v0 WHERE (image, digest) > (?, ?) ORDER BY image, digest LIMIT ?"
			args = []any{image, stmt, chunk}
		}
		rows, err := t.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		var todo [][2][]byte
		for rows.Next() {
			if err := rows.Scan(&image, &stmt); err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, [2][]byte{image, stmt})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range todo {
			alg, value, _ := bytes.Cut(r[0], []byte(":"))
			if (string(alg) != "sha256" && string(alg) != "sha512") || len(value) < 8 {
				continue
			}
			var idx int64
			err := t.QueryRowContext(ctx, "SELECT idx FROM statements_v0 WHERE digest = ?", r[1]).Scan(&idx)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if _, err := t.ExecContext(ctx, "INSERT INTO subjects (image, idx) VALUES (?, ?) ON CONFLICT DO NOTHING", prefixKey(value), idx); err != nil {
				return err
			}
		}
		if len(todo) < chunk {
			break
		}
	}
	_, err := t.ExecContext(ctx, "DROP TABLE statements_v0; DROP TABLE subjects_v0")
	return err
}

func (s *store) Close() error { return s.db.Close() }

// progress is where the audit stands.
type progress struct {
	// Checkpoint is the last checkpoint verified, with its size; Size
	// entries were read, and Range is their compact range.
	Checkpoint []byte `json:"checkpoint,omitempty"`
	Verified   uint64 `json:"verified"`
	Size       uint64 `json:"size"`
	Range      []byte `json:"range,omitempty"`
	// VerifiedAt is when Checkpoint was verified (zero in the state of an
	// fwctl from before it was kept).
	VerifiedAt time.Time `json:"verified_at,omitzero"`
}

func (s *store) progress(ctx context.Context) (*progress, error) {
	return readProgress(ctx, s.db.W)
}

// readProgress reads the progress through db (the writer, or the readers,
// which see the last commit).
func readProgress(ctx context.Context, db *sql.DB) (*progress, error) {
	var data []byte
	err := db.QueryRowContext(ctx, "SELECT v FROM state WHERE k = 'progress'").Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return &progress{}, nil
	}
	if err != nil {
		return nil, err
	}
	var p progress
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("the audit database's progress: %w", err)
	}
	return &p, nil
}

// tx is one step's changes.
type tx struct {
	*sql.Tx
	ctx context.Context
	// raised are the alerts this step raised (new ones only).
	raised []*Alert
	// stmts are the statements prepared in the transaction, by query.
	stmts map[string]*sql.Stmt
	// prove, if set, returns the inclusion proof of an entry under the
	// checkpoint of the step's evidence, verified.
	prove func(index uint64, data []byte) ([][]byte, error)
}

func (s *store) begin(ctx context.Context) (*tx, error) {
	t, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &tx{Tx: t, ctx: ctx}, nil
}

// prep returns the query prepared in the transaction (once: the rules
// run the same few queries for every entry).
func (t *tx) prep(q string) (*sql.Stmt, error) {
	if st, ok := t.stmts[q]; ok {
		return st, nil
	}
	st, err := t.PrepareContext(t.ctx, q)
	if err != nil {
		return nil, err
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[q] = st
	return st, nil
}

func (t *tx) exec(q string, args ...any) (sql.Result, error) {
	st, err := t.prep(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

func (t *tx) queryRow(q string, args ...any) *sql.Row {
	st, err := t.prep(q)
	if err != nil {
		return t.QueryRowContext(t.ctx, q, args...) // which fails the same way
	}
	return st.QueryRowContext(t.ctx, args...)
}

func (t *tx) setProgress(p *progress) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = t.ExecContext(t.ctx, "INSERT INTO state (k, v) VALUES ('progress', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", data)
	return err
}

// raise records an alert, unless one with the same key was raised
// before.
func (t *tx) raise(a *Alert) error {
	if t.prove != nil {
		for i := range a.Evidence.Entries {
			e := &a.Evidence.Entries[i]
			if e.Proof != nil {
				continue
			}
			p, err := t.prove(e.Index, e.Data)
			if err != nil {
				var bt *badTileError
				if !errors.As(err, &bt) {
					return err
				}
				// The alert stands on its entries; the log's tiles do not
				// prove them, which is an alert of its own.
				if err := t.raise(&Alert{
					Key: "bad_tile/" + digestKey(a.Evidence.Checkpoints[0]), Type: TypeBadTile, Severity: Critical,
					Time: a.Time, Message: err.Error(), Evidence: Evidence{Checkpoints: a.Evidence.Checkpoints[:1]},
				}); err != nil {
					return err
				}
				continue
			}
			e.Proof = p
		}
	}
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	res, err := t.ExecContext(t.ctx, "INSERT INTO alerts (key, type, alert) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING", a.Key, a.Type, data)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		a.ID = id
		t.raised = append(t.raised, a)
	}
	return nil
}

// A querier is a database or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryAll runs a query and returns its rows, each scanned by scan, with
// the rows closed.
func queryAll[T any](ctx context.Context, q querier, scan func(*sql.Rows, *T) error, query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := scan(rows, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Alerts returns the alerts raised so far, in order.
func (s *store) alerts(ctx context.Context) ([]*Alert, error) {
	return queryAll(ctx, s.db.W, scanAlert, "SELECT id, alert FROM alerts ORDER BY id")
}
