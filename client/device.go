package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/revocation"
	"github.com/fwledger/fwledger/tlogpolicy"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// A State is what a device remembers between updates, for [VerifyUpdate].
// The device agent (package device) stores it; none of it may ever move
// backwards.
type State struct {
	// Checkpoint is the newest signed checkpoint the device verified,
	// with its cosignatures; nil before the first.
	Checkpoint []byte
	// SecurityFloor is the lowest security version the device accepts:
	// that of the firmware it runs, once confirmed.
	SecurityFloor uint64
	// Installed is the digest of the image the device runs; zero when it
	// runs none that fwledger installed.
	Installed digest.Digest
	// TimeFloor is the highest time the device trusts to have passed: the
	// quorum time ([Verified.QuorumTime]) of the newest checkpoint it
	// verified, or when it was provisioned.
	TimeFloor time.Time
}

// VerifyUpdate verifies a bundle and image as an update for a device in
// state st, with one reference time: the later of t.Now and st.TimeFloor
// (t.Now zero stands for a device without a clock). It fails closed, in
// this order:
//
//   - the checkpoint's signature and witness quorum ([VerifyBundle]);
//   - consistency with st.Checkpoint: a smaller tree is a [*RollbackError],
//     another root at the same size or a consistency proof (the bundle's,
//     from st.Checkpoint's size) that does not verify a [*SplitViewError];
//   - freshness: the witness quorum must have cosigned within
//     t.MaxCosignatureAge of the reference time ([*FreezeError]);
//   - everything [VerifyBundle] checks after the checkpoint: inclusion,
//     revocations, the release and its signatures, model and channel, the
//     provenance policy;
//   - the release's security version: above st.SecurityFloor, or equal to
//     it if t.AllowSameSecurityVersion or the device runs nothing yet
//     ([*RollbackError]);
//   - the image, hashed as one stream.
//
// On success, the device may store the bundle's checkpoint and move its
// time floor to [Verified.QuorumTime]; VerifyUpdate changes nothing itself.
func VerifyUpdate(ctx context.Context, t Trust, st State, bundleBytes []byte, image io.Reader) (*Verified, error) {
	return verify(ctx, t, &st, bundleBytes, image, true)
}

// VerifyUpdateBundle is VerifyUpdate without the image: everything a
// device checks before it fetches one, so that nothing unverified decides
// what it downloads, or how much. VerifyUpdate must still check the
// bundle with the image.
func VerifyUpdateBundle(ctx context.Context, t Trust, st State, bundleBytes []byte) (*Verified, error) {
	return verify(ctx, t, &st, bundleBytes, nil, false)
}

// A RollbackError reports an update that would move the device backwards:
// a release below its security floor, or a checkpoint of a smaller tree
// than the one it stored.
type RollbackError struct {
	// Checkpoint is true for a smaller tree (Have and Got are tree sizes),
	// false for a security version (Have is the floor).
	Checkpoint bool
	Have, Got  uint64
	// Strict is true when a security version equal to the floor was
	// refused.
	Strict bool
}

func (e *RollbackError) Error() string {
	switch {
	case e.Checkpoint:
		return fmt.Sprintf("rollback: the checkpoint is for a tree of %d entries, smaller than the %d of the one the device stored", e.Got, e.Have)
	case e.Strict:
		return fmt.Sprintf("rollback: security version %d is not above the device's floor %d (the trust does not allow reinstalling the same level)", e.Got, e.Have)
	}
	return fmt.Sprintf("rollback: security version %d is below the device's floor %d", e.Got, e.Have)
}

// A SplitViewError reports a checkpoint that contradicts the one the
// device stored: another root hash for the same tree size, or a
// consistency proof that does not verify. Both checkpoints are kept as
// evidence: signed by the log, two roots for one size prove a fork.
type SplitViewError struct {
	// Stored is the device's checkpoint, Got the bundle's (signed notes).
	Stored, Got []byte
	// Err is why the consistency proof failed; nil for two roots at one
	// size.
	Err error
}

