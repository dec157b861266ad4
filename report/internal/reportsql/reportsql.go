// Package reportsql is what the SQL report stores (report/sqlite and
// report/mysql) share: the query that lists stored reports, and those
// that read and fill the hourly counts, on the tables and columns both
// name alike (reports; report_counts, of columns hour, outcome, reason
// and n, keyed by the first three).
package reportsql

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/fwledger/fwledger/report"
	"github.com/fwledger/fwledger/report/store"
)

// Querier is a database or a transaction of either store.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Execer is a database or a transaction of either store.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// List returns the reports q selects from table reports, in ID order, and
// whether there are more. isFork is the store's condition on a fork
// report, written as its index of fork reports needs to be used
// (report/sqlite's is partial, "WHERE fork"; report/mysql's is on (fork,
// id), for "fork = 1").
func List(ctx context.Context, db Querier, isFork string, q store.Query) (out []store.Report, more bool, err error) {
	limit := max(q.Limit, 1)
	query := `SELECT id, received, fork, envelope FROM reports WHERE id > ?`
	args := []any{int64(min(q.After, 1<<63-1))}
	if q.Device != "" {
		query += ` AND device = ?`
		args = append(args, q.Device)
	}
	if q.Outcome != "" {
		query += ` AND outcome = ?`
		args = append(args, string(q.Outcome))
	}
	if q.Fork {
		query += ` AND ` + isFork
	}
	query += ` ORDER BY id LIMIT ?`
	args = append(args, limit+1)
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r        store.Report
			received int64
			data     []byte
		)
		if err := rows.Scan(&r.ID, &received, &r.Fork, &data); err != nil {
			return nil, false, err
		}
		if len(out) == limit {
			more = true
			break
		}
		if r.Envelope, err = report.Parse(data); err != nil {
			return nil, false, fmt.Errorf("stored report %d does not parse: %w", r.ID, err)
		}
		r.Received = time.UnixMilli(received)
		out = append(out, r)
	}
	return out, more, rows.Err()
}

// HourMilli returns the start of t's hour (UTC), in Unix milliseconds:
// report_counts.hour of a report received at t.
func HourMilli(t time.Time) int64 {
	// Truncate counts from the zero Time, a whole number of hours before
	// the Unix epoch.
	return t.Truncate(time.Hour).UnixMilli()
}

// FillCounts replaces the counts in report_counts with those of the
// reports in table reports, for a store that kept reports before it kept
// counts. The reports the per-device cap removed before then are not
// counted: they are gone.
func FillCounts(ctx context.Context, db Execer) error {
	if _, err := db.ExecContext(ctx, `DELETE FROM report_counts`); err != nil {
		return err
	}
	// The hour of received, as HourMilli's, also before 1970: % keeps
	// the dividend's sign in both SQLite and MySQL.
	_, err := db.ExecContext(ctx, `INSERT INTO report_counts (hour, outcome, reason, n)
		SELECT received - ((received % 3600000) + 3600000) % 3600000 AS h, outcome, reason, count(*)
		FROM reports GROUP BY h, outcome, reason`)
	return err
}

// Counts returns the counts of report_counts from since's hour on, as
// store.Store's Counts: at most store.MaxCountRows, of the newest hours
// that fit whole.
func Counts(ctx context.Context, db Querier, since time.Time) ([]store.Count, error) {
	rows, err := db.QueryContext(ctx, `SELECT hour, outcome, reason, n FROM report_counts WHERE hour >= ?
		ORDER BY hour DESC, outcome DESC, reason DESC LIMIT ?`, HourMilli(since), store.MaxCountRows+1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		out  []store.Count
		last int64 // the hour of the last row read
	)
	for rows.Next() {
		var (
			c               store.Count
			hour            int64
			outcome, reason string
		)
		if err := rows.Scan(&hour, &outcome, &reason, &c.N); err != nil {
			return nil, err
		}
		if len(out) == store.MaxCountRows {
			// One row too many: the hour of the last row kept may have
			// more counts than fit. Leave that hour out.
			if hour == last {
				for len(out) > 0 && out[len(out)-1].Hour.Equal(time.UnixMilli(last)) {
					out = out[:len(out)-1]
				}
			}
			break
		}
		c.Hour = time.UnixMilli(hour).UTC()
		c.Outcome, c.Reason = report.Outcome(outcome), report.Reason(reason)
		out = append(out, c)
		last = hour
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}
