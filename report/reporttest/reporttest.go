// Package reporttest is the conformance suite for device report stores
// (report/store.Store): every store runs Run and must pass it, and a store
// that several processes share at once (report/mysql, whose handles stand
// for a log's frontends) runs RunShared too.
package reporttest

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/report"
	"github.com/fwledger/fwledger/report/store"
)

// An Opener opens a handle, with options o, on one store: each call is
// another handle on the same reports, as after a restart or on another
// frontend. The suite closes the handles it opens; the Opener cleans up
// the rest (a database handle, a test database) with t.Cleanup.
type Opener func(t *testing.T, o store.Options) store.Store

// T0 is the device time of the suite's first reports.
var T0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// Key returns the test device key number i (the same key for the same i).
func Key(i int) *keys.PrivateKey {
	name := fmt.Sprintf("dev-%04d.reporttest.example", i)
	seed := sha256.Sum256([]byte("fwledger reporttest key " + name))
	return &keys.PrivateKey{Name: name, Key: ed25519.NewKeyFromSeed(seed[:])}
}

// KeyID returns k's DSSE key ID: the device of its reports.
func KeyID(t testing.TB, k *keys.PrivateKey) string {
	t.Helper()
	id, err := k.Public().KeyID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Envelope returns a parsed report of k with outcome at the device's time
// at (one payload for each key, outcome and time).
func Envelope(t testing.TB, k *keys.PrivateKey, outcome report.Outcome, at time.Time) *report.Envelope {
	t.Helper()
	return EnvelopeWhy(t, k, outcome, report.Digest, at)
}

// EnvelopeWhy is Envelope with reason for an outcome that did not
// succeed (ignored for one that did).
func EnvelopeWhy(t testing.TB, k *keys.PrivateKey, outcome report.Outcome, reason report.Reason, at time.Time) *report.Envelope {
	t.Helper()
	r := &report.Report{Model: "acme-x1", Channel: "stable", Outcome: outcome, Image: sha256.Sum256([]byte("image")),
		Version: "1.4.0", SecurityVersion: 7, LogIndex: 3, HasRelease: true, Time: at}
	if !outcome.Succeeded() {
		r.Reason, r.Detail = reason, "the image's digest is not the release's"
	}
	env, err := report.Sign(context.Background(), k, r)
	if err != nil {
		t.Fatal(err)
	}
	e, err := report.Parse(env)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Run runs the conformance tests. newStore must return the Opener of a
// new, empty store on each call. Run closes each handle before it opens
// another on the same store, so that a store whose handles exclude each
// other (report/sqlite's, by its lock file) passes.
func Run(t *testing.T, newStore func(t *testing.T) Opener) {
	for _, tc := range []struct {
		name string
		f    func(t *testing.T, open Opener)
	}{
		{"AddFindListReopen", testAddFindList},
		{"EnvelopeKept", testEnvelopeKept},
		{"Paging", testPaging},
		{"PerDeviceCap", testPerDeviceCap},
		{"LoweredCap", testLoweredCap},
		{"DeviceCap", testDeviceCap},
		{"Counts", testCounts},
		{"Concurrent", func(t *testing.T, open Opener) { testConcurrent(t, open, 1) }},
		{"ConcurrentCaps", func(t *testing.T, open Opener) { testConcurrentCaps(t, open, 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, newStore(t)) })
	}
}

// RunShared runs the tests of a store that several handles use at once,
// as a log's frontends share one database: what one handle adds, the
// others find, list and recognise as a duplicate at once, and the
// concurrency tests of Run hold with their goroutines spread over
// several handles. newStore is as for Run.
func RunShared(t *testing.T, newStore func(t *testing.T) Opener) {
	for _, tc := range []struct {
		name string
		f    func(t *testing.T, open Opener)
	}{
		{"SharedReads", testShared},
		{"Concurrent", func(t *testing.T, open Opener) { testConcurrent(t, open, 3) }},
		{"ConcurrentCaps", func(t *testing.T, open Opener) { testConcurrentCaps(t, open, 3) }},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, newStore(t)) })
	}
}

