// Package client is the verifier a device or an auditor embeds: it verifies
// an offline proof bundle (package bundle) and the image it is for, under
// what the caller trusts, and nothing else. It is pure: it reads only the
// bytes and the image stream it is given, and imports no network, storage,
// cache or cgo package (an architecture test holds it to that). Package
// logclient fetches bundles; package tlogpolicy parses witness policies.
//
// Verification fails closed with a typed error that says which check
// failed (see [BundleError], [tlogpolicy.CheckpointError],
// [tlogpolicy.QuorumError], [InclusionError], [ReleaseError],
// [SignatureError], [RevocationError], [RevokedError], [ProvenanceError],
// [TargetError], [DigestError]).
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/revocation"
	"github.com/fwledger/fwledger/tlogpolicy"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// Trust is what a verifier trusts.
type Trust struct {
	// Log verifies the log's checkpoint signatures. Its name is the log's
	// origin. It may be nil when Witnesses is set; the checkpoint must then
	// come from one of the policy's logs.
	Log note.Verifier
	// Witnesses, when set, is the C2SP tlog-policy the checkpoint must
	// meet: a valid cosignature from a quorum of its witnesses, and no bad
	// signature from any key it names.
	Witnesses *tlogpolicy.Policy
	// ReleaseKeys are the vendor's release keys.
	ReleaseKeys *keys.Ring
	// ReleaseThreshold is how many distinct release keys must sign
	// (default 1).
	ReleaseThreshold int
	// BuilderKeys verify the signatures of build provenance.
	BuilderKeys *keys.Ring
	// RequireProvenance rejects a release that endorses no provenance.
	RequireProvenance bool
	// Policy, when set, decides the release and its provenance instead of
	// ReleaseKeys, ReleaseThreshold and BuilderKeys: the release must pass
	// the policy's rule for Model, or for every model it names if Model is
	// empty.
	Policy *provenance.Policy
	// Model, when set, is the device's hardware model: the release must
	// name it, or verification fails with a [TargetError].
	Model string
	// Channel, when set, is the device's release channel ("stable",
	// "beta"): the release must be on it, or verification fails with a
	// [TargetError].
	Channel string
	// MaxCosignatureAge is, for [VerifyUpdate], how old the witness
	// quorum's cosignatures may be at the reference time (see
	// [FreezeError]); zero skips the check. It needs Witnesses.
	MaxCosignatureAge time.Duration
	// AllowSameSecurityVersion lets [VerifyUpdate] install a release at
	// the security version the device runs; otherwise it must be higher.
	AllowSameSecurityVersion bool
	// Keyless verifies keyless (Sigstore) provenance; the policy then
	// matches the certificate identity. Package provenance/keyless
	// implements it (and is large: a small device may leave it nil and
	// accept only key-signed provenance).
	Keyless provenance.KeylessVerifier
	// Now is the time in-toto layouts must not have expired at (default:
	// the current time).
	Now time.Time
	// RevocationKeys are the vendor's revocation keys: a revocation the
	// bundle carries applies if RevocationThreshold of them (default 1)
	// signed it. With them, the checkpoint must commit to the log's
	// revocations, and the bundle must carry every one (package
	// revocation), or verification fails with a *RevocationError. Without
	// them, the Policy's revocation section names them, if it has one
	// (giving both is an error).
	RevocationKeys      *keys.Ring
	RevocationThreshold int
}

// revocationKeys returns the revocation keys and threshold that apply:
// Trust's, or the policy's.
func (t Trust) revocationKeys() (*keys.Ring, int, error) {
	if t.Policy != nil && t.Policy.RevocationKeys != nil {
		if t.RevocationKeys.Len() > 0 {
			return nil, 0, &RevocationError{Err: errors.New("revocation keys are given twice: in the trust and in the policy's revocation section")}
		}
		return t.Policy.RevocationKeys, t.Policy.RevocationThreshold, nil
	}
	return t.RevocationKeys, t.RevocationThreshold, nil
}

// A RevocationError reports a bundle whose revocations do not match what
// its checkpoint commits to (one was left out, added or changed), or a
// checkpoint that commits to none when the verifier has revocation keys.
type RevocationError struct{ Err error }

func (e *RevocationError) Error() string { return "revocations rejected: " + e.Err.Error() }
func (e *RevocationError) Unwrap() error { return e.Err }

