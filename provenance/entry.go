package provenance

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/fwledger/fwledger/internal/strictjson"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/keys"
	intoto "github.com/in-toto/in-toto-golang/in_toto"
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
	Kind Kind
	// Envelope is the DSSE envelope: the entry itself, or the one inside a
	// Sigstore bundle.
	Envelope *Envelope
	// Bundle is the entry's bytes when the entry is a Sigstore bundle
	// (keyless provenance), verified with a KeylessVerifier; nil for a bare
	// DSSE envelope.
	Bundle []byte
	// Release is set for KindRelease, Provenance for KindProvenance,
	// Revocation for KindRevocation, Probe for KindProbe.
	Release    *Release
	Provenance *Provenance
	Revocation *Revocation
	Probe      *Probe
	// Metablock is set for KindLayout and KindLink: in-toto metadata.
	Metablock *intoto.Metablock
	// Digest is the SHA-256 of the exact entry bytes: how a release names
	// the provenance it endorses.
	Digest digest.Digest
	// Statement is the SHA-256 of what the entry's signatures sign: the
	// DSSE payload, or the canonical JSON of in-toto metadata's "signed"
	// object. Entries that encode or sign one statement differently share
	// it.
	Statement digest.Digest
	// Identity is the certificate identity of a keyless entry, set by
	// whoever verified it with a KeylessVerifier.
	Identity *CertificateIdentity
}

// Copy returns a copy of e that shares its parsed, read-only parts but has
// its own record of signature checks and identity, so that the copy and e
// may be verified concurrently (an Envelope is not for concurrent use).
func (e *Entry) Copy() *Entry {
	c := *e
	if e.Envelope != nil {
		env := *e.Envelope
		env.checked = nil
		c.Envelope = &env
	}
	return &c
}

// SigstoreBundleMediaType prefixes the media types of Sigstore bundles.
const SigstoreBundleMediaType = "application/vnd.dev.sigstore.bundle"

// IsSigstoreBundle reports whether data is JSON with a Sigstore bundle media
// type (it may still be malformed).
func IsSigstoreBundle(data []byte) bool {
	var p entryProbe
	return json.Unmarshal(data, &p) == nil && p.bundle()
}

// entryProbe is the one decoding of an entry's top level that tells its form
// apart: a Sigstore bundle has a mediaType, in-toto metadata has signed and
// signatures, and anything else is taken as a bare DSSE envelope. Each form
// is then checked strictly by its own parser.
type entryProbe struct {
	MediaType    json.RawMessage `json:"mediaType"`
	DSSEEnvelope json.RawMessage `json:"dsseEnvelope"`
	Signed       json.RawMessage `json:"signed"`
	Signatures   json.RawMessage `json:"signatures"`
}

func (p *entryProbe) bundle() bool {
	var mt string
	return p.MediaType != nil && json.Unmarshal(p.MediaType, &mt) == nil && strings.HasPrefix(mt, SigstoreBundleMediaType)
}

