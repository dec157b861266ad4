package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tlogpolicy"
)

var (
	rel1 = fwtest.Release1
	rel2 = fwtest.Release2
)

func trust(t *testing.T, threshold int, ks ...*keys.PrivateKey) client.Trust {
	v, err := fwtest.LogKey.Public().NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	return client.Trust{Log: v, ReleaseKeys: fwtest.Ring(t, ks...), ReleaseThreshold: threshold}
}

// fixture is a release logged by a real log, with its bundle.
type fixture struct {
	image, envelope, bundle []byte
}

func logged(t *testing.T, signers ...*keys.PrivateKey) fixture {
	ctx := context.Background()
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1, rel2}})
	lc, err := logclient.New(l.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Some other entries, so that proofs are not trivial.
	for i := 0; i < 5; i++ {
		img := fwtest.Image(string(rune('a'+i)), 64)
		if _, err := lc.Add(ctx, fwtest.SignRelease(t, fwtest.NewRelease(img, nil), rel1)); err != nil {
			t.Fatal(err)
		}
	}
	img := fwtest.Image("the firmware", 5000)
	env := fwtest.SignRelease(t, fwtest.NewRelease(img, nil), signers...)
	if _, err := lc.Add(ctx, env); err != nil {
		t.Fatal(err)
	}
	l.WaitSize(t, 6)
	b, err := lc.Bundle(ctx, sha256.Sum256(img), -1)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{img, env, b}
}

// editBundle decodes the bundle JSON, lets f change it, and re-encodes it.
func editBundle(t *testing.T, b []byte, f func(rel map[string]any)) []byte {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	f(m["release"].(map[string]any))
	out, _ := json.Marshal(m)
	return out
}

// editProof rewrites the tlog-proof text of a bundle.
func editProof(t *testing.T, b []byte, f func(lines []string) []string) []byte {
	return editBundle(t, b, func(rel map[string]any) {
		lines := strings.Split(rel["proof"].(string), "\n")
		rel["proof"] = strings.Join(f(lines), "\n")
	})
}

func TestVerifyBundle(t *testing.T) {
	ctx := context.Background()
	fx := logged(t, rel1, rel2)
	otherLog := fwtest.Key("example.com/testlog-impostor")
	otherLog.Name = fwtest.LogKey.Name

	flipProofBit := editProof(t, fx.bundle, func(l []string) []string {
		h, _ := base64.StdEncoding.DecodeString(l[2])
		h[0] ^= 1
		l[2] = base64.StdEncoding.EncodeToString(h)
		return l
	})
	otherIndex := editProof(t, fx.bundle, func(l []string) []string { l[1] = "index 4"; return l })
	tamperedEntry := editBundle(t, fx.bundle, func(rel map[string]any) {
		e, _ := base64.StdEncoding.DecodeString(rel["entry"].(string))
		e[len(e)-3] ^= 1
		rel["entry"] = base64.StdEncoding.EncodeToString(e)
	})
	// A bundle made with a key that is not the log's: a forged checkpoint.
	forgedCheckpoint := fwtest.OfflineBundle(t, otherLog, [][]byte{fx.envelope}, 0)
	// A tree the log never signed cannot carry a release the log refused.
	badSigEnv := mutateSig(t, fwtest.SignRelease(t, fwtest.NewRelease(fx.image, nil), rel1))
	badSig := fwtest.OfflineBundle(t, fwtest.LogKey, [][]byte{badSigEnv}, 0)
	truncated := fx.image[:len(fx.image)-1]
	changed := append([]byte{fx.image[0] ^ 0x80}, fx.image[1:]...)

	for _, tc := range []struct {
		desc   string
		trust  client.Trust
		bundle []byte
		image  []byte
		want   any
	}{
		{"good, threshold 2", trust(t, 2, rel1, rel2), fx.bundle, fx.image, nil},
		{"tampered image", trust(t, 1, rel1), fx.bundle, changed, new(*client.DigestError)},
		{"truncated image", trust(t, 1, rel1), fx.bundle, truncated, new(*client.DigestError)},
		{"longer image", trust(t, 1, rel1), fx.bundle, append(append([]byte{}, fx.image...), 0), new(*client.DigestError)},
		{"malformed bundle", trust(t, 1, rel1), []byte(`{"mediaType":1}`), fx.image, new(*client.BundleError)},
		{"trailing garbage", trust(t, 1, rel1), append(append([]byte{}, fx.bundle...), 'x'), fx.image, new(*client.BundleError)},
		{"forged checkpoint", trust(t, 1, rel1), forgedCheckpoint, fx.image, new(*tlogpolicy.CheckpointError)},
		{"proof hash flipped", trust(t, 1, rel1), flipProofBit, fx.image, new(*client.InclusionError)},
		{"proof for another index", trust(t, 1, rel1), otherIndex, fx.image, new(*client.InclusionError)},
		{"entry tampered", trust(t, 1, rel1), tamperedEntry, fx.image, new(*client.InclusionError)},
		{"unknown release key", trust(t, 1, fwtest.Key("someone-else")), fx.bundle, fx.image, new(*client.SignatureError)},
		{"threshold not met", trust(t, 3, rel1, rel2, fwtest.Key("third")), fx.bundle, fx.image, new(*client.SignatureError)},
		{"bad signature by a trusted key", trust(t, 1, rel1), badSig, fx.image, new(*client.SignatureError)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			v, err := client.VerifyBundle(ctx, tc.trust, tc.bundle, bytes.NewReader(tc.image))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("VerifyBundle: %v", err)
				}
				if len(v.Signers) != 2 || v.Index != 5 || v.Checkpoint.Size != 6 {
					t.Errorf("VerifyBundle = %+v", v)
				}
				return
			}
			if v != nil {
				t.Errorf("VerifyBundle returned a result with error %v", err)
			}
			if !errors.As(err, tc.want) {
				t.Errorf("VerifyBundle error = %T %v, want %T", err, err, tc.want)
			}
		})
	}
}

