package audit_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
)

// TestReviewWebhookRedirectMarksDelivered (review13, finding 11).
//
// Deliver posts with the auditor's http.Client, which follows redirects:
// on 301/302/303 it re-sends the request as a GET without the body. An
// alert is marked delivered on the final 2xx, so a webhook URL that
// redirects (http to https, a moved endpoint, or anyone on an http path)
// swallows every alert: "delivered", never received, never sent again.
func TestReviewWebhookRedirectMarksDelivered(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	s.release(t, "a", "1.4.0", 5, fwtest.Release1)
	s.release(t, "b", "1.4.0", 5, fwtest.Release1) // equivocation
	s.release(t, "c", "1.5.0", 3, fwtest.Release1) // regression
	a := auditor(t, s.log.URL, t.TempDir())
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 2 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/hook" {
			http.Redirect(w, r, "/moved", http.StatusMovedPermanently)
			return
		}
		got = append(got, fmt.Sprintf("%s %s (%d bytes)", r.Method, r.URL.Path, len(body)))
	}))
	defer hook.Close()
	n, err := a.Deliver(ctx, hook.URL+"/hook")
	again, _ := a.Deliver(ctx, hook.URL+"/hook")
	t.Logf("Deliver = %d, %v; again = %d; the receiver saw %q", n, err, again, got)
	posts := 0
	for _, g := range got {
		if strings.HasPrefix(g, "POST") {
			posts++
		}
	}
	if n == 2 && posts == 0 {
		t.Errorf("LOST: both alerts marked delivered, and the receiver got no alert body")
	}
}

// TestReviewEntryAtRefetch (review13, finding 12).
//
// Each equivocation, security_regression, new_model or retroactive
// revoked_key alert re-reads the whole entry bundle of the earlier entry
// (entryAt: up to 256 × 64 KiB, no cache), inside the transaction of the
// bundle being judged. A release key holder (or the log) logging k such
// releases makes one step download k bundles; any one failing rolls the
// whole bundle back and the step starts over.
func TestReviewEntryAtRefetch(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	const k = 20
	for i := range k + 1 {
		s.release(t, fmt.Sprint("img", i), "1.4.0", 5, fwtest.Release1) // k second images of 1.4.0
	}
	var mu sync.Mutex
	fetches := 0
	target, _ := url.Parse(s.log.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	counter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/tile/entries/") {
			mu.Lock()
			fetches++
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	defer counter.Close()
	a := auditor(t, counter.URL, t.TempDir())
	res, err := a.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries in one bundle, %d alerts: %d entry-bundle downloads", res.Size, len(res.Alerts), fetches)
	if fetches > 2 {
		t.Errorf("AMPLIFICATION: %d downloads of the same entry bundle for one bundle of entries", fetches)
	}
}
