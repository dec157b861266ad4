package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
