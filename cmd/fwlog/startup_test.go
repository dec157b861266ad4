package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
)

// TestNothingCreatedOnBadStart runs fwlog with a mistake in a flag or an
// input file: it must exit with status 1 or 2 and leave no data directory
// and no key behind, whether the key goes in the data directory or not.
func TestNothingCreatedOnBadStart(t *testing.T) {
	dir := t.TempDir()
	pub := setup(t, dir)
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	otherLog := fwtest.WitnessPolicy(t, fwtest.Key("example.com/otherlog"), 1, []*keys.PrivateKey{fwtest.WitnessA}, "http://127.0.0.1:1")
	for _, tc := range []struct {
		desc string
		args []string
		code int
	}{
		{"negative queue size", []string{"--queue-size", "-5"}, 2},
		{"body budget below the largest submission", []string{"--body-budget", "1MiB"}, 2},
		{"fail-open without a witness policy", []string{"--witness-fail-open"}, 2},
		{"missing witness policy", []string{"--witness-policy", filepath.Join(dir, "nope.txt")}, 1},
		{"malformed witness policy", []string{"--witness-policy", write("bad.txt", "witness a\n")}, 1},
		{"another log's witness policy", []string{"--witness-policy", write("other.txt", string(otherLog))}, 1},
		{"missing release key", []string{"--release-keys", filepath.Join(dir, "nope.pub")}, 1},
		{"malformed policy", []string{"--policy", write("policy.yaml", "models: [\n")}, 1},
		{"no origin for a new key", []string{"--origin", ""}, 1},
	} {
		for _, keyDir := range []string{"", "keys"} {
			t.Run(tc.desc+"/key in "+map[string]string{"": "data", "keys": "another directory"}[keyDir], func(t *testing.T) {
				data := filepath.Join(t.TempDir(), "data")
				keyFile := filepath.Join(data, "log.key")
				args := []string{"--data", data, "--release-keys", pub, "--origin", origin}
				if keyDir != "" {
					kd := filepath.Join(t.TempDir(), keyDir)
					if err := os.Mkdir(kd, 0o755); err != nil {
						t.Fatal(err)
					}
					keyFile = filepath.Join(kd, "log.key")
					args = append(args, "--key", keyFile)
				}
				p, err := start(t, append(args, tc.args...)...)
				if err == nil {
					p.Stop(syscall.SIGKILL)
					t.Fatal("fwlog started")
				}
				if code := p.Cmd.ProcessState.ExitCode(); code != tc.code {
					t.Errorf("exit status %d; want %d\n%s", code, tc.code, p.Output())
				}
				for _, f := range []string{data, keyFile, strings.TrimSuffix(keyFile, ".key") + ".pub"} {
					if _, err := os.Lstat(f); err == nil {
						t.Errorf("fwlog left %s behind", f)
					}
				}
			})
		}
	}
}

// TestPortInUse shows fwlog failing on a port in use before it creates the
// data directory or the key.
func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	p, err := start(t, "--data", data, "--origin", origin, "--release-keys", setup(t, dir), "--addr", ln.Addr().String())
	if err == nil {
		p.Stop(syscall.SIGKILL)
		t.Fatal("fwlog started on a port in use")
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit status %d; want 1\n%s", code, p.Output())
	}
	if _, err := os.Lstat(data); err == nil {
		t.Errorf("fwlog created %s before failing to listen", data)
	}
}

// logLine returns the fields of the first JSON log line with message msg.
func logLine(t *testing.T, out, msg string) map[string]any {
	t.Helper()
	for line := range strings.Lines(out) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			return rec
		}
	}
	t.Fatalf("no %q line in the log:\n%s", msg, out)
	return nil
}

// TestLogReadySizes restarts a log of three entries under a witness policy
// whose witness cannot be reached: "log ready" must report three entries
// integrated and signed, and none published. Durations in the JSON log are
// strings such as "30s".
func TestLogReadySizes(t *testing.T) {
	dir := t.TempDir()
	logKey := fwtest.Key(origin)
	if err := keys.Write(filepath.Join(dir, "log"), logKey); err != nil {
		t.Fatal(err)
	}
	args := []string{"--data", filepath.Join(dir, "data"), "--key", filepath.Join(dir, "log.key"), "--release-keys", setup(t, dir)}
	p, err := start(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	lc, _ := logclient.New(p.URL, nil)
	for i := range 3 {
		env := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("ready "+string(rune('a'+i)), 64), nil), relKey)
		if _, err := lc.Add(context.Background(), env); err != nil {
			t.Fatal(err)
		}
	}
	waitSize(t, lc, 3)
	if err := p.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if got := logLine(t, p.Output(), "shutting down: waiting for in-flight requests")["timeout"]; got != "30s" {
		t.Errorf("shutdown timeout logged as %#v; want \"30s\"", got)
	}

	policy := fwtest.WitnessPolicy(t, logKey, 1, []*keys.PrivateKey{fwtest.WitnessA}, "http://127.0.0.1:1")
	if err := os.WriteFile(filepath.Join(dir, "policy.txt"), policy, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err = start(t, append(args, "--witness-policy", filepath.Join(dir, "policy.txt"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(syscall.SIGTERM)
	ready := logLine(t, p.Output(), "log ready")
	for field, want := range map[string]float64{"sequenced": 3, "integrated": 3, "signed": 3, "published": 0} {
		if got := ready[field]; got != want {
			t.Errorf("log ready: %s = %#v; want %v", field, got, want)
		}
	}
}
