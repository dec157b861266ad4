package cli

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestLoggerDurations shows durations written as Go writes them, in JSON
// and in text.
func TestLoggerDurations(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var b bytes.Buffer
		l, err := newLogger(&b, "info", format)
		if err != nil {
			t.Fatal(err)
		}
		l.Info("waited", "d", 1500*time.Millisecond)
		if format == "json" {
			var rec map[string]any
			if err := json.Unmarshal(b.Bytes(), &rec); err != nil {
				t.Fatal(err)
			}
			if rec["d"] != "1.5s" {
				t.Errorf("JSON duration = %#v; want \"1.5s\"", rec["d"])
			}
		} else if !bytes.Contains(b.Bytes(), []byte(" d=1.5s")) {
			t.Errorf("text line %q; want d=1.5s", b.String())
		}
	}
}

func TestBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Bytes
		ok   bool
		str  string
	}{
		{"65536", 65536, true, "64KiB"},
		{"64MiB", 64 << 20, true, "64MiB"},
		{"1GiB", 1 << 30, true, "1GiB"},
		{"1000", 1000, true, "1000"},
		{"0", 0, true, "0"},
		{"-1", 0, false, ""},
		{"64MB", 0, false, ""},
		{"KiB", 0, false, ""},
		{"9000000000GiB", 0, false, ""},
	} {
		var b Bytes
		err := b.Set(tc.in)
		if (err == nil) != tc.ok || (tc.ok && (b != tc.want || b.String() != tc.str)) {
			t.Errorf("Set(%q) = %v, %d (%s); want ok %v, %d (%s)", tc.in, err, b, b.String(), tc.ok, tc.want, tc.str)
		}
	}
}
