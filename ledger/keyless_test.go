package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
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
	"github.com/fwledger/fwledger/provenance/keyless"
)

// delegatorPolicy trusts the SLSA GitHub generator's delegator workflow,
// keylessly, for acme-x1, with sourceRepository as given.
func delegatorPolicy(t *testing.T, sourceRepository string) *provenance.Policy {
	pub, _ := rel1.Public().Marshal()
	text := `
version: 1
keys:
  release-1: {file: release-1.pub}
trustedRoot: trusted_root.json
builders:
  - name: slsa-github-generator
    id: https://github.com/slsa-framework/example-trw/.github/workflows/builder_high-perms_slsa3.yml@refs/tags/v2.1.0
    keyless:
      issuer: https://token.actions.githubusercontent.com
      sanRegex: ^https://github\.com/slsa-framework/slsa-github-generator/\.github/workflows/delegator_generic_slsa3\.yml@refs/tags/v2\.
      sourceRepository: ` + sourceRepository + `
    slsaLevel: 3
rules:
  - name: acme
    models: [acme-x1]
    release: {keys: [release-1]}
    provenance:
      builders: [slsa-github-generator]
      minSLSALevel: 3
      sources: [{repo: "git+https://github.com/slsa-framework/example-package", refs: ["refs/tags/v*"]}]
`
	files := map[string][]byte{"release-1.pub": pub, "trusted_root.json": fwtest.ReadInterop(t, "sigstore-public-good.trusted_root.json")}
	p := fwtest.Policy(t, text, files)
	return p
}

// TestKeylessProvenanceEndToEnd logs real keyless provenance (the SLSA
// GitHub generator's, for an artifact that is the 6 bytes "hello\n") with a
// release of that artifact, and verifies the bundle as a device would.
func TestKeylessProvenanceEndToEnd(t *testing.T) {
	ctx := context.Background()
	delegator := bytes.TrimSpace(fwtest.ReadInterop(t, "slsa-github-generator-delegator-v2.1.0.build.slsa.json"))
	gha := bytes.TrimSpace(fwtest.ReadInterop(t, "gha-attest-build-provenance.rules_lint-v1.3.1.tar.gz.intoto.jsonl"))
	pol := delegatorPolicy(t, "https://github.com/slsa-framework/example-package")
	kv, err := keyless.NewVerifier(pol.TrustedRoot)
	if err != nil {
		t.Fatal(err)
	}
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}, RequireProvenance: true, Policy: pol, Keyless: kv})
	lc := newClient(t, l)

	img := []byte("hello\n")
	rel := releaseOf(t, img, delegator)
	res, err := lc.AddAll(ctx, [][]byte{delegator, rel})
	if err != nil {
		t.Fatalf("submitting real keyless provenance with its release: %v", err)
	}
	l.WaitSize(t, 2)
	if got, _ := l.Log.Entry(ctx, res[0].Index); !bytes.Equal(got, delegator) {
		t.Error("the logged entry is not the exact bundle bytes")
	}
	// A Sigstore bundle is logged as its producer made it; the same bundle
	// in other bytes is the same statement by the same identity, so it
	// gets the logged index.
	var indented bytes.Buffer
	json.Indent(&indented, delegator, "", "  ")
	for name, v := range map[string][]byte{"trailing newline": append(bytes.Clone(delegator), '\n'), "leading spaces": append([]byte("  "), delegator...), "indented": indented.Bytes()} {
		r, err := lc.Add(ctx, v)
		if err != nil || r.Index != res[0].Index {
			t.Errorf("the bundle again, %s = %+v, %v; want index %d", name, r, err, res[0].Index)
		}
	}
	if _, seq, _ := l.Store.Tree(ctx); seq != 2 {
		t.Errorf("%d entries logged after replays of the bundle, want 2", seq)
	}
	b, err := lc.Bundle(ctx, sha256.Sum256(img), -1)
	if err != nil {
		t.Fatal(err)
	}
	trust := client.Trust{Log: logVerifier(t), Policy: pol, Keyless: kv, Model: "acme-x1"}
	v, err := client.VerifyBundle(ctx, trust, b, bytes.NewReader(img))
	if err != nil {
		t.Fatalf("VerifyBundle: %v", err)
	}
	if len(v.Provenance) != 1 || v.Provenance[0].Provenance.Source.Commit != "4d329c75e7ec1725f7c9ce917a8799d408d06be3" {
		t.Errorf("verified provenance = %+v", v.Provenance)
	}
	// A device without a keyless verifier cannot trust it.
	noKeyless := trust
	noKeyless.Keyless = nil
	var pe *client.ProvenanceError
	if _, err := client.VerifyBundle(ctx, noKeyless, b, bytes.NewReader(img)); !errors.As(err, &pe) {
		t.Errorf("without a keyless verifier: %v, want a ProvenanceError", err)
	}
	// A device whose policy expects another source repository refuses it.
	other := trust
	other.Policy = delegatorPolicy(t, "https://github.com/acme/fw")
	var pv *client.PolicyError
	if _, err := client.VerifyBundle(ctx, other, b, bytes.NewReader(img)); !errors.As(err, &pv) || !strings.Contains(err.Error(), "source repository") {
		t.Errorf("with another source repository in the policy: %v, want a PolicyError naming it", err)
	}

	// Keyless provenance whose identity the policy does not know is refused.
	var he *logclient.HTTPError
	if _, err := lc.Add(ctx, gha); !errors.As(err, &he) || he.Status != 403 || !strings.Contains(he.Message, "no keyless builder of the policy") {
		t.Errorf("keyless provenance of an unknown identity = %v, want 403", err)
	}
}

