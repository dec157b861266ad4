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
