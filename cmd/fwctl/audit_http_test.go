//go:build cgo

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/internal/webui"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
)

// lockedBuffer is a bytes.Buffer a running command writes while a test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestAuditHTTP: fwctl audit --http, given the same address for --metrics,
// serves the auditor's page and its metrics from one listener while it
// follows a log where a second image was logged as 1.4.0; the alert's
// evidence download is byte for byte the line fwctl audit alerts --json
// prints, and fwctl audit verify-evidence accepts it.
func TestAuditHTTP(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder}})
	lc, _ := logclient.New(l.URL, nil)
	for _, seed := range []string{"genuine", "second image"} {
		img := fwtest.Image(seed, 1000)
		prov := fwtest.Provenance(t, img, fwtest.Builder)
		res, err := lc.AddAll(ctx, [][]byte{prov, fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
			r.Provenance = []digest.Digest{sha256.Sum256(prov)}
		}), fwtest.Release1)})
		if err != nil {
			t.Fatal(err)
		}
		l.WaitSize(t, res[1].Index+1)
	}
	for name, k := range map[string]*keys.PrivateKey{"log": fwtest.LogKey, "release": fwtest.Release1, "builder": fwtest.Builder} {
		pub, _ := k.Public().Marshal()
		os.WriteFile(p(name+".pub"), pub, 0o644)
	}

	if code, out, _ := fwctl(t, "audit", "--help"); code != 0 || !strings.Contains(out, "-http ADDR") || !strings.Contains(out, "web page") {
		t.Errorf("fwctl audit --help = %d, without --http:\n%s", code, out)
	}

	runCtx, stop := context.WithCancel(ctx)
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(runCtx, &env{stdout: &stdout, stderr: &stderr}, []string{"audit", "--log", l.URL, "--log-key", p("log.pub"),
			"--release-keys", p("release.pub"), "--builder-keys", p("builder.pub"), "--state", p("state"), "--interval", "100ms",
			"--http", "127.0.0.1:0", "--metrics", "127.0.0.1:0"})
	}()
	stopped := false
	defer func() {
		if !stopped {
			stop()
			<-done
		}
	}()
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == "" || !strings.Contains(stdout.String(), "\n"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("fwctl audit --http did not start, or raised no alert:\n%s%s", stdout.String(), stderr.String())
		}
		if m := regexp.MustCompile(`pages at (http://[0-9.:]+)/, metrics at http://[0-9.:]+/metrics`).FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
		}
	}
	if strings.Contains(stderr.String(), "audit: metrics at") {
		t.Errorf("--metrics with the --http address started a second listener:\n%s", stderr.String())
	}
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("Content-Security-Policy") != webui.CSP || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no security headers: %v", path, resp.Header)
		}
		return resp, body
	}
	resp, page := get("/")
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte("equivocation")) || !bytes.Contains(page, []byte(`href="/alerts/1"`)) {
		t.Fatalf("GET / = %s:\n%s", resp.Status, page)
	}
	if resp, body := get("/metrics"); resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`fwaudit_alerts_total{severity="critical",type="equivocation"} 1`)) ||
		!bytes.Contains(body, []byte("fwaudit_http_refused_total 0")) {
		t.Errorf("GET /metrics = %s:\n%s", resp.Status, body)
	}
	resp, evidence := get("/alerts/1/evidence.json")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Disposition") != `attachment; filename="alert-1.json"` {
		t.Fatalf("GET /alerts/1/evidence.json = %s, %q", resp.Status, resp.Header.Get("Content-Disposition"))
	}
	if !bytes.Equal(evidence, []byte(stdout.String())) {
		t.Errorf("the download is not the alert's line on stdout:\n%s\n%s", evidence, stdout.String())
	}
	stop()
	stopped = true
	if code := <-done; code != 0 {
		t.Errorf("fwctl audit --http stopped with %d:\n%s", code, stderr.String())
	}

	os.WriteFile(p("alert-1.json"), evidence, 0o644)
	if code, got, errs := fwctl(t, "audit", "verify-evidence", "--log-key", p("log.pub"), p("alert-1.json")); code != 0 || !strings.Contains(got, "ok: the evidence proves the equivocation alert") {
		t.Fatalf("fwctl audit verify-evidence of the download = %d: %s%s", code, got, errs)
	}
	if code, out, errs := fwctl(t, "audit", "alerts", "--state", p("state"), "--json"); code != 0 || out != string(evidence) {
		t.Errorf("fwctl audit alerts --json = %d:\n%s\nthe download:\n%s%s", code, out, evidence, errs)
	}
}
