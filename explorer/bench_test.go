package explorer_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
)

// BenchmarkPages renders each kind of page of a small log over loopback
// HTTP (the 10^6-entry figures come from scripts/bench-explorer.sh).
func BenchmarkPages(b *testing.B) {
	s := startRichSite(b)
	sum := fmt.Sprintf("%x", sha256Sum(s.Image))
	for _, p := range []struct{ name, path string }{
		{"home", "/"},
		{"release", fmt.Sprintf("/entries/%d", s.Release)},
		{"provenance", fmt.Sprintf("/entries/%d", s.Provenance)},
		{"search_digest", "/search?q=" + sum},
		{"search_model", "/search?q=acme-x1"},
		{"search_key", "/search?q=" + fwtest.KeyID(b, fwtest.Release1)},
		{"model", "/models/acme-x1"},
		{"reports", "/reports"},
	} {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				resp, err := http.Get(s.URL + p.path)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("GET %s: %s", p.path, resp.Status)
				}
			}
		})
	}
}
