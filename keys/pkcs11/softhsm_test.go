//go:build cgo

package pkcs11_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/keys/pkcs11"
	"github.com/fwledger/fwledger/keys/pkcs11/pkcs11test"
	"github.com/fwledger/fwledger/provenance"
	flog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// publicFile writes k's public key file, as fwctl keygen --pkcs11 does,
// and reads it back: what verifiers are given.
func publicFile(t *testing.T, k *keys.PrivateKey) *keys.PublicKey {
	t.Helper()
	path := filepath.Join(t.TempDir(), "k.pub")
	if err := keys.WritePublic(path, k.Public()); err != nil {
		t.Fatal(err)
	}
	pub, err := keys.LoadPublic(path)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// TestTokenKeysSign signs with keys made in the SoftHSM2 token a release
// (DSSE), a builder's SLSA provenance (DSSE), a log checkpoint (a signed
// note) and a witness's timestamped cosignature (cosignature/v1), and
// verifies each with the ordinary public key file and the ordinary
// verifiers: the ledger's DSSE verification, golang.org/x/mod's note.Open,
// transparency-dev/formats' checkpoint parser and cosignature/v1 verifier.
func TestTokenKeysSign(t *testing.T) {
	tk := pkcs11test.SoftHSM(t)
	ctx := context.Background()
	_, rel := tk.NewKey(t, "release")
	_, builder := tk.NewKey(t, "builder")
	_, logKey := tk.NewKey(t, "example.com/log") // in the URI: object=example.com%2Flog-…
	_, wit := tk.NewKey(t, "witness")
	if !strings.HasPrefix(logKey.Name, "example.com/log-") {
		t.Fatalf("log key name %q, want the label example.com/log-…", logKey.Name)
	}

	// A release signed in the token verifies under the public key file.
	relPub := publicFile(t, rel)
	ring, err := keys.NewRing(relPub)
	if err != nil {
		t.Fatal(err)
	}
	img := fwtest.Image("hsm", 4096)
	env := fwtest.SignRelease(t, fwtest.NewRelease(img, nil), rel)
	sr, err := provenance.VerifyRelease(ctx, env, ring, 1)
	if err != nil {
		t.Fatalf("release signed in the token: %v", err)
	}
	if id, _ := relPub.KeyID(); len(sr.Signers) != 1 || sr.Signers[0] != id {
		t.Errorf("release signers %v, want [%s]", sr.Signers, id)
	}
	// The same envelope under another key's ring does not.
	other, _ := keys.NewRing(fwtest.Release1.Public())
	if _, err := provenance.VerifyRelease(ctx, env, other, 1); err == nil {
		t.Error("the release verifies under another key")
	}

	// A builder's provenance envelope.
	builders, _ := keys.NewRing(publicFile(t, builder))
	stmt := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"fw.bin","digest":{"sha256":"` +
		hexDigest(img) + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://fwledger.dev/build/make@v1","externalParameters":{}},"runDetails":{"builder":{"id":"https://ci.example.com/hsm"}}}}`)
	penv := fwtest.SignPayload(t, stmt, builder)
	pe, err := provenance.ParseEnvelope(penv)
	if err != nil {
		t.Fatal(err)
	}
	if signers, err := provenance.VerifySignatures(ctx, pe, builders, 1); err != nil || len(signers) != 1 {
		t.Fatalf("provenance signed in the token: %v, %v", signers, err)
	}

	// A checkpoint signed in the token opens with the vkey of the public
	// key file, and formats parses it.
	logPub := publicFile(t, logKey)
	root := sha256.Sum256([]byte("root"))
	cp := fwtest.SignCheckpoint(t, logKey, 7, root[:])
	v, err := logPub.NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(cp, note.VerifierList(v))
	if err != nil {
		t.Fatalf("note.Open of a checkpoint signed in the token: %v", err)
	}
	var c flog.Checkpoint
	if _, err := c.Unmarshal([]byte(n.Text)); err != nil || c.Origin != logKey.Name || c.Size != 7 {
		t.Fatalf("checkpoint %+v, %v", c, err)
	}
	if _, _, _, err := flog.ParseCheckpoint(cp, logKey.Name, v); err != nil {
		t.Errorf("formats' ParseCheckpoint: %v", err)
	}

	// A witness cosignature made in the token verifies with the
	// cosignature/v1 vkey of the public key file, with a timestamp of now.
	before := time.Now().Add(-time.Second)
	cosigned := fwtest.Cosign(t, cp, wit)
	cvkey, err := publicFile(t, wit).CosignatureVerifierKey()
	if err != nil {
		t.Fatal(err)
	}
	cv, err := fnote.NewVerifierForCosignatureV1(cvkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err = note.Open(cosigned, note.VerifierList(v, cv))
	if err != nil {
		t.Fatalf("note.Open of a cosignature made in the token: %v", err)
	}
	if len(n.Sigs) != 2 {
		t.Fatalf("%d verified signatures, want the log's and the witness's", len(n.Sigs))
	}
	for _, s := range n.Sigs {
		if s.Name != wit.Name {
			continue
		}
		ts, err := fnote.CoSigV1Timestamp(s)
		if err != nil || ts.Before(before.Truncate(time.Second)) || ts.After(time.Now()) {
			t.Errorf("cosignature timestamp %v, %v; want about now", ts, err)
		}
	}
}

func hexDigest(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

// TestOpenFindsTheKey opens a generated key again by label, by id, and by
// both, and checks that each is the same key; and that Delete removes it.
func TestOpenFindsTheKey(t *testing.T) {
	tk := pkcs11test.SoftHSM(t)
	label := pkcs11test.Label("find")
	uri := tk.URI(label, "id=%01%02%03")
	u, err := pkcs11.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	k, err := pkcs11.Generate(u)
	if err != nil {
		t.Fatal(err)
	}
	pub := k.Public().(ed25519.PublicKey)
	if k.Label() != label {
		t.Errorf("Label() = %q, want %q", k.Label(), label)
	}
	k.Close()
	for _, ref := range []string{tk.URI(label), uri, "pkcs11:id=%01%02%03?module-path=" + tk.Module + "&pin-source=file:" + tk.PINFile} {
		u, err := pkcs11.ParseURI(ref)
		if err != nil {
			t.Fatal(err)
		}
		k, err := pkcs11.Open(u)
		if err != nil {
			t.Fatalf("Open(%s): %v", ref, err)
		}
		if !pub.Equal(k.Public()) || k.Label() != label {
			t.Errorf("Open(%s) found another key", ref)
		}
		msg := []byte("message")
		sig, err := k.Sign(nil, msg, crypto.Hash(0))
		if err != nil || !ed25519.Verify(pub, msg, sig) {
			t.Errorf("Open(%s): Sign = %x, %v", ref, sig, err)
		}
		k.Close()
		if _, err := k.Sign(nil, msg, crypto.Hash(0)); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("Sign after Close = %v, want an error saying so", err)
		}
	}
	if err := pkcs11.Delete(u); err != nil {
		t.Fatal(err)
	}
	if _, err := pkcs11.Open(u); err == nil || !strings.Contains(err.Error(), "no private key") {
		t.Errorf("Open after Delete = %v, want no private key", err)
	}
}

// TestGenerateRefusesExistingLabel checks that a second key is never made
// under a label or id the token already has.
func TestGenerateRefusesExistingLabel(t *testing.T) {
	tk := pkcs11test.SoftHSM(t)
	uri, _ := tk.NewKey(t, "twice")
	u, _ := pkcs11.ParseURI(uri)
	if _, err := pkcs11.Generate(u); err == nil || !strings.Contains(err.Error(), "already holds an object labelled") {
		t.Errorf("Generate of an existing label = %v, want a refusal", err)
	}
}

// TestOpenErrors checks that each way of naming a key that cannot be used
// fails with an error that names the problem. No other key of the token
// is open meanwhile: PKCS #11 logs a process in per token, so a wrong PIN
// is only noticed while no session of the token is logged in.
func TestOpenErrors(t *testing.T) {
	tk := pkcs11test.SoftHSM(t)
	dir := t.TempDir()
	wrongPIN := filepath.Join(dir, "wrong.pin")
	os.WriteFile(wrongPIN, []byte("not-the-pin\n"), 0o600)
	openPIN := filepath.Join(dir, "open.pin")
	os.WriteFile(openPIN, []byte("1234\n"), 0o644)

	// A key of another type, and an Ed25519 key that is closed again.
	ecLabel := pkcs11test.Label("ecdsa")
	ecURI := tk.URI(ecLabel)
	ecU, _ := pkcs11.ParseURI(ecURI)
	if err := pkcs11.GenerateECDSA(ecU); err != nil {
		t.Fatal(err)
	}
	tk.Cleanup(t, ecURI)
	edLabel := pkcs11test.Label("errors")
	edURI := tk.URI(edLabel)
	edU, _ := pkcs11.ParseURI(edURI)
	k, err := pkcs11.Generate(edU)
	if err != nil {
		t.Fatal(err)
	}
	k.Close()
	tk.Cleanup(t, edURI)

	object := "token=" + tk.Label + ";object=" + edLabel
	for _, tc := range []struct {
		desc, uri string
		env       string // FWLEDGER_PKCS11_PIN
		want      []string
	}{
		{"wrong PIN in the file", "pkcs11:" + object + "?module-path=" + tk.Module + "&pin-source=file:" + wrongPIN, "",
			[]string{"wrong PIN", tk.Label, "CKR_PIN_INCORRECT"}},
		{"wrong PIN in the environment", "pkcs11:" + object + "?module-path=" + tk.Module, "not-the-pin",
			[]string{"wrong PIN", tk.Label}},
		{"no PIN", "pkcs11:" + object + "?module-path=" + tk.Module, "",
			[]string{"no PIN", "pin-source=file:", pkcs11.PINEnv}},
		{"PIN file missing", "pkcs11:" + object + "?module-path=" + tk.Module + "&pin-source=file:" + dir + "/nope", "",
			[]string{"PIN file", "no such file"}},
		{"PIN file readable by all", "pkcs11:" + object + "?module-path=" + tk.Module + "&pin-source=file:" + openPIN, "",
			[]string{"PIN file", "chmod 600"}},
		{"missing object", tk.URI("no-such-key"), "",
			[]string{"no private key", "object=no-such-key", tk.Label}},
		{"missing id", tk.URI(edLabel, "id=%ff%ff"), "",
			[]string{"no private key", "id=%FF%FF"}},
		{"missing token", strings.Replace(edURI, "token="+tk.Label, "token=no-such-token", 1), "",
			[]string{"no token matches", "token=no-such-token", `"` + tk.Label + `"`}},
		{"missing module", strings.Replace(edURI, tk.Module, "/nonexistent/libpkcs11.so", 1), "",
			[]string{"PKCS #11 module /nonexistent/libpkcs11.so does not exist"}},
		{"module that is not a library", strings.Replace(edURI, tk.Module, openPIN, 1), "",
			[]string{"couldn't load PKCS #11 module", openPIN}},
		{"no module path", "pkcs11:" + object + "?pin-source=file:" + tk.PINFile, "",
			[]string{"no module-path"}},
		{"a key that is not Ed25519", ecURI, "",
			[]string{"not an Ed25519 key", "CKK_EC", ecLabel}},
		{"no key named", "pkcs11:token=" + tk.Label + "?module-path=" + tk.Module, "",
			[]string{"names no key", "object="}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Setenv(pkcs11.PINEnv, tc.env)
			k, err := open(tc.uri)
			if err == nil {
				k.Close()
				t.Fatalf("Open(%s) succeeded", tc.uri)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open(%s) = %q, want it to name %q", tc.uri, err, w)
				}
			}
		})
	}
	// The right PIN, from the environment, opens the key after all that.
	t.Setenv(pkcs11.PINEnv, readPIN(t, tk))
	k, err = open("pkcs11:" + object + "?module-path=" + tk.Module)
	if err != nil {
		t.Fatalf("the right PIN from %s: %v", pkcs11.PINEnv, err)
	}
	k.Close()
}

func open(uri string) (*pkcs11.Key, error) {
	u, err := pkcs11.ParseURI(uri)
	if err != nil {
		return nil, err
	}
	return pkcs11.Open(u)
}

func readPIN(t *testing.T, tk *pkcs11test.Token) string {
	b, err := os.ReadFile(tk.PINFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestSignAfterSessionLoss closes a key's session behind its back, as a
// token reset does: the next signature logs in again in a new session.
func TestSignAfterSessionLoss(t *testing.T) {
	tk := pkcs11test.SoftHSM(t)
	uri, k := tk.NewKey(t, "reset")
	u, _ := pkcs11.ParseURI(uri)
	hk, err := pkcs11.Open(u)
	if err != nil {
		t.Fatal(err)
	}
	defer hk.Close()
	k.Close() // the other session of the token, so that the login goes too
	pkcs11.DropSession(hk)
	msg := []byte("after the reset")
	sig, err := hk.Sign(nil, msg, crypto.Hash(0))
	if err != nil {
		t.Fatalf("Sign after the session was dropped: %v", err)
	}
	if !ed25519.Verify(hk.Public().(ed25519.PublicKey), msg, sig) {
		t.Error("the signature does not verify")
	}
}

// TestConcurrentSigning signs from many goroutines with one key: every
// signature verifies.
func TestConcurrentSigning(t *testing.T) {
	tk := pkcs11test.SoftHSM(t)
	_, k := tk.NewKey(t, "concurrent")
	pub := k.Key.Public().(ed25519.PublicKey)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				msg := []byte{byte(g), byte(i)}
				sig, err := k.Key.Sign(nil, msg, crypto.Hash(0))
				if err != nil {
					errs <- err
					return
				}
				if !ed25519.Verify(pub, msg, sig) {
					errs <- bytes.ErrTooLarge
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSignRefusesPrehash checks that Ed25519ph and Ed25519ctx are refused.
func TestSignRefusesPrehash(t *testing.T) {
	tk := pkcs11test.SoftHSM(t)
	_, k := tk.NewKey(t, "prehash")
	if _, err := k.Key.Sign(nil, make([]byte, 64), crypto.SHA512); err == nil {
		t.Error("signed a SHA-512 digest")
	}
	if _, err := k.Key.Sign(nil, []byte("m"), &ed25519.Options{Context: "ctx"}); err == nil {
		t.Error("signed with a context")
	}
}

// BenchmarkSign compares the latency of one checkpoint signature (a
// signed-note signer over a checkpoint's text) with a key file's key in
// memory and with a key in the SoftHSM2 token.
func BenchmarkSign(b *testing.B) {
	root := sha256.Sum256([]byte("root"))
	text := flog.Checkpoint{Origin: "example.com/bench", Size: 123456789, Hash: root[:]}.Marshal()
	bench := func(b *testing.B, k *keys.PrivateKey) {
		s, err := k.NoteSigner()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := s.Sign(text); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("file", func(b *testing.B) {
		bench(b, fwtest.Key("example.com/bench"))
	})
	b.Run("softhsm", func(b *testing.B) {
		tk := pkcs11test.SoftHSM(b)
		_, k := tk.NewKey(b, "bench")
		bench(b, k)
	})
}

// TestExtractableKeyRefused: a key that can be read out of the token (made
// by another tool, or imported) is refused: a key in an HSM never leaves
// it.
func TestExtractableKeyRefused(t *testing.T) {
	tk := pkcs11test.SoftHSM(t)
	uri := tk.URI(pkcs11test.Label("extractable"))
	u, err := pkcs11.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	if err := pkcs11.GenerateExtractable(u); err != nil {
		t.Fatal(err)
	}
	tk.Cleanup(t, uri)
	k, err := pkcs11.Open(u)
	if err == nil {
		k.Close()
		t.Fatal("Open took a key that can be read out of the token")
	}
	if !strings.Contains(err.Error(), "can be read out of the token") {
		t.Errorf("Open = %v, want it to say the key can be read out", err)
	}
}
