package device

import (
	"errors"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/fwledger/fwledger/trust"
)

// Reasons a device refuses an update, for a fleet to count ([Reason]).
const (
	ReasonRollback   = "rollback"   // a lower security version, or a smaller tree
	ReasonFreeze     = "freeze"     // cosignatures too old
	ReasonSplitView  = "split_view" // a checkpoint that contradicts the stored one
	ReasonSignature  = "signature"  // release signatures below the threshold
	ReasonRevoked    = "revoked"    // a revoked key or release, or a revocation left out
	ReasonProvenance = "provenance" // provenance missing or outside the policy
	ReasonTarget     = "target"     // another model or channel
	ReasonDigest     = "digest"     // the image is not the released one, or a delta is corrupt
	ReasonSize       = "size"       // a download larger than the release says
	ReasonTrust      = "trust"      // a trust file refused, or expired
	ReasonBundle     = "bundle"     // a malformed bundle
	ReasonCheckpoint = "checkpoint" // a checkpoint signature that does not verify
	ReasonQuorum     = "quorum"     // too few witness cosignatures
	ReasonInclusion  = "inclusion"  // an entry not proven in the tree
	ReasonTransport  = "transport"  // the log could not be reached
	// ReasonUnconfirmed is why an update is reverted when the new
	// firmware booted as often as allowed without confirming itself.
	ReasonUnconfirmed = "unconfirmed"
	ReasonError       = "error" // anything else
)

// A SizeError reports a download larger than the size the release
// declares; the transport cuts it off.
type SizeError struct{ Err error }

func (e *SizeError) Error() string { return "download too large: " + e.Err.Error() }
func (e *SizeError) Unwrap() error { return e.Err }

// Reason returns the kind of an update's refusal, one of the Reason
// constants.
func Reason(err error) string {
	var (
		rollback   *client.RollbackError
		freeze     *client.FreezeError
		split      *client.SplitViewError
		sig        *client.SignatureError
		revoked    *client.RevokedError
		revocation *client.RevocationError
		prov       *client.ProvenanceError
		policy     *provenance.PolicyViolation
		target     *client.TargetError
		ttarget    *trust.TargetError
		dig        *client.DigestError
		deltaErr   *DeltaError
		size       *SizeError
		tr         *trust.Error
		expired    *ExpiredError
		bundleErr  *client.BundleError
		release    *client.ReleaseError
		cp         *tlogpolicy.CheckpointError
		quorum     *tlogpolicy.QuorumError
		inclusion  *client.InclusionError
	)
	switch {
	case errors.As(err, &rollback):
		return ReasonRollback
	case errors.As(err, &freeze):
		return ReasonFreeze
	case errors.As(err, &split):
		return ReasonSplitView
	case errors.As(err, &revoked), errors.As(err, &revocation):
		return ReasonRevoked
	case errors.As(err, &sig):
		return ReasonSignature
	case errors.As(err, &prov), errors.As(err, &policy):
		return ReasonProvenance
	case errors.As(err, &target), errors.As(err, &ttarget):
		return ReasonTarget
	case errors.As(err, &size):
		return ReasonSize
	case errors.As(err, &dig), errors.As(err, &deltaErr):
		return ReasonDigest
	case errors.As(err, &tr), errors.As(err, &expired):
		return ReasonTrust
	case errors.As(err, &bundleErr), errors.As(err, &release):
		return ReasonBundle
	case errors.As(err, &cp):
		return ReasonCheckpoint
	case errors.As(err, &quorum):
		return ReasonQuorum
	case errors.As(err, &inclusion):
		return ReasonInclusion
	}
	return ReasonError
}

// Refused reports whether err is a refusal (the update is not to be
// trusted) rather than an error (the update could not be checked).
func Refused(err error) bool {
	r := Reason(err)
	return r != ReasonError && r != ReasonTransport
}
