//go:build cgo

package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
)

// TestAudit: fwctl audit --once over a log where a second image was logged
// as version 1.4.0: one alert, as a JSON line, exit 3; run again, nothing
// new, exit 0; fwctl audit alerts lists it.
func TestAudit(t *testing.T) {
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
	args := []string{"audit", "--log", l.URL, "--log-key", p("log.pub"), "--release-keys", p("release.pub"), "--builder-keys", p("builder.pub"), "--state", p("state"), "--once"}
	code, out, errs := fwctl(t, args...)
	if code != exitRejected || strings.Count(out, "\n") != 1 {
		t.Fatalf("fwctl audit --once = %d:\n%s%s", code, out, errs)
	}
	var al struct {
		Type     string
		Index    uint64
		Evidence struct{ Entries []struct{ Index uint64 } }
	}
	if err := json.Unmarshal([]byte(out), &al); err != nil || al.Type != "equivocation" || al.Index != 3 || len(al.Evidence.Entries) != 2 {
		t.Fatalf("the alert: %+v, %v\n%s", al, err, out)
	}
	if code, out, errs := fwctl(t, args...); code != 0 || out != "" {
		t.Fatalf("fwctl audit --once again = %d: %q %s", code, out, errs)
	}
	if code, out, _ := fwctl(t, "audit", "alerts", "--state", p("state")); code != 0 || !strings.Contains(out, "critical equivocation at 3") {
		t.Fatalf("fwctl audit alerts = %d: %s", code, out)
	}
	os.WriteFile(p("alert.json"), []byte(out), 0o644)
	if code, got, errs := fwctl(t, "audit", "verify-evidence", "--log-key", p("log.pub"), p("alert.json")); code != 0 || !strings.Contains(got, "ok: the evidence proves the equivocation alert") {
		t.Fatalf("fwctl audit verify-evidence = %d: %s%s", code, got, errs)
	}
	os.WriteFile(p("forged.json"), []byte(strings.Replace(out, `"index":3,"data"`, `"index":2,"data"`, 1)), 0o644)
	if code, _, errs := fwctl(t, "audit", "verify-evidence", "--log-key", p("log.pub"), p("forged.json")); code != exitRejected {
		t.Fatalf("fwctl audit verify-evidence of forged evidence = %d: %s", code, errs)
	}
}

// TestAuditProbe: fwctl audit --once --probe-key submits a probe, waits
// until the log merged it, and exits 0; the log holds the probe.
func TestAuditProbe(t *testing.T) {
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}, ProbeKeys: []*keys.PrivateKey{fwtest.Prober}})
	pub, _ := fwtest.LogKey.Public().Marshal()
	os.WriteFile(p("log.pub"), pub, 0o644)
	pub, _ = fwtest.Release1.Public().Marshal()
	os.WriteFile(p("release.pub"), pub, 0o644)
	priv, _ := fwtest.Prober.MarshalPrivate()
	os.WriteFile(p("probe.key"), priv, 0o600)
	args := []string{"audit", "--log", l.URL, "--log-key", p("log.pub"), "--release-keys", p("release.pub"), "--state", p("state"), "--once", "--probe-key", p("probe.key"), "--interval", "1s"}
	code, out, errs := fwctl(t, args...)
	if code != 0 || out != "" {
		t.Fatalf("fwctl audit --once --probe-key = %d: %q\n%s", code, out, errs)
	}
	if _, size := l.Log.Checkpoint(); size != 1 {
		t.Fatalf("the log holds %d entries, want the probe", size)
	}
	lc, _ := logclient.New(l.URL, nil)
	e, err := lc.Entry(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if pe, err := provenance.ParseEntry(e.Data); err != nil || pe.Kind != provenance.KindProbe || pe.Probe.Origin != fwtest.LogKey.Name {
		t.Fatalf("entry 0 = %v, %v; want a probe for the log", pe, err)
	}
	// The next run reads the first probe merged, and waits for its own.
	if code, out, errs := fwctl(t, args...); code != 0 || out != "" {
		t.Fatalf("fwctl audit --once --probe-key again = %d: %q\n%s", code, out, errs)
	}
	if _, size := l.Log.Checkpoint(); size != 2 {
		t.Fatalf("the log holds %d entries, want two probes", size)
	}
}
