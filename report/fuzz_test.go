package report_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/report"
)

// The seed corpora in testdata/fuzz are made by fwtest/vectors (make
// testdata): valid reports of each outcome by the test device, and mutated
// ones.

// FuzzParse holds Parse to its limits, and what it accepts to a report
// that round-trips and whose verification does not panic.
func FuzzParse(f *testing.F) {
	r := fwtest.Ring(f, device)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := report.Parse(data)
		if err != nil {
			return
		}
		if len(data) > report.MaxSize {
			t.Fatalf("Parse took %d bytes, more than %d", len(data), report.MaxSize)
		}
		if e.KeyID != e.Report.Device {
			t.Fatalf("Parse gave keyid %s for a report of device %s", e.KeyID, e.Report.Device)
		}
		roundTrip(t, e.Report)
		if got, id, err := e.Verify(context.Background(), r); err == nil && (id != got.Device || id != fwtest.KeyID(t, device)) {
			t.Fatalf("Verify = device %s, signer %s; only the test device's key is known", got.Device, id)
		}
	})
}

// FuzzParsePayload holds what ParsePayload accepts to a valid report that
// Marshal writes and ParsePayload reads back the same.
func FuzzParsePayload(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := report.ParsePayload(data)
		if err != nil {
			return
		}
		roundTrip(t, r)
	})
}

func roundTrip(t *testing.T, r *report.Report) {
	t.Helper()
	if err := r.Validate(); err != nil {
		t.Fatalf("a parsed report does not validate: %v", err)
	}
	out, err := r.Marshal()
	if err != nil {
		t.Fatalf("Marshal of a parsed report: %v", err)
	}
	again, err := report.ParsePayload(out)
	if err != nil {
		t.Fatalf("ParsePayload(Marshal(r)) = %v for %s", err, out)
	}
	if !again.Time.Equal(r.Time) {
		t.Fatalf("time %v came back as %v", r.Time, again.Time)
	}
	a, b := *r, *again
	a.Time = b.Time
	if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", b) {
		t.Fatalf("the report changed on a round trip:\n%+v\n%+v", a, b)
	}
}

// FuzzParseDevices holds ParseDevices to its limit, and every key it takes
// to one it finds again by its ID.
func FuzzParseDevices(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := report.ParseDevices(data)
		if err != nil {
			return
		}
		if d.Len() > report.MaxDevices {
			t.Fatalf("ParseDevices took %d keys", d.Len())
		}
		for _, id := range d.IDs() {
			p, ok := d.Lookup(id)
			if !ok {
				t.Fatalf("Lookup(%s) found nothing", id)
			}
			if got, _ := p.KeyID(); got != id {
				t.Fatalf("Lookup(%s) = the key %s", id, got)
			}
		}
	})
}
