package ledger

import (
	"testing"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/provenance"
)

// TestAboutComparesWholeDigests checks the filter that makes a release key,
// a 16-byte prefix of the image digest, safe: an entry whose digest shares
// the prefix but differs after it is not about the digest.
func TestAboutComparesWholeDigests(t *testing.T) {
	d := digest.Sum([]byte("image"))
	near := d
	near[31] ^= 1
	if string(releaseKey(d)) != string(releaseKey(near)) {
		t.Fatal("the two digests should share a release key")
	}
	rel := func(img digest.Digest) *Statement {
		return &Statement{Entry: &provenance.Entry{Kind: provenance.KindRelease, Release: &provenance.Release{Image: img}}}
	}
	prov := func(img digest.Digest) *Statement {
		return &Statement{Entry: &provenance.Entry{Kind: provenance.KindProvenance, Provenance: &provenance.Provenance{
			Subjects: []provenance.SubjectDigest{{Alg: "sha256", Value: img[:]}}}}}
	}
	for i, tc := range []struct {
		s    *Statement
		want bool
	}{
		{rel(d), true}, {rel(near), false}, {prov(d), true}, {prov(near), false},
	} {
		if got := about(tc.s, d); got != tc.want {
			t.Errorf("case %d: about = %v, want %v", i, got, tc.want)
		}
	}
}
