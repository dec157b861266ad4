package transport_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly holds the package to what a device can build: the
// standard library, golang.org/x and the module's own packages, which the
// list of dependencies would show to depend on nothing else; and no cgo.
func TestStandardLibraryOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list and go build")
	}
	const pkg = "github.com/fwledger/fwledger/device/transport"
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if !strings.HasPrefix(dep, "github.com/fwledger/fwledger/") && !strings.HasPrefix(dep, "golang.org/x/") {
			t.Errorf("%s depends on %s: a device builds it from the standard library only", pkg, dep)
		}
	}
	cmd = exec.Command("go", "build", "-o", os.DevNull, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("CGO_ENABLED=0 go build %s: %v\n%s", pkg, err, out)
	}
}
