package repocheck

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/fwledger/fwledger/"

// deps returns the packages pkg depends on, directly or not, as go list
// -deps names them (standard library by path, the module's own with the
// module prefix).
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", module+pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// An importRule forbids packages (and their subpackages, with a trailing
// "/...") to a set of packages of the module.
type importRule struct {
	why       string
	packages  []string
	forbidden []string
}

// importRules are the directions the code's imports must run in; see the
// README's layout and docs of each package.
var importRules = []importRule{
	{
		why:      "the log mechanism knows nothing of firmware, keys, provenance, images or the HTTP API",
		packages: []string{"log", "tiles", "log/sqlite", "log/storagetest"},
		forbidden: []string{
			module + "ledger", module + "provenance/...", module + "keys", module + "digest", module + "cas",
			module + "bundle", module + "api", module + "client", module + "logclient", module + "tlogpolicy",
			module + "witness", module + "internal/server",
		},
	},
	{
		why:      "the device verifier is pure: no network, storage, metrics or caches",
		packages: []string{"client"},
		forbidden: []string{
			"net/http", "database/sql", "github.com/mattn/go-sqlite3", "github.com/prometheus/client_golang/prometheus",
			"github.com/hashicorp/golang-lru/v2", "google.golang.org/grpc", "github.com/sigstore/sigstore-go/pkg/verify",
			module + "log", module + "ledger", module + "logclient", module + "internal/server", module + "cas",
		},
	},
	{
		why:      "revocations and handovers are checked by the pure verifier: no network, storage or log",
		packages: []string{"revocation", "handover"},
		forbidden: []string{
			"net/http", "database/sql", "github.com/mattn/go-sqlite3",
			module + "log", module + "ledger", module + "logclient", module + "client", module + "internal/server", module + "cas",
		},
	},
	{
		why:      "device reports are signed and verified by devices and auditors: pure, no network, storage or cgo",
		packages: []string{"report"},
		forbidden: []string{
			"net/http", "database/sql", "github.com/mattn/go-sqlite3", "github.com/prometheus/client_golang/prometheus",
			module + "log", module + "ledger", module + "logclient", module + "client", module + "internal/server", module + "cas",
			module + "report/sqlite", module + "internal/sqlitedb",
		},
	},
	{
		why:      "the report stores' common types and interface hold no storage of their own",
		packages: []string{"report/store"},
		forbidden: []string{
			"database/sql", "github.com/mattn/go-sqlite3", "github.com/go-sql-driver/mysql",
			module + "report/sqlite", module + "report/mysql", module + "internal/sqlitedb",
		},
	},
	{
		why:      "the MySQL report store is plain database/sql on a handle it is given: no SQLite (cgo), no Trillian",
		packages: []string{"report/mysql"},
		forbidden: []string{
			"github.com/mattn/go-sqlite3", module + "internal/sqlitedb", module + "report/sqlite",
			module + "log/...", "google.golang.org/grpc", "github.com/google/trillian",
		},
	},
	{
		why:       "the ledger keeps device reports in any report store (report/store.Store); fwlog chooses one",
		packages:  []string{"ledger"},
		forbidden: []string{module + "report/sqlite", module + "report/mysql"},
	},
	{
		why:       "tlog-policy verification is pure",
		packages:  []string{"tlogpolicy"},
		forbidden: []string{"net/http", "database/sql", module + "client", module + "provenance", module + "keys"},
	},
	{
		why:      "a device applies deltas with nothing but io and zstd: no network, storage, cgo or log",
		packages: []string{"delta"},
		forbidden: []string{
			"net/http", "database/sql", "github.com/mattn/go-sqlite3",
			module + "log", module + "ledger", module + "logclient", module + "client", module + "cas", module + "provenance",
		},
	},
	{
		why:      "the device agent is pure Go for small devices: no SQLite, no PKCS #11, no metrics, no log server",
		packages: []string{"device", "trust", "device/state", "device/fsys", "device/transport", "cmd/fwdevice", "report"},
		forbidden: []string{
			"database/sql", "github.com/mattn/go-sqlite3", "github.com/prometheus/client_golang/prometheus",
			"github.com/miekg/pkcs11", module + "keys/pkcs11/...", module + "log", module + "ledger", module + "cas",
			module + "logclient", module + "cmd/internal/cli", module + "provenance/keyless", "github.com/sigstore/sigstore-go/pkg/verify",
		},
	},
	{
		why:       "a device's trust file and state are pure formats",
		packages:  []string{"trust", "device/state"},
		forbidden: []string{"net/http", module + "device/transport"},
	},
	{
		why:       "the auditor reads a log only over its public HTTP interface (tiles, checkpoint, reports), never its storage",
		packages:  []string{"audit"},
		forbidden: []string{module + "ledger", module + "log", module + "log/sqlite", module + "cas", module + "witness"},
	},
	{
		why:       "witnesses need no client of the log",
		packages:  []string{"witness"},
		forbidden: []string{module + "client", module + "logclient", module + "ledger", module + "log", module + "provenance"},
	},
	{
		why:       "the content store knows digests, not provenance",
		packages:  []string{"cas"},
		forbidden: []string{module + "provenance", module + "keys"},
	},
	{
		why:      "PKCS #11 (cgo and a token's module) is linked only into the commands that sign",
		packages: []string{"client", "tlogpolicy", "keys", "provenance", "report", "witness", "log", "ledger", "logclient", "fwtest"},
		forbidden: []string{
			module + "keys/pkcs11/...", "github.com/miekg/pkcs11", "github.com/ThalesGroup/crypto11",
		},
	},
	{
		why:      "formats and helpers sit below everything that uses them",
		packages: []string{"digest", "bundle", "api", "keys", "internal/strictjson", "internal/dirlock", "internal/server"},
		forbidden: []string{
			module + "log", module + "ledger", module + "provenance", module + "client", module + "logclient",
			module + "witness", module + "cas", module + "fwtest", module + "cmd/internal/cli",
		},
	},
}