// RevokedError reports a release refused for a revocation the bundle
// carries: of its image, or of a key it needs.
type RevokedError = revocation.RevokedError

// revocations checks the bundle's revocations against the commitment in
// its checkpoint (which verified) and returns those signed by a threshold
// of the trusted revocation keys. Inclusion is checked with the other
// entries.
func (t Trust) revocations(ctx context.Context, b *bundle.Bundle) (*revocation.Set, error) {
	ring, threshold, err := t.revocationKeys()
	if err != nil {
		return nil, err
	}
	c, err := revocation.FromCheckpoint(b.Checkpoint())
	if errors.Is(err, revocation.ErrNoCommitment) {
		if ring.Len() > 0 {
			return nil, &RevocationError{Err: err}
		}
		if len(b.Revocations) > 0 {
			return nil, &BundleError{Err: errors.New("the bundle carries revocations, but its checkpoint commits to none")}
		}
		return nil, nil
	}
	if err != nil {
		return nil, &RevocationError{Err: err}
	}
	hashes := make([][]byte, len(b.Revocations))
	for i := range b.Revocations {
		hashes[i] = rfc6962.DefaultHasher.HashLeaf(b.Revocations[i].Data)
	}
	got, err := revocation.Commit(hashes)
	if err != nil {
		return nil, &RevocationError{Err: err}
	}
	if !got.Equal(c) {
		return nil, &RevocationError{Err: fmt.Errorf("the bundle's %d revocations do not match the checkpoint, which commits to %d: a revocation was left out, added or changed", len(b.Revocations), c.Count)}
	}
	set := &revocation.Set{}
	if ring.Len() == 0 {
		return set, nil
	}
	for i := range b.Revocations {
		r := &b.Revocations[i]
		e, err := provenance.ParseEntry(r.Data)
		if err != nil {
			// Committed to as a revocation: one that cannot be read
			// cannot be shown not to apply.
			return nil, &RevocationError{Err: fmt.Errorf("the revocation at index %d does not parse: %w", r.Proof.Index, err)}
		}
		if e.Kind != provenance.KindRevocation {
			return nil, &BundleError{Err: fmt.Errorf("revocations: entry %d is %s, not a revocation", r.Proof.Index, e.Kind)}
		}
		// Revocations by other keys (another vendor's, in a shared log)
		// do not apply.
		if lg, err := revocation.Verify(ctx, e, r.Data, r.Proof.Index, ring, threshold); err == nil {
			set.Add(lg)
		}
	}
	return set, nil
}

// PolicyError reports a release or provenance the policy does not trust;
// its Report explains each check.
type PolicyError = provenance.PolicyViolation

// A VerifiedProvenance is a provenance statement in a bundle whose
// inclusion and signature verified.
type VerifiedProvenance struct {
	Index      uint64
	Digest     digest.Digest
	Provenance *provenance.Provenance
	// Signers are the DSSE key IDs of the trusted builder keys that signed.
	Signers []string
	// Endorsed is true for the build provenance the release endorses, and
	// false for independent rebuilds.
	Endorsed bool
}

// A Verified is what a successful verification established.
type Verified struct {
	// Release is the verified release statement.
	Release *provenance.Release
	// Signers are the DSSE key IDs of the release keys that signed.
	Signers []string
	// Index is the release entry's index in the log.
	Index uint64
	// Checkpoint is the verified checkpoint the release is included under.
	Checkpoint flog.Checkpoint
	// CheckpointNote is the signed checkpoint.
	CheckpointNote []byte
	// Cosignatures are the verified cosignatures of the policy's witnesses
	// (none without Trust.Witnesses).
	Cosignatures []tlogpolicy.Cosignature
	// Provenance holds the verified provenance: every statement the
	// release endorses, and the rebuilds signed by trusted builder keys.
	Provenance []VerifiedProvenance
	// QuorumTime is, for [VerifyUpdate], the newest time at which the
	// witness quorum had cosigned the checkpoint: the time floor a device
	// may move to (zero without witnesses).
	QuorumTime time.Time
	// Revocations is how many revocations the bundle carries (every one
	// the log holds below the checkpoint's size, as its commitment
	// proves), and Applied how many of them the trusted revocation keys
	// signed: those were applied.
	Revocations, Applied int
}

