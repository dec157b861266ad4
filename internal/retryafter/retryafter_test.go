package retryafter

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(1999, 12, 31, 23, 59, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"120", 2 * time.Minute},
		{"Fri, 31 Dec 1999 23:59:59 GMT", 59 * time.Second},
		{"Fri, 31 Dec 1999 23:58:00 GMT", 0}, // past
		{"-1", 0},
		{"1.5", 0},
		{"99999999999", 0}, // past 2^31 seconds
		{"soon", 0},
	} {
		if got := Parse(tc.in, now); got != tc.want {
			t.Errorf("Parse(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
