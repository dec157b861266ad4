package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrNoAlert is the error of Alert for an ID no alert has.
var ErrNoAlert = errors.New("audit: no such alert")

// A Status is where an auditor stands, for a status page: what it
// verified and read (from its state, so also what an earlier run did),
// and how the last poll of this process went.
type Status struct {
	// LogURL is the log (or mirror) read.
	LogURL string
	// Checkpoint is the last checkpoint verified (signed, as the log
	// served it), of Origin, Size and Root; nil before the first.
	// VerifiedAt is when it was verified (zero if an fwctl from before
	// that was kept verified it).
	Checkpoint []byte
	Origin     string
	Size       uint64
	Root       []byte
	VerifiedAt time.Time
	// Read is the number of entries read and judged (Size, or more when a
	// step stopped between reading and verifying).
	Read uint64
	// Alerts is the number of alerts raised; FirstAlert and LastAlert
	// are the lowest and highest of their IDs (0 without alerts).
	Alerts                int64
	FirstAlert, LastAlert int64
	// Polled is when the last Step of this Auditor ended (zero before
	// the first), and PollError why it failed, if it did.
	Polled    time.Time
	PollError string
}

// poll is how the last Step went.
type poll struct {
	mu  sync.Mutex
	at  time.Time
	err string
}

func (a *Auditor) polled(err error) {
	a.last.mu.Lock()
	defer a.last.mu.Unlock()
	a.last.at, a.last.err = a.cfg.Now().UTC(), ""
	if err != nil {
		a.last.err = err.Error()
	}
}

// Status returns where the auditor stands. It reads the state through
// connections of their own, so it does not wait for a step under way,
// and may be called while one runs.
func (a *Auditor) Status(ctx context.Context) (*Status, error) {
	s := &Status{LogURL: a.cfg.LogURL}
	a.last.mu.Lock()
	s.Polled, s.PollError = a.last.at, a.last.err
	a.last.mu.Unlock()
	p, err := readProgress(ctx, a.store.db.R)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the audit's progress: %w", err)
	}
	s.Read = p.Size
	if len(p.Checkpoint) > 0 {
		s.Checkpoint, s.Size, s.VerifiedAt = p.Checkpoint, p.Verified, p.VerifiedAt
		if cp, err := parseCheckpoint(p.Checkpoint); err == nil {
			s.Origin, s.Root = cp.Origin, cp.Hash
		} else {
			origin, _, _ := bytes.Cut(p.Checkpoint, []byte("\n"))
			s.Origin = string(origin)
		}
	}
	err = a.store.db.R.QueryRowContext(ctx, "SELECT count(*), coalesce(min(id), 0), coalesce(max(id), 0) FROM alerts").
		Scan(&s.Alerts, &s.FirstAlert, &s.LastAlert)
	if err != nil {
		return nil, fmt.Errorf("couldn't count the alerts: %w", err)
	}
	return s, nil
}

// AlertsBefore returns at most n alerts with IDs below before (the newest,
// if before is 0 or less), newest first.
func (a *Auditor) AlertsBefore(ctx context.Context, before int64, n int) ([]*Alert, error) {
	if before <= 0 {
		return a.store.readAlerts(ctx, "SELECT id, alert FROM alerts ORDER BY id DESC LIMIT ?", max(n, 0))
	}
	return a.store.readAlerts(ctx, "SELECT id, alert FROM alerts WHERE id < ? ORDER BY id DESC LIMIT ?", before, max(n, 0))
}

// AlertsAfter returns at most n alerts with IDs above after, oldest
// first.
func (a *Auditor) AlertsAfter(ctx context.Context, after int64, n int) ([]*Alert, error) {
	return a.store.readAlerts(ctx, "SELECT id, alert FROM alerts WHERE id > ? ORDER BY id LIMIT ?", after, max(n, 0))
}

// Alert returns the alert with the given ID (Alert.ID), or ErrNoAlert.
func (a *Auditor) Alert(ctx context.Context, id int64) (*Alert, error) {
	as, err := a.store.readAlerts(ctx, "SELECT id, alert FROM alerts WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, fmt.Errorf("alert %d: %w", id, ErrNoAlert)
	}
	return as[0], nil
}

// readAlerts returns the alerts a query of (id, alert) rows selects,
// through the readers.
func (s *store) readAlerts(ctx context.Context, query string, args ...any) ([]*Alert, error) {
	return queryAll(ctx, s.db.R, scanAlert, query, args...)
}

func scanAlert(rows *sql.Rows, a **Alert) error {
	var id int64
	var data []byte
	if err := rows.Scan(&id, &data); err != nil {
		return err
	}
	*a = &Alert{}
	if err := json.Unmarshal(data, *a); err != nil {
		return fmt.Errorf("alert %d: %w", id, err)
	}
	(*a).ID = id
	return nil
}
