package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
)

// TestRevokeWalkthrough follows docs/KEYS.md: a release key is stolen and
// the thief logs a release with it; the vendor revokes the key from the
// thief's index with two revocation keys; fwctl verify then refuses the
// thief's release and still accepts the vendor's earlier one. Then a
// release is revoked by its image.
func TestRevokeWalkthrough(t *testing.T) {
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }
	keygen := func(name, out string) (*keys.PrivateKey, string) {
		code, stdout, errs := fwctl(t, "keygen", "--name", name, "--out", p(out))
		if code != 0 {
			t.Fatalf("keygen = %d: %s", code, errs)
		}
		var kg map[string]string
		json.Unmarshal([]byte(stdout), &kg)
		k, err := keys.LoadPrivate(p(out + ".key"))
		if err != nil {
			t.Fatal(err)
		}
		return k, kg["key_id"]
	}
	rel, relID := keygen("example.com/release-1", "release-1")
	sec1, _ := keygen("example.com/security-1", "security-1")
	sec2, _ := keygen("example.com/security-2", "security-2")
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel}, RevocationKeys: []*keys.PrivateKey{sec1, sec2}, RevocationThreshold: 2})
	logPub, _ := fwtest.LogKey.Public().Marshal()
	os.WriteFile(p("log.pub"), logPub, 0o644)

	releaseAndSubmit := func(name string) {
		t.Helper()
		os.WriteFile(p(name+".bin"), fwtest.Image(name, 5000), 0o644)
		if code, _, errs := fwctl(t, "release", "--key", p("release-1.key"), "--model", "acme-x1", "--version", "1.4.0",
			"--svn", "7", "--image", p(name+".bin"), "--out", p(name+".dsse.json")); code != 0 {
			t.Fatalf("release = %d: %s", code, errs)
		}
		if code, _, errs := fwctl(t, "submit", "--log", l.URL, p(name+".dsse.json")); code != 0 {
			t.Fatalf("submit = %d: %s", code, errs)
		}
	}
	releaseAndSubmit("vendor") // index 0
	releaseAndSubmit("thief")  // index 1

	// One revocation key is not enough for the log.
	if code, _, errs := fwctl(t, "revoke", "key", "--key-id", relID, "--from-index", "1", "--reason", "compromised",
		"--key", p("security-1.key"), "--out", p("rev1.dsse.json")); code != 0 {
		t.Fatalf("revoke key = %d: %s", code, errs)
	}
	if code, _, errs := fwctl(t, "submit", "--log", l.URL, p("rev1.dsse.json")); code != 1 || !strings.Contains(errs, "want at least 2") {
		t.Errorf("submitting a revocation by 1 of 2 keys = %d, %q; want a refusal naming the threshold", code, errs)
	}
	if code, _, errs := fwctl(t, "revoke", "key", "--key-id", relID, "--from-index", "1", "--reason", "compromised",
		"--key", p("security-1.key"), "--key", p("security-2.key"), "--out", p("rev.dsse.json")); code != 0 {
		t.Fatalf("revoke key = %d: %s", code, errs)
	}
	if code, _, errs := fwctl(t, "submit", "--log", l.URL, p("rev.dsse.json")); code != 0 {
		t.Fatalf("submit revocation = %d: %s", code, errs)
	}
	l.WaitSize(t, 3)

	verify := func(name string, extra ...string) (int, string, string) {
		t.Helper()
		if code, _, errs := fwctl(t, "bundle", "--log", l.URL, "--image", p(name+".bin"), "--out", p(name+".bundle")); code != 0 {
			t.Fatalf("bundle = %d: %s", code, errs)
		}
		args := append([]string{"verify", "--log-key", p("log.pub"), "--release-keys", p("release-1.pub"), "--require-provenance=false",
			"--image", p(name + ".bin"), "--bundle", p(name + ".bundle")}, extra...)
		return fwctl(t, args...)
	}
	revKeys := []string{"--revocation-keys", p("security-1.pub"), "--revocation-keys", p("security-2.pub"), "--revocation-threshold", "2"}
	if code, out, errs := verify("vendor", revKeys...); code != 0 || !strings.Contains(out, `"applied": 1`) {
		t.Errorf("verify of the vendor's release, logged before the revocation index = %d: %s %s", code, out, errs)
	}
	if code, _, errs := verify("thief", revKeys...); code != 3 || !strings.Contains(errs, "revoked") {
		t.Errorf("verify of the thief's release = %d, %q; want 3 naming the revocation", code, errs)
	}
	if code, _, errs := verify("thief", "--revocation-keys", p("security-1.pub"), "--revocation-threshold", "2"); code != 2 {
		t.Errorf("--revocation-threshold above the keys given = %d, %q; want 2", code, errs)
	}

	// A release revoked by its image.
	if code, _, errs := fwctl(t, "revoke", "release", "--image", p("vendor.bin"), "--reason", "bricks rev B boards",
		"--key", p("security-1.key"), "--key", p("security-2.key"), "--out", p("rev2.dsse.json")); code != 0 {
		t.Fatalf("revoke release = %d: %s", code, errs)
	}
	if code, _, errs := fwctl(t, "submit", "--log", l.URL, p("rev2.dsse.json")); code != 0 {
		t.Fatalf("submit = %d: %s", code, errs)
	}
	l.WaitSize(t, 4)
	if code, _, errs := verify("vendor", revKeys...); code != 3 || !strings.Contains(errs, "bricks rev B boards") {
		t.Errorf("verify of a revoked release = %d, %q; want 3 naming the reason", code, errs)
	}

	// Usage errors name the flag.
	for _, args := range [][]string{
		{"revoke", "key", "--key-id", relID, "--reason", "x", "--key", p("security-1.key")},
		{"revoke", "key", "--key-id", "nothex", "--from-index", "1", "--reason", "x", "--key", p("security-1.key")},
		{"revoke", "release", "--reason", "x", "--key", p("security-1.key")},
		{"revoke", "release", "--image", p("vendor.bin"), "--from-index", "3", "--reason", "x", "--key", p("security-1.key")},
		{"revoke", "release", "--image", p("vendor.bin"), "--key", p("security-1.key")},
		{"revoke"},
	} {
		if code, _, errs := fwctl(t, args...); code != 2 || errs == "" {
			t.Errorf("fwctl %s = %d, %q; want a usage error", strings.Join(args, " "), code, errs)
		}
	}
	if code, out, _ := fwctl(t, "revoke", "--help"); code != 0 || !strings.Contains(out, "revoke release") {
		t.Errorf("revoke --help = %d, %q", code, out)
	}
}
