package main

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
)

// TestKillDuringInstall kills the real binary with SIGKILL at 20 random
// moments of installing a 32 MiB image, and after each kill boots the
// device: it always boots a slot that verifies, its security floor never
// goes back, and the install, run again, completes.
func TestKillDuringInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes in a loop")
	}
	v := newVendor(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	trustFile := filepath.Join(dir, "trust.json")
	os.WriteFile(trustFile, fwtest.TrustFile{URL: v.log.URL}.Signed(t), 0o644)
	ok := func(args ...string) string {
		t.Helper()
		code, out, errs := fwdevice(t, append(args, "--state", state)...)
		if code != 0 {
			t.Fatalf("fwdevice %s = %d:\n%s%s", strings.Join(args, " "), code, out, errs)
		}
		return out
	}
	ok("init", "--trust", trustFile, "--slots", filepath.Join(dir, "slots"), "--model", "acme-x1", "--channel", "stable")
	v.release(t, fwtest.Image("small", 100000), 1, "1.0.0", nil)
	ok("check")
	ok("install")
	ok("boot")
	ok("confirm")
	v.release(t, fwtest.Image("large", 32<<20), 2, "2.0.0", nil)
	ok("check")

	// How long an install takes here, on a copy of the device: the kills
	// fall within it.
	trial := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(trial, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(filepath.Join(trial, "state", "config.json"))
	os.WriteFile(filepath.Join(trial, "state", "config.json"), []byte(strings.ReplaceAll(string(cfg), dir, trial)), 0o600)
	start := time.Now()
	if code, _, errs := fwdevice(t, "install", "--state", filepath.Join(trial, "state")); code != 0 {
		t.Fatalf("install on the copy: %s", errs)
	}
	span := time.Since(start)
	t.Logf("an install takes %s here", span)

	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	for round := 0; ; round++ {
		// 20 rounds killed somewhere in the install, then one left
		// to finish.
		if round > 20 {
			t.Fatal("the install did not complete when left alone")
		}
		wait := time.Duration(rng.Int64N(int64(span)))
		if round == 20 {
			wait = time.Hour
		}
		st := statusOf(t, state)
		if st.Update.Phase == "trial" {
			break // the install completed before a kill
		}
		cmd := exec.Command(fwdeviceBin, "install", "--state", state)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: install failed: %v", round, err)
			}
		case <-time.After(wait):
			cmd.Process.Kill()
			<-done
			kills++
		}
		// Power back on: the device boots a slot that verifies.
		if out := ok("boot"); !strings.Contains(out, "booted slot") {
			t.Fatalf("round %d: boot: %s", round, out)
		}
		st = statusOf(t, state)
		if st.SecurityFloor < 1 || st.Slots[st.Active].Version == "" {
			t.Fatalf("round %d: after a kill: %+v", round, st)
		}
		if st.Update.Phase == "trial" {
			break
		}
	}
	ok("confirm")
	if st := statusOf(t, state); st.SecurityFloor != 2 || st.Slots[st.Active].Version != "2.0.0" {
		t.Fatalf("after the install: %+v", st)
	}
	t.Logf("%d kills before the install completed", kills)
}
