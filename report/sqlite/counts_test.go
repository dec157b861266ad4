package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/report"
	"github.com/fwledger/fwledger/report/reporttest"
	"github.com/fwledger/fwledger/report/sqlite"
	"github.com/fwledger/fwledger/report/store"
)

// rawDB opens the report database in dir as SQL, for what the store does
// not do; the store must be closed.
func rawDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, sqlite.DatabaseFile)+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, query string) {
	t.Helper()
	if _, err := db.Exec(query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// TestCountsFilledAtOpen opens a database of version 0, from before the
// store kept counts (made by dropping report_counts and the version): Open
// counts the reports kept, once, and the counts go on from there.
func TestCountsFilledAtOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir, sqlite.Options{MaxPerDevice: 2})
	h := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for i, r := range []struct {
		key      int
		outcome  report.Outcome
		reason   report.Reason
		received time.Duration
	}{
		{1, report.Installed, "", 0},
		{1, report.Refused, report.Digest, 20 * time.Minute},
		{2, report.Refused, report.Rollback, 50 * time.Minute},
		{1, report.Confirmed, "", 61 * time.Minute}, // the cap removes device 1's first
		{2, report.Refused, report.Rollback, 5 * time.Hour},
	} {
		e := reporttest.EnvelopeWhy(t, reporttest.Key(r.key), r.outcome, r.reason, reporttest.T0.Add(time.Duration(i)*time.Minute))
		if _, _, err := s.Add(ctx, &store.Report{Envelope: e, Received: h.Add(r.received)}); err != nil {
			t.Fatal(err)
		}
	}
	kept := reporttest.CountReports(t, s)
	if got := reporttest.FormatCounts(reporttest.Counts(t, s, time.Time{})); got == reporttest.FormatCounts(kept) {
		t.Fatalf("Counts = the counts of the reports kept,\n%s, before the open: the report the cap removed is not counted", got)
	}
	s.Close()

	db := rawDB(t, dir)
	exec(t, db, "DROP TABLE report_counts")
	exec(t, db, "PRAGMA user_version = 0")
	db.Close()
	s = open(t, dir, sqlite.Options{MaxPerDevice: 2})
	if got, want := reporttest.FormatCounts(reporttest.Counts(t, s, time.Time{})), reporttest.FormatCounts(kept); got != want {
		t.Errorf("Counts after the open of version 0 =\n%s\nwant those of the reports kept\n%s", got, want)
	}
	// Counted from there on: a new report, and one that makes the cap
	// remove another, which stays counted after the next open.
	for _, e := range []*report.Envelope{
		reporttest.Envelope(t, reporttest.Key(3), report.Installed, reporttest.T0),
		reporttest.Envelope(t, reporttest.Key(1), report.Confirmed, reporttest.T0.Add(time.Hour)),
	} {
		if _, _, err := s.Add(ctx, &store.Report{Envelope: e, Received: h.Add(2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	want := reporttest.FormatCounts(reporttest.Counts(t, s, time.Time{}))
	if want == reporttest.FormatCounts(reporttest.CountReports(t, s)) || !strings.Contains(want, "installed") {
		t.Fatalf("Counts after two reports, one removing another =\n%s", want)
	}
	s.Close()
	s = open(t, dir, sqlite.Options{MaxPerDevice: 2})
	if got := reporttest.FormatCounts(reporttest.Counts(t, s, time.Time{})); got != want {
		t.Errorf("Counts after another open =\n%s\nwant as before it (no fill again)\n%s", got, want)
	}
}

// TestLaterVersion: a database of a later version than this store's is
// not opened.
func TestLaterVersion(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, sqlite.Options{}).Close()
	db := rawDB(t, dir)
	exec(t, db, "PRAGMA user_version = 99")
	db.Close()
	if s, err := sqlite.Open(context.Background(), dir, sqlite.Options{}); err == nil || !strings.Contains(err.Error(), "version 99") {
		if s != nil {
			s.Close()
		}
		t.Errorf("Open of a database of version 99 = %v, want an error naming the version", err)
	}
}

// TestCountsBounded: Counts returns at most store.MaxCountRows counts, of
// the newest hours that fit whole.
func TestCountsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("50,000 counts")
	}
	h := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hour := func(i int) time.Time { return h.Add(time.Duration(i) * time.Hour) }
	for _, tc := range []struct {
		desc          string
		hours, pairs  int
		since         time.Time
		first, counts int // the first hour returned, and how many counts
	}{
		{"the limit within an hour", 700, 72, time.Time{}, 6, 694 * 72},
		{"the limit at an hour's end", 501, 100, time.Time{}, 1, 500 * 100},
		{"since within the limit", 700, 72, hour(600), 600, 100 * 72},
		{"all within the limit", 100, 72, time.Time{}, 0, 100 * 72},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			open(t, dir, sqlite.Options{}).Close()
			db := rawDB(t, dir)
			if _, err := db.Exec(`WITH RECURSIVE
				h(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM h WHERE i + 1 < ?),
				p(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM p WHERE j + 1 < ?)
				INSERT INTO report_counts (hour, outcome, reason, n) SELECT ? + i * 3600000, 'refused', printf('r%03d', j), i + 1 FROM h, p`,
				tc.hours, tc.pairs, h.UnixMilli()); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s := open(t, dir, sqlite.Options{})
			got := reporttest.Counts(t, s, tc.since)
			if len(got) != tc.counts || len(got) > store.MaxCountRows {
				t.Fatalf("Counts(%v) = %d counts, want %d", tc.since, len(got), tc.counts)
			}
			for i, c := range got {
				want := store.Count{Hour: hour(tc.first + i/tc.pairs), Outcome: report.Refused, Reason: report.Reason(fmt.Sprintf("r%03d", i%tc.pairs)), N: uint64(tc.first + i/tc.pairs + 1)}
				if !c.Hour.Equal(want.Hour) || c.Outcome != want.Outcome || c.Reason != want.Reason || c.N != want.N {
					t.Fatalf("count %d = %+v, want %+v", i, c, want)
				}
			}
		})
	}
}
