package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
)

// TestLogURLWithoutScheme checks that every command with --log refuses a
// host:port without a scheme as a usage error that gives the URL to use.
func TestLogURLWithoutScheme(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "rel.dsse.json")
	os.WriteFile(env, []byte("{}"), 0o644)
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, args := range [][]string{
		{"submit", "--log", "127.0.0.1:8080", env},
		{"bundle", "--log", "127.0.0.1:8080", "--digest", digest},
		{"checkpoint", "--log", "127.0.0.1:8080", "--log-key", "log.pub"},
		{"provenance", "show", "--log", "127.0.0.1:8080", "--digest", digest},
	} {
		code, _, errs := fwctl(t, args...)
		if code != exitUsage || !strings.Contains(errs, "give http://127.0.0.1:8080") {
			t.Errorf("fwctl %q = %d, %q; want %d with %q", args, code, errs, exitUsage, "give http://127.0.0.1:8080")
		}
	}
}

// TestCheckpointByAnotherKey checks that fwctl checkpoint, given a
// checkpoint signed by another key than the log's, says which key signed
// and which was expected.
func TestCheckpointByAnotherKey(t *testing.T) {
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }
	logPub, _ := fwtest.LogKey.Public().Marshal()
	os.WriteFile(p("log.pub"), logPub, 0o644)
	other := fwtest.Key("example.com/another-log")
	os.WriteFile(p("cp"), fwtest.SignCheckpoint(t, other, 1, make([]byte, 32)), 0o644)
	logV, _ := fwtest.LogKey.Public().NoteVerifier()
	otherV, _ := other.Public().NoteVerifier()
	code, _, errs := fwctl(t, "checkpoint", "--file", p("cp"), "--log-key", p("log.pub"))
	if code != exitRejected {
		t.Errorf("checkpoint by another key = %d, %q; want %d", code, errs, exitRejected)
	}
	for _, k := range []string{fmt.Sprintf("%s+%08x", otherV.Name(), otherV.KeyHash()), fmt.Sprintf("expected the log key %s+%08x", logV.Name(), logV.KeyHash())} {
		if !strings.Contains(errs, k) {
			t.Errorf("fwctl checkpoint said %q; want it to name %s", errs, k)
		}
	}
}

// TestVerifyFlagConflicts checks that no flag of fwctl verify is silently
// ignored: a flag the others would override, or one that cannot be met,
// is a usage error naming it (and the flag it conflicts with).
func TestVerifyFlagConflicts(t *testing.T) {
	base := []string{"verify", "--log-key", "log.pub", "--image", "fw.bin", "--bundle", "fw.bundle"}
	for _, tc := range []struct {
		args  []string
		names []string // phrases the message must have
	}{
		{[]string{"--policy", "p.yaml", "--release-keys", "r.pub"}, []string{"--release-keys", "--policy"}},
		{[]string{"--policy", "p.yaml", "--builder-keys", "b.pub"}, []string{"--builder-keys", "--policy"}},
		{[]string{"--policy", "p.yaml", "--threshold", "2"}, []string{"--threshold", "--policy"}},
		{[]string{"--policy", "p.yaml", "--threshold", "1"}, []string{"--threshold", "--policy"}},
		{[]string{"--policy", "p.yaml", "--require-provenance=true"}, []string{"--require-provenance", "--policy"}},
		{[]string{"--policy", "p.yaml", "--require-provenance=false"}, []string{"--require-provenance", "--policy"}},
		{[]string{"--release-keys", "r.pub", "--builder-keys", "b.pub", "--threshold", "2"}, []string{"--threshold 2", "1 --release-keys"}},
		{[]string{"--release-keys", "r.pub", "--builder-keys", "b.pub", "--threshold", "0"}, []string{"--threshold 0"}},
		{[]string{"--release-keys", "r.pub"}, []string{"--builder-keys is required", "--policy", "--require-provenance=false"}},
		{[]string{"--builder-keys", "b.pub"}, []string{"--release-keys is required"}},
		{[]string{"--release-keys", "r.pub", "--builder-keys", "b.pub", "--revocation-threshold", "2"}, []string{"--revocation-threshold needs --revocation-keys"}},
		{[]string{"--release-keys", "r.pub", "--builder-keys", "b.pub", "--revocation-keys", "s.pub", "--revocation-threshold", "2"}, []string{"--revocation-threshold 2", "1 --revocation-keys"}},
	} {
		args := append(append([]string{}, base...), tc.args...)
		code, _, errs := fwctl(t, args...)
		if code != exitUsage {
			t.Errorf("fwctl %q = %d, %q; want %d", args, code, errs, exitUsage)
			continue
		}
		for _, n := range tc.names {
			if !strings.Contains(errs, n) {
				t.Errorf("fwctl %q said %q; want it to name %q", args, errs, n)
			}
		}
	}
}

