package explorer_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fwledger/fwledger/explorer"
	"github.com/fwledger/fwledger/ledger"
)

// FuzzParseQuery: any text either is refused, or gives searches whose
// digests are lowercase hex of the right length (what ledger.Find takes).
// The seed corpus is in testdata/fuzz/FuzzParseQuery.
func FuzzParseQuery(f *testing.F) {
	f.Add("d20249896262f19d1f5b3efb001b8e11917969a2f8046fb2105b8a9940374948  fw.bin")
	f.Add("acme-x1 1.4.0")
	f.Fuzz(func(t *testing.T, q string) {
		secs, err := explorer.ParseQuery(q)
		if err != nil {
			if len(q) <= explorer.MaxQuery && utf8.ValidString(q) {
				t.Fatalf("ParseQuery(%q) refused a valid query: %v", q, err)
			}
			return
		}
		if strings.TrimSpace(q) == "" && secs != nil {
			t.Fatalf("ParseQuery(%q) = %v for an empty query", q, secs)
		}
		for _, sec := range secs {
			qq := sec.Query
			switch qq.Search {
			case ledger.ByImage, ledger.ByEntryDigest, ledger.RevocationsOf:
				if len(qq.Value) != 64 || strings.ToLower(qq.Value) != qq.Value {
					t.Fatalf("ParseQuery(%q): digest search with value %q", q, qq.Value)
				}
			case ledger.ByImage512:
				if len(qq.Value) != 128 || strings.ToLower(qq.Value) != qq.Value {
					t.Fatalf("ParseQuery(%q): sha512 search with value %q", q, qq.Value)
				}
			}
		}
	})
}
