package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

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
	image BLOB NOT NULL,
	digest BLOB NOT NULL,
	PRIMARY KEY (image, digest)
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
	digest BLOB NOT NULL UNIQUE,
	kind TEXT NOT NULL,
	data BLOB NOT NULL
);
`

// A store is the auditor's state: what it verified, what it indexed, and
// the alerts it raised. What the rules change for a run of entries is
// written in one transaction with the range read up to them, so that after
// a crash it resumes where the last transaction ended, and raises no alert
// twice.
type store struct {
	db *sqlitedb.DB
}

func openStore(ctx context.Context, dir string) (*store, error) {
	db, err := sqlitedb.Open(ctx, dir, DatabaseFile, LockFile, sqlitedb.Options{})
	if err != nil {
		return nil, err
	}
	if _, err := db.W.ExecContext(ctx, schema+probeSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("couldn't create the audit database: %w", err)
	}
	return &store{db: db}, nil
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
}

func (s *store) progress(ctx context.Context) (*progress, error) {
	var data []byte
	err := s.db.W.QueryRowContext(ctx, "SELECT v FROM state WHERE k = 'progress'").Scan(&data)
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

// Alerts returns the alerts raised so far, in order.
func (s *store) alerts(ctx context.Context) ([]*Alert, error) {
	rows, err := s.db.W.QueryContext(ctx, "SELECT id, alert FROM alerts ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Alert
	for rows.Next() {
		var id int64
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return nil, err
		}
		var a Alert
		if err := json.Unmarshal(data, &a); err != nil {
			return nil, err
		}
		a.ID = id
		out = append(out, &a)
	}
	return out, rows.Err()
}
