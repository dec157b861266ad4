package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/internal/testutil"
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
	logPub, _ := testutil.LogKey.Public().Marshal()
	os.WriteFile(p("log.pub"), logPub, 0o644)
	other := testutil.Key("example.com/another-log")
	os.WriteFile(p("cp"), testutil.SignCheckpoint(t, other, 1, make([]byte, 32)), 0o644)
	logV, _ := testutil.LogKey.Public().NoteVerifier()
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
