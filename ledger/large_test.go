package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
)

// oneBundle is a stand-in KeylessVerifier that accepts exactly one bundle:
// real Sigstore verification is tested with real bundles elsewhere, and no
// real bundle larger than a tile entry exists to test with.
type oneBundle struct {
	digest digest.Digest
	id     provenance.CertificateIdentity
}

func (o oneBundle) VerifyKeyless(e *provenance.Entry) (*provenance.CertificateIdentity, error) {
	if e.Digest != o.digest {
		return nil, errors.New("not the bundle this test signed")
	}
	return &o.id, nil
}

// largeBundle returns a Sigstore bundle holding SLSA provenance for img
// whose many resolved dependencies make it larger than a tile entry.
func largeBundle(t *testing.T, img []byte) []byte {
	var deps []string
	for i := 0; i < 900; i++ {
		deps = append(deps, fmt.Sprintf(`{"uri":"pkg:generic/dependency-number-%04d@1.0.0","digest":{"sha256":"%064x"}}`, i, i))
	}
	stmt := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"fw.bin","digest":{"sha256":"%x"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://actions.github.io/buildtypes/workflow/v1","externalParameters":{"workflow":{"repository":"https://github.com/acme/fw","ref":"refs/tags/v9","path":".github/workflows/release.yml"}},"resolvedDependencies":[%s]},"runDetails":{"builder":{"id":"https://github.com/acme/fw/.github/workflows/release.yml@refs/tags/v9"}}}}`,
		sha256.Sum256(img), strings.Join(deps, ","))
	b, err := json.Marshal(map[string]any{
		"mediaType":            "application/vnd.dev.sigstore.bundle.v0.3+json",
		"verificationMaterial": map[string]any{"certificate": map[string]any{"rawBytes": "AAAA"}},
		"dsseEnvelope": map[string]any{
			"payload": base64.StdEncoding.EncodeToString([]byte(stmt)), "payloadType": "application/vnd.in-toto+json",
			"signatures": []any{map[string]any{"sig": "AAAA"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLargeBundleStoredByDigest logs a Sigstore bundle larger than a tile
// entry: the exact bytes go to the content store, a reference is the leaf,
// and reads, bundles and devices resolve it.
func TestLargeBundleStoredByDigest(t *testing.T) {
	ctx := context.Background()
	img := fwtest.Image("large provenance image", 900)
	big := largeBundle(t, img)
	if len(big) <= 65535 || len(big) > provenance.MaxLargeEntrySize {
		t.Fatalf("the test bundle is %d bytes", len(big))
	}
	id := provenance.CertificateIdentity{Issuer: "https://token.actions.githubusercontent.com", SAN: "https://github.com/acme/fw/.github/workflows/release.yml@refs/tags/v9"}
	kv := oneBundle{digest: sha256.Sum256(big), id: id}
	relPub, _ := rel1.Public().Marshal()
	pol, err := provenance.ParsePolicy([]byte(`
version: 1
keys: {release: {file: release.pub}}
trustedRoot: root.json
builders:
  - name: gha
    id: https://github.com/acme/fw/.github/workflows/release.yml@refs/tags/v9
    keyless: {issuer: "https://token.actions.githubusercontent.com", san: "https://github.com/acme/fw/.github/workflows/release.yml@refs/tags/v9"}
rules:
  - {name: all, models: ["*"], release: {keys: [release]}, provenance: {builders: [gha]}}
`), func(n string) ([]byte, error) {
		return map[string][]byte{"release.pub": relPub, "root.json": []byte("{}")}[n], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}, RequireProvenance: true, Policy: pol, Keyless: kv})
	lc := newClient(t, l)
	rel := releaseOf(t, img, big)
	res, err := lc.AddAll(ctx, [][]byte{big, rel})
	if err != nil {
		t.Fatalf("submitting a large bundle with its release: %v", err)
	}
	l.WaitSize(t, 2)

	// The leaf is a reference; the exact bundle bytes are in the store.
	e, err := lc.Entry(ctx, res[0].Index)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := provenance.ParseReference(e.Data)
	if err != nil || ref == nil || ref.Digest != sha256.Sum256(big) || ref.Size != uint64(len(big)) {
		t.Fatalf("leaf %q is not a reference to the bundle (%v)", e.Data, err)
	}
	if !bytes.Equal(e.Content, big) {
		t.Error("GET /v1/entries does not return the exact bundle bytes as content")
	}
	h := sha256.Sum256(big)
	stored, err := os.ReadFile(filepath.Join(l.Dir, "entries", "sha256", fmt.Sprintf("%x", h[:1]), fmt.Sprintf("%x", h)))
	if err != nil || !bytes.Equal(stored, big) {
		t.Errorf("the content store does not hold the bundle: %v", err)
	}
	// Submitting it again finds it.
	again, err := lc.AddAll(ctx, [][]byte{big, rel})
	if err != nil || again[0].Index != res[0].Index {
		t.Errorf("resubmission = %+v, %v", again, err)
	}

	// A device verifies the bundle, content included.
	b, err := lc.Bundle(ctx, sha256.Sum256(img), -1)
	if err != nil {
		t.Fatal(err)
	}
	trust := client.Trust{Log: logVerifier(t), Policy: pol, Keyless: kv, Model: "acme-x1"}
	if _, err := client.VerifyBundle(ctx, trust, b, bytes.NewReader(img)); err != nil {
		t.Fatalf("VerifyBundle: %v", err)
	}
	// Content that is not the referenced bytes is refused.
	var m map[string]any
	json.Unmarshal(b, &m)
	p := m["provenance"].([]any)[0].(map[string]any)
	content, _ := base64.StdEncoding.DecodeString(p["content"].(string))
	content[len(content)/2] ^= 1
	p["content"] = base64.StdEncoding.EncodeToString(content)
	tampered, _ := json.Marshal(m)
	var be *client.BundleError
	if _, err := client.VerifyBundle(ctx, trust, tampered, bytes.NewReader(img)); !errors.As(err, &be) {
		t.Errorf("tampered content: %v, want a BundleError", err)
	}

	// A bundle over the large-entry limit is refused, naming the limit.
	huge := append([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","x":"`), bytes.Repeat([]byte("a"), provenance.MaxLargeEntrySize)...)
	huge = append(huge, `"}`...)
	var he *logclient.HTTPError
	if _, err := lc.Add(ctx, huge); !errors.As(err, &he) || !strings.Contains(he.Message, "more than the limit of 1048576") {
		t.Errorf("a bundle over 1 MiB = %v", err)
	}
}
