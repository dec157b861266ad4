package transport

import (
	"fmt"
	"testing"
)

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in                 string
		first, last, total int64
		ok                 bool
	}{
		{"bytes 0-99/100", 0, 99, 100, true},
		{"bytes 50-99/*", 50, 99, -1, true},
		{"bytes */100", -1, -1, 100, true},
		{"bytes 0-0/1", 0, 0, 1, true},
		{"bytes 0-100/100", 0, 0, 0, false}, // last past the end
		{"bytes 10-9/100", 0, 0, 0, false},
		{"bytes */*", 0, 0, 0, false},
		{"bytes -1-9/100", 0, 0, 0, false},
		{"bytes +1-9/100", 0, 0, 0, false},
		{"bytes 1-9/1e3", 0, 0, 0, false},
		{"bytes 0-99/9999999999999999999", 0, 0, 0, false},
		{"items 0-99/100", 0, 0, 0, false},
		{"bytes 0-99", 0, 0, 0, false},
		{"bytes  0-99/100", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	} {
		first, last, total, err := parseContentRange(tc.in)
		if (err == nil) != tc.ok || (tc.ok && (first != tc.first || last != tc.last || total != tc.total)) {
			t.Errorf("parseContentRange(%q) = %d, %d, %d, %v; want %d, %d, %d, ok %v", tc.in, first, last, total, err, tc.first, tc.last, tc.total, tc.ok)
		}
	}
}

// FuzzParseContentRange checks that what parses is a consistent range,
// and that its canonical form parses to the same.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes 50-99/*", "bytes */100", "bytes 10-9/100", "bytes 007-9/10", "bytes 0-99/9999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, total, err := parseContentRange(s)
		if err != nil {
			return
		}
		var canon string
		switch {
		case first < 0 && last == -1 && total >= 0:
			canon = fmt.Sprintf("bytes */%d", total)
		case first < 0 || last < first || (total >= 0 && last >= total):
			t.Fatalf("parseContentRange(%q) = %d, %d, %d: inconsistent", s, first, last, total)
		case total < 0:
			canon = fmt.Sprintf("bytes %d-%d/*", first, last)
		default:
			canon = fmt.Sprintf("bytes %d-%d/%d", first, last, total)
		}
		f2, l2, t2, err := parseContentRange(canon)
		if err != nil || f2 != first || l2 != last || t2 != total {
			t.Fatalf("parseContentRange(%q) = %d, %d, %d, %v; parseContentRange(%q) = %d, %d, %d", canon, f2, l2, t2, err, s, first, last, total)
		}
	})
}

// FuzzParsePin checks that a parsed pin has 32 bytes and formats back to
// its input.
func FuzzParsePin(f *testing.F) {
	for _, s := range []string{"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "sha256/AAAA", "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pin, err := ParsePin(s)
		if err != nil {
			return
		}
		if len(pin) != 32 || FormatPin(pin) != s {
			t.Fatalf("ParsePin(%q) = %x, which formats as %q", s, pin, FormatPin(pin))
		}
	})
}
