package audit_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/fwtest"
)

// TestReviewCorruptTileFalseFork (review13, finding 4).
//
// Check (witness checkpoints, device reports, --checkpoint, deferred
// checkpoints) joins a smaller checkpoint to the verified tree with a
// consistency proof built from the log's hash tiles, which are not
// authenticated, and raises a critical fork when it fails. The auditor
// does not tell a proof that fails because the old root is not a prefix
// (a fork) from one that fails because the tile bytes are wrong (the
// proof does not even rebuild the verified root): a mirror, a cache or
// anyone on the path (no key) turns every genuine older checkpoint
// into a critical "split view" alert, and verify-evidence says the
// evidence proves it.
func TestReviewCorruptTileFalseFork(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	s.release(t, "a", "1.0.0", 1, fwtest.Release1)
	old, err := s.lc.Checkpoint(ctx) // a genuine checkpoint of size 2: what a device or a witness holds
	if err != nil {
		t.Fatal(err)
	}
	s.release(t, "b", "1.1.0", 2, fwtest.Release1)

	var mu sync.Mutex
	corrupt := false
	target, _ := url.Parse(s.log.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	direct := proxy.Director
	proxy.Director = func(r *http.Request) { direct(r); r.Header.Del("Accept-Encoding") }
	proxy.ModifyResponse = func(resp *http.Response) error {
		mu.Lock()
		defer mu.Unlock()
		if !corrupt || !strings.HasPrefix(resp.Request.URL.Path, "/tile/0/") {
			return nil
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = bytes.Clone(body)
		body[len(body)-1] ^= 1
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Del("Content-Length")
		return nil
	}
	mirror := httptest.NewServer(proxy)
	defer mirror.Close()

	a := auditor(t, mirror.URL, t.TempDir())
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 || res.Size != 4 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	mu.Lock()
	corrupt = true // one flipped bit in a hash tile
	mu.Unlock()
	res, err := a.Check(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Check of a genuine older checkpoint through a corrupting path: %v", types(res.Alerts))
	for _, al := range res.Alerts {
		left, err := audit.VerifyEvidence(al, logVerifier(t), nil)
		t.Logf("  %s: %s\n  verify-evidence: err=%v, left unchecked: %q", al.Type, al.Message, err, left)
		if al.Type == audit.TypeFork {
			t.Errorf("FALSE FORK: two genuine checkpoints of one honest log reported as a split view (critical), evidence accepted: %v", err == nil)
		}
	}
}

// TestReviewBadTilesStripEvidence (review13, finding 9b).
//
// Entry alerts carry inclusion proofs read from the log's hash tiles.
// When those do not verify, raise() stores the alert without proofs (and
// one bad_tile alert per checkpoint). A log that serves wrong hash tiles
// while the auditor reads (it cannot hide the entries: they hash to the
// checkpoint) makes every entry alert's evidence fail verify-evidence:
// the true equivocation below is "not proven" offline.
func TestReviewBadTilesStripEvidence(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	s.release(t, "a", "1.4.0", 5, fwtest.Release1)
	s.release(t, "b", "1.4.0", 5, fwtest.Release1) // a true equivocation
	target, _ := url.Parse(s.log.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	direct := proxy.Director
	proxy.Director = func(r *http.Request) { direct(r); r.Header.Del("Accept-Encoding") }
	proxy.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasPrefix(resp.Request.URL.Path, "/tile/0/") {
			return nil
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = bytes.Clone(body)
		for i := range body {
			body[i] ^= 0xff
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.Header.Del("Content-Length")
		return nil
	}
	mirror := httptest.NewServer(proxy)
	defer mirror.Close()
	a := auditor(t, mirror.URL, t.TempDir())
	res, err := a.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, al := range res.Alerts {
		_, verr := audit.VerifyEvidence(al, logVerifier(t), nil)
		t.Logf("%s: verify-evidence: %v", al.Type, verr)
		if al.Type == audit.TypeEquivocation && verr != nil {
			t.Errorf("TRUE ALERT NOT PROVABLE: the equivocation's evidence has no inclusion proofs")
		}
	}
}
