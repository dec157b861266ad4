package fwtest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// InteropDir returns the directory of the shared real-world provenance
// samples, or skips the test with a clear message if they are not here. It
// looks at $FWLEDGER_INTEROP, then ../shared/interop/provenance beside the
// repository, then /work/shared/interop/provenance.
func InteropDir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..")
	for _, dir := range []string{
		os.Getenv("FWLEDGER_INTEROP"),
		filepath.Join(repo, "..", "shared", "interop", "provenance"),
		"/work/shared/interop/provenance",
	} {
		if dir == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "README.md")); err == nil {
			return dir
		}
	}
	t.Skip("the shared interop samples (shared/interop/provenance) are not here; set FWLEDGER_INTEROP to their directory")
	return ""
}

// ReadInterop reads one interop sample, skipping the test if they are not
// here.
func ReadInterop(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(InteropDir(t), name))
	if err != nil {
		t.Fatalf("interop sample %s: %v", name, err)
	}
	return data
}
