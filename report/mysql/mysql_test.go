package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
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
