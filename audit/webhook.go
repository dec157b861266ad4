package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Deliver posts the alerts not yet delivered to the webhook URL, oldest
// first, each as one JSON object (the alert) with the header
// Fwledger-Alert-Key (the alert's key, for the receiver to drop a
// repeat). An alert counts as delivered on a 2xx answer (a redirect is
// not one), and is never posted again after that; on any other outcome
// Deliver stops, and the next call starts again from that alert. Only a
// crash between the webhook's answer and the record of it posts an alert
// twice, with the same key. It posts at most maxDeliver alerts a call,
// and returns how many it delivered.
func (a *Auditor) Deliver(ctx context.Context, webhook string) (int, error) {
	type pending struct {
		id   int64
		data []byte
	}
	todo, err := queryAll(ctx, a.store.db.W, func(rows *sql.Rows, p *pending) error {
		return rows.Scan(&p.id, &p.data)
	}, "SELECT id, alert FROM alerts WHERE id > COALESCE((SELECT CAST(v AS INTEGER) FROM state WHERE k = 'delivered'), 0) ORDER BY id LIMIT ?", maxDeliver)
	if err != nil {
		return 0, err
	}
	hc := *a.cfg.HTTP
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	n := 0
	for _, p := range todo {
		var al Alert
		if err := json.Unmarshal(p.data, &al); err != nil {
			return n, err
		}
		al.ID = p.id
		body, err := json.Marshal(&al)
		if err != nil {
			return n, err
		}
		req, err := http.NewRequestWithContext(ctx, "POST", webhook, bytes.NewReader(body))
		if err != nil {
			return n, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Fwledger-Alert-Key", al.Key)
		resp, err := hc.Do(req)
		if err != nil {
			return n, fmt.Errorf("the webhook: %w", err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return n, fmt.Errorf("the webhook answered %s", resp.Status)
		}
		if err := a.setStateInt(ctx, "delivered", p.id); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// maxDeliver bounds the alerts one Deliver reads and posts.
const maxDeliver = 1000

// DeliverRetrying is Deliver, retried with exponential backoff (from
// min to max) until everything is delivered or ctx ends.
func (a *Auditor) DeliverRetrying(ctx context.Context, webhook string, min, max time.Duration) (int, error) {
	total, wait := 0, min
	for {
		n, err := a.Deliver(ctx, webhook)
		total += n
		if err == nil && n == maxDeliver {
			continue
		}
		if err == nil {
			return total, nil
		}
		a.log.Warn("couldn't deliver alerts", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return total, err
		case <-time.After(wait):
		}
		wait = min * 2
		if wait > max {
			wait = max
		}
		min = wait
	}
}
