package keys_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/keys"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"
	"golang.org/x/mod/sumdb/note"
)

func TestWriteLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "release-1")
	k, err := keys.Generate(nil, "example.com/release-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Write(prefix, k); err != nil {
		t.Fatal(err)
	}
	for file, mode := range map[string]os.FileMode{".key": 0o600, ".pub": 0o644} {
		fi, err := os.Stat(prefix + file)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %o, want %o", file, fi.Mode().Perm(), mode)
		}
	}
	if err := keys.Write(prefix, k); err == nil {
		t.Error("Write over existing files succeeded")
	}
	priv, err := keys.LoadPrivate(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := keys.LoadPublic(prefix + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if priv.Name != "example.com/release-1" || pub.Name != priv.Name {
		t.Errorf("names = %q, %q", priv.Name, pub.Name)
	}

	// The signed-note halves work with golang.org/x/mod/sumdb/note.
	signer, err := priv.NoteSigner()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := note.Sign(&note.Note{Text: "hello\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	pubData, _ := os.ReadFile(prefix + ".pub")
	vkey, _, _ := strings.Cut(string(pubData), "\n")
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("the first line of the .pub file is not a vkey: %v", err)
	}
	if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
		t.Errorf("note signed with the .key does not open with the .pub vkey: %v", err)
	}

	// The PEM halves work with go-securesystemslib, with the same key ID.
	privData, _ := os.ReadFile(prefix + ".key")
	sk, err := signerverifier.LoadKey(privData)
	if err != nil {
		t.Fatalf("go-securesystemslib cannot load the .key file: %v", err)
	}
	pk, err := signerverifier.LoadKey(pubData)
	if err != nil {
		t.Fatalf("go-securesystemslib cannot load the .pub file: %v", err)
	}
	id, _ := pub.KeyID()
	if sk.KeyID != id || pk.KeyID != id {
		t.Errorf("key IDs: securesystemslib %s / %s, keys %s", sk.KeyID, pk.KeyID, id)
	}
	ds, err := priv.DSSESigner()
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := ds.Sign(context.Background(), []byte("msg"))
	dv, _ := pub.DSSEVerifier()
	if err := dv.Verify(context.Background(), []byte("msg"), sig); err != nil {
		t.Errorf("DSSE signature does not verify: %v", err)
	}
	// The PEM blocks are standard PKCS #8 and PKIX.
	blk, _ := pem.Decode(privData)
	if _, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err != nil {
		t.Error(err)
	}
}

func TestLoadPrivateRefusesOpenPermissions(t *testing.T) {
	dir := t.TempDir()
	k, _ := keys.Generate(nil, "n")
	keys.Write(filepath.Join(dir, "k"), k)
	os.Chmod(filepath.Join(dir, "k.key"), 0o644)
	if _, err := keys.LoadPrivate(filepath.Join(dir, "k.key")); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("LoadPrivate of a 0644 key = %v, want a refusal", err)
	}
}

// TestLoadPrivateOfPublicKey checks that a public key file given as a
// private key is named as such, rather than refused for its mode (0644, as
// a public key's should be).
func TestLoadPrivateOfPublicKey(t *testing.T) {
	dir := t.TempDir()
	k, _ := keys.Generate(nil, "example.com/release-1")
	if err := keys.Write(filepath.Join(dir, "release-1"), k); err != nil {
		t.Fatal(err)
	}
	pub, _ := k.Public().Marshal()
	vkeyLine, pemPub, _ := bytes.Cut(pub, []byte("\n"))
	os.WriteFile(filepath.Join(dir, "vkey.pub"), vkeyLine, 0o644)
	os.WriteFile(filepath.Join(dir, "pem.pub"), pemPub, 0o644)
	for _, name := range []string{"release-1.pub", "vkey.pub", "pem.pub"} {
		_, err := keys.LoadPrivate(filepath.Join(dir, name))
		if !errors.Is(err, keys.ErrPublicKey) {
			t.Errorf("LoadPrivate(%s) = %v, want ErrPublicKey", name, err)
		}
		// The message is what a user reads.
		if err == nil || !strings.Contains(err.Error(), "this is a public key; give the private key (.key)") {
			t.Errorf("LoadPrivate(%s) = %v, want it to say it is a public key", name, err)
		}
	}
	priv, _ := k.MarshalPrivate()
	if _, err := keys.ParsePublic(priv); !errors.Is(err, keys.ErrPrivateKey) {
		t.Errorf("ParsePublic(a private key) = %v, want ErrPrivateKey", err)
	}
}

