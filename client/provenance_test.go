package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
)

var (
	ci    = fwtest.Builder
	other = fwtest.OtherBuilder
)

func provFor(t *testing.T, img []byte, k *keys.PrivateKey) []byte {
	b := &provenance.Build{
		BuilderID: "https://ci.example.com/runner/v1", BuildType: provenance.BuildTypeMake,
		Source: "git+https://git.example.com/acme/fw", Ref: "refs/tags/v1", Commit: "0123456789abcdef0123456789abcdef01234567",
		Subjects: []provenance.Artifact{{Name: "fw.bin", SHA256: sha256.Sum256(img)}},
	}
	stmt, err := b.Statement()
	if err != nil {
		t.Fatal(err)
	}
	return fwtest.SignPayload(t, stmt, k)
}

func TestVerifyBundleProvenance(t *testing.T) {
	ctx := context.Background()
	img := fwtest.Image("device image", 4000)
	otherImg := fwtest.Image("other image", 4000)
	prov := provFor(t, img, ci)
	provOther := provFor(t, otherImg, ci)
	provUntrusted := provFor(t, img, other)
	rel := func(ps ...[]byte) []byte {
		return fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
			for _, p := range ps {
				r.Provenance = append(r.Provenance, sha256.Sum256(p))
			}
		}), rel1)
	}
	mk := func(entries [][]byte, release int, prov ...int) []byte {
		b, err := fwtest.MakeBundleWith(fwtest.LogKey, entries, release, prov...)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	v, _ := fwtest.LogKey.Public().NoteVerifier()
	trust := client.Trust{Log: v, ReleaseKeys: fwtest.Ring(t, rel1), BuilderKeys: fwtest.Ring(t, ci), RequireProvenance: true}
	noReq := trust
	noReq.RequireProvenance = false

	for _, tc := range []struct {
		desc   string
		trust  client.Trust
		bundle []byte
		ok     bool
		nProv  int
	}{
		{"endorsed provenance present", trust, mk([][]byte{prov, rel(prov)}, 1, 0), true, 1},
		{"plus an untrusted rebuild, ignored", trust, mk([][]byte{prov, provUntrusted, rel(prov)}, 2, 0, 1), true, 1},
		{"endorsed provenance missing from the bundle", trust, mk([][]byte{prov, rel(prov)}, 1), false, 0},
		{"release endorses none, provenance required", trust, mk([][]byte{rel()}, 0), false, 0},
		{"release endorses none, not required", noReq, mk([][]byte{rel()}, 0), true, 0},
		{"endorsed provenance signed by an untrusted builder", trust, mk([][]byte{provUntrusted, rel(provUntrusted)}, 1, 0), false, 0},
		{"endorsed provenance about another image", trust, mk([][]byte{provOther, rel(provOther)}, 1, 0), false, 0},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			res, err := client.VerifyBundle(ctx, tc.trust, tc.bundle, bytes.NewReader(img))
			if tc.ok {
				if err != nil {
					t.Fatalf("VerifyBundle: %v", err)
				}
				if len(res.Provenance) != tc.nProv {
					t.Errorf("%d verified provenance, want %d", len(res.Provenance), tc.nProv)
				}
				return
			}
			var pe *client.ProvenanceError
			if !errors.As(err, &pe) {
				t.Errorf("VerifyBundle = %T %v, want a ProvenanceError", err, err)
			}
		})
	}
}

// TestVerifyBundleTarget checks that Trust.Model is applied with release
// keys as with a policy: a release that does not name the device's model
// is refused with a TargetError.
func TestVerifyBundleTarget(t *testing.T) {
	ctx := context.Background()
	img := fwtest.Image("device image", 4000)
	prov := provFor(t, img, ci)
	env := fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
		r.Models = []string{"acme-x1", "acme-x1-pro"}
		r.Provenance = append(r.Provenance, sha256.Sum256(prov))
	}), rel1)
	b, err := fwtest.MakeBundleWith(fwtest.LogKey, [][]byte{prov, env}, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	relVKey, _ := rel1.Public().VerifierKey()
	ciVKey, _ := ci.Public().VerifierKey()
	pol, err := provenance.ParsePolicy([]byte(`version: 1
keys:
  release-1: {vkey: "`+relVKey+`"}
  ci: {vkey: "`+ciVKey+`"}
builders:
  - {name: ci, id: "https://ci.example.com/runner/v1", keys: [ci], slsaLevel: 1}
rules:
  - name: every model
    models: ["*"]
    release: {keys: [release-1]}
    provenance: {builders: [ci]}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := fwtest.LogKey.Public().NoteVerifier()
	keyTrust := client.Trust{Log: v, ReleaseKeys: fwtest.Ring(t, rel1), BuilderKeys: fwtest.Ring(t, ci), RequireProvenance: true}
	policyTrust := client.Trust{Log: v, Policy: pol}
	for _, tc := range []struct {
		desc  string
		trust client.Trust
	}{{"release keys", keyTrust}, {"policy", policyTrust}} {
		for _, model := range []string{"", "acme-x1", "acme-x1-pro", "acme-x2"} {
			tr := tc.trust
			tr.Model = model
			_, err := client.VerifyBundle(ctx, tr, b, bytes.NewReader(img))
			if model != "acme-x2" {
				if err != nil {
					t.Errorf("%s, model %q: VerifyBundle = %v", tc.desc, model, err)
				}
				continue
			}
			var te *client.TargetError
			if !errors.As(err, &te) || te.Model != "acme-x2" || len(te.Models) != 2 {
				t.Errorf("%s, model %q: VerifyBundle = %T %v, want a TargetError", tc.desc, model, err, err)
			}
		}
	}
}