// TestImportRules holds every package to the import rules: a package may not
// depend, directly or through others, on what its rule forbids.
func TestImportRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for _, r := range importRules {
		for _, pkg := range r.packages {
			if _, err := os.Stat("../../" + pkg); err != nil {
				t.Errorf("rule %q names %s, which does not exist", r.why, pkg)
				continue
			}
			for _, dep := range deps(t, pkg) {
				for _, f := range r.forbidden {
					if dep == f || (strings.HasSuffix(f, "/...") && (dep == strings.TrimSuffix(f, "/...") || strings.HasPrefix(dep, strings.TrimSuffix(f, "...")))) {
						t.Errorf("%s depends on %s, but %s", pkg, dep, r.why)
					}
				}
			}
		}
	}
}

// TestPKCS11OnlyInCommands checks, with cgo on (the only build in which
// package keys/pkcs11 links the PKCS #11 binding), that no package outside
// cmd/ depends on keys/pkcs11 or on a PKCS #11 binding: only the commands,
// and cmd/internal/cli for them, load keys from tokens.
func TestPKCS11OnlyInCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}", module+"...")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkcs11Pkg := module + "keys/pkcs11"
	users := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, deps := fields[0], fields[1:]
		if pkg == pkcs11Pkg || strings.HasPrefix(pkg, pkcs11Pkg+"/") {
			continue
		}
		for _, d := range deps {
			if d != pkcs11Pkg && d != "github.com/miekg/pkcs11" && d != "github.com/ThalesGroup/crypto11" {
				continue
			}
			if !strings.HasPrefix(pkg, module+"cmd/") {
				t.Errorf("%s depends on %s, but PKCS #11 is linked only into the commands (cmd/...)", pkg, d)
			} else if d == pkcs11Pkg {
				users++
			}
		}
	}
	if users == 0 {
		t.Error("no command depends on keys/pkcs11: is the rule still checking anything?")
	}
}

// TestDeviceLinksNoCgo checks, with cgo on, that nothing fwdevice links
// outside the standard library has cgo files: the device agent is pure Go
// whatever the build.
func TestDeviceLinksNoCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if and (not .Standard) .CgoFiles}}{{.ImportPath}}{{end}}", module+"cmd/fwdevice")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("fwdevice links packages with cgo: %s", s)
	}
	// The check itself sees cgo where there is some.
	cmd = exec.Command("go", "list", "-deps", "-f", "{{if and (not .Standard) .CgoFiles}}{{.ImportPath}}{{end}}", module+"cmd/fwlog")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "go-sqlite3") {
		t.Errorf("the check finds no cgo in fwlog (%v): is it still checking anything?", err)
	}
}

// TestPureVerifierBuildsWithoutCgo builds the verifier, and fwctl, with cgo
// off: a device cross-compiles them.
func TestPureVerifierBuildsWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds packages")
	}
	for _, pkg := range []string{"client", "tlogpolicy", "delta", "report", "cmd/fwctl"} {
		cmd := exec.Command("go", "build", "-o", os.DevNull, module+pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("CGO_ENABLED=0 go build %s: %v\n%s", pkg, err, out)
		}
		if d := deps(t, pkg); slices.Contains(d, "github.com/mattn/go-sqlite3") {
			t.Errorf("%s depends on SQLite", pkg)
		}
	}
}
