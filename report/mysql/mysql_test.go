package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwledger/fwledger/log/trillian"
	"github.com/fwledger/fwledger/log/trillian/trilliantest"
	"github.com/fwledger/fwledger/report"
	"github.com/fwledger/fwledger/report/mysql"
	"github.com/fwledger/fwledger/report/reporttest"
	"github.com/fwledger/fwledger/report/store"
)

// openDB opens a database handle as fwlog does (trillian.OpenDB), closed
// when t ends: each handle stands for a frontend.
func openDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := trillian.OpenDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newStore makes a new database (skipping t without FWLEDGER_MYSQL) and
// returns the Opener of stores on it, each on a database handle of its
// own.
func newStore(t *testing.T) reporttest.Opener {
	dsn := trilliantest.NewDatabase(t)
	return func(t *testing.T, o store.Options) store.Store {
		s, err := mysql.Open(context.Background(), openDB(t, dsn), o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestConformance(t *testing.T) { reporttest.Run(t, newStore) }

// TestShared runs the suite's tests of frontends sharing the database, each
// on its own *sql.DB.
func TestShared(t *testing.T) { reporttest.RunShared(t, newStore) }

// TestManyFrontends adds overlapping reports of many devices from many
// goroutines on several database handles at once, against small caps: one
// row a report, IDs unique and increasing with the order of commits, and
// the caps held.
func TestManyFrontends(t *testing.T) {
	if testing.Short() {
		t.Skip("many reports")
	}
	dsn := trilliantest.NewDatabase(t)
	const (
		frontends  = 4
		goroutines = 24
		nDevices   = 30
		perDevice  = 8
	)
	o := store.Options{MaxPerDevice: 5, MaxDevices: 25}
	var stores []*mysql.Store
	for range frontends {
		s, err := mysql.Open(context.Background(), openDB(t, dsn), o)
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	var envs []*report.Envelope
	for d := range nDevices {
		for i := range perDevice {
			envs = append(envs, reporttest.Envelope(t, reporttest.Key(100+d), report.Outcomes[(d+i)%4], reporttest.T0.Add(time.Duration(i)*time.Minute)))
		}
	}
	var (
		mu      sync.Mutex
		idOf    = map[string]uint64{} // payload → ID answered
		stored  atomic.Int64
		refused atomic.Int64
	)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range goroutines {
		s := stores[g%frontends]
		wg.Go(func() {
			// Each goroutine adds every report, starting at its own place.
			for k := range envs {
				e := envs[(k+g*len(envs)/goroutines)%len(envs)]
				id, dup, err := s.Add(ctx, &store.Report{Envelope: e, Received: time.Now()})
				var se *store.StaleError
				var fe *store.DevicesFullError
				switch {
				case errors.As(err, &se), errors.As(err, &fe):
					refused.Add(1)
					continue
				case err != nil:
					t.Errorf("Add: %v", err)
					return
				}
				if !dup {
					stored.Add(1)
				}
				mu.Lock()
				if prev, ok := idOf[string(e.Payload)]; ok && prev != id {
					t.Errorf("one report answered with IDs %d and %d", prev, id)
				}
				idOf[string(e.Payload)] = id
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	// Every report stored once: the stores answered each with one ID, and
	// no two reports with one.
	if int(stored.Load()) != len(idOf) {
		t.Errorf("%d reports stored as new, %d reports answered", stored.Load(), len(idOf))
	}
	seen := map[uint64]bool{}
	for _, id := range idOf {
		if seen[id] {
			t.Errorf("ID %d answered for two reports", id)
		}
		seen[id] = true
	}
	var all []store.Report
	for after := uint64(0); ; {
		page, more, err := stores[0].List(ctx, store.Query{After: after, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if !more {
			break
		}
		after = page[len(page)-1].ID
	}
	perDev := map[string]int{}
	for i, r := range all {
		if i > 0 && r.ID <= all[i-1].ID {
			t.Fatalf("List out of order: %d after %d", r.ID, all[i-1].ID)
		}
		if idOf[string(r.Payload)] != r.ID {
			t.Errorf("report %d was answered with ID %d", r.ID, idOf[string(r.Payload)])
		}
		perDev[r.Report.Device]++
	}
	if len(perDev) != o.MaxDevices {
		t.Errorf("%d devices have reports, want %d", len(perDev), o.MaxDevices)
	}
	for d, n := range perDev {
		if n != o.MaxPerDevice {
			t.Errorf("device %s… keeps %d reports, want %d", d[:8], n, o.MaxPerDevice)
		}
	}
	if n, err := stores[1].Devices(ctx); err != nil || n != o.MaxDevices {
		t.Errorf("Devices = %d, %v; want %d", n, err, o.MaxDevices)
	}
	t.Logf("%d Adds: %d stored, %d refused, %d kept", goroutines*len(envs), stored.Load(), refused.Load(), len(all))
}

// TestConcurrentOpen opens the store from several frontends at once on a
// new database: each creates the tables if needed, and none fails.
func TestConcurrentOpen(t *testing.T) {
	dsn := trilliantest.NewDatabase(t)
	var wg sync.WaitGroup
	for range 4 {
		db := openDB(t, dsn)
		wg.Go(func() {
			if _, err := mysql.Open(context.Background(), db, store.Options{}); err != nil {
				t.Errorf("Open: %v", err)
			}
		})
	}
	wg.Wait()
}

// TestCountsFilledAtOpen opens a database from before the store kept
// counts (made by dropping report_counts and report_meta's row) from
// several frontends at once: the reports kept are counted once, and the
// counts go on from there, also after another open.
func TestCountsFilledAtOpen(t *testing.T) {
	ctx := context.Background()
	dsn := trilliantest.NewDatabase(t)
	db := openDB(t, dsn)
	o := store.Options{MaxPerDevice: 2}
	s, err := mysql.Open(ctx, db, o)
	if err != nil {
		t.Fatal(err)
	}
	h := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	add := func(s store.Store, key int, outcome report.Outcome, reason report.Reason, at, received time.Duration) {
		t.Helper()
		e := reporttest.EnvelopeWhy(t, reporttest.Key(key), outcome, reason, reporttest.T0.Add(at))
		if _, _, err := s.Add(ctx, &store.Report{Envelope: e, Received: h.Add(received)}); err != nil {
			t.Fatal(err)
		}
	}
	add(s, 1, report.Installed, "", 0, 0)
	add(s, 1, report.Refused, report.Digest, time.Minute, 20*time.Minute)
	add(s, 2, report.Refused, report.Rollback, 0, 50*time.Minute)
	add(s, 1, report.Confirmed, "", 2*time.Minute, 61*time.Minute) // the cap removes device 1's first
	add(s, 2, report.Refused, report.Rollback, time.Minute, 5*time.Hour)
	kept := reporttest.FormatCounts(reporttest.CountReports(t, s))
	if got := reporttest.FormatCounts(reporttest.Counts(t, s, time.Time{})); got == kept {
		t.Fatalf("Counts = the counts of the reports kept,\n%s, before the open: the report the cap removed is not counted", got)
	}
	for _, q := range []string{`DROP TABLE report_counts`, `DELETE FROM report_meta WHERE k = 'counts'`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	stores := make([]*mysql.Store, 4)
	var wg sync.WaitGroup
	for i := range stores {
		db := openDB(t, dsn)
		wg.Go(func() {
			var err error
			if stores[i], err = mysql.Open(ctx, db, o); err != nil {
				t.Errorf("Open: %v", err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if got := reporttest.FormatCounts(reporttest.Counts(t, stores[0], time.Time{})); got != kept {
		t.Errorf("Counts after the opens =\n%s\nwant those of the reports kept, once\n%s", got, kept)
	}
	add(stores[1], 3, report.Installed, "", 0, 2*time.Hour)
	add(stores[2], 1, report.Confirmed, "", time.Hour, 2*time.Hour) // removes one
	want := reporttest.FormatCounts(reporttest.Counts(t, stores[3], time.Time{}))
	if want == reporttest.FormatCounts(reporttest.CountReports(t, stores[3])) || !strings.Contains(want, "installed") {
		t.Fatalf("Counts after two reports, one removing another =\n%s", want)
	}
	s, err = mysql.Open(ctx, openDB(t, dsn), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := reporttest.FormatCounts(reporttest.Counts(t, s, time.Time{})); got != want {
		t.Errorf("Counts after another open =\n%s\nwant as before it (no fill again)\n%s", got, want)
	}
}

// TestTablesBesideTrillian: the store's tables are its own, apart from
// log/trillian's, and (with Trillian) both sets live in one database.
func TestTablesBesideTrillian(t *testing.T) {
	ctx := context.Background()
	var db *sql.DB
	if trilliantest.Available() {
		e := trilliantest.New(t)
		db = openDB(t, e.DSN)
		if _, err := trillian.Open(ctx, trillian.Config{DB: db, Client: e.Client, TreeID: e.TreeID}); err != nil {
			t.Fatal(err)
		}
	} else {
		db = openDB(t, trilliantest.NewDatabase(t))
	}
	var before []string
	tables := func() []string {
		var out []string
		rows, err := db.QueryContext(ctx, `SHOW TABLES`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				t.Fatal(err)
			}
			out = append(out, name)
		}
		slices.Sort(out)
		return out
	}
	before = tables()
	s, err := mysql.Open(ctx, db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	after := tables()
	var added []string
	for _, name := range after {
		if !slices.Contains(before, name) {
			added = append(added, name)
		}
	}
	if fmt.Sprint(added) != "[report_counts report_devices report_meta report_state reports]" {
		t.Errorf("Open added tables %v to %v", added, before)
	}
	for _, name := range []string{"entries", "bundles", "tiles", "lookup", "meta", "state", "lease"} {
		if slices.Contains(added, name) {
			t.Errorf("the report store's table %s is one of log/trillian's", name)
		}
	}
	e := reporttest.Envelope(t, reporttest.Key(1), report.Installed, reporttest.T0)
	if _, _, err := s.Add(ctx, &store.Report{Envelope: e, Received: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := mysql.Open(ctx, db, store.Options{}); err != nil {
		t.Errorf("Open of an existing store: %v", err)
	}
	if n, err := s.Devices(ctx); err != nil || n != 1 {
		t.Errorf("Devices after Open again = %d, %v; want 1", n, err)
	}
}

// BenchmarkAdd stores new reports of many devices, one at a time
// (serial) and from many goroutines on two handles (parallel): the
// writers' lock serialises the transactions, so the parallel Adds gain
// only what they do outside it.
func BenchmarkAdd(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			dsn := trilliantest.NewDatabase(b)
			var stores []*mysql.Store
			for range 2 {
				s, err := mysql.Open(context.Background(), openDB(b, dsn), store.Options{})
				if err != nil {
					b.Fatal(err)
				}
				stores = append(stores, s)
			}
			envs := make([]*report.Envelope, b.N)
			for i := range envs {
				envs[i] = reporttest.Envelope(b, reporttest.Key(i%1000), report.Installed, reporttest.T0.Add(time.Duration(i)*time.Second))
			}
			var next atomic.Int64
			addOne := func(s *mysql.Store) {
				e := envs[next.Add(1)-1]
				if _, _, err := s.Add(context.Background(), &store.Report{Envelope: e, Received: time.Now()}); err != nil {
					b.Error(err)
				}
			}
			b.ResetTimer()
			if !parallel {
				for range b.N {
					addOne(stores[0])
				}
				return
			}
			b.SetParallelism(8)
			var h atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				s := stores[h.Add(1)%2]
				for pb.Next() {
					addOne(s)
				}
			})
		})
	}
}
