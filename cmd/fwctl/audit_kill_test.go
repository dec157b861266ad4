//go:build cgo

package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
)

// TestAuditKill kills fwctl audit with SIGKILL at up to 8 random moments of its
// catch-up over a log of 12,000 entries, then lets it finish: it ends with
// the same alerts as an audit that was never interrupted, each once.
func TestAuditKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds fwctl and kills it in a loop")
	}
	ctx := context.Background()
	dir := t.TempDir()
	bin := filepath.Join(dir, "fwctl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder}})
	lc, _ := logclient.New(l.URL, nil)
	// 6,000 releases with their provenance; every 500th is a second image
	// of an earlier version.
	var batch [][]byte
	for i := range 6000 {
		img := fwtest.Image(fmt.Sprint("image ", i), 64)
		prov := fwtest.Provenance(t, img, fwtest.Builder)
		version := fmt.Sprintf("1.%d.0", i)
		if i%500 == 499 {
			version = fmt.Sprintf("1.%d.0", i-1)
		}
		batch = append(batch, prov, fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
			r.Version, r.SecurityVersion = version, uint64(i)
			r.Provenance = []digest.Digest{sha256.Sum256(prov)}
		}), fwtest.Release1))
		if len(batch) == 16 {
			if _, err := lc.AddAll(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	l.WaitSize(t, 12000)
	for name, k := range map[string]*keys.PrivateKey{"log": fwtest.LogKey, "release": fwtest.Release1, "builder": fwtest.Builder} {
		pub, _ := k.Public().Marshal()
		os.WriteFile(filepath.Join(dir, name+".pub"), pub, 0o644)
	}
	audit := func(state string) *exec.Cmd {
		return exec.Command(bin, "audit", "--log", l.URL, "--log-key", filepath.Join(dir, "log.pub"), "--release-keys", filepath.Join(dir, "release.pub"),
			"--builder-keys", filepath.Join(dir, "builder.pub"), "--state", state, "--once")
	}
	alerts := func(state string) []string {
		out, err := exec.Command(bin, "audit", "alerts", "--state", state, "--json").Output()
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var a struct{ Key string }
			if err := json.Unmarshal([]byte(line), &a); err != nil {
				t.Fatalf("%v: %q", err, line)
			}
			keys = append(keys, a.Key)
		}
		return keys
	}
	// The reference: an audit never interrupted.
	start := time.Now()
	if err := audit(filepath.Join(dir, "reference")).Run(); err == nil {
		t.Fatal("the reference audit found nothing")
	}
	span := time.Since(start)
	want := alerts(filepath.Join(dir, "reference"))
	if len(want) != 12 {
		t.Fatalf("the reference audit raised %d alerts, want 12: %v", len(want), want)
	}
	t.Logf("an audit takes %s here", span)

	state := filepath.Join(dir, "killed")
	rng := rand.New(rand.NewPCG(3, 4))
	kills := 0
	for range 8 {
		cmd := audit(state)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(time.Duration(rng.Int64N(int64(span) / 10))):
			cmd.Process.Kill()
			<-done
			kills++
		}
	}
	audit(state).Run()
	got := alerts(state)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("after %d kills, alerts %v, want %v", kills, got, want)
	}
	t.Logf("%d kills", kills)
}
