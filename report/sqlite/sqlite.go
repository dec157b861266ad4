// Package sqlite stores device reports (package report) in a SQLite
// database of their own, beside the log's in its data directory: reports
// never enter the log's tables or its Merkle tree.
//
// The store keeps each report's exact envelope bytes as received, and
// beside them the columns reports are found and counted by: the device,
// the outcome and reason, the image, the device's time, the time received,
// and whether the report's checkpoint is a fork of the log; and the
// number of reports received in each hour by outcome and reason (package
// report/store, "Counts"). It keeps the newest MaxPerDevice reports of
// each device, by the device's time, and reports of at most MaxDevices
// devices. Writes are durable when they return (package sqlitedb: WAL,
// synchronous=FULL, one writer). It is a report/store.Store, for a log in
// one data directory; report/mysql is the one for frontends that share a
// database.
package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fwledger/fwledger/internal/sqlitedb"
	"github.com/fwledger/fwledger/report"
	"github.com/fwledger/fwledger/report/internal/reportsql"
	"github.com/fwledger/fwledger/report/store"
)

// DatabaseFile and LockFile are the store's files in the data directory.
const (
	DatabaseFile = "reports.db"
	LockFile     = "reports.lock"
)

// The store-independent types and limits (package report/store), under
// the names this package has always given them.
type (
	Options          = store.Options
	Report           = store.Report
	Query            = store.Query
	StaleError       = store.StaleError
	DevicesFullError = store.DevicesFullError
)

// Default limits.
const (
	// DefaultMaxPerDevice is how many reports of one device are kept.
	DefaultMaxPerDevice = store.DefaultMaxPerDevice
	// DefaultMaxDevices is how many devices' reports are kept.
	DefaultMaxDevices = store.DefaultMaxDevices
)

const schema = `
CREATE TABLE IF NOT EXISTS reports (
	id       INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, so that "after" paging never misses a report
	device   TEXT NOT NULL,    -- the device's DSSE key ID
	payload  BLOB NOT NULL,    -- SHA-256 of the signed payload: one report, whatever its envelope
	time     INTEGER NOT NULL, -- the device's time of the report, Unix milliseconds
	received INTEGER NOT NULL, -- when the log stored it, Unix milliseconds
	outcome  TEXT NOT NULL,
	reason   TEXT NOT NULL,
	image    TEXT NOT NULL,    -- sha256:<hex>
	fork     INTEGER NOT NULL, -- 1 if its checkpoint is a fork of the log
	envelope BLOB NOT NULL     -- the exact bytes received
);
CREATE UNIQUE INDEX IF NOT EXISTS reports_payload ON reports (device, payload);
CREATE INDEX IF NOT EXISTS reports_device ON reports (device, time, id);
CREATE INDEX IF NOT EXISTS reports_outcome ON reports (outcome, id);
CREATE INDEX IF NOT EXISTS reports_fork ON reports (id) WHERE fork;
CREATE TABLE IF NOT EXISTS devices (
	device  TEXT PRIMARY KEY,
	reports INTEGER NOT NULL -- how many of its reports are kept
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS report_counts (
	hour    INTEGER NOT NULL, -- the start of the hour received, Unix milliseconds
	outcome TEXT NOT NULL,
	reason  TEXT NOT NULL,
	n       INTEGER NOT NULL, -- the reports stored in the hour (those removed since still count)
	PRIMARY KEY (hour, outcome, reason)
) WITHOUT ROWID;
`

// schemaVersion is the layout of the report database, in its
// user_version: 0 before report_counts, which version 1 fills once from
// the reports kept.
const schemaVersion = 1

// isFork selects fork reports through the partial index reports_fork.
const isFork = "fork"