func (e *SplitViewError) Error() string {
	if e.Err == nil {
		return "split view: the checkpoint has another root hash than the one the device stored for the same tree size"
	}
	return "split view: the checkpoint is not proven consistent with the one the device stored: " + proofError(e.Err).Error()
}
func (e *SplitViewError) Unwrap() error { return e.Err }

// A FreezeError reports a checkpoint whose witness quorum cosigned too
// long before the device's reference time: a device kept on old firmware
// by a server that shows it an old view.
type FreezeError struct {
	// QuorumTime is the newest time at which the quorum had cosigned;
	// zero if no cosignature could be counted.
	QuorumTime time.Time
	// Reference is the device's reference time, MaxAge the trust's limit.
	Reference time.Time
	MaxAge    time.Duration
	// Future is true for a quorum that cosigned after the device's clock
	// (beyond MaxClockSkew).
	Future bool
}

func (e *FreezeError) Error() string {
	if e.Future {
		return fmt.Sprintf("freeze: the witness quorum cosigned at %s, after the device's clock %s (more than %s ahead)",
			e.QuorumTime.UTC().Format(time.RFC3339), e.Reference.UTC().Format(time.RFC3339), MaxClockSkew)
	}
	return fmt.Sprintf("freeze: the witness quorum last cosigned at %s, more than %s before the device's reference time %s",
		e.QuorumTime.UTC().Format(time.RFC3339), e.MaxAge, e.Reference.UTC().Format(time.RFC3339))
}

// reference returns the one reference time of a verification: the later
// of now (zero for a device without a clock) and the time floor.
func (st *State) reference(now time.Time) time.Time {
	if st.TimeFloor.After(now) {
		return st.TimeFloor
	}
	return now
}

// checkpointBody returns the text of a signed note: the lines before the
// blank line that starts the signatures.
func checkpointBody(signed []byte) ([]byte, bool) {
	i := bytes.Index(signed, []byte("\n\n"))
	if i < 0 {
		return nil, false
	}
	return signed[:i+1], true
}

// checkConsistency checks the bundle's checkpoint cp against the stored
// one.
func (st *State) checkConsistency(b *bundle.Bundle, cp *flog.Checkpoint) error {
	if len(st.Checkpoint) == 0 {
		return nil
	}
	var old flog.Checkpoint
	body, ok := checkpointBody(st.Checkpoint)
	if !ok {
		return fmt.Errorf("the stored checkpoint is not a signed note")
	}
	if _, err := old.Unmarshal(body); err != nil {
		return fmt.Errorf("the stored checkpoint does not parse: %w", err)
	}
	if old.Origin != cp.Origin {
		return &tlogpolicy.CheckpointError{Err: fmt.Errorf("the checkpoint is of log %q, not %q, whose checkpoint the device stored", cp.Origin, old.Origin)}
	}
	switch {
	case cp.Size < old.Size:
		return &RollbackError{Checkpoint: true, Have: old.Size, Got: cp.Size}
	case cp.Size == old.Size:
		if !bytes.Equal(cp.Hash, old.Hash) {
			return &SplitViewError{Stored: st.Checkpoint, Got: b.Checkpoint()}
		}
		// The same tree, and the same text: another set of extension
		// lines for one tree is a log signing two checkpoints for it.
		if got, _ := checkpointBody(b.Checkpoint()); !bytes.Equal(got, body) {
			return &SplitViewError{Stored: st.Checkpoint, Got: b.Checkpoint(), Err: errors.New("the checkpoint's text differs from the stored one's for the same tree")}
		}
		return nil
	}
	c := b.Consistency
	if c == nil {
		return &BundleError{Err: fmt.Errorf("the bundle carries no consistency proof from the device's tree size %d (fetch it with ?from=%d)", old.Size, old.Size)}
	}
	if c.From != old.Size {
		return &BundleError{Err: fmt.Errorf("the bundle's consistency proof is from size %d, not from the device's %d", c.From, old.Size)}
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old.Size, cp.Size, c.Hashes, old.Hash, cp.Hash); err != nil {
		return &SplitViewError{Stored: st.Checkpoint, Got: b.Checkpoint(), Err: err}
	}
	return nil
}