// TestHelp checks that help asked for, of every command and subcommand,
// is printed on stdout with exit status 0, and that a command group
// without its subcommand is a usage error.
func TestHelp(t *testing.T) {
	// Every command, with its subcommands.
	tree := map[string][]string{
		"keygen": nil, "release": nil, "attest": nil, "sign": nil, "submit": nil, "bundle": nil, "verify": nil, "checkpoint": nil,
		"provenance": {"show"},
		"policy":     {"check"},
		"revoke":     {"key", "release"},
		"trust":      {"init", "sign", "show"},
		"delta":      nil,
		"audit":      nil,
	}
	for name := range commands {
		if _, ok := tree[name]; !ok {
			t.Errorf("command %q is missing from this test", name)
		}
	}
	for _, h := range []string{"--help", "-h", "-help"} {
		if code, out, _ := fwctl(t, h); code != exitOK || !strings.Contains(out, "Usage:") {
			t.Errorf("fwctl %s = %d, %q; want 0 with the usage", h, code, out)
		}
		for name, subs := range tree {
			cmds := [][]string{{name}}
			for _, sub := range subs {
				cmds = append(cmds, []string{name, sub})
			}
			for _, c := range cmds {
				args := append(append([]string{}, c...), h)
				code, out, errs := fwctl(t, args...)
				if code != exitOK || !strings.Contains(out, "Usage: fwctl "+strings.Join(c, " ")) {
					t.Errorf("fwctl %q = %d, stdout %q, stderr %q; want 0 with the usage on stdout", args, code, out, errs)
				}
			}
			if len(subs) > 0 {
				if code, _, errs := fwctl(t, name); code != exitUsage || !strings.Contains(errs, "Usage: fwctl "+name) {
					t.Errorf("fwctl %s = %d, %q; want %d with the usage", name, code, errs, exitUsage)
				}
				if code, _, errs := fwctl(t, name, "nope"); code != exitUsage || !strings.Contains(errs, `unknown subcommand "nope"`) {
					t.Errorf("fwctl %s nope = %d, %q; want %d", name, code, errs, exitUsage)
				}
			}
		}
	}
	// The usage printed for a flag error goes to stderr.
	if code, out, errs := fwctl(t, "verify", "--bogus"); code != exitUsage || out != "" || !strings.Contains(errs, "Usage: fwctl verify") {
		t.Errorf("fwctl verify --bogus = %d, stdout %q, stderr %q; want %d with the usage on stderr", code, out, errs, exitUsage)
	}
}

// TestPublicKeyAsKey checks that a public key file given as --key is
// named as such (not refused for its mode), by every command that signs.
func TestPublicKeyAsKey(t *testing.T) {
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }
	if code, _, errs := fwctl(t, "keygen", "--name", "example.com/release-1", "--out", p("release-1")); code != 0 {
		t.Fatal(errs)
	}
	os.WriteFile(p("fw.bin"), []byte("firmware"), 0o644)
	os.WriteFile(p("rel.dsse.json"), []byte("{}"), 0o644)
	for _, args := range [][]string{
		{"release", "--key", p("release-1.pub"), "--model", "acme-x1", "--version", "1.0.0", "--svn", "1", "--image", p("fw.bin")},
		{"attest", "--key", p("release-1.pub"), "--builder-id", "https://ci.example.com/v1", "--source", "git+https://git.example.com/fw@refs/tags/v1", "--commit", "0123", "--image", p("fw.bin")},
		{"sign", "--key", p("release-1.pub"), "--in", p("rel.dsse.json")},
	} {
		code, _, errs := fwctl(t, args...)
		if code != exitError || !strings.Contains(errs, "this is a public key; give the private key (.key)") || strings.Contains(errs, "chmod") {
			t.Errorf("fwctl %s --key release-1.pub = %d, %q; want it to say it is a public key", args[0], code, errs)
		}
	}
}

