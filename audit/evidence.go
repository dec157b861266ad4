package audit

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/revocation"
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
// witnesses) and of one origin, every entry is included under the first
// checkpoint, and what the alert says follows from them. It returns what
// it could not check offline (an empty string when it checked all): what
// the log served or answered, times, and the policy's judgement of
// entries (fwctl policy check judges them again).
func VerifyEvidence(a *Alert, log note.Verifier, witnesses *tlogpolicy.Policy) (string, error) {
	if log == nil && witnesses == nil {
		return "", errors.New("a log key or a witness policy is needed")
	}
	v := &evidence{au: &Auditor{cfg: Config{Log: log, Witnesses: witnesses}}, a: a}
	if err := v.verify(); err != nil {
		return "", err
	}
	return strings.Join(v.left, "; "), nil
}

// evidence is one alert's evidence being verified.
type evidence struct {
	au   *Auditor
	a    *Alert
	cps  []*cpInfo
	left []string // what is not checked offline
}

func (v *evidence) fail(format string, args ...any) error {
	return &EvidenceError{Err: fmt.Errorf(format, args...)}
}

// need requires nc checkpoints and ne entries.
func (v *evidence) need(nc, ne int) error {
	if len(v.cps) < nc || len(v.a.Evidence.Entries) < ne {
		return v.fail("a %s alert needs %d checkpoints and %d entries", v.a.Type, nc, ne)
	}
	return nil
}

func (v *evidence) verify() error {
	a, ev := v.a, v.a.Evidence
	if a.Type == TypeBadCheckpoint {
		if len(ev.Checkpoints) != 1 {
			return v.fail("a bad_checkpoint alert holds one checkpoint")
		}
		if _, err := v.au.verifyCheckpoint(ev.Checkpoints[0]); err == nil {
			switch {
			case v.au.cfg.Witnesses == nil:
				v.left = append(v.left, "the witness quorum (the log signed the checkpoint: give the witness policy)")
			case v.au.cfg.Log == nil:
				v.left = append(v.left, "that the checkpoint is of another log than the audited one (it verifies as one of a log the witness policy names)")
			default:
				return v.fail("the checkpoint verifies")
			}
		}
		v.left = append(v.left, "that the log, or a witness, device or user, presented these bytes as the log's checkpoint")
		return nil
	}
	for i, signed := range ev.Checkpoints {
		cp, err := v.au.verifyLogSigned(signed)
		if err != nil {
			return v.fail("checkpoint %d: %w", i, err)
		}
		if i > 0 && cp.Origin != v.cps[0].origin {
			return v.fail("checkpoint %d is of the log %q, checkpoint 0 of %q", i, cp.Origin, v.cps[0].origin)
		}
		v.cps = append(v.cps, &cpInfo{size: cp.Size, root: cp.Hash, origin: cp.Origin, signed: signed})
	}
	var unproven []string
	for _, e := range ev.Entries {
		if len(v.cps) == 0 {
			return v.fail("entries without a checkpoint")
		}
		if e.Proof == nil && e.Index < v.cps[0].size {
			// The log's tiles gave no valid proof (a bad_tile alert of
			// its own): the entry stands unproven.
			unproven = append(unproven, fmt.Sprint(e.Index))
			continue
		}
		if err := proof.VerifyInclusion(hasher, e.Index, v.cps[0].size, hasher.HashLeaf(e.Data), e.Proof, v.cps[0].root); err != nil {
			return v.fail("entry %d is not proven included: %w", e.Index, err)
		}
	}
	if len(unproven) > 0 {
		v.left = append(v.left, fmt.Sprintf("that entries %s are in the log (no inclusion proof: the log's tiles gave none that verifies)", strings.Join(unproven, ", ")))
	}
	return v.byType()
}

