// Package reportsql is what the SQL report stores (report/sqlite and
// report/mysql) share: the query that lists stored reports, on the tables
// and columns both name alike.
package reportsql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fwledger/fwledger/report"
	"github.com/fwledger/fwledger/report/store"
)

// Querier is a database or a transaction of either store.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// List returns the reports q selects from table reports, in ID order, and
// whether there are more.
func List(ctx context.Context, db Querier, q store.Query) (out []store.Report, more bool, err error) {
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
