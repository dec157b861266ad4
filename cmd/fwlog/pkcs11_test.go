package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys/pkcs11/pkcs11test"
	"github.com/fwledger/fwledger/logclient"
	flog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// TestPKCS11LogKey runs fwlog with its checkpoint key in a SoftHSM2 token
// (--key pkcs11:…): the checkpoints it serves open with golang.org/x/mod's
// note package and parse with transparency-dev/formats, under the vkey of
// the public key file written from the token's public key; it starts again
// on its data with the same key; a different --origin, a wrong PIN and a
// missing key each stop it with a message naming the problem.
func TestPKCS11LogKey(t *testing.T) {
	tk := pkcs11test.SoftHSM(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	relPub := setup(t, dir)

	// The log's key, labelled with its origin, made as fwctl keygen
	// --pkcs11 makes it.
	logOrigin := pkcs11test.Label("example.com/hsmlog")
	pubFile := filepath.Join(dir, "log.pub")
	uri := tk.NewPublicKeyFile(t, logOrigin, pubFile)
	if !strings.Contains(uri, "object=example.com%2Fhsmlog-") {
		t.Fatalf("URI %s: the origin's '/' is not percent-encoded", uri)
	}
	pubData, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	vkey, _, _ := strings.Cut(string(pubData), "\n")
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("the public key file's first line is not a vkey: %v", err)
	}

	p, err := start(t, "--data", data, "--key", uri, "--release-keys", relPub)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.Output(), readPIN(t, tk)) {
		t.Fatalf("fwlog logged the PIN:\n%s", p.Output())
	}
	lc, err := logclient.New(p.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		env := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image(fmt.Sprint("hsm log ", i), 64), nil), relKey)
		if _, err := lc.Add(ctx, env); err != nil {
			t.Fatal(err)
		}
	}
	raw := waitCheckpoint(t, lc, 3)

	n, err := note.Open(raw, note.VerifierList(verifier))
	if err != nil {
		t.Fatalf("note.Open of fwlog's checkpoint: %v\n%s", err, raw)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != logOrigin {
		t.Errorf("checkpoint signatures %+v, want one by %s", n.Sigs, logOrigin)
	}
	cp, _, _, err := flog.ParseCheckpoint(raw, logOrigin, verifier)
	if err != nil {
		t.Fatalf("formats' ParseCheckpoint of fwlog's checkpoint: %v\n%s", err, raw)
	}
	if cp.Origin != logOrigin || cp.Size != 3 {
		t.Errorf("checkpoint %s %d, want %s 3", cp.Origin, cp.Size, logOrigin)
	}
	if err := p.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, p.Output())
	}

	// It starts again with the same key (and --origin, which must match
	// the label), and its checkpoints stay consistent.
	p, err = start(t, "--data", data, "--key", uri, "--origin", logOrigin, "--release-keys", relPub)
	if err != nil {
		t.Fatal(err)
	}
	if lc, err = logclient.New(p.URL, nil); err != nil {
		t.Fatal(err)
	}
	env := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("hsm log 3", 64), nil), relKey)
	if _, err := lc.Add(ctx, env); err != nil {
		t.Fatal(err)
	}
	raw4 := waitCheckpoint(t, lc, 4)
	checkConsistent(t, lc, verifier, raw, checkpointOf(t, lc, verifier))
	if _, _, _, err := flog.ParseCheckpoint(raw4, logOrigin, verifier); err != nil {
		t.Errorf("the checkpoint after the restart: %v", err)
	}
	if err := p.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, p.Output())
	}

	wrongPIN := filepath.Join(dir, "wrong.pin")
	os.WriteFile(wrongPIN, []byte("0000\n"), 0o600)
	for _, tc := range []struct {
		desc string
		args []string
		want string
	}{
		{"another origin", []string{"--key", uri, "--origin", "example.com/other"}, "differs from the name of the log key in the token"},
		{"wrong PIN", []string{"--key", strings.Replace(uri, tk.PINFile, wrongPIN, 1)}, "wrong PIN for token"},
		{"missing key", []string{"--key", tk.URI("example.com/no-such-log")}, "no private key in token"},
		{"missing module", []string{"--key", strings.Replace(uri, tk.Module, "/usr/lib/nowhere/libnone.so", 1)}, "does not exist"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p, err := start(t, append([]string{"--data", data, "--release-keys", relPub}, tc.args...)...)
			if err == nil {
				p.Stop(syscall.SIGKILL)
				t.Fatal("fwlog started")
			}
			if code := p.Cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(p.Output(), tc.want) {
				t.Errorf("fwlog exited with %d:\n%s\nwant 1 and a message naming %q", code, p.Output(), tc.want)
			}
		})
	}
}

// waitCheckpoint returns the log's checkpoint once it covers size entries.
func waitCheckpoint(t *testing.T, lc *logclient.Client, size uint64) []byte {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		raw, err := lc.Checkpoint(context.Background())
		if err != nil {
			continue
		}
		var cp flog.Checkpoint
		text, _, _ := strings.Cut(string(raw), "\n\n")
		if _, err := cp.Unmarshal([]byte(text + "\n")); err == nil && cp.Size >= size {
			return raw
		}
	}
	t.Fatalf("no checkpoint of size %d", size)
	return nil
}

func readPIN(t *testing.T, tk *pkcs11test.Token) string {
	t.Helper()
	b, err := os.ReadFile(tk.PINFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
