package sqlite_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/report"
	"github.com/fwledger/fwledger/report/sqlite"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// envelope returns a parsed report of k at the device's time at.
func envelope(t *testing.T, k *keys.PrivateKey, outcome report.Outcome, at time.Time) *report.Envelope {
	t.Helper()
	r := &report.Report{Model: "acme-x1", Channel: "stable", Outcome: outcome, Image: sha256.Sum256([]byte("image")),
		Version: "1.4.0", SecurityVersion: 7, LogIndex: 3, HasRelease: true, Time: at}
	if !outcome.Succeeded() {
		r.Reason = report.Digest
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

func open(t *testing.T, dir string, o sqlite.Options) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func add(t *testing.T, s *sqlite.Store, e *report.Envelope) (uint64, bool, error) {
	t.Helper()
	return s.Add(context.Background(), &sqlite.Report{Envelope: e, Received: time.Now()})
}

func list(t *testing.T, s *sqlite.Store, q sqlite.Query) []sqlite.Report {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 100
	}
	out, _, err := s.List(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAddListRestart(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, sqlite.Options{})
	e1 := envelope(t, fwtest.Device1, report.Installed, t0)
	e2 := envelope(t, fwtest.Device2, report.Refused, t0)
	id1, dup, err := add(t, s, e1)
	if err != nil || dup {
		t.Fatalf("Add = %d, %v, %v", id1, dup, err)
	}
	id2, _, err := add(t, s, e2)
	if err != nil || id2 <= id1 {
		t.Fatalf("Add = %d, %v; want an ID after %d", id2, err, id1)
	}
	if id, dup, err := add(t, s, e1); err != nil || !dup || id != id1 {
		t.Errorf("Add of a stored report = %d, %v, %v; want %d, duplicate", id, dup, err, id1)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, sqlite.Options{})
	all := list(t, s, sqlite.Query{})
	if len(all) != 2 || all[0].ID != id1 || string(all[0].Data) != string(e1.Data) || all[1].Report.Outcome != report.Refused {
		t.Fatalf("List after a restart = %+v", all)
	}
	if got := list(t, s, sqlite.Query{Device: e2.KeyID}); len(got) != 1 || got[0].ID != id2 {
		t.Errorf("List of device 2 = %+v", got)
	}
	if got := list(t, s, sqlite.Query{Outcome: report.Installed}); len(got) != 1 || got[0].ID != id1 {
		t.Errorf("List of installed = %+v", got)
	}
	if got := list(t, s, sqlite.Query{After: id1}); len(got) != 1 || got[0].ID != id2 {
		t.Errorf("List after %d = %+v", id1, got)
	}
	page, more, err := s.List(context.Background(), sqlite.Query{Limit: 1})
	if err != nil || len(page) != 1 || !more {
		t.Errorf("List of 1 = %d reports, more %v, %v; want 1 and more", len(page), more, err)
	}
	if n, err := s.Devices(context.Background()); n != 2 || err != nil {
		t.Errorf("Devices = %d, %v; want 2", n, err)
	}
}

// TestPerDeviceCap keeps the newest reports of a device, by its time, and
// refuses one older than all it keeps: a replay of a report the cap
// removed cannot push out a newer one.
func TestPerDeviceCap(t *testing.T) {
	s := open(t, t.TempDir(), sqlite.Options{MaxPerDevice: 3})
	var ids []uint64
	for i := range 5 {
		id, _, err := add(t, s, envelope(t, fwtest.Device1, report.Installed, t0.Add(time.Duration(i)*time.Minute)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	add(t, s, envelope(t, fwtest.Device2, report.Installed, t0))
	got := list(t, s, sqlite.Query{Device: fwtest.KeyID(t, fwtest.Device1)})
	if len(got) != 3 || got[0].ID != ids[2] || got[2].ID != ids[4] {
		t.Fatalf("kept %d reports of device 1, from ID %d; want 3, the newest (IDs %v)", len(got), got[0].ID, ids[2:])
	}
	_, _, err := add(t, s, envelope(t, fwtest.Device1, report.Installed, t0))
	var se *sqlite.StaleError
	if !errors.As(err, &se) {
		t.Errorf("Add of a report older than every one kept = %v, want a *StaleError", err)
	}
	if got := list(t, s, sqlite.Query{Device: fwtest.KeyID(t, fwtest.Device2)}); len(got) != 1 {
		t.Errorf("device 2 has %d reports, want 1", len(got))
	}
}

func TestDeviceCap(t *testing.T) {
	s := open(t, t.TempDir(), sqlite.Options{MaxDevices: 1})
	if _, _, err := add(t, s, envelope(t, fwtest.Device1, report.Installed, t0)); err != nil {
		t.Fatal(err)
	}
	_, _, err := add(t, s, envelope(t, fwtest.Device2, report.Installed, t0))
	var fe *sqlite.DevicesFullError
	if !errors.As(err, &fe) {
		t.Errorf("Add of a second device's report = %v, want a *DevicesFullError", err)
	}
	if _, _, err := add(t, s, envelope(t, fwtest.Device1, report.Confirmed, t0.Add(time.Minute))); err != nil {
		t.Errorf("Add of the first device's next report = %v", err)
	}
}
