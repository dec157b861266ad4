package provenance_test

import (
	"context"
	"testing"

	"github.com/fwledger/fwledger/internal/testutil"
	"github.com/fwledger/fwledger/provenance"
)

// BenchmarkVerifyRelease measures everything the log checks on a submitted
// release: envelope parsing, statement and predicate decoding, and one
// Ed25519 signature.
func BenchmarkVerifyRelease(b *testing.B) {
	env := testutil.SignRelease(b, testutil.NewRelease([]byte("image"), nil), k1)
	ring := testutil.Ring(b, k1)
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
	env := testutil.SignRelease(b, testutil.NewRelease([]byte("image"), nil), k1)
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
