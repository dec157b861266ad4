package audit_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/rfc6962"
)

// clock is a test's clock for the auditor, moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// canaryAuditor is an auditor that probes the log through probeURL, with
// a maximum merge delay of a minute, on clk.
func canaryAuditor(t *testing.T, logURL, probeURL string, clk *clock, reg prometheus.Registerer) *audit.Auditor {
	t.Helper()
	s, err := fwtest.Prober.DSSESigner()
	if err != nil {
		t.Fatal(err)
	}
	a, err := audit.New(context.Background(), audit.Config{
		LogURL: logURL, ProbeURL: probeURL, Log: logVerifier(t), StateDir: t.TempDir(),
		Policy:     provenance.KeyPolicy(provenance.KeyTrust{ReleaseKeys: fwtest.Ring(t, fwtest.Release1), BuilderKeys: fwtest.Ring(t, fwtest.Builder), RequireProvenance: true}),
		Probe:      s,
		Now:        clk.Now,
		Registerer: reg,
		// A minute: the log's clock must not find the probes (made at the
		// test's clock) in the future.
		MaxMergeDelay: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// canaryLog starts a log that takes probes by fwtest.Prober.
func canaryLog(t *testing.T) *fwtest.Log {
	return fwtest.StartLog(t, fwtest.LogOptions{
		ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder},
		ProbeKeys: []*keys.PrivateKey{fwtest.Prober},
	})
}

// step is a step of an auditor that probes: Step, then Probe.
func step(t *testing.T, a *audit.Auditor) *audit.Result {
	t.Helper()
	res, err := a.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pres, err := a.Probe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	res.Alerts = append(res.Alerts, pres.Alerts...)
	return res
}

// stepUntilMerged probes, then steps a until it has no pending probe, or
// fails.
func stepUntilMerged(t *testing.T, a *audit.Auditor) []*audit.Alert {
	t.Helper()
	alerts := step(t, a).Alerts // probes once (the log takes a probe key's probes at a bounded rate)
	for range 100 {
		if n, _, err := a.PendingProbes(context.Background()); err != nil {
			t.Fatal(err)
		} else if n == 0 {
			return alerts
		}
		time.Sleep(20 * time.Millisecond)
		res, err := a.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		alerts = append(alerts, res.Alerts...)
	}
	t.Fatal("the probes were never read in the log")
	return nil
}

// TestCanary: an honest log merges every probe, with no alert; a log that
// acknowledges a probe and does not log it, that gives its index to
// another entry, or that refuses probes, is caught with a canary alert,
// once, whose evidence verifies.
func TestCanary(t *testing.T) {
	l := canaryLog(t)
	clk := &clock{now: time.Now()}

	t.Run("honest", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		a := canaryAuditor(t, l.URL, l.URL, clk, reg)
		for range 3 {
			if alerts := stepUntilMerged(t, a); len(alerts) != 0 {
				t.Fatalf("alerts on an honest log: %v", types(alerts))
			}
			clk.Add(30 * time.Second)
		}
		if got := counterSum(t, reg, "fwaudit_probes_total"); got < 3 {
			t.Errorf("probes acknowledged = %v, want at least 3", got)
		}
		families, _ := reg.Gather()
		for _, f := range families {
			if f.GetName() == "fwaudit_probe_merge_seconds" {
				if n := f.GetMetric()[0].GetHistogram().GetSampleCount(); n < 3 {
					t.Errorf("merge delays observed: %d, want at least 3", n)
				}
			}
		}
	})

	// A log that answers probes with an index and drops them.
	var mu sync.Mutex
	fakeIndex := func(size uint64) uint64 { return size }
	target, _ := url.Parse(l.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			proxy.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		_, size := l.Log.Checkpoint()
		mu.Lock()
		idx := fakeIndex(size)
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"index": idx, "leaf_hash": hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(body))})
	}))
	t.Cleanup(liar.Close)

	t.Run("dropped", func(t *testing.T) {
		a := canaryAuditor(t, l.URL, liar.URL, clk, nil)
		var alerts []*audit.Alert
		for i := range 4 {
			res := step(t, a)
			if i < 2 && len(res.Alerts) != 0 {
				t.Fatalf("step %d, within the merge delay: %v", i, types(res.Alerts))
			}
			alerts = append(alerts, res.Alerts...)
			clk.Add(40 * time.Second)
		}
		// Probes of steps 0 and 1 are overdue at step 3 (120 s, 80 s).
		if len(alerts) != 2 || alerts[0].Type != audit.TypeCanary || alerts[0].Severity != audit.Critical {
			t.Fatalf("alerts = %v, want two canary alerts", types(alerts))
		}
		for _, al := range alerts {
			left, err := audit.VerifyEvidence(al, logVerifier(t), nil)
			if err != nil || left == "" {
				t.Errorf("VerifyEvidence = %q, %v", left, err)
			}
		}
		// Tampered: a probe for another log.
		bad := *alerts[0]
		bad.Evidence.Probe = fwtest.SignProbe(t, &provenance.Probe{Origin: "example.com/otherlog", Created: time.Now()}, fwtest.Prober)
		if _, err := audit.VerifyEvidence(&bad, logVerifier(t), nil); err == nil {
			t.Error("evidence with another log's probe verifies")
		}
		// Each dropped probe is an alert of its own, raised once: the
		// next step finds the next probe overdue, and no other.
		res := step(t, a)
		if len(res.Alerts) != 1 || res.Alerts[0].Key == alerts[0].Key || res.Alerts[0].Key == alerts[1].Key {
			t.Fatalf("the step after = %v; want the next probe's alert only", types(res.Alerts))
		}
	})

	t.Run("index given away", func(t *testing.T) {
		mu.Lock()
		fakeIndex = func(uint64) uint64 { return 0 } // the first entry's
		mu.Unlock()
		a := canaryAuditor(t, l.URL, liar.URL, clk, nil)
		if res := step(t, a); len(res.Alerts) != 0 {
			t.Fatalf("first step = %v", types(res.Alerts))
		}
		res := step(t, a)
		if len(res.Alerts) != 1 || res.Alerts[0].Type != audit.TypeCanary {
			t.Fatalf("second step = %v; want a canary alert at once", types(res.Alerts))
		}
		al := res.Alerts[0]
		if *al.Index != 0 || len(al.Evidence.Entries) != 1 {
			t.Fatalf("alert = %+v, want the entry at 0 as evidence", al)
		}
		if left, err := audit.VerifyEvidence(al, logVerifier(t), nil); err != nil || left == "" {
			t.Errorf("VerifyEvidence = %q, %v", left, err)
		}
		bad := *al
		bad.Evidence.Entries = []audit.EvidenceEntry{{Index: 0, Data: al.Evidence.Probe, Proof: al.Evidence.Entries[0].Proof}}
		if _, err := audit.VerifyEvidence(&bad, logVerifier(t), nil); err == nil {
			t.Error("evidence that claims the probe at the index verifies")
		}
	})

	t.Run("refused", func(t *testing.T) {
		plain := startPlainLog(t)
		a := canaryAuditor(t, plain.URL, plain.URL, clk, nil)
		var alerts []*audit.Alert
		for range 4 {
			alerts = append(alerts, step(t, a).Alerts...)
			clk.Add(40 * time.Second)
		}
		if len(alerts) != 1 || alerts[0].Type != audit.TypeCanary || alerts[0].Severity != audit.Warning {
			t.Fatalf("alerts = %v, want one canary warning", types(alerts))
		}
		if left, err := audit.VerifyEvidence(alerts[0], logVerifier(t), nil); err != nil || left == "" {
			t.Errorf("VerifyEvidence = %q, %v", left, err)
		}
		t.Log(alerts[0].Message)
	})
}

