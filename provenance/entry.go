package provenance

import (
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/fwledger/fwledger/keys"
)

// A Kind is the kind of statement a log entry holds.
type Kind string

// The kinds of statements fwledger logs.
const (
	KindRelease    Kind = "release"
	KindProvenance Kind = "provenance"
)

// An Entry is a parsed log entry whose signatures are not yet checked.
type Entry struct {
	Kind     Kind
	Envelope *Envelope
	// Release is set for KindRelease, Provenance for KindProvenance.
	Release    *Release
	Provenance *Provenance
	// Digest is the SHA-256 of the exact entry bytes: how a release names
	// the provenance it endorses.
	Digest Digest
}

// ParseEntry parses a log entry: a DSSE envelope holding a release
// statement or SLSA provenance v1.
func ParseEntry(data []byte) (*Entry, error) {
	env, err := ParseEnvelope(data)
	if err != nil {
		return nil, err
	}
	e := &Entry{Envelope: env, Digest: sha256.Sum256(data)}
	st, err := ParseStatement(env.Body)
	if err != nil {
		return nil, err
	}
	switch st.GetPredicateType() {
	case ReleasePredicateType:
		e.Kind = KindRelease
		e.Release, err = ParseRelease(env.Body)
	case SLSAPredicateType:
		e.Kind = KindProvenance
		e.Provenance, err = ParseProvenance(env.Body)
	default:
		return nil, &StatementError{Err: fmt.Errorf("predicateType %q is neither a release (%s) nor SLSA provenance (%s)", st.GetPredicateType(), ReleasePredicateType, SLSAPredicateType)}
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

// VerifyEntry checks the signatures of a parsed entry: a release needs
// releaseThreshold distinct keys of releaseKeys, provenance one key of
// builderKeys. It returns the DSSE key IDs of the trusted signers.
func VerifyEntry(ctx context.Context, e *Entry, releaseKeys *keys.Ring, releaseThreshold int, builderKeys *keys.Ring) ([]string, error) {
	if e.Kind == KindRelease {
		return VerifySignatures(ctx, e.Envelope, releaseKeys, releaseThreshold)
	}
	return VerifySignatures(ctx, e.Envelope, builderKeys, 1)
}

// An EndorsementError reports a release whose endorsed provenance is
// missing or is not about the released image.
type EndorsementError struct {
	Provenance Digest
	Reason     string
}

func (e *EndorsementError) Error() string {
	return fmt.Sprintf("the release endorses provenance %s, which %s", e.Provenance, e.Reason)
}

// CheckEndorsed checks that p, the provenance with envelope digest d that
// release r endorses, is about the released image.
func CheckEndorsed(r *Release, d Digest, p *Provenance) error {
	if !p.Attests(r.Image, r.ImageSHA512) {
		return &EndorsementError{Provenance: d, Reason: fmt.Sprintf("is not about the released image %s (its subjects name other digests)", r.Image)}
	}
	return nil
}