// A Store is the report database: a store.Store.
type Store struct {
	db   *sqlitedb.DB
	opts Options
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the report database in dir.
func Open(ctx context.Context, dir string, o Options) (*Store, error) {
	o = o.WithDefaults()
	db, err := sqlitedb.Open(ctx, dir, DatabaseFile, LockFile, sqlitedb.Options{Readers: 2})
	if err != nil {
		return nil, err
	}
	if err := setUp(ctx, db.W); err != nil {
		db.Close()
		return nil, fmt.Errorf("couldn't set up the report database %s: %w", filepath.Join(dir, DatabaseFile), err)
	}
	return &Store{db: db, opts: o}, nil
}

// setUp creates the report database's tables, or brings those of an
// earlier version up to date, in one transaction.
func setUp(ctx context.Context, db *sql.DB) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > schemaVersion {
		return fmt.Errorf("it is of version %d, from a later fwlog than this one (version %d)", version, schemaVersion)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return err
	}
	if version < 1 {
		if err := reportsql.FillCounts(ctx, tx); err != nil {
			return fmt.Errorf("couldn't count the reports kept: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Add stores r (its ID is ignored) and returns its ID, or, if the
// device's report with the same payload is stored, that one's ID with dup
// set: one report has one envelope (package report, "Replays"). When the
// device has MaxPerDevice reports, its oldest (by the device's time, then
// ID) is removed; a report older than all of them is refused with a
// *StaleError. A report of a device beyond MaxDevices is refused with a
// *DevicesFullError.
func (s *Store) Add(ctx context.Context, r *Report) (id uint64, dup bool, err error) {
	defer sqlitedb.WrapOS(&err)
	rep := r.Report
	payload := sha256.Sum256(r.Payload)
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return 0, false, err
	}
	defer tx.Rollback()
	switch err := tx.QueryRowContext(ctx, `SELECT id FROM reports WHERE device = ? AND payload = ?`, rep.Device, payload[:]).Scan(&id); {
	case err == nil:
		return id, true, nil
	case !errors.Is(err, sql.ErrNoRows):
		return 0, false, err
	}
	var kept int
	switch err := tx.QueryRowContext(ctx, `SELECT reports FROM devices WHERE device = ?`, rep.Device).Scan(&kept); {
	case errors.Is(err, sql.ErrNoRows):
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM devices`).Scan(&n); err != nil {
			return 0, false, err
		}
		if n >= s.opts.MaxDevices {
			return 0, false, &DevicesFullError{Max: s.opts.MaxDevices}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO devices (device, reports) VALUES (?, 0)`, rep.Device); err != nil {
			return 0, false, err
		}
	case err != nil:
		return 0, false, err
	}
	t := rep.Time.UnixMilli()
	if kept >= s.opts.MaxPerDevice {
		var oldID, oldTime int64
		if err := tx.QueryRowContext(ctx, `SELECT id, time FROM reports WHERE device = ? ORDER BY time, id LIMIT 1`, rep.Device).Scan(&oldID, &oldTime); err != nil {
			return 0, false, err
		}
		if t < oldTime {
			return 0, false, &StaleError{Device: rep.Device, Time: rep.Time, Oldest: time.UnixMilli(oldTime), Max: s.opts.MaxPerDevice}
		}
		// Over the cap (a lowered MaxPerDevice) by more than one: remove
		// the oldest until one is free.
		res, err := tx.ExecContext(ctx, `DELETE FROM reports WHERE id IN (SELECT id FROM reports WHERE device = ? ORDER BY time, id LIMIT ?)`,
			rep.Device, kept-s.opts.MaxPerDevice+1)
		if err != nil {
			return 0, false, err
		}
		n, _ := res.RowsAffected()
		kept -= int(n)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO reports (device, payload, time, received, outcome, reason, image, fork, envelope) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rep.Device, payload[:], t, r.Received.UnixMilli(), string(rep.Outcome), string(rep.Reason), rep.Image.String(), r.Fork, r.Data)
	if err != nil {
		return 0, false, err
	}
	last, err := res.LastInsertId()
	if err != nil {
		return 0, false, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE devices SET reports = ? WHERE device = ?`, kept+1, rep.Device); err != nil {
		return 0, false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO report_counts (hour, outcome, reason, n) VALUES (?, ?, ?, 1)
		ON CONFLICT (hour, outcome, reason) DO UPDATE SET n = n + 1`,
		reportsql.HourMilli(r.Received), string(rep.Outcome), string(rep.Reason)); err != nil {
		return 0, false, err
	}
	if err := tx.Commit(); err != nil {
		return 0, false, err
	}
	return uint64(last), false, nil
}

// Find returns the ID of the stored report of e's device with e's payload,
// if there is one.
func (s *Store) Find(ctx context.Context, e *report.Envelope) (id uint64, ok bool, err error) {
	defer sqlitedb.WrapOS(&err)
	payload := sha256.Sum256(e.Payload)
	switch err := s.db.R.QueryRowContext(ctx, `SELECT id FROM reports WHERE device = ? AND payload = ?`, e.Report.Device, payload[:]).Scan(&id); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, err
	}
	return id, true, nil
}

// List returns the reports q selects, and whether there are more.
func (s *Store) List(ctx context.Context, q Query) (out []Report, more bool, err error) {
	defer sqlitedb.WrapOS(&err)
	return reportsql.List(ctx, s.db.R, isFork, q)
}

// Counts returns the counts of the reports received in each hour from
// since's on, by outcome and reason: at most store.MaxCountRows of them,
// of the newest hours (store.Store's Counts).
func (s *Store) Counts(ctx context.Context, since time.Time) (out []store.Count, err error) {
	defer sqlitedb.WrapOS(&err)
	return reportsql.Counts(ctx, s.db.R, since)
}

// Devices returns how many devices have reports kept.
func (s *Store) Devices(ctx context.Context) (n int, err error) {
	defer sqlitedb.WrapOS(&err)
	err = s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM devices`).Scan(&n)
	return n, err
}