// TestExamplePolicyRuns runs fwctl policy check with docs/policy.example.yaml
// as shipped, beside its trusted root, with the key files the README
// walkthrough makes in local/keys/, so that the example cannot break again.
func TestExamplePolicyRuns(t *testing.T) {
	root := t.TempDir() // a checkout: docs/ and local/keys/
	p := func(s string) string { return filepath.Join(root, s) }
	os.MkdirAll(p("docs"), 0o755)
	for _, name := range []string{"policy.example.yaml", "sigstore-trusted-root.json"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "docs", name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(p("docs/"+name), data, 0o644)
	}
	for _, k := range []string{"release-1", "release-2", "ci"} {
		if code, _, errs := fwctl(t, "keygen", "--name", "example.com/"+k, "--out", p("local/keys/"+k)); code != 0 {
			t.Fatal(errs)
		}
	}
	os.WriteFile(p("fw.bin"), fwtest.Image("example policy", 1000), 0o644)
	for _, s := range [][]string{
		{"attest", "--key", p("local/keys/ci.key"), "--builder-id", "https://ci.example.com/runner/v1", "--source", "git+https://git.example.com/acme/fw@refs/tags/v1.4.0",
			"--commit", "0123456789abcdef0123456789abcdef01234567", "--model", "acme-x1", "--image", p("fw.bin"), "--out", p("prov.dsse.json")},
		{"release", "--key", p("local/keys/release-1.key"), "--key", p("local/keys/release-2.key"), "--model", "acme-x1", "--version", "1.4.0", "--svn", "7",
			"--image", p("fw.bin"), "--provenance", p("prov.dsse.json"), "--out", p("rel.dsse.json")},
	} {
		if code, _, errs := fwctl(t, s...); code != 0 {
			t.Fatalf("fwctl %s = %d: %s", s[0], code, errs)
		}
	}
	code, out, errs := fwctl(t, "policy", "check", "--policy", p("docs/policy.example.yaml"), p("rel.dsse.json"), p("prov.dsse.json"))
	if code != exitRejected {
		t.Fatalf("policy check with the example = %d, want %d (it runs, and the walkthrough's release lacks a layout and a rebuild):\n%s%s", code, exitRejected, out, errs)
	}
	for _, want := range []string{`rule "high-risk devices": FAIL`, "ok   release signatures: 2 of 2 required", "builder: vendor-ci", "FAIL layout", "FAIL reproducible"} {
		if !strings.Contains(out, want) {
			t.Errorf("policy check with the example printed:\n%s\nwant %q", out, want)
		}
	}
}

// TestFlagConflicts checks the flags of fwctl checkpoint, policy check and
// bundle that exclude each other: giving both is a usage error naming
// both, never one silently ignored.
func TestFlagConflicts(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		args  []string
		names []string
	}{
		{[]string{"checkpoint", "--log", "http://127.0.0.1:1", "--file", "cp", "--log-key", "log.pub"}, []string{"--log", "--file"}},
		{[]string{"policy", "check", "--policy", "p.yaml", "--bundle", "b", "rel.dsse.json"}, []string{"--bundle", "envelope files"}},
		{[]string{"bundle", "--log", "http://127.0.0.1:1", "--image", "fw.bin", "--digest", digest}, []string{"--image", "--digest"}},
	} {
		code, _, errs := fwctl(t, tc.args...)
		if code != exitUsage {
			t.Errorf("fwctl %q = %d, %q; want %d", tc.args, code, errs, exitUsage)
		}
		for _, n := range tc.names {
			if !strings.Contains(errs, n) {
				t.Errorf("fwctl %q said %q; want it to name %s", tc.args, errs, n)
			}
		}
	}
}

// TestCheckpointAppliesBoth checks that fwctl checkpoint given both
// --log-key and --witness-policy applies both: a checkpoint the log key
// verifies is still refused without the policy's quorum.
func TestCheckpointAppliesBoth(t *testing.T) {
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }
	logPub, _ := fwtest.LogKey.Public().Marshal()
	os.WriteFile(p("log.pub"), logPub, 0o644)
	os.WriteFile(p("cp"), fwtest.SignCheckpoint(t, fwtest.LogKey, 1, make([]byte, 32)), 0o644)
	w := fwtest.WitnessA
	os.WriteFile(p("policy.txt"), fwtest.WitnessPolicy(t, fwtest.LogKey, 1, []*keys.PrivateKey{w}), 0o644)
	if code, _, errs := fwctl(t, "checkpoint", "--file", p("cp"), "--log-key", p("log.pub")); code != exitOK {
		t.Errorf("checkpoint --log-key = %d, %q; want 0", code, errs)
	}
	if code, _, errs := fwctl(t, "checkpoint", "--file", p("cp"), "--log-key", p("log.pub"), "--witness-policy", p("policy.txt")); code != exitRejected {
		t.Errorf("checkpoint --log-key --witness-policy without cosignatures = %d, %q; want %d", code, errs, exitRejected)
	}
}
