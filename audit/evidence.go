package audit

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"
)

// An EvidenceError reports evidence that does not prove its alert.
type EvidenceError struct{ Err error }

func (e *EvidenceError) Error() string {
	return "the evidence does not prove the alert: " + e.Err.Error()
}
func (e *EvidenceError) Unwrap() error { return e.Err }

// VerifyEvidence checks, without the log, that an alert's evidence proves
// it: every checkpoint is signed by the log (log, or the log keys of
// witnesses), every entry is included under the first checkpoint, and
// what the alert says follows from them. It returns what it could not
// check offline (an empty string when it checked all): alerts about the
// log's serving (tree_mismatch, bad_bundle, bad_tile) are of bytes the
// log served, and policy alerts (release_signature, provenance,
// revoked_key) are judged again with the policy (fwctl policy check).
func VerifyEvidence(a *Alert, log note.Verifier, witnesses *tlogpolicy.Policy) (string, error) {
	au := &Auditor{cfg: Config{Log: log, Witnesses: witnesses}}
	if log == nil && witnesses == nil {
		return "", errors.New("a log key or a witness policy is needed")
	}
	ev := a.Evidence
	if a.Type == TypeBadCheckpoint {
		if len(ev.Checkpoints) != 1 {
			return "", &EvidenceError{Err: errors.New("a bad_checkpoint alert holds one checkpoint")}
		}
		if _, err := au.verifyCheckpoint(ev.Checkpoints[0]); err == nil {
			return "", &EvidenceError{Err: errors.New("the checkpoint verifies")}
		}
		return "", nil
	}
	var cps []*cpInfo
	for i, signed := range ev.Checkpoints {
		cp, err := au.verifyLogSigned(signed)
		if err != nil {
			return "", &EvidenceError{Err: fmt.Errorf("checkpoint %d: %w", i, err)}
		}
		cps = append(cps, &cpInfo{size: cp.Size, root: cp.Hash, origin: cp.Origin})
	}
	for _, e := range ev.Entries {
		if len(cps) == 0 {
			return "", &EvidenceError{Err: errors.New("entries without a checkpoint")}
		}
		if err := proof.VerifyInclusion(hasher, e.Index, cps[0].size, hasher.HashLeaf(e.Data), e.Proof, cps[0].root); err != nil {
			return "", &EvidenceError{Err: fmt.Errorf("entry %d is not proven included: %w", e.Index, err)}
		}
	}
	need := func(nc, ne int) error {
		if len(cps) < nc || len(ev.Entries) < ne {
			return &EvidenceError{Err: fmt.Errorf("a %s alert needs %d checkpoints and %d entries", a.Type, nc, ne)}
		}
		return nil
	}
	switch a.Type {
	case TypeFork:
		if err := need(2, 0); err != nil {
			return "", err
		}
		x, y := cps[0], cps[1]
		if x.size == y.size {
			if bytes.Equal(x.root, y.root) {
				return "", &EvidenceError{Err: errors.New("the two checkpoints have the same root")}
			}
			return "", nil
		}
		small, large := x, y
		if small.size > large.size {
			small, large = large, small
		}
		if proof.VerifyConsistency(hasher, small.size, large.size, ev.Proof, small.root, large.root) == nil {
			return "", &EvidenceError{Err: errors.New("the consistency proof joins the two checkpoints")}
		}
		return "that no other consistency proof joins the two checkpoints (the one the log's tiles gave does not)", nil
	case TypeRollback:
		if err := need(2, 0); err != nil {
			return "", err
		}
		if cps[0].size >= cps[1].size {
			return "", &EvidenceError{Err: errors.New("the first checkpoint is not smaller than the second")}
		}
		return "", nil
	case TypeUnparseable:
		if err := need(1, 1); err != nil {
			return "", err
		}
		if _, err := provenance.ParseEntry(ev.Entries[0].Data); err == nil {
			return "", &EvidenceError{Err: errors.New("the entry parses")}
		}
		return "", nil
	case TypeEquivocation, TypeSecurityRegressed:
		if err := need(1, 2); err != nil {
			return "", err
		}
		x, err := parseRelease(ev.Entries[0].Data)
		if err != nil {
			return "", err
		}
		y, err := parseRelease(ev.Entries[1].Data)
		if err != nil {
			return "", err
		}
		shared := slices.ContainsFunc(x.Models, func(m string) bool { return slices.Contains(y.Models, m) })
		switch {
		case !shared:
			return "", &EvidenceError{Err: errors.New("the two releases share no model")}
		case a.Type == TypeEquivocation && (x.Version != y.Version || x.Image == y.Image):
			return "", &EvidenceError{Err: errors.New("the two releases are not two images of one version")}
		case a.Type == TypeSecurityRegressed && (x.Channel != y.Channel || ev.Entries[0].Index > ev.Entries[1].Index || x.SecurityVersion <= y.SecurityVersion):
			return "", &EvidenceError{Err: errors.New("the later release is not below the earlier one's security version on the same channel")}
		}
		return "", nil
	case TypeNewModel:
		if err := need(1, 2); err != nil {
			return "", err
		}
		return "that the key signed both, and never for the second's model before (the policy knows the key)", nil
	case TypeReleaseSignature, TypeProvenance, TypeRevokedKey, TypeReproducibility, TypeKeyWindow:
		if err := need(1, 1); err != nil {
			return "", err
		}
		return "the policy's judgement: check the entries with fwctl policy check", nil
	case TypeTreeMismatch, TypeBadBundle, TypeBadTile:
		return "what the log served, which is not in the evidence", nil
	case TypeStale:
		return "the time the alert was raised at", nil
	case TypeStall:
		if err := need(1, 0); err != nil {
			return "", err
		}
		return "the times the auditor read the checkpoint, which are not in the evidence", nil
	case TypeCanary:
		return verifyCanary(a, ev, cps)
	case TypeRevocationCommitment:
		return "that the entries are every revocation the log holds below the checkpoint's size (the tree has them all)", nil
	}
	return "", &EvidenceError{Err: fmt.Errorf("unknown alert type %q", a.Type)}
}

