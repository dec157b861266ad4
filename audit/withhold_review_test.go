package audit_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/provenance"
)

// TestReviewWithheldBundleSuppressesEquivocation (review13, finding 7b).
//
// To raise an equivocation (and a security_regression, new_model or
// retroactive revoked_key) alert, the rules read the earlier entry again
// from the log (entryAt), inside the transaction of the bundle being
// judged. A log that serves an entry bundle once and refuses it after
// (404) makes that read fail: the bundle's transaction rolls back, Step
// returns an error, and the next step fails the same way, forever. The
// equivocation is never raised, nothing after it is read, no stall alert
// (checkStall runs only after a successful catch-up) and, in fwctl audit,
// no probe, no witness or device check: only "retrying" on stderr.
func TestReviewWithheldBundleSuppressesEquivocation(t *testing.T) {
	ctx := context.Background()
	imgA, imgB := fwtest.Image("genuine 1.0.0", 2000), fwtest.Image("second image 1.0.0", 2000)
	provA, provB := fwtest.Provenance(t, imgA, fwtest.Builder), fwtest.Provenance(t, imgB, fwtest.Builder)
	rel := func(img, prov []byte) []byte {
		return fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
			r.Version, r.SecurityVersion = "1.0.0", 1
			r.Provenance = []digest.Digest{sha256.Sum256(prov)}
		}), fwtest.Release1)
	}
	f := newFakeLog(t)
	f.add(t, provA, rel(imgA, provA))
	f.publish(t, 2)
	clk := &clock{now: time.Now()}
	a := plainAuditor(t, f.srv.URL, func(c *audit.Config) { c.Now, c.MaxStall = clk.Now, time.Minute })
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	// The second image of 1.0.0, in the same bundle; the log serves each
	// bundle path once.
	f.add(t, provB, rel(imgB, provB))
	f.publish(t, 4)
	var mu sync.Mutex
	served := map[string]int{}
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		served[r.URL.Path]++
		if r.URL.Path == "/tile/entries/000.p/4" && served[r.URL.Path] > 1 {
			http.NotFound(w, r)
			return true
		}
		return false
	}
	var lastErr error
	for range 10 { // 10 polls over an hour
		res, err := a.Step(ctx)
		if res != nil && len(res.Alerts) > 0 {
			t.Logf("alerts: %v", types(res.Alerts))
		}
		lastErr = err
		clk.Add(6 * time.Minute)
	}
	all, _ := a.Alerts(ctx)
	t.Logf("after an hour: %d alerts; the last step's error: %v", len(all), lastErr)
	if len(all) == 0 {
		t.Errorf("SUPPRESSED: the second image of acme-x1 1.0.0 is in the log's signed tree; no equivocation, and no alert of any kind (stall limit: 1 min) in an hour")
	}
}
