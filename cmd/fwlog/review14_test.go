package main

// Review of issue 14 (fwlog on Trillian with several frontends): proofs of
// concept of the problems found. Each test fails while the problem is
// there.

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/log/trillian/trilliantest"
)

// TestReview14MySQLFileMode: --mysql @FILE keeps the database password out
// of the process list, but fwlog reads the file whatever its mode, while
// it refuses a log key or a PKCS#11 PIN file that group or others may
// read. A DSN file left world-readable (0644, the default umask) gives
// every local user the database, and with it the log's state.
func TestReview14MySQLFileMode(t *testing.T) {
	e := trilliantest.New(t)
	dir := t.TempDir()
	if err := keys.Write(filepath.Join(dir, "log"), fwtest.Key(origin)); err != nil {
		t.Fatal(err)
	}
	pub := setup(t, dir)
	dsn := filepath.Join(dir, "mysql.dsn")
	if err := os.WriteFile(dsn, []byte(e.DSN+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dsn, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	p, err := start(t, append(trillianArgs(t, e, dir, "a"), "--release-keys", pub)...)
	if err == nil {
		p.Stop(syscall.SIGTERM)
		t.Fatalf("fwlog serve started with --mysql @%s of mode 0644, which holds the database password; want a refusal as for a private key", dsn)
	}
	if !strings.Contains(err.Error(), "mode") {
		t.Errorf("fwlog serve refused a DSN file of mode 0644, but not for its mode: %v", err)
	}
}