func (v *evidence) byType() error {
	a, ev, cps := v.a, v.a.Evidence, v.cps
	switch a.Type {
	case TypeFork:
		if err := v.need(2, 0); err != nil {
			return err
		}
		x, y := cps[0], cps[1]
		if x.size == y.size {
			if bytes.Equal(x.root, y.root) {
				return v.fail("the two checkpoints have the same root")
			}
			return nil
		}
		small, large := x, y
		if small.size > large.size {
			small, large = large, small
		}
		if small.size == 0 {
			if bytes.Equal(small.root, hasher.EmptyRoot()) {
				return v.fail("the smaller checkpoint is of the empty tree")
			}
			return nil
		}
		prefix, err := prefixRoot(small.size, large.size, ev.Proof, large.root)
		if err != nil {
			return v.fail("the proof does not rebuild the larger checkpoint's root: %w", err)
		}
		if bytes.Equal(prefix, small.root) {
			return v.fail("the proof joins the two checkpoints")
		}
		return nil
	case TypeRollback:
		if err := v.need(2, 0); err != nil {
			return err
		}
		if cps[0].size >= cps[1].size {
			return v.fail("the first checkpoint is not smaller than the second")
		}
		v.left = append(v.left, "that the log served the smaller checkpoint after the larger one was shown (checkpoints carry no time of their own)")
		return nil
	case TypeUnparseable:
		if err := v.need(1, 1); err != nil {
			return err
		}
		x := ev.Entries[0]
		if ref, _ := provenance.ParseReference(x.Data); ref != nil {
			// An entry stored by digest: what the log served for it.
			if x.Content == nil {
				return v.fail("the entry is stored by digest, and the evidence holds no content for it")
			}
			content, err := provenance.Resolve(x.Data, x.Content)
			if err == nil {
				if _, err := provenance.ParseEntry(content); err == nil {
					return v.fail("the entry parses")
				}
			}
			v.left = append(v.left, "that the log served this content for the entry stored by digest")
			return nil
		}
		if _, err := provenance.ParseEntry(x.Data); err == nil {
			return v.fail("the entry parses")
		}
		return nil
	case TypeEquivocation, TypeSecurityRegressed:
		if err := v.need(1, 2); err != nil {
			return err
		}
		x, err := parseRelease(ev.Entries[0].Data)
		if err != nil {
			return err
		}
		y, err := parseRelease(ev.Entries[1].Data)
		if err != nil {
			return err
		}
		shared := slices.ContainsFunc(x.Models, func(m string) bool { return slices.Contains(y.Models, m) })
		switch {
		case !shared:
			return v.fail("the two releases share no model")
		case a.Type == TypeEquivocation && (x.Version != y.Version || x.Image == y.Image):
			return v.fail("the two releases are not two images of one version")
		case a.Type == TypeSecurityRegressed && (x.Channel != y.Channel || ev.Entries[0].Index > ev.Entries[1].Index || x.SecurityVersion <= y.SecurityVersion):
			return v.fail("the later release is not below the earlier one's security version on the same channel")
		}
		v.left = append(v.left, "that both releases pass the policy (fwctl policy check)")
		return nil
	case TypeNewModel:
		if err := v.need(1, 2); err != nil {
			return err
		}
		v.left = append(v.left, "that the key signed both, and never for the second's model before (the policy knows the key)")
		return nil
	case TypeReleaseSignature, TypeProvenance, TypeRevokedKey, TypeReproducibility, TypeKeyWindow:
		if err := v.need(1, 1); err != nil {
			return err
		}
		v.left = append(v.left, "the policy's judgement: check the entries with fwctl policy check")
		return nil
	case TypeTreeMismatch, TypeBadBundle, TypeBadTile:
		if err := v.need(1, 0); err != nil {
			return err
		}
		v.left = append(v.left, "what the log served, which is not in the evidence")
		return nil
	case TypeStale:
		if err := v.need(1, 0); err != nil {
			return err
		}
		v.left = append(v.left, "the time the alert was raised at")
		return nil
	case TypeStall:
		v.left = append(v.left, "the times the auditor read the checkpoint, or failed to read the log, which are not in the evidence")
		return nil
	case TypeCanary:
		return v.canary()
	case TypeRevocationCommitment:
		if err := v.need(1, 0); err != nil {
			return err
		}
		var hashes [][]byte
		for _, e := range ev.Entries {
			hashes = append(hashes, hasher.HashLeaf(e.Data))
		}
		got, err := revocation.Commit(hashes)
		if err != nil {
			return v.fail("the entries: %w", err)
		}
		text, _, _ := bytes.Cut(cps[0].signed, []byte("\n\n"))
		if c, err := revocation.FromCheckpoint(append(text, '\n')); err == nil && got.Equal(c) {
			return v.fail("the checkpoint commits to the revocations in the evidence")
		}
		v.left = append(v.left, "that the entries are every revocation the log holds below the checkpoint's size (the tree has them all)")
		return nil
	}
	return v.fail("unknown alert type %q", a.Type)
}

type cpInfo struct {
	size   uint64
	root   []byte
	origin string
	signed []byte
}

// canary checks a canary alert's evidence: the probe, and the checkpoint
// that should hold it and does not (it is too small, or holds another
// entry at the index the log acknowledged).
func (v *evidence) canary() error {
	a, ev, cps := v.a, v.a.Evidence, v.cps
	e, err := provenance.ParseEntry(ev.Probe)
	if err != nil || e.Kind != provenance.KindProbe {
		return v.fail("the evidence holds no probe: %v", err)
	}
	v.left = append(v.left, "that the probe is the auditor's (signed by its probe key)")
	if len(cps) == 0 {
		v.left = append(v.left, "the log's refusals, which are not in the evidence")
		return nil
	}
	v.left = append(v.left, "that the log acknowledged the probe at this index (its answer is not signed)")
	cp := cps[0]
	switch {
	case a.Index == nil:
		return v.fail("a canary alert names the index the log acknowledged")
	case e.Probe.Origin != cp.origin:
		return v.fail("the probe is for the log %q, the checkpoint is of %q", e.Probe.Origin, cp.origin)
	case *a.Index >= cp.size:
		v.left = append(v.left, "that the checkpoint was the log's latest more than the maximum merge delay after the probe")
		return nil
	}
	for _, x := range ev.Entries {
		if x.Index == *a.Index {
			if bytes.Equal(x.Data, ev.Probe) {
				return v.fail("the checkpoint holds the probe at index %d", x.Index)
			}
			return nil
		}
	}
	return v.fail("the checkpoint covers index %d, and the evidence does not hold the entry there", *a.Index)
}

func parseRelease(data []byte) (*provenance.Release, error) {
	e, err := provenance.ParseEntry(data)
	if err != nil || e.Kind != provenance.KindRelease {
		return nil, &EvidenceError{Err: fmt.Errorf("an entry is not a release: %v", err)}
	}
	return e.Release, nil
}
