package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/keys/pkcs11/pkcs11test"
	"github.com/fwledger/fwledger/witness"
	flog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// TestPKCS11WitnessKey runs fwwitness with its key in a SoftHSM2 token
// (--key pkcs11:…): its cosignatures are C2SP cosignature/v1, timestamped,
// and verify with the cosignature vkey of the public key file written from
// the token's public key (transparency-dev/formats' verifier and parser);
// fwwitness vkey prints that vkey from the token; a wrong PIN stops it with
// a message naming the problem.
func TestPKCS11WitnessKey(t *testing.T) {
	tk := pkcs11test.SoftHSM(t)
	dir := t.TempDir()
	name := pkcs11test.Label("witness-hsm.example.org")
	pubFile := filepath.Join(dir, "witness.pub")
	uri := tk.NewPublicKeyFile(t, name, pubFile)
	pub, err := keys.LoadPublic(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	cosigVKey, err := pub.CosignatureVerifierKey()
	if err != nil {
		t.Fatal(err)
	}

	// fwwitness vkey reads it from the token.
	var out, errb bytes.Buffer
	if code := run([]string{"vkey", "--key", uri}, &out, &errb); code != 0 || strings.TrimSpace(out.String()) != cosigVKey {
		t.Errorf("fwwitness vkey --key %s = %d, %q %q; want %s", uri, code, out.String(), errb.String(), cosigVKey)
	}

	logVKey, _ := logKey.Public().VerifierKey()
	logs := filepath.Join(dir, "logs.txt")
	os.WriteFile(logs, []byte("log "+logVKey+"\n"), 0o644)
	args := []string{"serve", "--addr", "127.0.0.1:0", "--logs", logs, "--data", filepath.Join(dir, "state")}
	p, err := fwtest.StartProc(t, fwwitnessBin, append(args, "--key", uri)...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(syscall.SIGTERM)
	c, err := witness.NewClient(p.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := sha256.Sum256([]byte("root"))
	cp := fwtest.SignCheckpoint(t, logKey, 5, root[:])
	before := time.Now().Truncate(time.Second)
	lines, err := c.AddCheckpoint(context.Background(), &witness.AddCheckpointRequest{Checkpoint: cp})
	if err != nil {
		t.Fatal(err)
	}
	cosigV, err := fnote.NewVerifierForCosignatureV1(cosigVKey)
	if err != nil {
		t.Fatal(err)
	}
	logV, _ := logKey.Public().NoteVerifier()
	cosigned := append(bytes.Clone(cp), lines...)
	n, err := note.Open(cosigned, note.VerifierList(logV, cosigV))
	if err != nil {
		t.Fatalf("note.Open of the cosigned checkpoint: %v\n%s", err, cosigned)
	}
	var found bool
	for _, s := range n.Sigs {
		if s.Name != name {
			continue
		}
		found = true
		ts, err := fnote.CoSigV1Timestamp(s)
		if err != nil || ts.Before(before) || ts.After(time.Now()) {
			t.Errorf("cosignature timestamp %v, %v; want the time of signing", ts, err)
		}
	}
	if !found {
		t.Fatalf("no cosignature by %s in\n%s", name, cosigned)
	}
	if _, _, _, err := flog.ParseCheckpoint(cosigned, logKey.Name, logV, cosigV); err != nil {
		t.Errorf("formats' ParseCheckpoint with the cosigner's verifier: %v", err)
	}
	p.Stop(syscall.SIGTERM)

	wrong := filepath.Join(dir, "wrong.pin")
	os.WriteFile(wrong, []byte("0000\n"), 0o600)
	p, err = fwtest.StartProc(t, fwwitnessBin, append(args, "--key", strings.Replace(uri, tk.PINFile, wrong, 1))...)
	if err == nil {
		p.Stop(syscall.SIGKILL)
		t.Fatal("fwwitness started with a wrong PIN")
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(p.Output(), "wrong PIN for token") {
		t.Errorf("fwwitness with a wrong PIN exited %d:\n%s", code, p.Output())
	}
}
