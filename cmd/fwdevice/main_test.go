package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/delta"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
)

var fwdeviceBin string

func TestMain(m *testing.M) { fwtest.RunWithBinary(m, "fwdevice", &fwdeviceBin) }

// fwdevice runs the binary and returns its exit code and output.
func fwdevice(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(fwdeviceBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// vendor is a real log on 127.0.0.1 with three real witnesses (a quorum
// of two), and what the vendor and its build system log to it.
type vendor struct {
	log *fwtest.Log
	lc  *logclient.Client
}

func newVendor(t *testing.T) *vendor {
	wks := []*keys.PrivateKey{fwtest.WitnessA, fwtest.WitnessB, fwtest.WitnessC}
	urls := fwtest.StartWitnesses(t, wks, fwtest.LogKey)
	l := fwtest.StartLog(t, fwtest.LogOptions{
		ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder},
		RevocationKeys: []*keys.PrivateKey{fwtest.Security1},
		Witnesser:      fwtest.Collector(t, fwtest.WitnessPolicy(t, fwtest.LogKey, 2, wks, urls...)),
	})
	lc, err := logclient.New(l.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &vendor{log: l, lc: lc}
}

// release logs provenance and a release of img, uploads the image, and,
// if base is set, a delta from it.
func (v *vendor) release(t *testing.T, img []byte, sv uint64, version string, base []byte) {
	t.Helper()
	ctx := context.Background()
	prov := fwtest.Provenance(t, img, fwtest.Builder)
	rel := fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
		r.SecurityVersion, r.Version = sv, version
		r.Provenance = []digest.Digest{sha256.Sum256(prov)}
		if base != nil {
			bd := digest.Sum(base)
			r.BaseImage = &bd
		}
	}), fwtest.Release1)
	res, err := v.lc.AddAll(ctx, [][]byte{prov, rel})
	if err != nil {
		t.Fatal(err)
	}
	v.log.WaitSize(t, res[1].Index+1)
	if err := v.lc.PutImage(ctx, digest.Sum(img), bytes.NewReader(img)); err != nil {
		t.Fatal(err)
	}
	if base != nil {
		var d bytes.Buffer
		if err := delta.Create(&d, bytes.NewReader(base), int64(len(base)), bytes.NewReader(img), int64(len(img)), nil); err != nil {
			t.Fatal(err)
		}
		if err := v.lc.PutDelta(ctx, digest.Sum(img), &d); err != nil {
			t.Fatal(err)
		}
	}
}

type deviceStatus struct {
	SecurityFloor uint64 `json:"securityFloor"`
	Active        string `json:"active"`
	Slots         map[string]struct {
		Version string `json:"version"`
	} `json:"slots"`
	Update struct {
		Phase string `json:"phase"`
	} `json:"update"`
	LastOutcome *struct {
		Outcome, Reason string
	} `json:"lastOutcome"`
}

