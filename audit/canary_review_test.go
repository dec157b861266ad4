package audit_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
)

// TestReviewCanarySilencedByHugeIndex (review13, finding 6).
//
// The canary exists against a log that acknowledges entries and does not
// log them. Such a log that answers a probe with an index of 2^63 or more
// (and the right leaf hash) makes Auditor.Probe fail on the INSERT (the
// SQLite driver refuses uint64 values with the high bit set): the probe
// is neither recorded as pending nor counted as refused, so no canary
// alert (critical or warning) is ever raised. fwctl audit prints the
// error to stderr and goes on.
func TestReviewCanarySilencedByHugeIndex(t *testing.T) {
	ctx := context.Background()
	l := canaryLog(t)
	clk := &clock{now: time.Now()}
	target, _ := url.Parse(l.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			proxy.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		// Acknowledged, and dropped.
		json.NewEncoder(w).Encode(map[string]any{"index": uint64(1) << 63, "leaf_hash": hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(body))})
	}))
	defer liar.Close()
	a := canaryAuditor(t, l.URL, liar.URL, clk, nil)
	var alerts int
	var lastErr error
	for range 10 { // ten polls, 40 s apart, with a maximum merge delay of a minute
		res, err := a.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		alerts += len(res.Alerts)
		pres, err := a.Probe(ctx)
		alerts += len(pres.Alerts)
		lastErr = err
		clk.Add(40 * time.Second)
	}
	n, _, _ := a.PendingProbes(ctx)
	all, _ := a.Alerts(ctx)
	t.Logf("after 400 s: %d alerts, %d pending probes; Probe's error: %v", len(all), n, lastErr)
	if len(all) == 0 {
		t.Errorf("SILENCED: the log dropped every probe for 400 s (max merge delay 60 s) and the canary raised nothing")
	}
}