// ParseEntry parses a log entry: a DSSE envelope, a Sigstore bundle holding
// one, or in-toto layout or link metadata. A Sigstore bundle may be up to
// MaxLargeEntrySize bytes (the log stores a larger one by digest); anything
// else at most MaxEnvelopeSize.
func ParseEntry(data []byte) (*Entry, error) {
	var p entryProbe
	if probeMayFind(data) && json.Unmarshal(data, &p) != nil {
		// Not a JSON object: the envelope parser names what is wrong.
		p = entryProbe{}
	}
	bundle := p.bundle()
	if limit := map[bool]int{true: MaxLargeEntrySize, false: MaxEnvelopeSize}[bundle]; len(data) > limit {
		return nil, &EnvelopeError{Err: fmt.Errorf("entry is %d bytes, more than the limit of %d", len(data), limit)}
	}
	e := &Entry{Digest: sha256.Sum256(data)}
	if p.Signed != nil {
		mb, err := parseMetablock(data, p.Signed, p.Signatures)
		if err != nil {
			return nil, err
		}
		e.Metablock = mb
		signed, err := mb.GetSignableRepresentation()
		if err != nil {
			return nil, &StatementError{Err: fmt.Errorf("in-toto metadata: %w", err)}
		}
		e.Statement = sha256.Sum256(signed)
		if _, ok := mb.Signed.(intoto.Layout); ok {
			e.Kind = KindLayout
		} else {
			e.Kind = KindLink
		}
		return e, nil
	}
	envJSON := data
	if bundle {
		if err := strictjson.Check(data); err != nil {
			return nil, &EnvelopeError{Err: err}
		}
		if len(p.DSSEEnvelope) == 0 {
			return nil, &EnvelopeError{Err: errors.New("the Sigstore bundle holds no DSSE envelope (a message signature is not a statement)")}
		}
		e.Bundle = data
		envJSON = p.DSSEEnvelope
	}
	env, err := parseEnvelope(envJSON, PayloadType, map[bool]int{true: MaxLargeEntrySize, false: MaxEnvelopeSize}[e.Bundle != nil])
	if err != nil {
		return nil, err
	}
	e.Envelope = env
	e.Statement = sha256.Sum256(env.Body)
	st, err := ParseStatement(env.Body)
	if err != nil {
		return nil, err
	}
	switch st.PredicateType {
	case ReleasePredicateType:
		e.Kind = KindRelease
		e.Release, err = parseRelease(st)
	case SLSAPredicateType:
		e.Kind = KindProvenance
		e.Provenance, err = parseProvenance(st)
	case RevocationPredicateType:
		e.Kind = KindRevocation
		e.Revocation, err = parseRevocation(st)
	case ProbePredicateType:
		e.Kind = KindProbe
		e.Probe, err = parseProbe(st)
	default:
		return nil, &StatementError{Err: fmt.Errorf("predicateType %q is not a release (%s), SLSA provenance (%s), a revocation (%s) or a probe (%s)", st.PredicateType, ReleasePredicateType, SLSAPredicateType, RevocationPredicateType, ProbePredicateType)}
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

// ErrKeyless is returned by VerifyEntry for a Sigstore bundle: it is
// verified with a KeylessVerifier and matched against a policy instead.
var ErrKeyless = errors.New("the entry is a Sigstore bundle: it needs keyless verification against a policy's trusted root")

// VerifyEntry checks the signatures of a parsed entry: a release needs
// releaseThreshold distinct keys of releaseKeys, provenance one key of
// builderKeys. It returns the DSSE key IDs of the trusted signers.
func VerifyEntry(ctx context.Context, e *Entry, releaseKeys *keys.Ring, releaseThreshold int, builderKeys *keys.Ring) ([]string, error) {
	if e.Bundle != nil {
		return nil, ErrKeyless
	}
	if e.Metablock != nil {
		return nil, fmt.Errorf("in-toto %s metadata is verified with its layout, not alone", e.Kind)
	}
	switch e.Kind {
	case KindRelease:
		return VerifySignatures(ctx, e.Envelope, releaseKeys, releaseThreshold)
	case KindRevocation:
		return nil, ErrRevocation
	case KindProbe:
		return nil, ErrProbe
	}
	return VerifySignatures(ctx, e.Envelope, builderKeys, 1)
}

// ErrProbe is returned by VerifyEntry for a probe: it is verified with the
// log's probe keys.
var ErrProbe = errors.New("the entry is a probe: it is verified with the log's probe keys")

// ErrRevocation is returned by VerifyEntry for a revocation: it is
// verified with the revocation keys (VerifyRevocation).
var ErrRevocation = errors.New("the entry is a revocation: it is verified with the revocation keys")

// VerifyRevocation checks that at least threshold distinct keys of
// revocationKeys signed the revocation entry e, under the signature rules
// of the package documentation but one: a signature by a trusted key that
// does not verify is passed over, not a reason to reject the envelope.
// Extra signatures cannot weaken a revocation, and a copy with a bad
// signature added must revoke as the clean one does, whichever of them
// the log kept. It returns the key IDs of the trusted signers.
func VerifyRevocation(ctx context.Context, e *Entry, revocationKeys *keys.Ring, threshold int) ([]string, error) {
	if e.Kind != KindRevocation || e.Envelope == nil || e.Bundle != nil {
		return nil, &StatementError{Err: fmt.Errorf("the entry is %s, not a revocation in a DSSE envelope", e.Kind)}
	}
	return verifySignatures(ctx, e.Envelope, revocationKeys, threshold, true)
}

// A KeylessVerifier verifies a Sigstore bundle entry offline (certificate
// chain, transparency log entry, DSSE signature) and returns the identity
// of its certificate. Package keyless implements it with sigstore-go.
type KeylessVerifier interface {
	VerifyKeyless(e *Entry) (*CertificateIdentity, error)
}

// An EndorsementError reports a release whose endorsed provenance is
// missing or is not about the released image.
type EndorsementError struct {
	Provenance digest.Digest
	Reason     string
}

func (e *EndorsementError) Error() string {
	return fmt.Sprintf("the release endorses provenance %s, which %s", e.Provenance, e.Reason)
}

// CheckEndorsed checks that p, the provenance with envelope digest d that
// release r endorses, is about the released image.
func CheckEndorsed(r *Release, d digest.Digest, p *Provenance) error {
	if !p.Attests(r) {
		return &EndorsementError{Provenance: d, Reason: fmt.Sprintf("is not about the released image %s (no subject names a digest the release names, or a subject names another value for one)", r.Image)}
	}
	return nil
}
