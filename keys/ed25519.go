package keys

import (
	"context"
	"crypto/ed25519"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"
)

// stdlibRules are curve25519-voi's verification rules that match
// crypto/ed25519 exactly: the cofactorless equation, S below the group
// order, R compared in its canonical encoding, and any point as the key.
// TestEd25519MatchesStdlib and FuzzEd25519MatchesStdlib hold the two to the
// same verdict.
var stdlibRules = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// ed25519Verifier is the DSSE verifier of an Ed25519 key that keeps the
// key's precomputed multiples (curve25519-voi's ExpandedPublicKey), so
// that each verification does about half the curve arithmetic of
// crypto/ed25519, which expands the key anew every time. A log verifies
// every submission against the same few keys.
//
// Batch verification, which would cost less again, is not used: it checks
// the cofactored equation, which accepts signatures crypto/ed25519 (and so
// every device and auditor) rejects, namely those whose R carries a small-
// order component; only a key holder can make one, but then the log would
// take an entry that its verifiers refuse. See docs/BENCHMARKS.md.
type ed25519Verifier struct {
	dsse.Verifier // go-securesystemslib's, for KeyID and Public
	key           *voi.ExpandedPublicKey
}

// newEd25519Verifier returns v with pub's precomputed multiples, or v
// itself if pub is not a point (then no signature verifies under either).
func newEd25519Verifier(v dsse.Verifier, pub ed25519.PublicKey) dsse.Verifier {
	x, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
		return v
	}
	return &ed25519Verifier{Verifier: v, key: x}
}

func (v *ed25519Verifier) Verify(_ context.Context, data, sig []byte) error {
	if voi.VerifyExpandedWithOptions(v.key, data, sig, stdlibRules) {
		return nil
	}
	return signerverifier.ErrSignatureVerificationFailed
}