// handle opens a handle and closes it when t ends; close closes it
// earlier (once).
func handle(t *testing.T, open Opener, o store.Options) (s store.Store, close func()) {
	t.Helper()
	s = open(t, o)
	var once sync.Once
	close = func() {
		once.Do(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	t.Cleanup(close)
	return s, close
}

func add(t *testing.T, s store.Store, e *report.Envelope) (uint64, bool, error) {
	t.Helper()
	return s.Add(context.Background(), &store.Report{Envelope: e, Received: time.Now()})
}

// mustAdd adds e, which must be new, and returns its ID.
func mustAdd(t *testing.T, s store.Store, e *report.Envelope) uint64 {
	t.Helper()
	id, dup, err := add(t, s, e)
	if err != nil || dup {
		t.Fatalf("Add = %d, dup %v, %v; want a new report", id, dup, err)
	}
	return id
}

func list(t *testing.T, s store.Store, q store.Query) []store.Report {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 1000
	}
	out, _, err := s.List(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ids(rs []store.Report) []uint64 {
	var out []uint64
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// Counts returns s's counts from since's hour on.
func Counts(t testing.TB, s store.Store, since time.Time) []store.Count {
	t.Helper()
	out, err := s.Counts(context.Background(), since)
	if err != nil {
		t.Fatalf("Counts(%v): %v", since, err)
	}
	return out
}

// CountReports returns the counts of the reports s keeps, as Counts would
// return them had no report been removed: the counts of a store that kept
// reports before it kept counts, once it fills them.
func CountReports(t testing.TB, s store.Store) []store.Count {
	t.Helper()
	n := map[store.Count]uint64{}
	for after := uint64(0); ; {
		out, more, err := s.List(context.Background(), store.Query{After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out {
			n[store.Count{Hour: r.Received.UTC().Truncate(time.Hour), Outcome: r.Report.Outcome, Reason: r.Report.Reason}]++
			after = r.ID
		}
		if !more {
			break
		}
	}
	var counts []store.Count
	for c, k := range n {
		c.N = k
		counts = append(counts, c)
	}
	slices.SortFunc(counts, func(a, b store.Count) int {
		return cmp.Or(a.Hour.Compare(b.Hour), cmp.Compare(a.Outcome, b.Outcome), cmp.Compare(a.Reason, b.Reason))
	})
	return counts
}

// FormatCounts writes counts one a line, for comparing.
func FormatCounts(counts []store.Count) string {
	var b strings.Builder
	for _, c := range counts {
		fmt.Fprintf(&b, "%s %s %q %d\n", c.Hour.Format(time.RFC3339Nano), c.Outcome, c.Reason, c.N)
	}
	return b.String()
}

func devices(t *testing.T, s store.Store) int {
	t.Helper()
	n, err := s.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// testAddFindList is report/sqlite's first test: IDs, duplicates, the
// query filters, paging's more, the devices count, and all of it again
// from another handle (after a restart).
func testAddFindList(t *testing.T, open Opener) {
	ctx := context.Background()
	s, closeS := handle(t, open, store.Options{})
	if n := devices(t, s); n != 0 {
		t.Errorf("Devices of an empty store = %d", n)
	}
	if got := list(t, s, store.Query{}); len(got) != 0 {
		t.Errorf("List of an empty store = %+v", got)
	}
	e1 := Envelope(t, Key(1), report.Installed, T0)
	e2 := Envelope(t, Key(2), report.Refused, T0)
	if _, ok, err := s.Find(ctx, e1); ok || err != nil {
		t.Errorf("Find of a report not stored = %v, %v", ok, err)
	}
	id1 := mustAdd(t, s, e1)
	id2, _, err := add(t, s, e2)
	if err != nil || id2 <= id1 {
		t.Fatalf("Add = %d, %v; want an ID after %d", id2, err, id1)
	}
	if id, dup, err := add(t, s, e1); err != nil || !dup || id != id1 {
		t.Errorf("Add of a stored report = %d, %v, %v; want %d, duplicate", id, dup, err, id1)
	}
	if id, ok, err := s.Find(ctx, e2); err != nil || !ok || id != id2 {
		t.Errorf("Find = %d, %v, %v; want %d", id, ok, err, id2)
	}
	closeS()

	s, _ = handle(t, open, store.Options{})
	all := list(t, s, store.Query{})
	if len(all) != 2 || all[0].ID != id1 || string(all[0].Data) != string(e1.Data) || all[1].Report.Outcome != report.Refused {
		t.Fatalf("List from another handle = %+v", all)
	}
	if got := list(t, s, store.Query{Device: e2.KeyID}); len(got) != 1 || got[0].ID != id2 {
		t.Errorf("List of device 2 = %+v", got)
	}
	if got := list(t, s, store.Query{Outcome: report.Installed}); len(got) != 1 || got[0].ID != id1 {
		t.Errorf("List of installed = %+v", got)
	}
	if got := list(t, s, store.Query{Device: e2.KeyID, Outcome: report.Installed}); len(got) != 0 {
		t.Errorf("List of device 2's installed = %+v, want none", got)
	}
	if got := list(t, s, store.Query{After: id1}); len(got) != 1 || got[0].ID != id2 {
		t.Errorf("List after %d = %+v", id1, got)
	}
	page, more, err := s.List(ctx, store.Query{Limit: 1})
	if err != nil || len(page) != 1 || !more {
		t.Errorf("List of 1 = %d reports, more %v, %v; want 1 and more", len(page), more, err)
	}
	if n := devices(t, s); n != 2 {
		t.Errorf("Devices = %d; want 2", n)
	}
	if id, dup, err := add(t, s, e2); err != nil || !dup || id != id2 {
		t.Errorf("Add of a stored report from another handle = %d, %v, %v; want %d, duplicate", id, dup, err, id2)
	}
	if id3 := mustAdd(t, s, Envelope(t, Key(1), report.Confirmed, T0.Add(time.Minute))); id3 <= id2 {
		t.Errorf("a report added from another handle got ID %d, not after %d", id3, id2)
	}
}

// testEnvelopeKept: a report comes back as stored, its exact bytes, the
// time received (to the millisecond) and the fork flag.
func testEnvelopeKept(t *testing.T, open Opener) {
	s, _ := handle(t, open, store.Options{})
	ctx := context.Background()
	received := time.Date(2026, 11, 27, 10, 0, 1, 250_999_999, time.UTC)
	var want []store.Report
	for i, fork := range []bool{false, true} {
		e := Envelope(t, Key(1), report.Reverted, T0.Add(time.Duration(i)*time.Second))
		id, dup, err := s.Add(ctx, &store.Report{ID: 12345, Envelope: e, Received: received, Fork: fork})
		if err != nil || dup {
			t.Fatalf("Add = %v, %v", dup, err)
		}
		want = append(want, store.Report{ID: id, Envelope: e, Received: received, Fork: fork})
	}
	got := list(t, s, store.Query{})
	if len(got) != len(want) {
		t.Fatalf("List = %d reports, want %d", len(got), len(want))
	}
	for i, g := range got {
		w := want[i]
		if g.ID != w.ID || g.Fork != w.Fork || string(g.Data) != string(w.Data) || string(g.Payload) != string(w.Payload) || g.KeyID != w.KeyID {
			t.Errorf("report %d = ID %d fork %v, %q; want ID %d fork %v, %q", i, g.ID, g.Fork, g.Data, w.ID, w.Fork, w.Data)
		}
		if !g.Received.Equal(w.Received.Truncate(time.Millisecond)) {
			t.Errorf("report %d received %v, want %v", i, g.Received, w.Received.Truncate(time.Millisecond))
		}
		if r := g.Report; r == nil || r.Outcome != report.Reverted || r.Reason != report.Digest || !r.Time.Equal(w.Report.Time) || r.Detail != w.Report.Detail {
			t.Errorf("report %d parsed = %+v, want %+v", i, g.Report, w.Report)
		}
	}
}

// testPaging pages through reports of several devices and outcomes, some
// of them forks, with every filter: in ID order, nothing missed or
// repeated, more set on every page but the last.
func testPaging(t *testing.T, open Opener) {
	s, _ := handle(t, open, store.Options{})
	ctx := context.Background()
	type added struct {
		id      uint64
		device  string
		outcome report.Outcome
		fork    bool
	}
	var all []added
	for i := range 23 {
		k := Key(1 + i%3)
		outcome := report.Outcomes[i%len(report.Outcomes)]
		fork := i%5 == 1 || i%5 == 2
		id, dup, err := s.Add(ctx, &store.Report{Envelope: Envelope(t, k, outcome, T0.Add(time.Duration(i)*time.Minute)), Received: time.Now(), Fork: fork})
		if err != nil || dup {
			t.Fatalf("Add = %d, dup %v, %v; want a new report", id, dup, err)
		}
		if len(all) > 0 && id <= all[len(all)-1].id {
			t.Fatalf("ID %d after %d", id, all[len(all)-1].id)
		}
		all = append(all, added{id, KeyID(t, k), outcome, fork})
	}
	for _, q := range []store.Query{
		{}, {Device: KeyID(t, Key(2))}, {Outcome: report.Refused}, {Device: KeyID(t, Key(1)), Outcome: report.Installed},
		{After: all[10].id}, {After: all[10].id, Device: KeyID(t, Key(3))},
		{Fork: true}, {Fork: true, After: all[10].id}, {Fork: true, Device: KeyID(t, Key(2))},
		{Fork: true, Outcome: report.Confirmed}, {Fork: true, Device: KeyID(t, Key(1)), Outcome: report.Installed},
	} {
		var want []uint64
		for _, a := range all {
			if a.id > q.After && (q.Device == "" || a.device == q.Device) && (q.Outcome == "" || a.outcome == q.Outcome) && (!q.Fork || a.fork) {
				want = append(want, a.id)
			}
		}
		for _, limit := range []int{1, 2, 5, 100} {
			pq := q
			pq.Limit = limit
			var got []uint64
			for page := 0; ; page++ {
				out, more, err := s.List(ctx, pq)
				if err != nil {
					t.Fatal(err)
				}
				if len(out) > limit {
					t.Fatalf("List %+v = %d reports", pq, len(out))
				}
				got = append(got, ids(out)...)
				if !more {
					break
				}
				if len(out) != limit {
					t.Fatalf("List %+v = %d reports and more", pq, len(out))
				}
				pq.After = out[len(out)-1].ID
				if page > len(all) {
					t.Fatalf("List %+v does not end", q)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("pages of %d of %+v = %v, want %v", limit, q, got, want)
			}
			if q.Fork && limit == 100 && len(want) == 0 {
				t.Errorf("%+v selects no report: the test tests nothing", q)
			}
		}
	}
	if out, more, err := s.List(ctx, store.Query{}); err != nil || len(out) != 1 || !more {
		t.Errorf("List with no limit = %d reports, more %v, %v; want 1 (at least one) and more", len(out), more, err)
	}
	for _, after := range []uint64{all[len(all)-1].id, 1<<63 - 1, 1 << 63, ^uint64(0)} {
		if out, more, err := s.List(ctx, store.Query{After: after, Limit: 10}); err != nil || len(out) != 0 || more {
			t.Errorf("List after %d = %d reports, more %v, %v; want none", after, len(out), more, err)
		}
	}
	if out := list(t, s, store.Query{Device: "0000000000000000000000000000000000000000000000000000000000000000"}); len(out) != 0 {
		t.Errorf("List of an unknown device = %v", ids(out))
	}
	if out := list(t, s, store.Query{Device: "é'\";--"}); len(out) != 0 {
		t.Errorf("List of an odd device = %v", ids(out))
	}
}

// testPerDeviceCap is report/sqlite's: a store keeps the newest reports
// of a device, by its time, and refuses one older than all it keeps, so
// that a replay of a report the cap removed cannot push out a newer one.
// A report as old as the oldest kept is taken, and the older by ID goes.
func testPerDeviceCap(t *testing.T, open Opener) {
	s, _ := handle(t, open, store.Options{MaxPerDevice: 3})
	dev1 := KeyID(t, Key(1))
	var ids1 []uint64
	for i := range 5 {
		ids1 = append(ids1, mustAdd(t, s, Envelope(t, Key(1), report.Installed, T0.Add(time.Duration(i)*time.Minute))))
	}
	mustAdd(t, s, Envelope(t, Key(2), report.Installed, T0))
	got := list(t, s, store.Query{Device: dev1})
	if fmt.Sprint(ids(got)) != fmt.Sprint(ids1[2:]) {
		t.Fatalf("kept reports %v of device 1; want the newest 3, %v", ids(got), ids1[2:])
	}
	_, _, err := add(t, s, Envelope(t, Key(1), report.Installed, T0))
	var se *store.StaleError
	if !errors.As(err, &se) {
		t.Fatalf("Add of a report older than every one kept = %v, want a *StaleError", err)
	}
	if se.Device != dev1 || se.Max != 3 || !se.Time.Equal(T0) || !se.Oldest.Equal(T0.Add(2*time.Minute)) {
		t.Errorf("StaleError = %+v; want device 1, max 3, time %v, oldest %v", se, T0, T0.Add(2*time.Minute))
	}
	// The refused report stored nothing; an older report kept is found.
	if got := list(t, s, store.Query{Device: dev1}); fmt.Sprint(ids(got)) != fmt.Sprint(ids1[2:]) {
		t.Errorf("after a stale report, device 1 keeps %v, want %v", ids(got), ids1[2:])
	}
	if id, dup, err := add(t, s, Envelope(t, Key(1), report.Installed, T0.Add(2*time.Minute))); err != nil || !dup || id != ids1[2] {
		t.Errorf("Add of the oldest kept report again = %d, %v, %v; want duplicate %d", id, dup, err, ids1[2])
	}
	// As old as the oldest kept: taken, and that one goes.
	tie := mustAdd(t, s, Envelope(t, Key(1), report.Confirmed, T0.Add(2*time.Minute)))
	if got := list(t, s, store.Query{Device: dev1}); fmt.Sprint(ids(got)) != fmt.Sprint([]uint64{ids1[3], ids1[4], tie}) {
		t.Errorf("after a report as old as the oldest, device 1 keeps %v, want %v", ids(got), []uint64{ids1[3], ids1[4], tie})
	}
	// A report between the kept ones pushes out the oldest.
	mid := mustAdd(t, s, Envelope(t, Key(1), report.Refused, T0.Add(3*time.Minute+30*time.Second)))
	if got := list(t, s, store.Query{Device: dev1}); fmt.Sprint(ids(got)) != fmt.Sprint([]uint64{ids1[3], ids1[4], mid}) {
		t.Errorf("device 1 keeps %v, want %v", ids(got), []uint64{ids1[3], ids1[4], mid})
	}
	if got := list(t, s, store.Query{Device: KeyID(t, Key(2))}); len(got) != 1 {
		t.Errorf("device 2 has %d reports, want 1", len(got))
	}
	if n := devices(t, s); n != 2 {
		t.Errorf("Devices = %d, want 2", n)
	}
}

// testLoweredCap reopens a store with a lower MaxPerDevice: the next
// report of a device over it removes its oldest until one is free. The
// report removed can be the one of the highest ID given so far, removed
// before the new one is stored: IDs still go on increasing, across
// handles.
func testLoweredCap(t *testing.T, open Opener) {
	s, closeS := handle(t, open, store.Options{MaxPerDevice: 6})
	var last uint64
	for i := range 6 {
		last = mustAdd(t, s, Envelope(t, Key(1), report.Installed, T0.Add(time.Duration(i)*time.Minute)))
	}
	old := mustAdd(t, s, Envelope(t, Key(2), report.Installed, T0.Add(time.Hour)))
	highest := mustAdd(t, s, Envelope(t, Key(2), report.Installed, T0)) // device 2's oldest
	closeS()

	s, closeS = handle(t, open, store.Options{MaxPerDevice: 2})
	id2 := mustAdd(t, s, Envelope(t, Key(2), report.Confirmed, T0.Add(2*time.Hour)))
	if id2 <= highest {
		t.Errorf("a report stored as the report of ID %d was removed got ID %d: IDs must never go back", highest, id2)
	}
	if got := list(t, s, store.Query{Device: KeyID(t, Key(2))}); fmt.Sprint(ids(got)) != fmt.Sprint([]uint64{old, id2}) {
		t.Errorf("device 2 keeps %v, want [%d %d]", ids(got), old, id2)
	}
	newest := mustAdd(t, s, Envelope(t, Key(1), report.Confirmed, T0.Add(time.Hour)))
	if newest <= id2 {
		t.Errorf("ID %d after %d", newest, id2)
	}
	if got := list(t, s, store.Query{Device: KeyID(t, Key(1))}); fmt.Sprint(ids(got)) != fmt.Sprint([]uint64{last, newest}) {
		t.Errorf("with the cap lowered to 2, device 1 keeps %v; want [%d %d]", ids(got), last, newest)
	}
	closeS()
	s, _ = handle(t, open, store.Options{MaxPerDevice: 2})
	if again := mustAdd(t, s, Envelope(t, Key(3), report.Installed, T0)); again <= newest {
		t.Errorf("from another handle, a report got ID %d, not after %d", again, newest)
	}
}

// testDeviceCap is report/sqlite's: the reports of a device beyond
// MaxDevices are refused; the devices kept go on reporting.
func testDeviceCap(t *testing.T, open Opener) {
	s, _ := handle(t, open, store.Options{MaxDevices: 2})
	id1 := mustAdd(t, s, Envelope(t, Key(1), report.Installed, T0))
	mustAdd(t, s, Envelope(t, Key(2), report.Installed, T0))
	_, _, err := add(t, s, Envelope(t, Key(3), report.Installed, T0))
	var fe *store.DevicesFullError
	if !errors.As(err, &fe) || fe.Max != 2 {
		t.Errorf("Add of a third device's report = %v, want a *DevicesFullError of 2", err)
	}
	if _, _, err := add(t, s, Envelope(t, Key(1), report.Confirmed, T0.Add(time.Minute))); err != nil {
		t.Errorf("Add of the first device's next report = %v", err)
	}
	if id, dup, err := add(t, s, Envelope(t, Key(1), report.Installed, T0)); err != nil || !dup || id != id1 {
		t.Errorf("Add of a stored report when full = %d, %v, %v; want duplicate %d", id, dup, err, id1)
	}
	if n := devices(t, s); n != 2 {
		t.Errorf("Devices = %d, want 2", n)
	}
	if got := list(t, s, store.Query{Device: KeyID(t, Key(3))}); len(got) != 0 {
		t.Errorf("the refused device has reports %v", ids(got))
	}
}

// testCounts: a report stored counts in the hour it was received (the
// log's clock, not the device's), by outcome and reason; a duplicate and
// a refused report count nothing, and a report the per-device cap removes
// stays counted. since selects the hours from its own on, whatever its
// zone; another handle reads the same counts.
func testCounts(t *testing.T, open Opener) {
	ctx := context.Background()
	s, closeS := handle(t, open, store.Options{MaxPerDevice: 2, MaxDevices: 3})
	if got := Counts(t, s, time.Time{}); len(got) != 0 {
		t.Errorf("Counts of an empty store = %+v", got)
	}
	h := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC) // hour 0
	at := func(hour int, d time.Duration) time.Time { return h.Add(time.Duration(hour)*time.Hour + d) }
	type sent struct {
		key      int
		outcome  report.Outcome
		reason   report.Reason
		time     time.Duration // after T0, the device's
		received time.Time
		err      error // what Add answers: errDup, a *StaleError, a *DevicesFullError
	}
	errDup := errors.New("duplicate")
	for i, r := range []sent{
		{1, report.Installed, "", 0, at(0, 5*time.Minute), nil},
		{1, report.Refused, report.Digest, time.Minute, at(0, time.Hour-time.Millisecond), nil},
		{2, report.Refused, report.Rollback, 0, at(0, 10*time.Minute), nil},
		{3, report.Refused, report.Digest, 0, at(0, 30*time.Minute), nil},
		{2, report.Refused, report.Digest, time.Minute, at(1, 0), nil},
		// Device 1's third report: the cap removes its first, still
		// counted in hour 0.
		{1, report.Installed, "", 2 * time.Minute, at(1, 30*time.Minute), nil},
		{3, report.Confirmed, "", time.Minute, at(3, time.Millisecond), nil},
		// Counted nothing.
		{2, report.Refused, report.Rollback, 0, at(3, 0), errDup},
		{1, report.Installed, "", -time.Hour, at(3, 0), &store.StaleError{}},
		{4, report.Installed, "", 0, at(3, 0), &store.DevicesFullError{}},
	} {
		e := EnvelopeWhy(t, Key(r.key), r.outcome, r.reason, T0.Add(r.time))
		_, dup, err := s.Add(ctx, &store.Report{Envelope: e, Received: r.received})
		if dup && err == nil {
			err = errDup
		}
		if fmt.Sprintf("%T", err) != fmt.Sprintf("%T", r.err) || (r.err == errDup) != (err == errDup) {
			t.Fatalf("Add of report %d = %v, want %v", i, err, r.err)
		}
	}
	if got := list(t, s, store.Query{Device: KeyID(t, Key(1))}); len(got) != 2 {
		t.Fatalf("device 1 keeps %d reports, want 2 (the cap)", len(got))
	}
	c := func(hour int, outcome report.Outcome, reason report.Reason, n uint64) store.Count {
		return store.Count{Hour: at(hour, 0), Outcome: outcome, Reason: reason, N: n}
	}
	all := []store.Count{
		c(0, report.Installed, "", 1),
		c(0, report.Refused, report.Digest, 2),
		c(0, report.Refused, report.Rollback, 1),
		c(1, report.Installed, "", 1),
		c(1, report.Refused, report.Digest, 1),
		c(3, report.Confirmed, "", 1),
	}
	check := func(s store.Store) {
		t.Helper()
		for _, tc := range []struct {
			since time.Time
			want  []store.Count
		}{
			{time.Time{}, all},
			{at(-1000, 0), all},
			{at(0, 59*time.Minute).In(time.FixedZone("UTC+05:30", 5*3600+1800)), all},
			{at(1, 0), all[3:]},
			{at(1, 30*time.Minute), all[3:]},
			{at(2, 0), all[5:]},
			{at(3, time.Hour-time.Millisecond), all[5:]},
			{at(4, 0), nil},
		} {
			if got := Counts(t, s, tc.since); FormatCounts(got) != FormatCounts(tc.want) {
				t.Errorf("Counts(%v) =\n%s\nwant\n%s", tc.since, FormatCounts(got), FormatCounts(tc.want))
			}
		}
	}
	check(s)
	closeS()
	s, _ = handle(t, open, store.Options{MaxPerDevice: 2, MaxDevices: 3})
	check(s)
}

// testShared: what one handle adds, another finds, lists and answers as a
// duplicate at once, and the caps count the reports of both.
func testShared(t *testing.T, open Opener) {
	ctx := context.Background()
	o := store.Options{MaxPerDevice: 2, MaxDevices: 2}
	a, _ := handle(t, open, o)
	b, _ := handle(t, open, o)
	e := Envelope(t, Key(1), report.Installed, T0)
	id := mustAdd(t, a, e)
	if got, ok, err := b.Find(ctx, e); err != nil || !ok || got != id {
		t.Errorf("Find on the other handle = %d, %v, %v; want %d", got, ok, err, id)
	}
	if got := list(t, b, store.Query{}); len(got) != 1 || got[0].ID != id || string(got[0].Data) != string(e.Data) {
		t.Errorf("List on the other handle = %+v", got)
	}
	if got, dup, err := add(t, b, e); err != nil || !dup || got != id {
		t.Errorf("Add on the other handle = %d, %v, %v; want duplicate %d", got, dup, err, id)
	}
	idB := mustAdd(t, b, Envelope(t, Key(1), report.Confirmed, T0.Add(time.Minute)))
	idA := mustAdd(t, a, Envelope(t, Key(1), report.Confirmed, T0.Add(2*time.Minute)))
	if !(id < idB && idB < idA) {
		t.Errorf("IDs %d, %d, %d from two handles do not increase", id, idB, idA)
	}
	if got := list(t, a, store.Query{}); fmt.Sprint(ids(got)) != fmt.Sprint([]uint64{idB, idA}) {
		t.Errorf("kept %v, want [%d %d]: the cap counts both handles' reports", ids(got), idB, idA)
	}
	var se *store.StaleError
	if _, _, err := add(t, b, e); !errors.As(err, &se) {
		t.Errorf("Add on the other handle of the report removed = %v, want a *StaleError", err)
	}
	mustAdd(t, b, Envelope(t, Key(2), report.Installed, T0))
	var fe *store.DevicesFullError
	if _, _, err := add(t, a, Envelope(t, Key(3), report.Installed, T0)); !errors.As(err, &fe) {
		t.Errorf("a third device's report = %v, want a *DevicesFullError", err)
	}
	if n := devices(t, a); n != 2 {
		t.Errorf("Devices = %d, want 2", n)
	}
}

// An outcome of one Add.
type outcome struct {
	id  uint64
	dup bool
	err error
}

// testConcurrent adds reports of several devices from many goroutines
// spread over nHandles handles, every report by several of them in
// different orders, while another goroutine pages through the reports:
// each report is stored once, under one ID, every Add of it answers that
// ID, and the reader, listing after the last ID it saw, misses none.
func testConcurrent(t *testing.T, open Opener, nHandles int) {
	const (
		nDevices   = 4
		perDevice  = 12
		goroutines = 12
		copies     = 3 // goroutines that add each report
	)
	var handles []store.Store
	for range nHandles {
		s, _ := handle(t, open, store.Options{})
		handles = append(handles, s)
	}
	var envs []*report.Envelope
	for d := range nDevices {
		for i := range perDevice {
			envs = append(envs, Envelope(t, Key(10+d), report.Outcomes[i%len(report.Outcomes)], T0.Add(time.Duration(i)*time.Second)))
		}
	}
	results := make([][]outcome, len(envs))
	var mu sync.Mutex
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range goroutines {
		s := handles[g%len(handles)]
		wg.Go(func() {
			// Goroutine g adds the reports i with i%goroutines among
			// g..g+copies-1, forwards or backwards.
			order := make([]int, 0, len(envs))
			for i := range envs {
				if (i-g+goroutines)%goroutines < copies {
					order = append(order, i)
				}
			}
			if g%2 == 1 {
				slices.Reverse(order)
			}
			for _, i := range order {
				id, dup, err := s.Add(ctx, &store.Report{Envelope: envs[i], Received: time.Now()})
				mu.Lock()
				results[i] = append(results[i], outcome{id, dup, err})
				mu.Unlock()
			}
		})
	}
	// The reader pages after the last ID it saw, on the last handle.
	done := make(chan struct{})
	seen := map[uint64]bool{}
	var readErr error
	var rwg sync.WaitGroup
	rwg.Go(func() {
		var after uint64
		final := false
		for {
			out, more, err := handles[len(handles)-1].List(ctx, store.Query{After: after, Limit: 5})
			if err != nil {
				readErr = err
				return
			}
			for _, r := range out {
				if r.ID <= after || seen[r.ID] {
					readErr = fmt.Errorf("List after %d gave report %d again or out of order", after, r.ID)
					return
				}
				seen[r.ID] = true
				after = r.ID
			}
			if more {
				continue
			}
			if final {
				return
			}
			select {
			case <-done:
				final = true // one more pass, after the last Add
			default:
				time.Sleep(time.Millisecond)
			}
		}
	})
	wg.Wait()
	close(done)
	rwg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}

	byID := map[uint64]int{}
	for i, rs := range results {
		if len(rs) != copies {
			t.Fatalf("report %d was added %d times, want %d", i, len(rs), copies)
		}
		var id uint64
		news := 0
		for _, r := range rs {
			if r.err != nil {
				t.Fatalf("Add of report %d: %v", i, r.err)
			}
			if id != 0 && r.id != id {
				t.Errorf("Adds of report %d answered IDs %d and %d", i, id, r.id)
			}
			id = r.id
			if !r.dup {
				news++
			}
		}
		if news != 1 {
			t.Errorf("report %d was stored %d times, want once (%+v)", i, news, rs)
		}
		if j, ok := byID[id]; ok {
			t.Errorf("reports %d and %d have one ID, %d", j, i, id)
		}
		byID[id] = i
	}
	for _, s := range handles {
		got := list(t, s, store.Query{})
		if len(got) != len(envs) {
			t.Errorf("List = %d reports, want %d", len(got), len(envs))
		}
		for _, r := range got {
			if i, ok := byID[r.ID]; !ok || string(envs[i].Data) != string(r.Data) {
				t.Errorf("report %d is not the one Add answered it for", r.ID)
			}
		}
		if n := devices(t, s); n != nDevices {
			t.Errorf("Devices = %d, want %d", n, nDevices)
		}
		// Each report counts once, however many Adds it had.
		byOutcome := map[report.Outcome]uint64{}
		for _, c := range Counts(t, s, time.Time{}) {
			byOutcome[c.Outcome] += c.N
		}
		for _, o := range report.Outcomes {
			if want := uint64(len(envs) / len(report.Outcomes)); byOutcome[o] != want {
				t.Errorf("Counts of %s sum to %d, want %d", o, byOutcome[o], want)
			}
		}
	}
	if len(seen) != len(envs) {
		var missed []uint64
		for id := range byID {
			if !seen[id] {
				missed = append(missed, id)
			}
		}
		slices.Sort(missed)
		t.Errorf("the reader, paging while reports were added, missed reports %v", missed)
	}
}

// testConcurrentCaps adds reports of more devices than MaxDevices, more
// of each than MaxPerDevice, from many goroutines over nHandles handles:
// MaxDevices devices have reports, each device keeps exactly the newest
// MaxPerDevice of its reports (whatever the order they came in: a report
// the cap removed is stale when it comes again), and every refusal is a
// *StaleError or a *DevicesFullError.
func testConcurrentCaps(t *testing.T, open Opener, nHandles int) {
	const (
		nDevices   = 6
		perDevice  = 10
		goroutines = 12
	)
	o := store.Options{MaxPerDevice: 4, MaxDevices: 3}
	var handles []store.Store
	for range nHandles {
		s, _ := handle(t, open, o)
		handles = append(handles, s)
	}
	envs := make([][]*report.Envelope, nDevices)
	for d := range nDevices {
		for i := range perDevice {
			envs[d] = append(envs[d], Envelope(t, Key(20+d), report.Installed, T0.Add(time.Duration(i)*time.Minute)))
		}
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	var stored atomic.Uint64
	errs := make(chan error, goroutines*nDevices*perDevice)
	for g := range goroutines {
		s := handles[g%len(handles)]
		wg.Go(func() {
			// Every goroutine adds every report, in its own order: device
			// by device from device g, each device's reports forwards or
			// backwards.
			for k := range nDevices {
				d := (g + k) % nDevices
				for j := range perDevice {
					i := j
					if (g+k)%2 == 1 {
						i = perDevice - 1 - j
					}
					_, dup, err := s.Add(ctx, &store.Report{Envelope: envs[d][i], Received: time.Now()})
					if err == nil && !dup {
						stored.Add(1)
					}
					var se *store.StaleError
					var fe *store.DevicesFullError
					if err != nil && !errors.As(err, &se) && !errors.As(err, &fe) {
						errs <- fmt.Errorf("Add of device %d's report %d: %w", d, i, err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := handles[0]
	if n := devices(t, s); n != o.MaxDevices {
		t.Errorf("Devices = %d, want %d", n, o.MaxDevices)
	}
	kept := 0
	for d := range nDevices {
		got := list(t, s, store.Query{Device: KeyID(t, Key(20+d))})
		if len(got) == 0 {
			continue
		}
		kept++
		var want, have []string
		for _, e := range envs[d][perDevice-o.MaxPerDevice:] {
			want = append(want, string(e.Payload))
		}
		for _, r := range got {
			have = append(have, string(r.Payload))
		}
		slices.Sort(want)
		slices.Sort(have)
		if !slices.Equal(have, want) {
			var times []string
			for _, r := range got {
				times = append(times, r.Report.Time.Format(time.TimeOnly))
			}
			t.Errorf("device %d keeps %d reports, of times %v; want the newest %d", d, len(got), times, o.MaxPerDevice)
		}
	}
	if kept != o.MaxDevices {
		t.Errorf("%d devices have reports, want %d", kept, o.MaxDevices)
	}
	// Every report stored counts, the ones the cap removed too.
	var counted uint64
	for _, c := range Counts(t, s, time.Time{}) {
		counted += c.N
	}
	if counted != stored.Load() {
		t.Errorf("Counts sum to %d, want the %d reports stored", counted, stored.Load())
	}
}
