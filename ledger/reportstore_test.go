package ledger_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/log/trillian"
	"github.com/fwledger/fwledger/log/trillian/trilliantest"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/report"
	reportmysql "github.com/fwledger/fwledger/report/mysql"
	reportsqlite "github.com/fwledger/fwledger/report/sqlite"
	reportstore "github.com/fwledger/fwledger/report/store"
	"github.com/prometheus/client_golang/prometheus"
)

// countingReports is a report store over another that counts the calls
// the ledger makes, and fails Add with addErr when it is set.
type countingReports struct {
	reportstore.Store
	mu                 sync.Mutex
	adds, finds, lists int
	addErr             error
}

func (c *countingReports) Add(ctx context.Context, r *reportstore.Report) (uint64, bool, error) {
	c.mu.Lock()
	c.adds++
	err := c.addErr
	c.mu.Unlock()
	if err != nil {
		return 0, false, err
	}
	return c.Store.Add(ctx, r)
}

func (c *countingReports) Find(ctx context.Context, e *report.Envelope) (uint64, bool, error) {
	c.mu.Lock()
	c.finds++
	c.mu.Unlock()
	return c.Store.Find(ctx, e)
}

func (c *countingReports) List(ctx context.Context, q reportstore.Query) ([]reportstore.Report, bool, error) {
	c.mu.Lock()
	c.lists++
	c.mu.Unlock()
	return c.Store.List(ctx, q)
}

func (c *countingReports) fail(err error) {
	c.mu.Lock()
	c.addErr = err
	c.mu.Unlock()
}

// TestReportStoreInterface runs the ledger on a report store that is not
// report/sqlite's: reports go through the store.Store interface, and the
// store's refusals, of package report/store's types whatever the store,
// are answered as from report/sqlite's (409), its other errors as the
// storage's (503).
func TestReportStoreInterface(t *testing.T) {
	s, err := reportsqlite.Open(context.Background(), t.TempDir(), reportstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &countingReports{Store: s}
	reg := prometheus.NewRegistry()
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}, Devices: []*keys.PrivateKey{dev1}, Reports: c, Registerer: reg})
	lc := newClient(t, l)
	env := fwtest.SignReport(t, dev1, deviceReport(report.Installed, reportTime, nil))
	status, res, msg, _ := postReport(t, l, env)
	if status != http.StatusCreated {
		t.Fatalf("POST = %d %q, want 201", status, msg)
	}
	if got := listReports(t, lc, logclient.ReportQuery{}); len(got.Reports) != 1 || got.Reports[0].ID != res.ID || string(got.Reports[0].Envelope) != string(env) {
		t.Fatalf("GET = %+v, want report %d", got.Reports, res.ID)
	}
	if c.adds != 1 || c.finds != 1 || c.lists != 1 {
		t.Errorf("the store had %d Adds, %d Finds, %d Lists; want 1 of each", c.adds, c.finds, c.lists)
	}
	for i, tc := range []struct {
		err    error
		status int
		msg    string
		label  string
	}{
		{errors.New("the disk is on fire"), http.StatusServiceUnavailable, "", "storage"},
		{&reportstore.StaleError{Device: fwtest.KeyID(t, dev1), Time: reportTime, Oldest: reportTime, Max: 7}, http.StatusConflict, "older than every one of the 7 reports", "stale"},
		{&reportstore.DevicesFullError{Max: 7}, http.StatusConflict, "reports of 7 devices", "devices_full"},
	} {
		c.fail(tc.err)
		status, _, msg, _ := postReport(t, l, fwtest.SignReport(t, dev1, deviceReport(report.Installed, reportTime.Add(time.Duration(i+1)*time.Second), nil)))
		if status != tc.status || !strings.Contains(msg, tc.msg) {
			t.Errorf("POST with the store failing with %v = %d %q, want %d with %q", tc.err, status, msg, tc.status, tc.msg)
		}
		if n := counter(t, reg, "fwlog_device_reports_refused_total", tc.label); n != 1 {
			t.Errorf("fwlog_device_reports_refused_total{%s} = %v, want 1", tc.label, n)
		}
	}
}

// TestReportsSharedByFrontends runs two logs, as two frontends, on one
// MySQL report store (report/mysql, each on its own database handle): a
// report sent to one is served by the other, is a duplicate there, and
// the per-device cap counts the reports of both. It skips without
// FWLEDGER_MYSQL.
func TestReportsSharedByFrontends(t *testing.T) {
	dsn := trilliantest.NewDatabase(t)
	var frontends []*fwtest.Log
	var clients []*logclient.Client
	for range 2 {
		db, err := trillian.OpenDB(dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := reportmysql.Open(context.Background(), db, reportstore.Options{MaxPerDevice: 3})
		if err != nil {
			t.Fatal(err)
		}
		l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}, Devices: []*keys.PrivateKey{dev1}, Reports: s})
		frontends, clients = append(frontends, l), append(clients, newClient(t, l))
	}
	a, b := frontends[0], frontends[1]
	env := fwtest.SignReport(t, dev1, deviceReport(report.Refused, reportTime, nil))
	status, first, msg, _ := postReport(t, a, env)
	if status != http.StatusCreated {
		t.Fatalf("POST to frontend A = %d %q, want 201", status, msg)
	}
	if got := listReports(t, clients[1], logclient.ReportQuery{}); len(got.Reports) != 1 || got.Reports[0].ID != first.ID || string(got.Reports[0].Envelope) != string(env) {
		t.Fatalf("frontend B serves %+v, want report %d", got.Reports, first.ID)
	}
	if status, again, msg, _ := postReport(t, b, env); status != http.StatusOK || !again.Duplicate || again.ID != first.ID {
		t.Errorf("POST of the report to frontend B = %d %+v %q, want 200, the duplicate %d", status, again, msg, first.ID)
	}
	last := first.ID
	for i := range 3 {
		l := frontends[(i+1)%2]
		status, res, msg, _ := postReport(t, l, fwtest.SignReport(t, dev1, deviceReport(report.Installed, reportTime.Add(time.Duration(i+1)*time.Minute), nil)))
		if status != http.StatusCreated || res.ID <= last {
			t.Fatalf("POST %d = %d %+v %q, want 201 with an ID after %d", i, status, res, msg, last)
		}
		last = res.ID
	}
	for i, lc := range clients {
		if got := listReports(t, lc, logclient.ReportQuery{}); len(got.Reports) != 3 || got.Reports[2].ID != last {
			t.Errorf("frontend %d serves %d reports, want the newest 3", i, len(got.Reports))
		}
	}
	if status, _, msg, _ := postReport(t, a, env); status != http.StatusConflict || !strings.Contains(msg, "older than every one") {
		t.Errorf("POST of the report the cap removed = %d %q, want 409", status, msg)
	}
}
