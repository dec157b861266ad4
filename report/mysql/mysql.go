// Package mysql stores device reports (package report) in MySQL or
// MariaDB, so that every frontend of a log that runs on several machines
// (log/trillian) sees the same reports. Its tables, reports,
// report_devices, report_state, report_counts and report_meta, sit beside
// log/trillian's in fwlog's database; reports never enter the log's tables
// or its Merkle tree.
//
// The store has report/sqlite's semantics exactly (package report/store):
// it keeps each report's exact envelope bytes as received, and beside
// them the columns reports are found and counted by (the device, the
// outcome and reason, the image, the device's time, the time received, and
// whether the report's checkpoint is a fork of the log), and the number of
// reports received in each hour by outcome and reason; it keeps the
// newest MaxPerDevice reports of each device, by the device's time, and
// reports of at most MaxDevices devices; one report (device and payload)
// is stored once.
//
// # Concurrency
//
// Any number of frontends add reports at once. A report already stored is
// found without a lock. Otherwise Add takes the one row of report_state
// FOR UPDATE, in a READ COMMITTED transaction, and holds it to its commit:
// that row is the writers' lock, so the duplicate check, the per-device
// and device caps and the next ID are judged on the latest committed
// reports, as with SQLite's one writer, and two frontends adding one
// report store it once. The row also holds the next ID and the number of
// devices. IDs are given under the lock and become visible in their order
// (InnoDB makes a commit visible before it releases the commit's locks),
// so that a reader listing reports after the last ID it saw never misses
// one; they are never reused, even when the report of the highest ID is
// removed. (InnoDB also makes a commit visible a moment before its redo
// log is flushed: a server that crashes in that moment loses reports that
// readers may have seen, and gives their IDs again. SQLite shows a commit
// only once it is durable.)
//
// Writers take turns: new reports are stored about as fast as one
// connection commits its transactions (BenchmarkAdd measures it), which
// reports, small and rate-limited, need; replays, Find, List, Devices and
// Counts take no lock. A writer whose connection hangs mid-transaction keeps the
// lock until the server drops the connection; meanwhile the other Adds
// fail after the server's innodb_lock_wait_timeout (the ledger answers
// 503).
package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fwledger/fwledger/report"
	"github.com/fwledger/fwledger/report/internal/reportsql"
	"github.com/fwledger/fwledger/report/store"
)

