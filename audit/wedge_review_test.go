package audit_test

import (
	"bytes"
	"context"
	"encoding/binary"
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
	"github.com/fwledger/fwledger/tiles"
)

// TestReviewWedgeAfterOneCorruptBundle (review13, finding 1).
//
// catchUp commits each entry bundle's leaves into the stored compact range
// (and its rule index) before the root is checked against the
// checkpoint. When the root does not match (tree_mismatch), nothing is
// rolled back: progress.Size/Range keep the bad leaves, and every later
// step appends to them, so no checkpoint ever verifies again.
//
// One corrupted entry-bundle response, from anyone on the path to the log
// or a mirror (no key needed), therefore:
//   - replaces what the auditor judges at that index (here a release by
//     a key the auditor does not trust is replaced by a copy of a good
//     release: its release_signature alert is never raised, even once the
//     network is honest again);
//   - wedges the auditor for good: the verified size never moves again,
//     and each new checkpoint of the log is one more critical
//     tree_mismatch alert.
func TestReviewWedgeAfterOneCorruptBundle(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	good := s.release(t, "a", "1.0.0", 1, fwtest.Release1) // provenance at 0, release at 1

	// A proxy (a mirror, or anyone on the path) that corrupts one entry
	// bundle response once: the entry at index bad becomes entry good.
	var mu sync.Mutex
	corrupt := false
	var bad uint64
	target, _ := url.Parse(s.log.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	direct := proxy.Director
	proxy.Director = func(r *http.Request) { direct(r); r.Header.Del("Accept-Encoding") }
	proxy.ModifyResponse = func(resp *http.Response) error {
		mu.Lock()
		defer mu.Unlock()
		if !corrupt || !strings.HasPrefix(resp.Request.URL.Path, "/tile/entries/") {
			return nil
		}
		corrupt = false
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		entries, err := tiles.SplitBundle(body)
		if err != nil || uint64(len(entries)) <= bad {
			t.Errorf("unexpected bundle: %v", err)
			return nil
		}
		entries[bad] = entries[good]
		var out []byte
		for _, e := range entries {
			out = binary.BigEndian.AppendUint16(out, uint16(len(e)))
			out = append(out, e...)
		}
		resp.Body = io.NopCloser(bytes.NewReader(out))
		resp.ContentLength = int64(len(out))
		resp.Header.Del("Content-Length")
		return nil
	}
	mirror := httptest.NewServer(proxy)
	defer mirror.Close()

	a := auditor(t, mirror.URL, t.TempDir())
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 || res.Size != 2 {
		t.Fatalf("first step = %+v, %v", res, err)
	}

	// A release signed by Release2, a key the auditor does not trust: a
	// release_signature alert is due at its index.
	bad = s.release(t, "b", "1.1.0", 2, fwtest.Release2)
	mu.Lock()
	corrupt = true
	mu.Unlock()
	res, err := a.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("step with one corrupted bundle: size %d, alerts %v", res.Size, types(res.Alerts))

	// From now on the network is honest. The log keeps growing.
	for i, v := range []string{"1.2.0", "1.3.0", "1.4.0"} {
		s.release(t, v, v, uint64(3+i), fwtest.Release1)
		res, err := a.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, logSize := s.log.Log.Checkpoint()
		t.Logf("honest step %d: the log is at %d, the auditor verified %d; alerts %v", i, logSize, res.Size, types(res.Alerts))
	}
	all, _ := a.Alerts(ctx)
	var sawSig bool
	mismatches := 0
	for _, al := range all {
		if al.Type == audit.TypeReleaseSignature && al.Index != nil && *al.Index == bad {
			sawSig = true
		}
		if al.Type == audit.TypeTreeMismatch {
			mismatches++
		}
	}
	res, _ = a.Step(ctx)
	_, logSize := s.log.Log.Checkpoint()
	if res.Size != logSize {
		t.Errorf("WEDGED: the auditor's verified size is %d, the log's %d, although the network has been honest for 3 polls", res.Size, logSize)
	}
	if !sawSig {
		t.Errorf("SUPPRESSED: no release_signature alert was ever raised for the Release2 release at %d (the auditor judged the substituted bytes, and never reads them again)", bad)
	}
	if mismatches > 1 {
		t.Errorf("NOISE: %d tree_mismatch alerts (one per new honest checkpoint)", mismatches)
	}
}