func TestKeylessNeedsPolicy(t *testing.T) {
	delegator := bytes.TrimSpace(fwtest.ReadInterop(t, "slsa-github-generator-delegator-v2.1.0.build.slsa.json"))
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder}})
	var he *logclient.HTTPError
	if _, err := newClient(t, l).Add(context.Background(), delegator); !errors.As(err, &he) || he.Status != 403 || !strings.Contains(he.Message, "only with a policy") {
		t.Errorf("keyless provenance on a log without a policy = %v, want 403", err)
	}
}

// TestExternalKeySignedProvenance logs Google Cloud Build's real SLSA v1
// envelope (ECDSA, a KMS key name as keyid, base64url signatures) with a
// release of the image it attests. The log takes it in the canonical
// encoding only, which fwctl submit sends: the same payload and signature
// bytes, in standard base64.
func TestExternalKeySignedProvenance(t *testing.T) {
	ctx := context.Background()
	var w struct {
		Summary struct {
			Provenance []struct {
				Envelope json.RawMessage `json:"envelope"`
			} `json:"provenance"`
		} `json:"provenance_summary"`
	}
	if err := json.Unmarshal(fwtest.ReadInterop(t, "gcb-slsa-v1.gcloud-container-github.json"), &w); err != nil {
		t.Fatal(err)
	}
	raw := []byte(w.Summary.Provenance[0].Envelope)
	gcb, err := provenance.Canonicalize(raw)
	if err != nil {
		t.Fatal(err)
	}
	gcbKey, err := keys.ParsePublic(fwtest.ReadInterop(t, "gcb-google-hosted-worker_1.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}, BuilderPubKeys: []*keys.PublicKey{gcbKey}, RequireProvenance: true})
	lc := newClient(t, l)
	// The release names the container image GCB built by its digest.
	d, _ := digest.Parse("sha256:7e9b6e7ba2842c91cf49f3e214d04a7a496f8214356f41d81a6e6dcad11f11e3")
	rel := fwtest.SignRelease(t, fwtest.NewRelease(nil, func(r *provenance.Release) {
		r.Image, r.ImageSize, r.ImageName = d, 1, "prod-prov-image"
		r.Provenance = []digest.Digest{sha256.Sum256(gcb)}
	}), rel1)
	var he *logclient.HTTPError
	if _, err := lc.Add(ctx, raw); !errors.As(err, &he) || he.Status != 400 || !strings.Contains(he.Message, "not in standard base64") {
		t.Errorf("GCB's envelope as GCB encodes it = %v; want a 400 naming the base64 alphabet", err)
	}
	res, err := lc.AddAll(ctx, [][]byte{gcb, rel})
	if err != nil {
		t.Fatalf("GCB provenance with its release: %v", err)
	}
	l.WaitSize(t, 2)
	if got, _ := l.Log.Entry(ctx, res[0].Index); !bytes.Equal(got, gcb) {
		t.Error("the logged entry is not the canonical envelope submitted")
	}
	logged, _ := provenance.ParseEnvelope(gcb)
	orig, _ := provenance.ParseEnvelope(raw)
	if !bytes.Equal(logged.Body, orig.Body) || logged.Signatures[0].KeyID != orig.Signatures[0].KeyID {
		t.Error("canonicalizing changed GCB's payload or keyid")
	}
	sub, err := lc.Subject(ctx, d)
	if err != nil || len(sub.Entries) != 2 || sub.Entries[0].Commit != "2ce3f90facdb51aeb950d5bc641e981be61fdf48" || sub.Entries[0].Role != "build" {
		t.Errorf("subject = %+v, %v", sub, err)
	}
}

// npmBundle returns the npm registry's SLSA provenance for gundam-visor
// 1.0.1, a Sigstore bundle whose only subject digest is SHA-512, and that
// digest.
func npmBundle(t *testing.T) ([]byte, []byte) {
	var w struct {
		Attestations []struct {
			PredicateType string          `json:"predicateType"`
			Bundle        json.RawMessage `json:"bundle"`
		} `json:"attestations"`
	}
	if err := json.Unmarshal(fwtest.ReadInterop(t, "npm-gundam-visor-1.0.1.attestations.json"), &w); err != nil {
		t.Fatal(err)
	}
	for _, a := range w.Attestations {
		if a.PredicateType == provenance.SLSAPredicateType {
			e, err := provenance.ParseEntry(a.Bundle)
			if err != nil {
				t.Fatal(err)
			}
			return a.Bundle, e.Provenance.Subjects[0].Value
		}
	}
	t.Fatal("no SLSA provenance in the npm sample")
	return nil, nil
}

// npmPolicy trusts rel1 for releases and npm's GitHub-hosted publishing
// workflow for provenance, keylessly.
func npmPolicy(t *testing.T) *provenance.Policy {
	pub, _ := rel1.Public().Marshal()
	files := map[string][]byte{"release-1.pub": pub, "trusted_root.json": fwtest.ReadInterop(t, "sigstore-public-good.trusted_root.json")}
	p := fwtest.Policy(t, `
version: 1
keys:
  release-1: {file: release-1.pub}
trustedRoot: trusted_root.json
builders:
  - name: npm-gha
    id: https://github.com/actions/runner/github-hosted
    keyless:
      issuer: https://token.actions.githubusercontent.com
      san: https://github.com/ramonpetgrave64/gundam-visor/.github/workflows/npm-publish.yml@refs/tags/v1.0.1
rules:
  - name: all
    models: ["*"]
    release: {keys: [release-1]}
    provenance: {builders: [npm-gha]}
`, files)
	return p
}

// TestSHA512OnlyProvenance takes npm's real SHA-512-only provenance (the A4
// sample) from a release through the log and a bundle to verification. The
// release, signed with a release key, pairs an image's SHA-256 with the
// npm package's SHA-512: the log takes it (it cannot see the image), the
// bundle carries the provenance (found by its digest, not by the SHA-256
// subject key), and verification refuses the image, whose SHA-512 is not
// the one the release claims. (The npm package itself is no longer in the
// registry, so no image passes with this provenance; TestSHA512Binding shows the
// passing case with provenance made here.)
func TestSHA512OnlyProvenance(t *testing.T) {
	ctx := context.Background()
	npm, sha512 := npmBundle(t)
	pol := npmPolicy(t)
	kv, err := keyless.NewVerifier(pol.TrustedRoot)
	if err != nil {
		t.Fatal(err)
	}
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}, RequireProvenance: true, Policy: pol, Keyless: kv})
	lc := newClient(t, l)
	img := fwtest.Image("an image claiming npm's SHA-512", 4000)
	rel := fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
		r.ImageSHA512 = sha512
		r.Provenance = []digest.Digest{sha256.Sum256(npm)}
	}), rel1)
	res, err := lc.AddAll(ctx, [][]byte{npm, rel})
	if err != nil {
		t.Fatalf("submitting npm's provenance with a release naming its SHA-512: %v", err)
	}
	l.WaitSize(t, 2)
	b, pb := latestBundle(t, lc, sha256.Sum256(img))
	if len(pb.Provenance) != 1 || pb.Provenance[0].Proof.Index != res[0].Index {
		t.Fatalf("the bundle holds %d provenance entries; want npm's, at %d", len(pb.Provenance), res[0].Index)
	}
	trust := client.Trust{Log: logVerifier(t), Policy: pol, Keyless: kv, Model: "acme-x1"}
	var de *client.DigestError
	if _, err := client.VerifyBundle(ctx, trust, b, bytes.NewReader(img)); !errors.As(err, &de) || de.Alg != "sha512" {
		t.Errorf("VerifyBundle of an image claiming npm's SHA-512 = %v; want a sha512 DigestError", err)
	}
	// A release that names only the SHA-256 cannot endorse it at all.
	plain := fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
		r.Version = "1.4.1"
		r.Provenance = []digest.Digest{sha256.Sum256(npm)}
	}), rel1)
	var he *logclient.HTTPError
	if _, err := lc.Add(ctx, plain); !errors.As(err, &he) || he.Status != 400 || !strings.Contains(he.Message, "is not about the released image") {
		t.Errorf("a release naming no SHA-512 endorsing SHA-512-only provenance = %v; want a 400", err)
	}
}