// BundleError reports a malformed bundle.
type BundleError struct{ Err error }

func (e *BundleError) Error() string { return "malformed bundle: " + e.Err.Error() }
func (e *BundleError) Unwrap() error { return e.Err }

// InclusionError reports an entry whose inclusion proof does not verify.
type InclusionError struct {
	Index, Size uint64
	Err         error
}

func (e *InclusionError) Error() string {
	return fmt.Sprintf("entry %d is not proven included in the tree of size %d: %v", e.Index, e.Size, proofError(e.Err))
}

// proofError returns err, with a root mismatch of package proof (whose
// message spans lines of byte values) said in one line, in hex.
func proofError(err error) error {
	var rm proof.RootMismatchError
	if errors.As(err, &rm) {
		return fmt.Errorf("the proof leads to root %x, not the checkpoint's %x", rm.CalculatedRoot, rm.ExpectedRoot)
	}
	return err
}
func (e *InclusionError) Unwrap() error { return e.Err }

// ReleaseError reports a release envelope or statement that is malformed.
type ReleaseError struct{ Err error }

func (e *ReleaseError) Error() string { return "release rejected: " + e.Err.Error() }
func (e *ReleaseError) Unwrap() error { return e.Err }

// SignatureError reports a release whose signatures do not satisfy the
// trusted release keys and threshold. Err is the
// *provenance.PolicyViolation, which unwraps to a *provenance.SignatureError
// or *provenance.ThresholdError.
type SignatureError struct{ Err error }

func (e *SignatureError) Error() string { return "release signature rejected: " + e.Err.Error() }
func (e *SignatureError) Unwrap() error { return e.Err }

// ProvenanceError reports build provenance that is missing, does not
// verify, or is not about the released image.
type ProvenanceError struct {
	// Digest is the provenance envelope's digest, zero when the release
	// endorses none.
	Digest digest.Digest
	Err    error
}

func (e *ProvenanceError) Error() string {
	if e.Digest == (digest.Digest{}) {
		return "provenance rejected: " + e.Err.Error()
	}
	return fmt.Sprintf("provenance %s rejected: %v", e.Digest, e.Err)
}
func (e *ProvenanceError) Unwrap() error { return e.Err }

// TargetError reports a release that is not for the device's hardware
// model, or not on its channel.
type TargetError struct {
	// Model is the device's model (Trust.Model), set when the release does
	// not name it.
	Model string
	// Models are the models the release names.
	Models []string
	// Channel is the device's channel (Trust.Channel), set when the
	// release is on another one, ReleaseChannel.
	Channel, ReleaseChannel string
}

func (e *TargetError) Error() string {
	if e.Channel != "" {
		return fmt.Sprintf("the release is on channel %q, not %q", e.ReleaseChannel, e.Channel)
	}
	return fmt.Sprintf("the release is for model %s, not %s", strings.Join(e.Models, ", "), e.Model)
}

// checkTarget checks that the release is for the device's model and
// channel, if the trust names them.
func (t Trust) checkTarget(r *provenance.Release) error {
	if t.Model != "" && !slices.Contains(r.Models, t.Model) {
		return &TargetError{Model: t.Model, Models: r.Models}
	}
	if t.Channel != "" && r.Channel != t.Channel {
		return &TargetError{Channel: t.Channel, ReleaseChannel: r.Channel}
	}
	return nil
}

// DigestError reports an image whose digest or size is not the released
// one.
type DigestError = digest.MismatchError

// VerifyBundle verifies a bundle and the image it is for, in this order:
// checkpoint signatures and origin (and the witness policy's quorum, if
// Trust.Witnesses is set), inclusion of every entry in the checkpoint, the
// bundle's revocations against the checkpoint's commitment (package
// revocation), the release statement, the hardware model (if Trust.Model
// is set), a revocation of the image, the release and its provenance
// under Trust.Policy or the one-rule policy of Trust's keys (see
// [provenance.Policy.Evaluate]) with the keys revoked at the release's
// index left out, and the image's size and digests (hashed as a stream).
// It returns the first failure.
func VerifyBundle(ctx context.Context, t Trust, bundleBytes []byte, image io.Reader) (*Verified, error) {
	return verify(ctx, t, nil, bundleBytes, image, true)
}

