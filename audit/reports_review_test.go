package audit_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
)

// TestReviewReportsPaginationUnbounded (review13, finding 5).
//
// Reported follows page.Next for as long as the log gives one, with no
// bound on pages and no check that "next" moves forward. A log (or a
// mirror, or anyone on an http path) that answers GET /v1/reports with an
// empty page and the same "next" keeps Reported, and so the whole poll
// loop of fwctl audit (Step, Witnessed, Reported, probe, webhook run in
// sequence), in an endless loop: the auditor stops following the log
// without an error or an alert. A "next" far ahead is stored as
// reports_after, so the reports devices send later are never read.
func TestReviewReportsPaginationUnbounded(t *testing.T) {
	ctx := context.Background()
	f := newFakeLog(t)
	f.add(t, fwtest.Provenance(t, fwtest.Image("x", 10), fwtest.Builder))
	f.publish(t, 1)
	var mu sync.Mutex
	var queries []string
	const stopAfter = 2000
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v1/reports" {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		queries = append(queries, r.URL.RawQuery)
		if len(queries) >= stopAfter {
			// Only so that the test ends: the auditor itself never stops.
			http.Error(w, "test over", http.StatusServiceUnavailable)
			return true
		}
		fmt.Fprint(w, `{"reports":[],"next":7}`)
		return true
	}
	a := plainAuditor(t, f.srv.URL, nil)
	if _, err := a.Step(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := a.Reported(ctx)
	mu.Lock()
	n := len(queries)
	mu.Unlock()
	t.Logf("Reported returned %v after %d page requests (%q)", err, n, queries)
	if n >= stopAfter {
		t.Errorf("UNBOUNDED: Reported fetched %d pages of an empty list with the same \"next\"; only the test's server stopped it", n)
	}

	// A "next" far ahead is kept: later reports are never read.
	mu.Lock()
	queries = nil
	mu.Unlock()
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v1/reports" {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		queries = append(queries, r.URL.RawQuery)
		if len(queries) == 1 {
			fmt.Fprint(w, `{"reports":[],"next":9000000000000000000}`)
		} else {
			fmt.Fprint(w, `{"reports":[]}`)
		}
		return true
	}
	a2 := plainAuditor(t, f.srv.URL, nil)
	a2.Step(ctx)
	a2.Reported(ctx)
	a2.Reported(ctx)
	t.Logf("queries: %q", queries)
	if last := queries[len(queries)-1]; last == "after=9000000000000000000" {
		t.Errorf("SUPPRESSED: one forged page moved reports_after to 9e18 for good; every later poll asks %q", last)
	}
}
