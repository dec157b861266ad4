package audit

import (
	"crypto/sha256"
	"crypto/sha512"
	"testing"

	"github.com/fwledger/fwledger/provenance"
)

// TestAbout: judgeRebuilds keeps, of the provenance the subjects index
// finds by a prefix of an image's digest, only that about the image.
func TestAbout(t *testing.T) {
	img := sha256.Sum256([]byte("image"))
	img512 := sha512.Sum512([]byte("image"))
	near := img // another image whose digest has the same first 8 bytes
	near[31] ^= 1
	rel := &provenance.Release{Image: img, ImageSHA512: img512[:]}
	relNo512 := &provenance.Release{Image: img}
	prov := func(subs ...provenance.SubjectDigest) *provenance.Entry {
		return &provenance.Entry{Kind: provenance.KindProvenance, Provenance: &provenance.Provenance{Subjects: subs}}
	}
	for _, tc := range []struct {
		desc string
		e    *provenance.Entry
		rel  *provenance.Release
		want bool
	}{
		{"by SHA-256", prov(provenance.SubjectDigest{Alg: "sha256", Value: img[:]}), rel, true},
		{"by SHA-512", prov(provenance.SubjectDigest{Alg: "sha512", Value: img512[:]}), rel, true},
		{"by SHA-512, a release without one", prov(provenance.SubjectDigest{Alg: "sha512", Value: img512[:]}), relNo512, false},
		{"an image of the same prefix", prov(provenance.SubjectDigest{Alg: "sha256", Value: near[:]}), rel, false},
		{"the digest under another algorithm", prov(provenance.SubjectDigest{Alg: "sha384", Value: img[:]}), rel, false},
		{"not provenance", &provenance.Entry{Kind: provenance.KindRevocation}, rel, false},
	} {
		if got := about(tc.e, tc.rel); got != tc.want {
			t.Errorf("%s: about = %v, want %v", tc.desc, got, tc.want)
		}
	}
}