// verify is VerifyBundle, and with st, VerifyUpdate; without withImage,
// it checks everything but the image.
func verify(ctx context.Context, t Trust, st *State, bundleBytes []byte, image io.Reader, withImage bool) (*Verified, error) {
	if t.Log == nil && t.Witnesses == nil {
		return nil, &tlogpolicy.CheckpointError{Err: errors.New("no trusted log key")}
	}
	b, err := bundle.Parse(bundleBytes)
	if err != nil {
		return nil, &BundleError{Err: err}
	}
	cp, cosigs, err := t.verifyCheckpoint(b.Checkpoint())
	if err != nil {
		return nil, err
	}
	var quorumAt time.Time
	if st != nil {
		if err := st.checkConsistency(b, cp); err != nil {
			return nil, err
		}
		clock := !t.Now.IsZero()
		t.Now = st.reference(t.Now)
		if quorumAt, err = t.checkFreshness(cosigs, clock); err != nil {
			return nil, err
		}
	}
	for _, e := range b.Entries() {
		if err := VerifyInclusion(cp, e); err != nil {
			return nil, err
		}
	}
	revs, err := t.revocations(ctx, b)
	if err != nil {
		return nil, err
	}
	if st != nil {
		if err := st.checkRevocationsKept(b); err != nil {
			return nil, err
		}
	}
	// An entry stored by digest comes with its content; it must be the
	// referenced bytes, and content comes with nothing else.
	for _, e := range b.Entries() {
		ref, err := provenance.ParseReference(e.Data)
		if err != nil {
			return nil, &BundleError{Err: err}
		}
		if ref == nil && e.Content != nil {
			return nil, &BundleError{Err: errors.New("an entry that is not a reference comes with content")}
		}
		if _, err := provenance.Resolve(e.Data, e.Content); err != nil {
			return nil, &BundleError{Err: err}
		}
	}
	rel, err := provenance.ParseEntry(b.Release.Bytes())
	if err != nil {
		return nil, &ReleaseError{Err: err}
	}
	if rel.Kind != provenance.KindRelease {
		return nil, &ReleaseError{Err: fmt.Errorf("the bundle's release entry is %s", rel.Kind)}
	}
	// The policy's first check for a model is that the release names it;
	// a mismatch is a TargetError of its own.
	if err := t.checkTarget(rel.Release); err != nil {
		return nil, err
	}
	entries, index, err := bundleEntries(b, rel.Release)
	if err != nil {
		return nil, err
	}
	if by, ok := revs.Release(rel.Release.Image); ok {
		return nil, &RevokedError{By: by}
	}
	relIndex := b.Release.Proof.Index
	indexOf := func(d digest.Digest) (uint64, bool) {
		if d == rel.Digest {
			return relIndex, true
		}
		i, ok := index[d]
		return i, ok
	}
	// A key revoked at an entry's index does not count on it; an entry
	// whose index the bundle does not prove is judged as if after every
	// revocation.
	opts := provenance.EvalOptions{Now: t.Now, Keyless: t.Keyless, IndexOf: indexOf, Revoked: revs.Revoked(indexOf)}
	if t.Model != "" {
		opts.Models = []string{t.Model}
	}
	res := t.policy().Evaluate(ctx, rel, entries, opts)
	if err := res.Err(); err != nil {
		// Release signatures that fail with a revoked key among them
		// fail for the revocation.
		var se *SignatureError
		if errors.As(classify(err), &se) {
			if by, ok := revs.SignedBy(rel.Envelope, relIndex); ok {
				return nil, &RevokedError{By: by, Err: classify(err)}
			}
		}
		return nil, classify(err)
	}
	if st != nil {
		if err := t.checkSecurityVersion(st, rel.Release); err != nil {
			return nil, err
		}
	}
	if withImage {
		if err := CheckImage(rel.Release, image); err != nil {
			return nil, err
		}
	}
	v := &Verified{
		QuorumTime:     quorumAt,
		Release:        rel.Release,
		Signers:        res.Signers,
		Index:          b.Release.Proof.Index,
		Checkpoint:     *cp,
		CheckpointNote: b.Checkpoint(),
		Cosignatures:   cosigs,
		Revocations:    len(b.Revocations),
		Applied:        revs.Len(),
	}
	for _, a := range res.Attested {
		v.Provenance = append(v.Provenance, VerifiedProvenance{
			Index: index[a.Entry.Digest], Digest: a.Entry.Digest, Provenance: a.Entry.Provenance, Signers: a.Signers, Endorsed: a.Endorsed,
		})
	}
	return v, nil
}