// The store's tables, named apart from log/trillian's (entries, bundles,
// tiles, lookup, meta, state, lease). report_meta says what Open has done
// once for all frontends: k = 'counts' when it filled report_counts from
// the reports kept before the store kept counts.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS reports (
	id       BIGINT UNSIGNED NOT NULL PRIMARY KEY, -- report_state.next_id when stored: increasing, never reused
	device   VARBINARY(128) NOT NULL, -- the device's DSSE key ID
	payload  BINARY(32) NOT NULL,     -- SHA-256 of the signed payload: one report, whatever its envelope
	time     BIGINT NOT NULL,         -- the device's time of the report, Unix milliseconds
	received BIGINT NOT NULL,         -- when the log stored it, Unix milliseconds
	outcome  VARBINARY(32) NOT NULL,
	reason   VARBINARY(32) NOT NULL,
	image    VARBINARY(128) NOT NULL, -- sha256:<hex>
	fork     BOOLEAN NOT NULL,        -- true if its checkpoint is a fork of the log
	envelope MEDIUMBLOB NOT NULL,     -- the exact bytes received
	UNIQUE KEY reports_payload (device, payload),
	KEY reports_device (device, time, id),
	KEY reports_outcome (outcome, id),
	KEY reports_fork (fork, id)
) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS report_devices (
	device  VARBINARY(128) NOT NULL PRIMARY KEY,
	reports INT UNSIGNED NOT NULL -- how many of its reports are kept
) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS report_state (
	id      TINYINT NOT NULL PRIMARY KEY, -- 0, the only row: the writers' lock
	next_id BIGINT UNSIGNED NOT NULL,     -- the ID of the next report stored
	devices BIGINT UNSIGNED NOT NULL      -- the rows of report_devices
) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS report_counts (
	hour    BIGINT NOT NULL,          -- the start of the hour received, Unix milliseconds
	outcome VARBINARY(32) NOT NULL,
	reason  VARBINARY(32) NOT NULL,
	n       BIGINT UNSIGNED NOT NULL, -- the reports stored in the hour (those removed since still count)
	PRIMARY KEY (hour, outcome, reason)
) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS report_meta (
	k VARCHAR(64) NOT NULL PRIMARY KEY,
	v VARBINARY(255) NOT NULL
) ENGINE=InnoDB`,
}

// isFork selects fork reports through the index reports_fork (fork, id).
const isFork = "fork = 1"

// A Store is the report tables of one database: a store.Store. Every
// frontend opens its own Store on the shared database.
type Store struct {
	db   *sql.DB
	opts store.Options
}

var _ store.Store = (*Store)(nil)

// Open returns the report store in db, creating its tables if needed
// (and filling report_counts once, from the reports kept before it). db
// is fwlog's database (log/trillian.OpenDB opens it with the settings
// fwlog relies on), and stays the caller's to close. Frontends sharing a
// database should give the same Options: each applies its own.
func Open(ctx context.Context, db *sql.DB, o store.Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("report/mysql: a database is required")
	}
	for _, q := range schema {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("couldn't create the report tables: %w", err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT IGNORE INTO report_state (id, next_id, devices) VALUES (0, 1, 0)`); err != nil {
		return nil, fmt.Errorf("couldn't create the report tables: %w", err)
	}
	if err := fillCounts(ctx, db); err != nil {
		return nil, fmt.Errorf("couldn't count the reports kept: %w", err)
	}
	return &Store{db: db, opts: o.WithDefaults()}, nil
}

