//go:build cgo

package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
)

// TestReviewUnreachableLogNoAlert (review13, finding 7).
//
// docs/AUDIT.md: "A log that refuses probes, or cannot be reached, for
// longer than --max-merge-delay is a canary warning", and --max-stall
// defaults to the merge delay with a probe key. But fwctl audit submits
// the probe only after a Step that succeeded, and Step checks the stall
// only after it read the checkpoint. A log that stops answering (every
// path 503, or down) is therefore never alerted on: no canary warning, no
// stall, only "retrying" lines on stderr, for as long as it lasts. A log
// hiding from auditors while it serves devices is the case the canary
// is for.
//
// The control subtest takes down only the submission endpoint: the
// canary warning comes within the merge delay.
func TestReviewUnreachableLogNoAlert(t *testing.T) {
	for _, tc := range []struct {
		name string
		down func(r *http.Request) bool
	}{
		{"control: only POST /v1/entries is down", func(r *http.Request) bool { return r.Method == http.MethodPost }},
		{"the whole log is down", func(*http.Request) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := func(s string) string { return filepath.Join(dir, s) }
			l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}, ProbeKeys: []*keys.PrivateKey{fwtest.Prober}})
			pub, _ := fwtest.LogKey.Public().Marshal()
			os.WriteFile(p("log.pub"), pub, 0o644)
			pub, _ = fwtest.Release1.Public().Marshal()
			os.WriteFile(p("release.pub"), pub, 0o644)
			priv, _ := fwtest.Prober.MarshalPrivate()
			os.WriteFile(p("probe.key"), priv, 0o600)
			var down atomic.Bool
			target, _ := url.Parse(l.URL)
			proxy := httputil.NewSingleHostReverseProxy(target)
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if down.Load() && tc.down(r) {
					http.Error(w, "down", http.StatusServiceUnavailable)
					return
				}
				proxy.ServeHTTP(w, r)
			}))
			defer front.Close()
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(time.Second, func() { down.Store(true) })
			time.AfterFunc(5*time.Second, cancel)
			var out, errb bytes.Buffer
			code := run(ctx, &env{stdout: &out, stderr: &errb}, []string{"audit", "--log", front.URL, "--log-key", p("log.pub"), "--release-keys", p("release.pub"),
				"--state", p("state"), "--probe-key", p("probe.key"), "--interval", "200ms", "--max-merge-delay", "1s"})
			lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
			alertTypes := regexp.MustCompile(`"type":"[a-z_]+","severity":"[a-z]+"`).FindAllString(out.String(), -1)
			t.Logf("exit %d; 4 s down (merge delay and stall limit: 1 s); alerts on stdout: %v; stderr: %d lines, last: %q", code, alertTypes, len(lines), lines[len(lines)-1])
			if out.Len() == 0 {
				t.Errorf("NO ALERT: the log was unreachable for 4 s with --max-merge-delay 1s (and --max-stall 1s by default), and fwctl audit raised nothing")
			}
		})
	}
}