func statusOf(t *testing.T, state string) deviceStatus {
	t.Helper()
	code, out, errs := fwdevice(t, "status", "--json", "--state", state)
	if code != 0 {
		t.Fatalf("status = %d: %s", code, errs)
	}
	var st deviceStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

// TestEndToEnd: a log and three witnesses on loopback; the device checks,
// installs, boots and confirms a release, then an upgrade, then a delta
// upgrade, and refuses a downgrade.
func TestEndToEnd(t *testing.T) {
	v := newVendor(t)
	dir := t.TempDir()
	state, slots := filepath.Join(dir, "state"), filepath.Join(dir, "slots")
	trustFile := filepath.Join(dir, "trust.json")
	os.WriteFile(trustFile, fwtest.TrustFile{URL: v.log.URL}.Signed(t), 0o644)
	ok := func(args ...string) string {
		t.Helper()
		code, out, errs := fwdevice(t, append(args, "--state", state)...)
		if code != 0 {
			t.Fatalf("fwdevice %s = %d:\n%s%s", strings.Join(args, " "), code, out, errs)
		}
		return out + errs
	}
	ok("init", "--trust", trustFile, "--slots", slots, "--model", "acme-x1", "--channel", "stable")
	if code, _, errs := fwdevice(t, "init", "--trust", trustFile, "--slots", slots, "--model", "acme-x1", "--channel", "stable", "--state", state); code == 0 {
		t.Fatalf("a second init succeeded: %s", errs)
	}
	if out := ok("check"); !strings.Contains(out, "no release for acme-x1 on stable") {
		t.Errorf("check of an empty log: %s", out)
	}
	if fi, err := os.Stat(filepath.Join(state, "device.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("device.key: %v, want mode 0600", err)
	}

	v1 := fwtest.Image("firmware 1", 300000)
	v.release(t, v1, 1, "1.0.0", nil)
	if out := ok("check"); !strings.Contains(out, "update verified: 1.0.0") {
		t.Fatalf("check: %s", out)
	}
	ok("install")
	if out := ok("boot"); !strings.Contains(out, "on trial (attempt 1 of 3)") {
		t.Fatalf("boot: %s", out)
	}
	ok("confirm")
	if st := statusOf(t, state); st.SecurityFloor != 1 || st.Active != "a" || st.LastOutcome == nil || st.LastOutcome.Outcome != "confirmed" {
		t.Fatalf("after v1: %+v", st)
	}

	v2 := fwtest.Image("firmware 2", 300000)
	v.release(t, v2, 2, "2.0.0", nil)
	ok("check")
	ok("install")
	ok("boot")
	ok("confirm")
	if st := statusOf(t, state); st.SecurityFloor != 2 || st.Active != "b" {
		t.Fatalf("after v2: %+v", st)
	}
	if out := ok("check"); !strings.Contains(out, "up to date: 2.0.0") {
		t.Errorf("check with nothing newer: %s", out)
	}

	// A delta upgrade from v2.
	v3 := append(bytes.Clone(v2[:1000]), append([]byte("version 3"), v2[1000:]...)...)
	v.release(t, v3, 3, "3.0.0", v2)
	if out := ok("check"); !strings.Contains(out, "fetched a delta") || !strings.Contains(out, "update verified: 3.0.0") {
		t.Fatalf("check of a delta update: %s", out)
	}
	ok("install")
	ok("boot")
	ok("confirm")
	if st := statusOf(t, state); st.SecurityFloor != 3 || st.Slots[st.Active].Version != "3.0.0" {
		t.Fatalf("after v3: %+v", st)
	}

	// A downgrade, installed from files (as from a USB stick): v1's
	// bundle under today's checkpoint.
	ctx := context.Background()
	b, err := v.lc.Bundle(ctx, digest.Sum(v1), -1)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "v1.bundle"), b, 0o644)
	os.WriteFile(filepath.Join(dir, "v1.img"), v1, 0o644)
	code, _, errs := fwdevice(t, "install", "--bundle", filepath.Join(dir, "v1.bundle"), "--image", filepath.Join(dir, "v1.img"), "--state", state)
	if code != 3 || !strings.Contains(errs, "REFUSED (rollback)") {
		t.Fatalf("install of v1 = %d, %q; want 3 and a rollback", code, errs)
	}
	if st := statusOf(t, state); st.SecurityFloor != 3 || st.LastOutcome.Outcome != "refused" || st.LastOutcome.Reason != "rollback" {
		t.Fatalf("after the refused downgrade: %+v", st)
	}
}

// TestUsage: help, and usage errors with exit code 2.
func TestUsage(t *testing.T) {
	if code, out, _ := fwdevice(t, "help"); code != 0 || !strings.Contains(out, "fwdevice init") {
		t.Errorf("help = %d: %s", code, out)
	}
	for _, c := range []string{"init", "check", "install", "boot", "confirm", "status", "report"} {
		if code, out, _ := fwdevice(t, c, "--help"); code != 0 || !strings.Contains(out, "Usage: fwdevice "+c) {
			t.Errorf("%s --help = %d: %s", c, code, out)
		}
	}
	if code, _, _ := fwdevice(t, "trust", "update", "--help"); code != 0 {
		t.Errorf("trust update --help = %d", code)
	}
	for _, args := range [][]string{{}, {"nonsense"}, {"init"}, {"install", "--bundle", "x"}, {"boot", "extra"}} {
		if code, _, _ := fwdevice(t, args...); code != 2 {
			t.Errorf("fwdevice %v = %d, want 2", args, code)
		}
	}
	if code, _, errs := fwdevice(t, "status", "--state", t.TempDir()); code != 1 || !strings.Contains(errs, "run fwdevice init") {
		t.Errorf("status without a device = %d, %q", code, errs)
	}
}
