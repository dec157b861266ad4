package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/revocation"
	"github.com/fwledger/fwledger/tlogpolicy"
)

// TestReferenceWitness runs fwlog with a witness that follows C2SP
// tlog-witness but is not fwwitness: transparency-dev/witness's
// omniwitness, built by scripts/omniwitness.sh (make test runs it and sets
// FWLEDGER_OMNIWITNESS). fwlog must get its checkpoints cosigned by it and
// publish them; the result verifies under the policy. fwlog's checkpoints
// carry an extension line (the revocation commitment), which the
// reference witness cosigns too.
func TestReferenceWitness(t *testing.T) {
	bin := os.Getenv("FWLEDGER_OMNIWITNESS")
	if bin == "" {
		t.Skip("FWLEDGER_OMNIWITNESS is not set: run scripts/omniwitness.sh (make test does) to build the reference witness")
	}
	dir := t.TempDir()
	logKey := fwtest.Key(origin)
	if err := keys.Write(filepath.Join(dir, "log"), logKey); err != nil {
		t.Fatal(err)
	}
	logVKey, _ := logKey.Public().VerifierKey()
	refKey := fwtest.Key("omniwitness.example.org")
	skey, err := refKey.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	// omniwitness reads the whole file as a note signer key: just line 1.
	first, _, _ := strings.Cut(string(skey), "\n")
	if err := os.WriteFile(filepath.Join(dir, "omni.key"), []byte(first), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf("Logs:\n  - Origin: %q\n    PublicKey: %q\n", origin, logVKey)
	if err := os.WriteFile(filepath.Join(dir, "logs.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--listen", addr, "--metrics_listen", "", "--db_file", filepath.Join(dir, "omni.db"),
		"--private_key_path", filepath.Join(dir, "omni.key"), "--additional_logs", filepath.Join(dir, "logs.yaml"))
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitListening(t, addr, out)

	policy := fmt.Sprintf("log %s\nwitness omni %s http://%s\nquorum omni\n", logVKey, fwtest.CosignerVKey(t, refKey), addr)
	if err := os.WriteFile(filepath.Join(dir, "policy.txt"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	wp, err := tlogpolicy.Parse([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	pub := setup(t, dir)
	p, err := start(t, append(backendArgs(t, dir, "data"), "--key", filepath.Join(dir, "log.key"), "--release-keys", pub,
		"--witness-policy", filepath.Join(dir, "policy.txt"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(syscall.SIGTERM)
	lc, _ := logclient.New(p.URL, nil)
	ctx := context.Background()
	for i := range 3 {
		env := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image(fmt.Sprint("reference witness ", i), 64), nil), relKey)
		if _, err := lc.Add(ctx, env); err != nil {
			t.Fatal(err)
		}
		// Wait for a witnessed checkpoint covering it: each one is a new
		// add-checkpoint with a consistency proof from the last.
		deadline := time.Now().Add(10 * time.Second)
		for {
			cp, err := lc.Checkpoint(ctx)
			if err == nil {
				wc, err := wp.VerifyCheckpoint(cp)
				if err != nil {
					t.Fatalf("published checkpoint does not meet the policy: %v\n%s", err, cp)
				}
				if wc.Checkpoint.Size == uint64(i+1) {
					// The reference witness cosigns checkpoints with
					// fwledger's extension line (the revocation
					// commitment).
					if _, err := revocation.FromCheckpoint(cp); err != nil {
						t.Fatalf("the cosigned checkpoint has no revocation commitment: %v\n%s", err, cp)
					}
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no witnessed checkpoint of size %d; fwlog:\n%s\nomniwitness:\n%s", i+1, p.Output(), out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// freeAddr returns a 127.0.0.1 address nothing listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(t *testing.T, addr string, out fmt.Stringer) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s:\n%s", addr, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWitnessPolicyErrors checks that fwlog refuses to start, naming the
// problem, with a witness policy it cannot use (exit status 1), or with
// --witness-fail-open but no policy (a usage error, 2).
func TestWitnessPolicyErrors(t *testing.T) {
	dir := t.TempDir()
	logKey := fwtest.Key(origin)
	if err := keys.Write(filepath.Join(dir, "log"), logKey); err != nil {
		t.Fatal(err)
	}
	pub := setup(t, dir)
	wk := fwtest.WitnessA
	other := fwtest.Key("example.com/otherlog")
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		desc string
		args []string
		code int
		want string
	}{
		{"missing file", []string{"--witness-policy", filepath.Join(dir, "nope.txt")}, 1, "couldn't read the witness policy"},
		{"not a policy", []string{"--witness-policy", write("bad.txt", []byte("witness a\n"))}, 1, "invalid --witness-policy"},
		{"another log's policy", []string{"--witness-policy", write("other.txt", fwtest.WitnessPolicy(t, other, 1, []*keys.PrivateKey{wk}, "http://127.0.0.1:1"))}, 1, "has no log line with this log's key"},
		{"witness without URL", []string{"--witness-policy", write("nourl.txt", fwtest.WitnessPolicy(t, logKey, 1, []*keys.PrivateKey{wk}))}, 1, `witness \"w0\" has no URL in the policy`},
		{"fail-open alone", []string{"--witness-fail-open"}, 2, "--witness-fail-open needs --witness-policy"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			args := append([]string{"--data", filepath.Join(dir, "data"), "--key", filepath.Join(dir, "log.key"), "--release-keys", pub}, tc.args...)
			p, err := start(t, args...)
			if err == nil {
				p.Stop(syscall.SIGKILL)
				t.Fatal("fwlog started")
			}
			if p.Cmd.ProcessState.ExitCode() != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("fwlog: %v; want exit status %d and %q", err, tc.code, tc.want)
			}
		})
	}
}
