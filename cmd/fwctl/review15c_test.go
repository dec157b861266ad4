//go:build cgo

package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
)

// TestReview15cMetricsBypassesPages: on the --http listener, /metrics is
// routed around the pages' handler: it takes any method (POST, DELETE...
// answered 200 with the metrics, where docs/AUDIT.md says of the pages
// "GET and HEAD; anything else is 405 with Allow: GET, HEAD"), and it
// runs outside the pages' Limiter, so any number of unauthenticated
// scrapes (each gathering the Go and process collectors) run at once on
// the address the pages share, never answered 503. Suggested fix: wrap
// the metrics handler like the pages (method check, and a Limiter or
// promhttp's MaxRequestsInFlight), or serve it only under --metrics.
func TestReview15cMetricsBypassesPages(t *testing.T) {
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}})
	for name, k := range map[string]*keys.PrivateKey{"log": fwtest.LogKey, "release": fwtest.Release1} {
		pub, _ := k.Public().Marshal()
		os.WriteFile(p(name+".pub"), pub, 0o644)
	}
	ctx, stop := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &env{stdout: &stdout, stderr: &stderr}, []string{"audit", "--log", l.URL, "--log-key", p("log.pub"),
			"--release-keys", p("release.pub"), "--state", p("state"), "--interval", "1s", "--http", "127.0.0.1:0"})
	}()
	defer func() { stop(); <-done }()
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("fwctl audit --http did not start:\n%s", stderr.String())
		}
		if m := regexp.MustCompile(`pages at (http://[0-9.:]+)/`).FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
		}
	}
	for _, m := range []string{"POST", "DELETE", "PUT"} {
		req, _ := http.NewRequest(m, base+"/metrics", strings.NewReader("x"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /metrics on the pages' address = %s, Allow %q; want 405 and GET, HEAD as every other path there", m, resp.Status, resp.Header.Get("Allow"))
		}
	}
}