// quorumTime returns the newest time at which the cosignatures met the
// policy's quorum: the timestamp of the oldest cosignature among the
// newest ones that meet it.
func quorumTime(p *tlogpolicy.Policy, cosigs []tlogpolicy.Cosignature) (time.Time, bool) {
	byTime := slices.Clone(cosigs)
	slices.SortFunc(byTime, func(a, b tlogpolicy.Cosignature) int { return b.Time.Compare(a.Time) })
	var names []string
	for _, c := range byTime {
		names = append(names, c.Witness)
		if p.Satisfied(names) {
			return c.Time, true
		}
	}
	return time.Time{}, false
}

// MaxClockSkew is how far after a device's clock a witness quorum may
// have cosigned: more is a cosignature from the future, which would move
// the device's time floor past every honest checkpoint.
const MaxClockSkew = 10 * time.Minute

// checkFreshness checks that the quorum cosigned within the maximum age
// of the reference time t.Now, and, on a device with a clock (clock), not
// after it (beyond MaxClockSkew); it returns the quorum time.
func (t Trust) checkFreshness(cosigs []tlogpolicy.Cosignature, clock bool) (time.Time, error) {
	if t.Witnesses == nil {
		if t.MaxCosignatureAge > 0 {
			return time.Time{}, errors.New("a maximum cosignature age needs a witness policy")
		}
		return time.Time{}, nil
	}
	at, _ := quorumTime(t.Witnesses, cosigs)
	if t.MaxCosignatureAge > 0 && at.Add(t.MaxCosignatureAge).Before(t.Now) {
		return time.Time{}, &FreezeError{QuorumTime: at, Reference: t.Now, MaxAge: t.MaxCosignatureAge}
	}
	if clock && at.After(t.Now.Add(MaxClockSkew)) {
		return time.Time{}, &FreezeError{QuorumTime: at, Reference: t.Now, MaxAge: t.MaxCosignatureAge, Future: true}
	}
	return at, nil
}

// checkRevocationsKept checks that the bundle's checkpoint commits to
// every revocation the stored one did: at least as many, and the stored
// ones first (the commitment is to the revocations in log order, so the
// stored commitment is a prefix of the new one). The log's key alone
// could otherwise drop a revocation the device has seen committed.
func (st *State) checkRevocationsKept(b *bundle.Bundle) error {
	if len(st.Checkpoint) == 0 {
		return nil
	}
	old, err := revocation.FromCheckpoint(st.Checkpoint)
	if errors.Is(err, revocation.ErrNoCommitment) {
		return nil
	}
	if err != nil {
		return &RevocationError{Err: fmt.Errorf("the stored checkpoint's revocation commitment: %w", err)}
	}
	if uint64(len(b.Revocations)) < old.Count {
		return &RevocationError{Err: fmt.Errorf("the checkpoint commits to %d revocations, fewer than the %d of the checkpoint the device stored: a revocation was dropped", len(b.Revocations), old.Count)}
	}
	hashes := make([][]byte, old.Count)
	for i := range hashes {
		hashes[i] = rfc6962.DefaultHasher.HashLeaf(b.Revocations[i].Data)
	}
	got, err := revocation.Commit(hashes)
	if err != nil {
		return &RevocationError{Err: err}
	}
	if !got.Equal(old) {
		return &RevocationError{Err: fmt.Errorf("the first %d revocations of the bundle are not the ones the device's stored checkpoint committed to: a revocation was dropped or changed", old.Count)}
	}
	return nil
}

// checkSecurityVersion checks the release's security version against the
// device's floor.
func (t Trust) checkSecurityVersion(st *State, r *provenance.Release) error {
	switch sv := r.SecurityVersion; {
	case sv < st.SecurityFloor:
		return &RollbackError{Have: st.SecurityFloor, Got: sv}
	case sv == st.SecurityFloor && !t.AllowSameSecurityVersion && st.Installed != (digest.Digest{}):
		return &RollbackError{Have: st.SecurityFloor, Got: sv, Strict: true}
	}
	return nil
}