// policy returns the policy the release is judged by: Trust.Policy, or the
// one rule of Trust's keys.
func (t Trust) policy() *provenance.Policy {
	if t.Policy != nil {
		return t.Policy
	}
	return provenance.KeyPolicy(provenance.KeyTrust{
		ReleaseKeys: t.ReleaseKeys, ReleaseThreshold: t.ReleaseThreshold,
		BuilderKeys: t.BuilderKeys, RequireProvenance: t.RequireProvenance,
	})
}

// bundleEntries parses the bundle's provenance, layout and links, and
// returns them with the log index of each by digest. Provenance that does
// not parse is left out, unless the release endorses it.
func bundleEntries(b *bundle.Bundle, r *provenance.Release) ([]*provenance.Entry, map[digest.Digest]uint64, error) {
	var out []*provenance.Entry
	index := map[digest.Digest]uint64{}
	for i := range b.Provenance {
		data := b.Provenance[i].Bytes()
		pe, err := provenance.ParseEntry(data)
		if err != nil {
			if d := digest.Sum(data); slices.Contains(r.Provenance, d) {
				return nil, nil, &ProvenanceError{Digest: d, Err: fmt.Errorf("not SLSA provenance: %w", err)}
			}
			continue
		}
		out = append(out, pe)
		index[pe.Digest] = b.Provenance[i].Proof.Index
	}
	if b.Layout != nil {
		layout, err := provenance.ParseEntry(b.Layout.Bytes())
		if err != nil {
			return nil, nil, &BundleError{Err: fmt.Errorf("layout: %w", err)}
		}
		out = append(out, layout)
	}
	for i := range b.Links {
		lk, err := provenance.ParseEntry(b.Links[i].Bytes())
		if err != nil {
			return nil, nil, &BundleError{Err: fmt.Errorf("links[%d]: %w", i, err)}
		}
		out = append(out, lk)
	}
	return out, index, nil
}

// classify returns a policy violation as the typed error of the check that
// failed: release signatures as a *SignatureError, provenance as a
// *ProvenanceError; others as they are.
func classify(err error) error {
	var pv *provenance.PolicyViolation
	if !errors.As(err, &pv) {
		return err
	}
	switch c := pv.Failed(); {
	case c.Name == "release signatures":
		return &SignatureError{Err: err}
	case c.Provenance != (digest.Digest{}) || c.Name == "build provenance":
		return &ProvenanceError{Digest: c.Provenance, Err: err}
	}
	return err
}

// verifyCheckpoint verifies the checkpoint with the log key, the witness
// policy, or both.
func (t Trust) verifyCheckpoint(signed []byte) (*flog.Checkpoint, []tlogpolicy.Cosignature, error) {
	if t.Witnesses == nil {
		cp, err := tlogpolicy.VerifyCheckpoint(t.Log, signed)
		return cp, nil, err
	}
	wc, err := t.Witnesses.VerifyCheckpoint(signed)
	if err != nil {
		return nil, nil, err
	}
	if t.Log != nil {
		if _, err := tlogpolicy.VerifyCheckpoint(t.Log, signed); err != nil {
			return nil, nil, err
		}
	}
	return &wc.Checkpoint, wc.Cosignatures, nil
}

// VerifyInclusion checks that entry's proof proves it included in cp.
func VerifyInclusion(cp *flog.Checkpoint, e *bundle.Entry) error {
	hashes := make([][]byte, len(e.Proof.Hashes))
	for i := range e.Proof.Hashes {
		hashes[i] = e.Proof.Hashes[i][:]
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(e.Data)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, e.Proof.Index, cp.Size, leaf, hashes, cp.Hash); err != nil {
		return &InclusionError{Index: e.Proof.Index, Size: cp.Size, Err: err}
	}
	return nil
}

// CheckImage hashes image as a stream and checks its size and every digest
// the release names (SHA-256, and SHA-512 if named) in one pass. It reads at
// most one byte more than the release size.
func CheckImage(r *provenance.Release, image io.Reader) error {
	if image == nil {
		return &DigestError{WantSize: r.ImageSize}
	}
	return r.CheckImage(image)
}
