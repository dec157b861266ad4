package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fwledger/fwledger/api"
)

// Witnessed checks the latest checkpoint each witness of the witness
// policy (with a URL) holds for the log (fwwitness: GET
// <url>/checkpoint/<origin>): a witness shown another tree than the
// auditor is a fork. A witness that cannot be reached is skipped.
func (a *Auditor) Witnessed(ctx context.Context) (res *Result, err error) {
	res = &Result{}
	defer func() { a.metrics.countAlerts(res) }()
	if a.cfg.Witnesses == nil {
		return res, nil
	}
	origin, err := a.origin(ctx)
	if err != nil || origin == "" {
		return res, err
	}
	for _, w := range a.cfg.Witnesses.Witnesses {
		if w.URL == "" {
			continue
		}
		cp, err := a.getURL(ctx, strings.TrimSuffix(w.URL, "/")+"/checkpoint/"+origin, maxCheckpoint)
		if err != nil {
			a.log.Warn("couldn't read a witness's checkpoint", "witness", w.Name, "err", err)
			continue
		}
		r, err := a.Check(ctx, cp)
		if r != nil {
			res.Alerts = append(res.Alerts, r.Alerts...)
		}
		if err != nil {
			return res, fmt.Errorf("witness %s: %w", w.Name, err)
		}
	}
	return res, nil
}

// Reported checks the checkpoints devices reported to the log (GET
// /v1/reports), after those checked by an earlier call: a device shown
// another tree than the auditor is a fork.
func (a *Auditor) Reported(ctx context.Context) (res *Result, err error) {
	res = &Result{}
	defer func() { a.metrics.countAlerts(res) }()
	after, err := a.stateInt(ctx, "reports_after")
	if err != nil {
		return res, err
	}
	for pages := 0; ; pages++ {
		if pages == maxReportPages {
			return res, nil // the rest at the next poll
		}
		q := url.Values{}
		if after >= 0 {
			q.Set("after", strconv.FormatInt(after, 10))
		}
		data, err := a.get(ctx, api.PathReports+"?"+q.Encode(), 8<<20)
		if err != nil {
			var se *statusError
			if errors.As(err, &se) && se.code == http.StatusNotFound {
				return res, nil // the log takes no reports
			}
			return res, err
		}
		var page api.DeviceReports
		if err := json.Unmarshal(data, &page); err != nil {
			return res, fmt.Errorf("the log's reports: %w", err)
		}
		for _, rp := range page.Reports {
			if int64(rp.ID) <= after {
				return res, fmt.Errorf("the log's reports go back: report %d after %d", rp.ID, after)
			}
			if rp.Checkpoint != "" {
				r, err := a.Check(ctx, []byte(rp.Checkpoint))
				if r != nil {
					res.Alerts = append(res.Alerts, r.Alerts...)
				}
				if err != nil {
					return res, fmt.Errorf("report %d: %w", rp.ID, err)
				}
			}
			after = int64(rp.ID)
		}
		if err := a.setStateInt(ctx, "reports_after", after); err != nil {
			return res, err
		}
		if page.Next == nil {
			return res, nil
		}
		// The next page starts after the last report of this one: a log
		// that skips ahead would hide the reports in between.
		if int64(*page.Next) != after || len(page.Reports) == 0 {
			return res, fmt.Errorf("the log's reports: the next page is after %d, and this page ended at %d", *page.Next, after)
		}
	}
}

// origin returns the log's origin: of the verified checkpoint, or the log
// key's name.
func (a *Auditor) origin(ctx context.Context) (string, error) {
	p, err := a.store.progress(ctx)
	if err != nil {
		return "", err
	}
	if len(p.Checkpoint) > 0 {
		o, _, _ := bytes.Cut(p.Checkpoint, []byte("\n"))
		return string(o), nil
	}
	if a.cfg.Log != nil {
		return a.cfg.Log.Name(), nil
	}
	return "", nil
}

func (a *Auditor) stateInt(ctx context.Context, k string) (int64, error) {
	var v []byte
	err := a.store.db.W.QueryRowContext(ctx, "SELECT v FROM state WHERE k = ?", k).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(v), 10, 64)
}

func (a *Auditor) setStateInt(ctx context.Context, k string, n int64) error {
	_, err := a.store.db.W.ExecContext(ctx, "INSERT INTO state (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", k, []byte(strconv.FormatInt(n, 10)))
	return err
}

// maxReportPages bounds the pages of device reports read in one poll.
const maxReportPages = 100

// maxDeferred bounds the checkpoints kept to judge again: each is signed
// by the log's key.
const maxDeferred = 1024

// deferCheckpoint keeps a checkpoint signed by the log, of a tree larger
// than the auditor verified. Each step judges it again (recheck).
func (a *Auditor) deferCheckpoint(ctx context.Context, signed []byte, size uint64) error {
	a.log.Debug("a checkpoint signed by the log, of a larger tree than verified: judged again at each poll", "size", size)
	_, err := a.store.db.W.ExecContext(ctx, `INSERT INTO deferred (digest, note, size, seen)
		SELECT ?, ?, ?, ? WHERE (SELECT count(*) FROM deferred) < ? ON CONFLICT DO NOTHING`,
		digestKey(signed), signed, size, a.cfg.Now().UnixNano(), maxDeferred)
	return err
}

// recheck judges the deferred checkpoints again: one the verified tree
// has reached is checked against it (a fork if it is not of it); one the
// log still does not serve, MaxMergeDelay after the auditor was shown
// it, is a rollback: the log signed a larger tree than it shows.
func (a *Auditor) recheck(ctx context.Context, p *progress, now time.Time, res *Result) error {
	type deferred struct {
		digest string
		note   []byte
		size   uint64
		seen   int64
	}
	all, err := queryAll(ctx, a.store.db.W, func(rows *sql.Rows, d *deferred) error {
		return rows.Scan(&d.digest, &d.note, &d.size, &d.seen)
	}, "SELECT digest, note, size, seen FROM deferred")
	if err != nil {
		return err
	}
	for _, d := range all {
		seen := time.Unix(0, d.seen)
		switch {
		case d.size <= p.Verified:
			r, err := a.Check(ctx, d.note)
			if r != nil {
				res.Alerts = append(res.Alerts, r.Alerts...)
			}
			if err != nil {
				return err
			}
		case now.Sub(seen) > a.cfg.MaxMergeDelay:
			if err := a.raiseOne(ctx, res, &Alert{
				Key: "rollback/" + d.digest, Type: TypeRollback, Severity: Critical, Time: now.UTC(),
				Message: fmt.Sprintf("the log signed a tree of size %d, shown to others by %s, and still serves only %d entries: it keeps a larger tree from the auditor",
					d.size, seen.UTC().Format(time.RFC3339), p.Verified),
				Evidence: Evidence{Checkpoints: [][]byte{p.Checkpoint, d.note}},
			}); err != nil {
				return err
			}
		default:
			continue
		}
		if _, err := a.store.db.W.ExecContext(ctx, "DELETE FROM deferred WHERE digest = ?", d.digest); err != nil {
			return err
		}
	}
	return nil
}
