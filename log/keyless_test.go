package log_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/internal/testutil"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/provenance/keyless"
)

func readInterop(t *testing.T, name string) []byte { return testutil.ReadInterop(t, name) }

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
	files := map[string][]byte{"release-1.pub": pub, "trusted_root.json": readInterop(t, "sigstore-public-good.trusted_root.json")}
	p, err := provenance.ParsePolicy([]byte(text), func(n string) ([]byte, error) { return files[n], nil })
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKeylessProvenanceEndToEnd logs real keyless provenance (the SLSA
// GitHub generator's, for an artifact that is the 6 bytes "hello\n") with a
// release of that artifact, and verifies the bundle as a device would.
func TestKeylessProvenanceEndToEnd(t *testing.T) {
	ctx := context.Background()
	delegator := bytes.TrimSpace(readInterop(t, "slsa-github-generator-delegator-v2.1.0.build.slsa.json"))
	gha := bytes.TrimSpace(readInterop(t, "gha-attest-build-provenance.rules_lint-v1.3.1.tar.gz.intoto.jsonl"))
	pol := delegatorPolicy(t, "https://github.com/slsa-framework/example-package")
	kv, err := keyless.NewVerifier(pol.TrustedRoot)
	if err != nil {
		t.Fatal(err)
	}
	l := testutil.StartLog(t, testutil.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}, RequireProvenance: true, Policy: pol, Keyless: kv})
	lc := newClient(t, l)

	img := []byte("hello\n")
	rel := releaseOf(t, img, delegator)
	res, err := lc.AddAll(ctx, [][]byte{delegator, rel})
	if err != nil {
		t.Fatalf("submitting real keyless provenance with its release: %v", err)
	}
	l.WaitSize(t, 2)
	if got, _ := l.Entry(ctx, res[0].Index); !bytes.Equal(got, delegator) {
		t.Error("the logged entry is not the exact bundle bytes")
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
	var he *client.HTTPError
	if _, err := lc.Add(ctx, gha); !errors.As(err, &he) || he.Status != 403 || !strings.Contains(he.Message, "no keyless builder of the policy") {
		t.Errorf("keyless provenance of an unknown identity = %v, want 403", err)
	}
}

func TestKeylessNeedsPolicy(t *testing.T) {
	delegator := bytes.TrimSpace(readInterop(t, "slsa-github-generator-delegator-v2.1.0.build.slsa.json"))
	l := testutil.StartLog(t, testutil.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}, BuilderKeys: []*keys.PrivateKey{ci}})
	var he *client.HTTPError
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
	if err := json.Unmarshal(readInterop(t, "gcb-slsa-v1.gcloud-container-github.json"), &w); err != nil {
		t.Fatal(err)
	}
	raw := []byte(w.Summary.Provenance[0].Envelope)
	gcb, err := provenance.Canonicalize(raw)
	if err != nil {
		t.Fatal(err)
	}
	gcbKey, err := keys.ParsePublic(readInterop(t, "gcb-google-hosted-worker_1.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	l := testutil.StartLog(t, testutil.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}, BuilderPubKeys: []*keys.PublicKey{gcbKey}, RequireProvenance: true})
	lc := newClient(t, l)
	// The release names the container image GCB built by its digest.
	d, _ := provenance.ParseDigest("sha256:7e9b6e7ba2842c91cf49f3e214d04a7a496f8214356f41d81a6e6dcad11f11e3")
	rel := testutil.SignRelease(t, testutil.NewRelease(nil, func(r *provenance.Release) {
		r.Image, r.ImageSize, r.ImageName = d, 1, "prod-prov-image"
		r.Provenance = []provenance.Digest{sha256.Sum256(gcb)}
	}), rel1)
	var he *client.HTTPError
	if _, err := lc.Add(ctx, raw); !errors.As(err, &he) || he.Status != 400 || !strings.Contains(he.Message, "not in standard base64") {
		t.Errorf("GCB's envelope as GCB encodes it = %v; want a 400 naming the base64 alphabet", err)
	}
	res, err := lc.AddAll(ctx, [][]byte{gcb, rel})
	if err != nil {
		t.Fatalf("GCB provenance with its release: %v", err)
	}
	l.WaitSize(t, 2)
	if got, _ := l.Entry(ctx, res[0].Index); !bytes.Equal(got, gcb) {
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