func mutateSig(t *testing.T, env []byte) []byte {
	var m map[string]any
	json.Unmarshal(env, &m)
	s := m["signatures"].([]any)[0].(map[string]any)
	raw, _ := base64.StdEncoding.DecodeString(s["sig"].(string))
	raw[10] ^= 1
	s["sig"] = base64.StdEncoding.EncodeToString(raw)
	out, _ := json.Marshal(m)
	return out
}

func TestDigestErrorCarriesEvidence(t *testing.T) {
	img := fwtest.Image("x", 10)
	r := fwtest.NewRelease(img, nil)
	err := client.CheckImage(r, bytes.NewReader(fwtest.Image("y", 10)))
	var de *client.DigestError
	want := sha256.Sum256(img)
	if !errors.As(err, &de) || de.Alg != "sha256" || !bytes.Equal(de.Want, want[:]) || de.GotSize != 10 {
		t.Fatalf("CheckImage = %v", err)
	}
}

// TestCheckImageSHA512: a release that names a SHA-512 digest is checked
// against it too. A release key holder who pairs one image's SHA-256 with
// another artifact's SHA-512 (to borrow SHA-512-only provenance) gets
// nothing through.
func TestCheckImageSHA512(t *testing.T) {
	img := fwtest.Image("sha512 image", 5000)
	other := fwtest.Image("another artifact", 5000)
	own, borrowed := sha512.Sum512(img), sha512.Sum512(other)
	for _, tc := range []struct {
		desc   string
		sha512 []byte
		alg    string // of the DigestError; "" for success
	}{
		{"release names no SHA-512", nil, ""},
		{"release names the image's SHA-512", own[:], ""},
		{"release names another artifact's SHA-512", borrowed[:], "sha512"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := fwtest.NewRelease(img, func(r *provenance.Release) { r.ImageSHA512 = tc.sha512 })
			err := client.CheckImage(r, bytes.NewReader(img))
			var de *client.DigestError
			switch {
			case tc.alg == "" && err != nil:
				t.Errorf("CheckImage = %v, want success", err)
			case tc.alg != "" && (!errors.As(err, &de) || de.Alg != tc.alg || !bytes.Equal(de.Want, tc.sha512) || !bytes.Equal(de.Got, own[:])):
				t.Errorf("CheckImage = %v, want a %s DigestError with both digests", err, tc.alg)
			}
		})
	}
}
