package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/keys"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// opaque hides a key's type, as a key held in a token is seen: a
// crypto.Signer and nothing more.
type opaque struct{ crypto.Signer }

const checkpoint = "example.com/testlog\n42\nM7ssFHvSXHUsOYcsRmGfGy2C8OBx6ufXmZFzH0f6Hs0=\n"

// TestSignersMatchLibraries checks that a key file's key signs exactly as
// it did when its signers came from the libraries (golang.org/x/mod's
// note.NewSigner, transparency-dev/formats' cosignature/v1 signer and
// go-securesystemslib's Ed25519 signer), and that the same key seen only as
// a crypto.Signer, as a key in a token is, signs the same bytes; and that
// the libraries' verifiers accept what it signs.
func TestSignersMatchLibraries(t *testing.T) {
	file := keyFromSeed("example.com/release-1", 7)
	skey, _, _ := strings.Cut(string(mustMarshalPrivate(t, file)), "\n")
	vkey, err := file.Public().VerifierKey()
	if err != nil {
		t.Fatal(err)
	}
	hidden := &keys.PrivateKey{Name: file.Name, Key: opaque{file.Key}}
	ctx := context.Background()

	// Signed notes.
	libNote, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	want, err := note.Sign(&note.Note{Text: checkpoint}, libNote)
	if err != nil {
		t.Fatal(err)
	}
	noteV, _ := note.NewVerifier(vkey)
	for name, k := range map[string]*keys.PrivateKey{"file key": file, "crypto.Signer": hidden} {
		s, err := k.NoteSigner()
		if err != nil {
			t.Fatal(err)
		}
		got, err := note.Sign(&note.Note{Text: checkpoint}, s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: signed note\n%s\nwant (note.NewSigner)\n%s", name, got, want)
		}
		if _, err := note.Open(got, note.VerifierList(noteV)); err != nil {
			t.Errorf("%s: note.Open: %v", name, err)
		}
	}

	// Cosignatures: formats' signer reads the real clock, so ours is set
	// to the second it used.
	libCosig, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	want, err = note.Sign(&note.Note{Text: checkpoint}, libCosig)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(want, note.VerifierList(libCosig.Verifier()))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := fnote.CoSigV1Timestamp(n.Sigs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer keys.SetClock(func() time.Time { return ts.Add(300 * time.Millisecond) })()
	cosigVKey, _ := file.Public().CosignatureVerifierKey()
	cosigV, err := fnote.NewVerifierForCosignatureV1(cosigVKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]*keys.PrivateKey{"file key": file, "crypto.Signer": hidden} {
		s, err := k.CosignatureSigner()
		if err != nil {
			t.Fatal(err)
		}
		if s.KeyHash() != libCosig.KeyHash() || s.Name() != libCosig.Name() {
			t.Errorf("%s: cosigner %s %08x, want %s %08x", name, s.Name(), s.KeyHash(), libCosig.Name(), libCosig.KeyHash())
		}
		got, err := note.Sign(&note.Note{Text: checkpoint}, s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: cosigned note\n%s\nwant (formats' cosignature/v1 signer)\n%s", name, got, want)
		}
		if _, err := note.Open(got, note.VerifierList(cosigV)); err != nil {
			t.Errorf("%s: cosignature does not verify with formats' verifier: %v", name, err)
		}
		if _, err := s.Sign([]byte("one line\n")); err == nil {
			t.Errorf("%s: cosigned a one-line note", name)
		}
	}

	// DSSE.
	sk, err := file.SSLib()
	if err != nil {
		t.Fatal(err)
	}
	libDSSE, err := signerverifier.NewED25519SignerVerifierFromSSLibKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	wantEnv, err := signEnvelope(ctx, payload, libDSSE)
	if err != nil {
		t.Fatal(err)
	}
	dv, _ := file.Public().DSSEVerifier()
	for name, k := range map[string]*keys.PrivateKey{"file key": file, "crypto.Signer": hidden} {
		s, err := k.DSSESigner()
		if err != nil {
			t.Fatal(err)
		}
		if id, _ := s.KeyID(); id != sk.KeyID {
			t.Errorf("%s: DSSE key ID %s, want %s", name, id, sk.KeyID)
		}
		if pub, ok := s.Public().(ed25519.PublicKey); !ok || !pub.Equal(file.Key.Public()) {
			t.Errorf("%s: DSSE signer's public key %v", name, s.Public())
		}
		got, err := signEnvelope(ctx, payload, s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, wantEnv) {
			t.Errorf("%s: envelope\n%s\nwant (go-securesystemslib)\n%s", name, got, wantEnv)
		}
		ev, _ := dsse.NewEnvelopeVerifier(dv)
		var env dsse.Envelope
		if err := json.Unmarshal(got, &env); err != nil {
			t.Fatal(err)
		}
		if _, err := ev.Verify(ctx, &env); err != nil {
			t.Errorf("%s: envelope does not verify: %v", name, err)
		}
	}

	// A key whose private half is elsewhere cannot be written out.
	if _, err := hidden.MarshalPrivate(); err == nil || !strings.Contains(err.Error(), "cannot be exported") {
		t.Errorf("MarshalPrivate of a crypto.Signer = %v, want a refusal", err)
	}
	if _, err := hidden.SSLib(); err == nil || !strings.Contains(err.Error(), "cannot be exported") {
		t.Errorf("SSLib of a crypto.Signer = %v, want a refusal", err)
	}
	if _, err := hidden.Public().Marshal(); err != nil {
		t.Errorf("the public key of a crypto.Signer: %v", err)
	}
}

// TestNoteSignerRefusals checks the keys that cannot sign notes.
func TestNoteSignerRefusals(t *testing.T) {
	k := keyFromSeed("example.com/x", 1)
	for _, tc := range []struct {
		desc string
		key  *keys.PrivateKey
		want string
	}{
		{"no name", &keys.PrivateKey{Key: k.Key}, "has no name"},
		{"name with a space", &keys.PrivateKey{Name: "a b", Key: opaque{k.Key}}, "invalid signed-note key name"},
		{"ECDSA", ecdsaKey(t), "only Ed25519 keys"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if _, err := tc.key.NoteSigner(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NoteSigner() = %v, want an error containing %q", err, tc.want)
			}
			if _, err := tc.key.CosignatureSigner(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CosignatureSigner() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func keyFromSeed(name string, b byte) *keys.PrivateKey {
	return &keys.PrivateKey{Name: name, Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))}
}

func mustMarshalPrivate(t *testing.T, k *keys.PrivateKey) []byte {
	t.Helper()
	b, err := k.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func signEnvelope(ctx context.Context, payload []byte, s dsse.SignerVerifier) ([]byte, error) {
	es, err := dsse.NewEnvelopeSigner(s)
	if err != nil {
		return nil, err
	}
	env, err := es.SignPayload(ctx, "application/vnd.in-toto+json", payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(env)
}

func ecdsaKey(t *testing.T) *keys.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &keys.PrivateKey{Name: "example.com/ec", Key: k}
}
