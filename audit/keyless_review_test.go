package audit_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
)

// someBundles is a stand-in keyless verifier (as in ledger's tests) that
// accepts the Sigstore bundles with the given digests.
type someBundles struct {
	ok map[digest.Digest]bool
	id provenance.CertificateIdentity
}

func (s someBundles) VerifyKeyless(e *provenance.Entry) (*provenance.CertificateIdentity, error) {
	if !s.ok[e.Digest] {
		return nil, errors.New("not a bundle this test signed")
	}
	return &s.id, nil
}

// sigstoreBundle is a Sigstore bundle of SLSA provenance for img with n
// resolved dependencies (n = 900 makes it larger than a tile entry).
func sigstoreBundle(t *testing.T, img []byte, n int) []byte {
	var deps []string
	for i := 0; i < n; i++ {
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

// TestReviewKeylessProvenanceFalseAlert (review13, finding 10).
//
// The log takes releases whose provenance is keyless (a Sigstore bundle
// from a keyless builder of the policy), inline or, above 64 KiB, stored
// by digest with a reference leaf. The auditor judges the same releases
// with the same policy and raises a critical provenance alert for each:
// audit.Config has no keyless verifier (release() evaluates without
// EvalOptions.Keyless, so every Sigstore bundle is "keyless, and no
// keyless verifier is configured"), and a provenance stored by digest is
// never read at all (judge skips references; statement() finds nothing).
// Every release of a vendor that builds keylessly is a false critical
// alert, which buries real ones.
func TestReviewKeylessProvenanceFalseAlert(t *testing.T) {
	ctx := context.Background()
	id := provenance.CertificateIdentity{Issuer: "https://token.actions.githubusercontent.com", SAN: "https://github.com/acme/fw/.github/workflows/release.yml@refs/tags/v9"}
	pol := fwtest.Policy(t, `
version: 1
keys: {release: {file: release.pub}}
trustedRoot: root.json
builders:
  - name: gha
    id: https://github.com/acme/fw/.github/workflows/release.yml@refs/tags/v9
    keyless: {issuer: "https://token.actions.githubusercontent.com", san: "https://github.com/acme/fw/.github/workflows/release.yml@refs/tags/v9"}
rules:
  - {name: all, models: ["*"], release: {keys: [release]}, provenance: {builders: [gha]}}
`, map[string][]byte{"release.pub": func() []byte { b, _ := fwtest.Release1.Public().Marshal(); return b }(), "root.json": []byte("{}")})
	imgSmall, imgLarge := fwtest.Image("small keyless", 900), fwtest.Image("large keyless", 900)
	small, large := sigstoreBundle(t, imgSmall, 5), sigstoreBundle(t, imgLarge, 900)
	kv := someBundles{ok: map[digest.Digest]bool{sha256.Sum256(small): true, sha256.Sum256(large): true}, id: id}
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}, RequireProvenance: true, Policy: pol, Keyless: kv})
	lc, _ := logclient.New(l.URL, nil)
	for i, c := range []struct{ img, prov []byte }{{imgSmall, small}, {imgLarge, large}} {
		rel := fwtest.SignRelease(t, fwtest.NewRelease(c.img, func(r *provenance.Release) {
			r.Version = fmt.Sprintf("1.%d.0", i)
			r.Provenance = []digest.Digest{sha256.Sum256(c.prov)}
		}), fwtest.Release1)
		res, err := lc.AddAll(ctx, [][]byte{c.prov, rel})
		if err != nil {
			t.Fatalf("the log refuses the keyless release %d: %v", i, err)
		}
		l.WaitSize(t, res[1].Index+1)
		t.Logf("the log took keyless provenance of %d bytes at %d and its release at %d", len(c.prov), res[0].Index, res[1].Index)
	}
	a := plainAuditor(t, l.URL, func(c *audit.Config) { c.Policy, c.Keyless = pol, kv })
	res, err := a.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, al := range res.Alerts {
		t.Errorf("FALSE ALERT on a release the log and devices accept: %s %s at %d: %s", al.Severity, al.Type, *al.Index, al.Message)
	}
}
