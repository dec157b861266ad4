package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDemo runs make demo's script once through (DEMO_ONESHOT): a log and
// three witnesses from fresh keys, a release submitted, and the cosigned
// checkpoint and the bundle verified under the 2-of-3 policy; then a device
// installs, upgrades (once by a delta), and refuses each attack with its
// reason.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	cmd := exec.Command("bash", "../../scripts/demo.sh")
	cmd.Env = append(os.Environ(), "DEMO_ONESHOT=1", "DEMO_DIR="+t.TempDir(), fmt.Sprintf("DEMO_PORT_BASE=%d", freeBase(t)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{
		"group two-of-three 2 a b c",
		"ok: size 2, signed by the log and cosigned by",
		`"verified": true`,
		`"role": "build"`,
		"confirmed 1.0.0 (security version 1)",
		"confirmed 2.0.0 (security version 2)",
		"fetched a delta of",
		"confirmed 3.0.0 (security version 3)",
		`reported confirmed to the log: {"id":1}`,
		"REFUSED (rollback)",
		"REFUSED (digest)",
		"REFUSED (inclusion)",
		"REFUSED (quorum)",
		"REFUSED (split_view)",
		"REFUSED (freeze)",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

// freeBase returns a port p such that p..p+3 are free on 127.0.0.1.
func freeBase(t *testing.T) int {
	for range 50 {
		base := 20000 + rand.IntN(30000)
		ok := true
		for p := base; p < base+4 && ok; p++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				continue
			}
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no four free ports")
	return 0
}