type cpInfo struct {
	size   uint64
	root   []byte
	origin string
}

// verifyCanary checks a canary alert's evidence: the probe, and the
// checkpoint that should hold it and does not (it is too small, or holds
// another entry at the index the log acknowledged).
func verifyCanary(a *Alert, ev Evidence, cps []*cpInfo) (string, error) {
	e, err := provenance.ParseEntry(ev.Probe)
	if err != nil || e.Kind != provenance.KindProbe {
		return "", &EvidenceError{Err: fmt.Errorf("the evidence holds no probe: %v", err)}
	}
	if len(cps) == 0 {
		return "the log's refusals, which are not in the evidence", nil
	}
	const unsigned = "that the log acknowledged the probe at this index (its answer is not signed)"
	cp := cps[0]
	switch {
	case a.Index == nil:
		return "", &EvidenceError{Err: errors.New("a canary alert names the index the log acknowledged")}
	case e.Probe.Origin != cp.origin:
		return "", &EvidenceError{Err: fmt.Errorf("the probe is for the log %q, the checkpoint is of %q", e.Probe.Origin, cp.origin)}
	case *a.Index >= cp.size:
		return unsigned + ", and that the checkpoint was the log's latest more than the maximum merge delay after the probe", nil
	}
	for _, x := range ev.Entries {
		if x.Index == *a.Index {
			if bytes.Equal(x.Data, ev.Probe) {
				return "", &EvidenceError{Err: fmt.Errorf("the checkpoint holds the probe at index %d", x.Index)}
			}
			return unsigned, nil
		}
	}
	return "", &EvidenceError{Err: fmt.Errorf("the checkpoint covers index %d, and the evidence does not hold the entry there", *a.Index)}
}

func parseRelease(data []byte) (*provenance.Release, error) {
	e, err := provenance.ParseEntry(data)
	if err != nil || e.Kind != provenance.KindRelease {
		return nil, &EvidenceError{Err: fmt.Errorf("an entry is not a release: %v", err)}
	}
	return e.Release, nil
}
