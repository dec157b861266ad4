package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/internal/testutil"
	"github.com/fwledger/fwledger/keys"
)

// fwctl runs the command in-process and returns its exit code and output.
func fwctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), &env{stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

// TestWalkthrough follows the README: keygen, release, submit, bundle,
// verify, against a real log on SQLite over HTTP.
func TestWalkthrough(t *testing.T) {
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }

	code, out, errs := fwctl(t, "keygen", "--name", "example.com/release-1", "--out", p("keys/release-1"))
	if code != 0 {
		t.Fatalf("keygen = %d: %s", code, errs)
	}
	var kg map[string]string
	if err := json.Unmarshal([]byte(out), &kg); err != nil || kg["key_id"] == "" {
		t.Fatalf("keygen output %q", out)
	}
	if fi, err := os.Stat(p("keys/release-1.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("release-1.key: %v, mode %v", err, fi.Mode())
	}
	if code, _, _ := fwctl(t, "keygen", "--name", "example.com/release-1", "--out", p("keys/release-1")); code != 1 {
		t.Errorf("keygen over an existing key = %d, want 1", code)
	}
	relKey, err := keys.LoadPrivate(p("keys/release-1.key"))
	if err != nil {
		t.Fatal(err)
	}
	l := testutil.StartLog(t, testutil.LogOptions{ReleaseKeys: []*keys.PrivateKey{relKey}})
	logPub, _ := testutil.LogKey.Public().Marshal()
	os.WriteFile(p("log.pub"), logPub, 0o644)

	img := testutil.Image("walkthrough firmware", 70000)
	os.WriteFile(p("fw.bin"), img, 0o644)
	if code, _, errs := fwctl(t, "release", "--key", p("keys/release-1.key"), "--model", "acme-x1", "--version", "1.4.0",
		"--svn", "7", "--image", p("fw.bin"), "--out", p("rel.dsse.json")); code != 0 {
		t.Fatalf("release = %d: %s", code, errs)
	}
	code, out, errs = fwctl(t, "submit", "--log", l.URL, "--image", p("fw.bin"), p("rel.dsse.json"))
	if code != 0 {
		t.Fatalf("submit = %d: %s", code, errs)
	}
	var res api.AddResponse
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.LeafHash) != 64 {
		t.Fatalf("submit printed %q", out)
	}
	if code, _, errs := fwctl(t, "bundle", "--log", l.URL, "--image", p("fw.bin"), "--out", p("fw.bundle")); code != 0 {
		t.Fatalf("bundle = %d: %s", code, errs)
	}
	code, out, errs = fwctl(t, "verify", "--log-key", p("log.pub"), "--release-keys", p("keys/release-1.pub"),
		"--image", p("fw.bin"), "--bundle", p("fw.bundle"))
	if code != 0 || !strings.Contains(out, `"verified": true`) {
		t.Fatalf("verify = %d: %s %s", code, out, errs)
	}

	// A tampered image is rejected with exit status 3.
	img[100] ^= 1
	os.WriteFile(p("evil.bin"), img, 0o644)
	code, _, errs = fwctl(t, "verify", "--log-key", p("log.pub"), "--release-keys", p("keys/release-1.pub"),
		"--image", p("evil.bin"), "--bundle", p("fw.bundle"))
	if code != 3 || !strings.Contains(errs, "REJECTED: image digest") {
		t.Errorf("verify of a tampered image = %d, %q; want 3", code, errs)
	}
	// A second release key countersigns; a threshold of 2 then passes.
	fwctl(t, "keygen", "--name", "example.com/release-2", "--out", p("keys/release-2"))
	if code, _, errs := fwctl(t, "sign", "--key", p("keys/release-2.key"), "--in", p("rel.dsse.json"), "--out", p("rel2.dsse.json")); code != 0 {
		t.Fatalf("sign = %d: %s", code, errs)
	}
	code, _, errs = fwctl(t, "verify", "--log-key", p("log.pub"), "--release-keys", p("keys/release-1.pub"),
		"--release-keys", p("keys/release-2.pub"), "--threshold", "2", "--image", p("fw.bin"), "--bundle", p("fw.bundle"))
	if code != 3 || !strings.Contains(errs, "want at least 2") {
		t.Errorf("threshold 2 on a singly signed bundle = %d, %q; want 3", code, errs)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "Usage"},
		{[]string{"help"}, 0, "fwctl keygen"},
		{[]string{"nope"}, 2, "unknown command"},
		{[]string{"keygen"}, 2, "--name is required"},
		{[]string{"keygen", "--name", "a b", "--out", "/tmp/x"}, 2, "invalid key name"},
		{[]string{"release", "--help"}, 0, "-svn counter"},
		{[]string{"release", "--key", "k", "--model", "m", "--version", "1.4", "--svn", "1"}, 2, "--image is required"},
		{[]string{"submit", "--log", "http://127.0.0.1:1"}, 2, "at least one envelope"},
		{[]string{"submit", "--log", "ftp://x", "f"}, 2, "want http"},
		{[]string{"bundle", "--log", "http://x", "--digest", "sha256:zz"}, 2, "64 lowercase hex"},
		{[]string{"verify", "--log-key", "k"}, 2, "--release-keys is required"},
		{[]string{"submit", "--bogus"}, 2, "flag provided but not defined"},
	} {
		code, out, errs := fwctl(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.msg) {
			t.Errorf("fwctl %q = %d, %q; want %d with %q", tc.args, code, out+errs, tc.code, tc.msg)
		}
	}
}