// TestSHA512Binding: provenance that names an image by SHA-512 only is
// logged with a release naming both digests, carried in the bundle, and
// verified; another image that claims the same SHA-512 (in a release a key
// holder signed) is refused.
func TestSHA512Binding(t *testing.T) {
	ctx := context.Background()
	l, lc := startProvLog(t)
	img := fwtest.Image("sha512-only image", 3000)
	other := fwtest.Image("another image", 3000)
	s512 := sha512.Sum512(img)
	stmt := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"pkg:generic/fw@1.4.0","digest":{"sha512":"` + hex.EncodeToString(s512[:]) +
		`"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://fwledger.dev/build/make@v1","externalParameters":{}},` +
		`"runDetails":{"builder":{"id":"https://ci.example.com/runner/v1"}}}}`)
	prov := fwtest.SignPayload(t, stmt, fwtest.Builder)
	relOf := func(image []byte, version string) []byte {
		return fwtest.SignRelease(t, fwtest.NewRelease(image, func(r *provenance.Release) {
			r.ImageSHA512, r.Version = s512[:], version
			r.Provenance = []digest.Digest{sha256.Sum256(prov)}
		}), rel1)
	}
	if _, err := lc.AddAll(ctx, [][]byte{prov, relOf(img, "1.4.0"), relOf(other, "1.4.1")}); err != nil {
		t.Fatal(err)
	}
	l.WaitSize(t, 3)
	trust := client.Trust{Log: logVerifier(t), ReleaseKeys: fwtest.Ring(t, rel1), BuilderKeys: fwtest.Ring(t, fwtest.Builder), RequireProvenance: true}
	b, err := lc.Bundle(ctx, sha256.Sum256(img), -1)
	if err != nil {
		t.Fatal(err)
	}
	v, err := client.VerifyBundle(ctx, trust, b, bytes.NewReader(img))
	if err != nil {
		t.Fatalf("VerifyBundle of the image: %v", err)
	}
	if len(v.Provenance) != 1 || !v.Provenance[0].Endorsed {
		t.Errorf("verified provenance = %+v", v.Provenance)
	}
	b2, err := lc.Bundle(ctx, sha256.Sum256(other), -1)
	if err != nil {
		t.Fatal(err)
	}
	var de *client.DigestError
	if _, err := client.VerifyBundle(ctx, trust, b2, bytes.NewReader(other)); !errors.As(err, &de) || de.Alg != "sha512" {
		t.Errorf("VerifyBundle of another image claiming the SHA-512 = %v; want a sha512 DigestError", err)
	}
}

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

// TestLargeBundleStoredByDigest logs a Sigstore bundle larger than a tile
// entry: the exact bytes go to the content store, a reference is the leaf,
// and reads, bundles and devices resolve it.
func TestLargeBundleStoredByDigest(t *testing.T) {
	ctx := context.Background()
	img := fwtest.Image("large provenance image", 900)
	big := fwtest.SigstoreBundle(t, img, 900)
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