// fillCounts fills report_counts from the reports kept, once for the
// database (a store that kept reports before it kept counts, or a new
// one), marked by report_meta's row 'counts'. It holds the writers' lock,
// so that the counts are those of the reports at one moment, and every
// Add after it counts its report; the Adds of other frontends after the
// table was made and before the lock was taken are counted again from
// the reports (those the cap removed meanwhile are lost).
func fillCounts(ctx context.Context, db *sql.DB) error {
	var done int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM report_meta WHERE k = 'counts'`).Scan(&done); err != nil || done > 0 {
		return err
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var next uint64
	if err := tx.QueryRowContext(ctx, `SELECT next_id FROM report_state WHERE id = 0 FOR UPDATE`).Scan(&next); err != nil {
		return fmt.Errorf("couldn't lock the report tables: %w", err)
	}
	// Another frontend may have filled them while this one waited.
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM report_meta WHERE k = 'counts'`).Scan(&done); err != nil || done > 0 {
		return err
	}
	if err := reportsql.FillCounts(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO report_meta (k, v) VALUES ('counts', '1')`); err != nil {
		return err
	}
	return tx.Commit()
}

// Close closes nothing: the database belongs to the caller.
func (s *Store) Close() error { return nil }

// find returns the ID of device's report with payload, if stored.
func find(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, device string, payload []byte) (id uint64, ok bool, err error) {
	switch err := q.QueryRowContext(ctx, `SELECT id FROM reports WHERE device = ? AND payload = ?`, device, payload).Scan(&id); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, err
	}
	return id, true, nil
}

// Add implements store.Store: see the package's doc for how it is safe
// with other frontends adding at once.
func (s *Store) Add(ctx context.Context, r *store.Report) (id uint64, dup bool, err error) {
	rep := r.Report
	payload := sha256.Sum256(r.Payload)
	// A report sent again is answered without taking the writers' lock.
	if id, ok, err := find(ctx, s.db, rep.Device, payload[:]); err != nil || ok {
		return id, ok, err
	}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return 0, false, fmt.Errorf("couldn't begin a transaction: %w", err)
	}
	defer tx.Rollback()
	var next, devices uint64
	if err := tx.QueryRowContext(ctx, `SELECT next_id, devices FROM report_state WHERE id = 0 FOR UPDATE`).Scan(&next, &devices); err != nil {
		return 0, false, fmt.Errorf("couldn't lock the report tables: %w", err)
	}
	// Under the lock, and READ COMMITTED: every statement reads the
	// latest reports committed, and no other writer's are pending.
	if id, ok, err := find(ctx, tx, rep.Device, payload[:]); err != nil || ok {
		return id, ok, err
	}
	var kept int
	switch err := tx.QueryRowContext(ctx, `SELECT reports FROM report_devices WHERE device = ?`, rep.Device).Scan(&kept); {
	case errors.Is(err, sql.ErrNoRows):
		if devices >= uint64(s.opts.MaxDevices) {
			return 0, false, &store.DevicesFullError{Max: s.opts.MaxDevices}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO report_devices (device, reports) VALUES (?, 0)`, rep.Device); err != nil {
			return 0, false, err
		}
		devices++
	case err != nil:
		return 0, false, err
	}
	t := rep.Time.UnixMilli()
	if kept >= s.opts.MaxPerDevice {
		var oldID uint64
		var oldTime int64
		if err := tx.QueryRowContext(ctx, `SELECT id, time FROM reports WHERE device = ? ORDER BY time, id LIMIT 1`, rep.Device).Scan(&oldID, &oldTime); err != nil {
			return 0, false, err
		}
		if t < oldTime {
			return 0, false, &store.StaleError{Device: rep.Device, Time: rep.Time, Oldest: time.UnixMilli(oldTime), Max: s.opts.MaxPerDevice}
		}
		// Over the cap (a lowered MaxPerDevice) by more than one: remove
		// the oldest until one is free.
		res, err := tx.ExecContext(ctx, `DELETE FROM reports WHERE device = ? ORDER BY time, id LIMIT ?`, rep.Device, kept-s.opts.MaxPerDevice+1)
		if err != nil {
			return 0, false, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, false, err
		}
		kept -= int(n)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO reports (id, device, payload, time, received, outcome, reason, image, fork, envelope) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		next, rep.Device, payload[:], t, r.Received.UnixMilli(), string(rep.Outcome), string(rep.Reason), rep.Image.String(), r.Fork, r.Data); err != nil {
		return 0, false, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE report_devices SET reports = ? WHERE device = ?`, kept+1, rep.Device); err != nil {
		return 0, false, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE report_state SET next_id = ?, devices = ? WHERE id = 0`, next+1, devices); err != nil {
		return 0, false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO report_counts (hour, outcome, reason, n) VALUES (?, ?, ?, 1)
		ON DUPLICATE KEY UPDATE n = n + 1`,
		reportsql.HourMilli(r.Received), string(rep.Outcome), string(rep.Reason)); err != nil {
		return 0, false, err
	}
	if err := tx.Commit(); err != nil {
		return 0, false, err
	}
	return next, false, nil
}

// Find implements store.Store.
func (s *Store) Find(ctx context.Context, e *report.Envelope) (id uint64, ok bool, err error) {
	payload := sha256.Sum256(e.Payload)
	return find(ctx, s.db, e.Report.Device, payload[:])
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, q store.Query) ([]store.Report, bool, error) {
	return reportsql.List(ctx, s.db, isFork, q)
}

// Counts implements store.Store.
func (s *Store) Counts(ctx context.Context, since time.Time) ([]store.Count, error) {
	return reportsql.Counts(ctx, s.db, since)
}

// Devices implements store.Store.
func (s *Store) Devices(ctx context.Context) (n int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT devices FROM report_state WHERE id = 0`).Scan(&n)
	return n, err
}
