// Package keyless verifies keyless (Sigstore) provenance offline: a Sigstore
// bundle whose Fulcio certificate chains to a trusted root at the time its
// Rekor entry was integrated, whose transparency log entry and certificate
// timestamps verify, and whose DSSE signature is by that certificate. It
// returns the certificate's identity for a policy to match.
//
// It uses github.com/sigstore/sigstore-go, which is large; the device-side
// package client does not import it, and takes a provenance.KeylessVerifier
// instead.
package keyless

import (
	"errors"
	"fmt"

	"github.com/fwledger/fwledger/provenance"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// A Verifier verifies Sigstore bundles against one trusted root. It is safe
// for concurrent use.
type Verifier struct {
	v *verify.Verifier
}

var _ provenance.KeylessVerifier = (*Verifier)(nil)

// NewVerifier returns a Verifier for a Sigstore trusted root (the JSON of a
// trusted_root.json, such as the public-good instance's).
func NewVerifier(trustedRoot []byte) (*Verifier, error) {
	tr, err := root.NewTrustedRootFromJSON(trustedRoot)
	if err != nil {
		return nil, fmt.Errorf("invalid Sigstore trusted root: %w", err)
	}
	// One transparency log entry with an integrated timestamp, and a signed
	// certificate timestamp from a CT log: what the public-good instance
	// gives every keyless signature.
	v, err := verify.NewVerifier(tr, verify.WithTransparencyLog(1), verify.WithIntegratedTimestamps(1), verify.WithSignedCertificateTimestamps(1))
	if err != nil {
		return nil, err
	}
	return &Verifier{v: v}, nil
}

// VerifyKeyless verifies the Sigstore bundle entry e and returns its
// certificate identity. The bundle's statement must name the subject
// digests that e's parsed statement names.
func (v *Verifier) VerifyKeyless(e *provenance.Entry) (*provenance.CertificateIdentity, error) {
	if e.Bundle == nil {
		return nil, errors.New("the entry is not a Sigstore bundle")
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(e.Bundle); err != nil {
		return nil, fmt.Errorf("malformed Sigstore bundle: %w", err)
	}
	var digests []verify.ArtifactDigest
	if e.Provenance != nil {
		for _, s := range e.Provenance.Subjects {
			digests = append(digests, verify.ArtifactDigest{Algorithm: s.Alg, Digest: s.Value})
		}
	}
	if e.Release != nil {
		digests = append(digests, verify.ArtifactDigest{Algorithm: "sha256", Digest: e.Release.Image[:]})
	}
	if len(digests) == 0 {
		return nil, errors.New("the statement names no subject digest")
	}
	// Identity is matched by the caller's policy, which can explain a
	// mismatch; sigstore-go checks everything else.
	res, err := v.v.Verify(&b, verify.NewPolicy(verify.WithArtifactDigests(digests), verify.WithoutIdentitiesUnsafe()))
	if err != nil {
		return nil, fmt.Errorf("Sigstore verification failed: %w", err)
	}
	if res.Signature == nil || res.Signature.Certificate == nil {
		return nil, errors.New("the bundle is signed with a key, not a Fulcio certificate")
	}
	c := res.Signature.Certificate
	return &provenance.CertificateIdentity{
		Issuer:           c.Extensions.Issuer,
		SAN:              c.SubjectAlternativeName,
		SourceRepository: c.Extensions.SourceRepositoryURI,
	}, nil
}
