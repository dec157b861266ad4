package ledger

import (
	"strconv"
	"testing"
)

// FuzzParseUint checks that path and query integers are accepted only in
// canonical decimal form.
func FuzzParseUint(f *testing.F) {
	for _, s := range []string{"0", "7", "01", "-1", "+1", "9223372036854775807", "9223372036854775808", " 1", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseUint("x", s)
		if err != nil {
			return
		}
		if strconv.FormatUint(n, 10) != s || n >= 1<<63 {
			t.Fatalf("parseUint(%q) = %d", s, n)
		}
	})
}