func startPlainLog(t *testing.T) *fwtest.Log {
	return fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder}})
}

// TestStall: a log whose checkpoint stays the same size for longer than
// MaxStall raises one stall warning; one that grows raises none.
func TestStall(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	s.release(t, "a", "1.0.0", 1, fwtest.Release1)
	clk := &clock{now: time.Now()}
	a, err := audit.New(ctx, audit.Config{
		LogURL: s.log.URL, Log: logVerifier(t), StateDir: t.TempDir(), Now: clk.Now, MaxStall: time.Minute,
		Policy: provenance.KeyPolicy(provenance.KeyTrust{ReleaseKeys: fwtest.Ring(t, fwtest.Release1), BuilderKeys: fwtest.Ring(t, fwtest.Builder), RequireProvenance: true}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	step := func(want int) {
		t.Helper()
		res, err := a.Step(ctx)
		if err != nil || len(res.Alerts) != want || (want == 1 && res.Alerts[0].Type != audit.TypeStall) {
			t.Fatalf("Step = %v, %v; want %d stall alerts", types(res.Alerts), err, want)
		}
		if want == 1 {
			if left, err := audit.VerifyEvidence(res.Alerts[0], logVerifier(t), nil); err != nil || left == "" {
				t.Errorf("VerifyEvidence = %q, %v", left, err)
			}
		}
	}
	step(0)
	clk.Add(50 * time.Second)
	step(0)
	s.release(t, "b", "1.1.0", 2, fwtest.Release1) // it grows
	clk.Add(50 * time.Second)
	step(0)
	clk.Add(50 * time.Second)
	step(0)
	clk.Add(50 * time.Second) // 100 s at one size
	step(1)
	clk.Add(time.Hour)
	step(0) // once
}

// TestDeferredCheckpoint: a checkpoint signed by the log, of a tree
// larger than the log serves, is kept and judged again at each step: once
// the log serves the tree it is checked against it (no alert for the
// genuine one), and one the log still does not serve after the maximum
// merge delay is a rollback, once, whose evidence verifies.
func TestDeferredCheckpoint(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	s.release(t, "a", "1.0.0", 1, fwtest.Release1)
	clk := &clock{now: time.Now()}
	// A mirror that can hide the log's entries.
	var hide sync.Mutex
	hidden := false
	target, _ := url.Parse(s.log.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var old []byte
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hide.Lock()
		h := hidden
		hide.Unlock()
		if h && r.URL.Path == "/checkpoint" {
			w.Write(old)
			return
		}
		if h && strings.HasPrefix(r.URL.Path, "/tile/entries/") {
			http.NotFound(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer mirror.Close()
	a, err := audit.New(ctx, audit.Config{
		LogURL: mirror.URL, Log: logVerifier(t), StateDir: t.TempDir(), Now: clk.Now, MaxMergeDelay: time.Minute,
		Policy: provenance.KeyPolicy(provenance.KeyTrust{ReleaseKeys: fwtest.Ring(t, fwtest.Release1), BuilderKeys: fwtest.Ring(t, fwtest.Builder), RequireProvenance: true}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step = %v, %v", types(res.Alerts), err)
	}
	old, _ = s.lc.Checkpoint(ctx)
	s.release(t, "b", "1.1.0", 2, fwtest.Release1)
	genuine, _ := s.lc.Checkpoint(ctx)
	_, size := s.log.Log.Checkpoint()
	larger := fwtest.SignCheckpoint(t, fwtest.LogKey, size+5, bytes.Repeat([]byte{7}, 32))
	hide.Lock()
	hidden = true
	hide.Unlock()
	for _, cp := range [][]byte{genuine, larger} {
		if res, err := a.Check(ctx, cp); err != nil || len(res.Alerts) != 0 {
			t.Fatalf("Check of a tree the log does not serve = %v, %v; want it kept for later", types(res.Alerts), err)
		}
	}
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step within the merge delay = %v, %v", types(res.Alerts), err)
	}
	// The log serves its tree again: the genuine checkpoint is of it.
	hide.Lock()
	hidden = false
	hide.Unlock()
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step once the log serves its tree = %v, %v", types(res.Alerts), err)
	}
	clk.Add(2 * time.Minute)
	res, err := a.Step(ctx)
	if err != nil || len(res.Alerts) != 1 || res.Alerts[0].Type != audit.TypeRollback {
		t.Fatalf("Step after the merge delay = %v, %v; want one rollback", types(res.Alerts), err)
	}
	if _, err := audit.VerifyEvidence(res.Alerts[0], logVerifier(t), nil); err != nil {
		t.Errorf("the rollback's evidence: %v", err)
	}
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("the step after = %v, %v; want nothing again", types(res.Alerts), err)
	}
}
