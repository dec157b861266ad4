package web

import (
	"strconv"
	"testing"
)

// TestParseID: IDs as the pages write them parse; anything else, also
// other spellings of a valid ID, does not.
func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64 // 0: an error
	}{
		{"1", 1},
		{"50", 50},
		{"9223372036854775807", 1<<63 - 1},
		{"9223372036854775808", 0},
		{"99999999999999999999", 0},
		{"0", 0},
		{"00", 0},
		{"01", 0},
		{"-1", 0},
		{"+1", 0},
		{" 1", 0},
		{"1 ", 0},
		{"1e3", 0},
		{"0x10", 0},
		{"", 0},
		{"١", 0}, // ARABIC-INDIC DIGIT ONE
		{"1\x00", 0},
	} {
		got, err := parseID(tc.in)
		if tc.want == 0 {
			if err == nil {
				t.Errorf("parseID(%q) = %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseID(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParseID: what parseID takes is exactly the decimal spelling of a
// positive int64 (so each alert has one address), and it never panics.
// The seed corpus is in testdata/fuzz/FuzzParseID.
func FuzzParseID(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseID(s)
		if err != nil {
			if v, perr := strconv.ParseInt(s, 10, 64); perr == nil && v > 0 && strconv.FormatInt(v, 10) == s {
				t.Fatalf("parseID(%q) = %v, want %d", s, err, v)
			}
			return
		}
		if n <= 0 || strconv.FormatInt(n, 10) != s {
			t.Fatalf("parseID(%q) = %d, which is not its spelling", s, n)
		}
	})
}