func TestParseForms(t *testing.T) {
	k, _ := keys.Generate(nil, "example.com/w")
	priv, _ := k.MarshalPrivate()
	pub, _ := k.Public().Marshal()
	skeyLine, pemPriv, _ := bytes.Cut(priv, []byte("\n"))
	vkeyLine, pemPub, _ := bytes.Cut(pub, []byte("\n"))
	other, _ := keys.Generate(nil, "example.com/w")
	otherPub, _ := other.Public().Marshal()
	_, otherPEM, _ := bytes.Cut(otherPub, []byte("\n"))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER})
	small, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)

	for _, tc := range []struct {
		desc     string
		data     []byte
		wantName string
		ok       bool
	}{
		{"both forms", pub, "example.com/w", true},
		{"vkey only", vkeyLine, "example.com/w", true},
		{"PEM only", pemPub, "", true},
		{"ECDSA P-256 PEM", ecPEM, "", true},
		{"ECDSA P-224 PEM", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: smallDER}), "", false},
		{"mismatched forms", append(append(bytes.Clone(vkeyLine), '\n'), otherPEM...), "", false},
		{"private key given", priv, "", false},
		{"private PEM given", pemPriv, "", false},
		{"skey line given", skeyLine, "", false},
		{"garbage", []byte("hello"), "", false},
		{"trailing data", append(append([]byte{}, pub...), "junk"...), "", false},
		{"empty", nil, "", false},
	} {
		p, err := keys.ParsePublic(tc.data)
		if (err == nil) != tc.ok {
			t.Errorf("ParsePublic(%s) error = %v, want ok=%v", tc.desc, err, tc.ok)
			continue
		}
		if err == nil && p.Name != tc.wantName {
			t.Errorf("ParsePublic(%s) name = %q, want %q", tc.desc, p.Name, tc.wantName)
		}
	}
	for _, tc := range []struct {
		desc string
		data []byte
		ok   bool
	}{
		{"both forms", priv, true},
		{"skey only", skeyLine, true},
		{"PEM only", pemPriv, true},
		{"public key given", pub, false},
		{"mismatched forms", append(append(append([]byte{}, skeyLine...), '\n'), mustPEM(t, other)...), false},
	} {
		if _, err := keys.ParsePrivate(tc.data); (err == nil) != tc.ok {
			t.Errorf("ParsePrivate(%s) error = %v, want ok=%v", tc.desc, err, tc.ok)
		}
	}
}

func mustPEM(t *testing.T, k *keys.PrivateKey) []byte {
	priv, _ := k.MarshalPrivate()
	_, p, _ := bytes.Cut(priv, []byte("\n"))
	return p
}

func TestRing(t *testing.T) {
	a, _ := keys.Generate(nil, "a")
	if _, err := keys.NewRing(a.Public(), a.Public()); err == nil {
		t.Error("NewRing with a duplicate key succeeded")
	}
	r, err := keys.NewRing(a.Public())
	if err != nil {
		t.Fatal(err)
	}
	id, _ := a.Public().KeyID()
	if _, ok := r.Lookup(id); !ok || r.Len() != 1 {
		t.Error("Lookup of a ring key failed")
	}
}

func TestGenerateRejectsBadNames(t *testing.T) {
	for _, n := range []string{"", "a b", "a+b", "a\nb"} {
		if _, err := keys.Generate(nil, n); err == nil {
			t.Errorf("Generate(%q) succeeded", n)
		}
	}
}
