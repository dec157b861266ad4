//go:build cgo

package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestAuditCleanLog: fwctl audit --once over a clean log of 100,000
// entries (releases, their provenance, an independent rebuild of each,
// and revocations of other images), under a policy that wants every
// release rebuilt by a second builder, due long ago: no alert, exit 0.
func TestAuditCleanLog(t *testing.T) {
	if testing.Short() {
		t.Skip("logs 100,000 entries")
	}
	ctx := context.Background()
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }
	l := fwtest.StartLog(t, fwtest.LogOptions{
		ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder, fwtest.Rebuilder},
		RevocationKeys: []*keys.PrivateKey{fwtest.Security1},
	})
	lc, _ := logclient.New(l.URL, nil)
	const releases = 33332 // 3 entries each, and 4 revocations: 100,000
	const workers = 4
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			var batch [][]byte
			for i := w; i < releases; i += workers {
				img := fwtest.Image(fmt.Sprint("clean ", i), 64)
				prov := fwtest.Provenance(t, img, fwtest.Builder)
				rebuild := fwtest.ProvenanceWith(t, img, fwtest.Rebuilder, func(b *provenance.Build) { b.BuilderID = "https://rebuild.example.org/r1" })
				// One security version for all: the workers' order in the
				// log is no regression.
				batch = append(batch, prov, rebuild, fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
					r.Version, r.SecurityVersion = fmt.Sprintf("1.%d.0", i), 1
					r.Provenance = []digest.Digest{sha256.Sum256(prov)}
				}), fwtest.Release1))
				if len(batch) == 15 || i+workers >= releases {
					if _, err := lc.AddAll(ctx, batch); err != nil {
						errs <- err
						return
					}
					batch = nil
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		if _, err := lc.Add(ctx, fwtest.SignRevocation(t, &provenance.Revocation{Revokes: provenance.RevokeRelease, Image: sha256.Sum256(fmt.Append(nil, "other ", i)),
			ImageName: "other.bin", Reason: "bricks rev B boards", Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}, fwtest.Security1)); err != nil {
			t.Fatal(err)
		}
	}
	l.WaitSize(t, 3*releases+4)
	for name, k := range map[string]*keys.PrivateKey{"log": fwtest.LogKey, "rel": fwtest.Release1, "ci": fwtest.Builder, "rb": fwtest.Rebuilder, "sec": fwtest.Security1} {
		pub, _ := k.Public().Marshal()
		os.WriteFile(p(name+".pub"), pub, 0o644)
	}
	os.WriteFile(p("policy.yaml"), []byte(`version: 1
keys:
  rel: {file: rel.pub}
  ci: {file: ci.pub}
  rb: {file: rb.pub}
  sec: {file: sec.pub}
builders:
  - {name: ci, id: `+fwtest.BuilderID+`, keys: [ci], slsaLevel: 2}
  - {name: rebuilder, id: https://rebuild.example.org/r1, keys: [rb], slsaLevel: 2}
revocation: {keys: [sec], threshold: 1}
rules:
  - name: all
    models: ["*"]
    release: {keys: [rel], threshold: 1}
    provenance: {builders: [ci, rebuilder], reproducible: 2}
`), 0o644)
	code, out, errs2 := fwctl(t, "audit", "--log", l.URL, "--log-key", p("log.pub"), "--policy", p("policy.yaml"), "--state", p("state"), "--once", "--reproducible-within", "1h")
	if code != 0 || out != "" {
		t.Fatalf("fwctl audit --once over a clean log = %d: %.2000s\n%.2000s", code, out, errs2)
	}
	if !strings.Contains(errs2, fmt.Sprintf("verified the tree of %d entries; 0 alerts raised", 3*releases+4)) {
		t.Fatalf("fwctl audit said:\n%s", errs2)
	}
}
