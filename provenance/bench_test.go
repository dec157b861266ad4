package provenance_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// BenchmarkVerifyRelease measures everything the log checks on a submitted
// release: envelope parsing, statement and predicate decoding, and one
// Ed25519 signature.
func BenchmarkVerifyRelease(b *testing.B) {
	env := fwtest.SignRelease(b, fwtest.NewRelease([]byte("image"), nil), fwtest.Release1)
	ring := fwtest.Ring(b, fwtest.Release1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := provenance.VerifyRelease(ctx, env, ring, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseRelease measures parsing without signature verification.
func BenchmarkParseRelease(b *testing.B) {
	env := fwtest.SignRelease(b, fwtest.NewRelease([]byte("image"), nil), fwtest.Release1)
	b.ReportAllocs()
	for b.Loop() {
		e, err := provenance.ParseEnvelope(env)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := provenance.ParseRelease(e.Body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyPair measures what the log (and a device) does for a release
// and the provenance it endorses: parse both, check both signatures, the
// endorsement, and a policy rule (release keys, builder bound to its key,
// SLSA level, build type, source and ref, external parameters). Run it with
// -cpu 1 for the per-core figure.
func BenchmarkVerifyPair(b *testing.B) {
	ctx := context.Background()
	img := []byte("pair image")
	pb := &provenance.Build{
		BuilderID: "https://ci.example.com/runner/v1", BuildType: provenance.BuildTypeMake,
		Source: "git+https://git.example.com/acme/fw", Ref: "refs/tags/v1.4.0", Commit: strings.Repeat("cd", 20), Target: "acme-x1",
		Subjects: []provenance.Artifact{{Name: "fw.bin", SHA256: sha256.Sum256(img)}},
	}
	stmt, err := pb.Statement()
	if err != nil {
		b.Fatal(err)
	}
	provBytes := fwtest.SignPayload(b, stmt, fwtest.Builder)
	relBytes := fwtest.SignRelease(b, fwtest.NewRelease(img, func(r *provenance.Release) {
		r.Provenance = []digest.Digest{sha256.Sum256(provBytes)}
	}), fwtest.Release1)
	pubs := map[string][]byte{}
	for n, k := range map[string]*keys.PrivateKey{"r": fwtest.Release1, "ci": fwtest.Builder} {
		pubs[n], _ = k.Public().Marshal()
	}
	pol, err := provenance.ParsePolicy([]byte(`
version: 1
keys: {r: {file: r}, ci: {file: ci}}
builders: [{name: ci, id: "https://ci.example.com/runner/v1", keys: [ci], slsaLevel: 2}]
rules:
  - name: acme
    models: [acme-x1]
    release: {keys: [r]}
    provenance:
      builders: [ci]
      minSLSALevel: 2
      buildTypes: [https://fwledger.dev/build/make@v1]
      sources: [{repo: "git+https://git.example.com/acme/fw", refs: ["refs/tags/v*"]}]
      externalParameters: [source, ref, target]
`), func(n string) ([]byte, error) { return pubs[n], nil })
	if err != nil {
		b.Fatal(err)
	}
	releaseRing, builderRing := fwtest.Ring(b, fwtest.Release1), fwtest.Ring(b, fwtest.Builder)
	b.ReportAllocs()
	for b.Loop() {
		rel, err := provenance.ParseEntry(relBytes)
		if err != nil {
			b.Fatal(err)
		}
		prov, err := provenance.ParseEntry(provBytes)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := provenance.VerifyEntry(ctx, rel, releaseRing, 1, nil); err != nil {
			b.Fatal(err)
		}
		if _, err := provenance.VerifyEntry(ctx, prov, nil, 1, builderRing); err != nil {
			b.Fatal(err)
		}
		if err := provenance.CheckEndorsed(rel.Release, prov.Digest, prov.Provenance); err != nil {
			b.Fatal(err)
		}
		if err := pol.Evaluate(ctx, rel, []*provenance.Entry{prov}, provenance.EvalOptions{Models: []string{"acme-x1"}, AtSubmission: true}).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignatureCheck measures one Ed25519 signature check of a
// release envelope's pre-authentication encoding, as VerifySignatures
// makes it: the unit of BenchmarkVerifyThreshold.
func BenchmarkSignatureCheck(b *testing.B) {
	env := fwtest.SignRelease(b, fwtest.NewRelease([]byte("image"), nil), fwtest.Release1)
	e, err := provenance.ParseEnvelope(env)
	if err != nil {
		b.Fatal(err)
	}
	v, err := fwtest.Release1.Public().DSSEVerifier()
	if err != nil {
		b.Fatal(err)
	}
	pae := dsse.PAE(e.PayloadType, e.Body)
	sig, _ := base64.StdEncoding.DecodeString(e.Signatures[0].Sig)
	ctx := context.Background()
	for b.Loop() {
		if err := v.Verify(ctx, pae, sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyThreshold measures parsing a release envelope signed by 3
// of a ring of 5 keys and verifying it against a threshold of 3: issue
// 11's bound is 3 signature checks (BenchmarkSignatureCheck) plus 50 µs.
func BenchmarkVerifyThreshold(b *testing.B) {
	ks := []*keys.PrivateKey{fwtest.Release1, fwtest.Release2, fwtest.Release3, fwtest.Key("example.com/release-4"), fwtest.Key("example.com/release-5")}
	ring := fwtest.Ring(b, ks...)
	env := fwtest.SignRelease(b, fwtest.NewRelease([]byte("image"), nil), ks[4], ks[0], ks[2])
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e, err := provenance.ParseEnvelope(env)
		if err != nil {
			b.Fatal(err)
		}
		if ids, err := provenance.VerifySignatures(ctx, e, ring, 3); err != nil || len(ids) != 3 {
			b.Fatal(ids, err)
		}
	}
}
