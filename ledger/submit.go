package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tiles"
)

// MaxBatch is the most entries one submission may hold.
const MaxBatch = api.MaxBatch

// ErrProvenanceRequired is returned for a release that endorses no
// provenance, when the log requires provenance.
var ErrProvenanceRequired = errors.New("the release endorses no provenance, and this log requires every release to (fwctl release --provenance; a log migrating from unattested releases runs with --require-provenance=false)")

// An AddResult reports where an entry is in the log.
type AddResult struct {
	Index    uint64
	LeafHash []byte
	// Dup is true if the entry was already logged, or another entry
	// already logged proves everything it does (the same statement, signed
	// by the same or more trusted signers): Index and LeafHash are then
	// that entry's.
	Dup bool
}

// A SubmissionError reports a submission refused as a whole (empty, too
// many entries), or an entry refused for its place in it.
type SubmissionError struct{ Msg string }

func (e *SubmissionError) Error() string { return e.Msg }

// A SizeError reports a Sigstore bundle larger than a log entry holds, in a
// log that stores no large entries by digest.
type SizeError struct{ Size, Max int }

func (e *SizeError) Error() string {
	return fmt.Sprintf("the Sigstore bundle is %d bytes, more than a log entry holds (%d), and this log stores no large entries", e.Size, e.Max)
}

// Probes: each probe key's, ProbeBurst at once, then one every ten
// seconds; none made more than MaxProbeAge before the log's clock.
const (
	ProbeRate   = 0.1
	ProbeBurst  = 5
	MaxProbeAge = time.Hour
)

// admitProbe checks a probe: for this log, signed by a probe key that has
// not sent probes faster than ProbeRate, and fresh.
func (l *Ledger) admitProbe(ctx context.Context, a *admitted, now time.Time) error {
	p := a.e.Probe
	switch {
	case p.Origin != l.log.Origin():
		return &ProbeError{Msg: fmt.Sprintf("the probe is for the log %q, and this log is %q", p.Origin, l.log.Origin())}
	case p.Created.Before(now.Add(-MaxProbeAge)):
		return &ProbeError{Msg: fmt.Sprintf("the probe was made at %s, more than %s before the log's clock (%s): a probe is sent when it is made",
			p.Created.UTC().Format(time.RFC3339), MaxProbeAge, now.UTC().Format(time.RFC3339))}
	}
	signers, err := l.verifyEntry(ctx, a.e, math.MaxUint64)
	if err != nil {
		return err
	}
	if wait := l.probes.take(signers[0], now); wait > 0 {
		return &ProbeRateError{Key: signers[0], RetryAfter: wait}
	}
	a.signers = signers
	return nil
}

// A ProbeRateError reports a probe key that sent probes faster than
// ProbeRate allows.
type ProbeRateError struct {
	Key        string
	RetryAfter time.Duration
}

func (e *ProbeRateError) Error() string {
	return fmt.Sprintf("probe key %s sends probes faster than one every %s (a burst of %d); retry in %s",
		e.Key, time.Duration(float64(time.Second)/ProbeRate), ProbeBurst, e.RetryAfter.Round(time.Millisecond))
}

// ErrNoProbeKeys is returned for a probe submitted to a log that takes
// none.
var ErrNoProbeKeys = errors.New("this log accepts no probes: it has no probe keys (fwlog --probe-keys)")

// A ProbeError reports a probe for another log, or a stale one.
type ProbeError struct{ Msg string }

func (e *ProbeError) Error() string { return e.Msg }

// An EntryError reports which entry of a submission was refused.
type EntryError struct {
	Entry int
	Err   error
}

func (e *EntryError) Error() string { return fmt.Sprintf("entry %d: %v", e.Entry, e.Err) }
func (e *EntryError) Unwrap() error { return e.Err }

// A TimeError reports a statement time later than the log's clock allows.
type TimeError struct {
	// Field names the time: "created", "startedOn" or "finishedOn".
	Field   string
	Time    time.Time
	Now     time.Time
	MaxSkew time.Duration
	// Kind is the kind of statement.
	Kind provenance.Kind
}

func (e *TimeError) Error() string {
	return fmt.Sprintf("the %s's %s time %s is in the future: later than the log's clock (%s) plus the allowed clock skew of %s",
		e.Kind, e.Field, e.Time.UTC().Format(time.RFC3339), e.Now.UTC().Format(time.RFC3339), e.MaxSkew)
}

// Add verifies one entry and, if it is acceptable, sequences it and
// returns its durable index. A duplicate returns the existing index.
func (l *Ledger) Add(ctx context.Context, entry []byte) (AddResult, error) {
	res, err := l.addAll(ctx, [][]byte{entry})
	if err != nil {
		var ee *EntryError
		if errors.As(err, &ee) {
			err = ee.Err
		}
		l.metrics.submissions.WithLabelValues(outcome(AddResult{}, err)).Inc()
		return AddResult{}, err
	}
	l.metrics.submissions.WithLabelValues(outcome(res[0], nil)).Inc()
	return res[0], nil
}

// AddAll verifies up to MaxBatch entries and logs all of them or none: a
// release with the provenance it endorses, and the in-toto layout and links
// it names, say. It returns one result per entry, in order. A refused entry
// is named by an *EntryError.
//
// Each entry must verify on its own (a release signed by a release key,
// provenance by a builder key). A bare DSSE envelope must be in its
// canonical encoding (see provenance.CheckCanonical). A release must
// endorse at least one provenance envelope if the log requires provenance,
// and every envelope it endorses must be in this submission or already
// logged, and must attest the released image.
//
// An entry whose statement is already logged, signed by at least the same
// trusted signers, is a duplicate: it gets the index of the logged entry,
// and is not logged again. An entry a release of the same submission names
// by its digest is logged as it is.
func (l *Ledger) AddAll(ctx context.Context, entries [][]byte) ([]AddResult, error) {
	res, err := l.addAll(ctx, entries)
	for i := range entries {
		switch {
		case err == nil:
			l.metrics.submissions.WithLabelValues(outcome(res[i], nil)).Inc()
		default:
			l.metrics.submissions.WithLabelValues(outcome(AddResult{}, err)).Inc()
		}
	}
	return res, err
}

// admitted is a verified entry of a submission.
type admitted struct {
	data []byte
	e    *provenance.Entry
	// signers are who signed it, as the log sees it (see signers).
	signers []string
}

func (l *Ledger) addAll(ctx context.Context, entries [][]byte) ([]AddResult, error) {
	if len(entries) == 0 {
		return nil, &SubmissionError{Msg: "the submission holds no entries"}
	}
	if len(entries) > MaxBatch {
		return nil, &SubmissionError{Msg: fmt.Sprintf("the submission holds %d entries, more than the limit of %d", len(entries), MaxBatch)}
	}
	if err := l.syncShared(ctx, 0); err != nil {
		return nil, err
	}
	l.freezeMu.RLock()
	defer l.freezeMu.RUnlock()
	now := time.Now()
	adm := make([]admitted, len(entries))
	statements := map[digest.Digest]int{}
	var stmts []digest.Digest
	for i, data := range entries {
		e, err := l.parse(data)
		if err != nil {
			return nil, &EntryError{i, err}
		}
		if e.Kind != provenance.KindLink {
			if j, ok := statements[e.Statement]; ok {
				return nil, &EntryError{i, &SubmissionError{Msg: fmt.Sprintf("it is the statement of entry %d again: submit one envelope of a statement at a time", j)}}
			}
			statements[e.Statement] = i
			stmts = append(stmts, e.Statement)
		}
		adm[i] = admitted{data: data, e: e}
	}
	// Revocations are submitted on their own, so that no entry of a
	// submission is judged without the revocations logged with it. A
	// frozen log takes nothing else (see Freeze).
	revoking := adm[0].e.Kind == provenance.KindRevocation
	for i, a := range adm {
		if (a.e.Kind == provenance.KindRevocation) != revoking {
			return nil, &EntryError{i, &SubmissionError{Msg: "revocations are submitted on their own, not with other entries"}}
		}
		if a.e.Kind == provenance.KindProbe && len(adm) > 1 {
			return nil, &EntryError{i, &SubmissionError{Msg: "a probe is submitted on its own, not with other entries"}}
		}
	}
	if s := l.Successor(); s != "" && !revoking {
		return nil, &FrozenError{Successor: s}
	}
	// Submissions of one statement are serialized until they are
	// sequenced, so that the statement deduplication of one (in Sequence,
	// see duplicate) sees the other's entry committed.
	unlock, err := l.inflight.lock(ctx, stmts)
	if err != nil {
		return nil, err
	}
	// enqueue takes the lock over once called; until then it is released
	// on return.
	defer func() {
		if unlock != nil {
			unlock()
		}
	}()
	// Other submissions are judged by the revocations logged (see
	// revocations): they hold the lock for reading until sequenced. A
	// submission of revocations takes it for writing once they verified.
	if !revoking {
		l.revs.mu.RLock()
		defer l.revs.mu.RUnlock()
	}
	inBatch := map[digest.Digest]*provenance.Entry{}
	for i := range adm {
		if err := l.admit(ctx, &adm[i], now); err != nil {
			return nil, &EntryError{i, err}
		}
		if adm[i].e.Kind != provenance.KindRelease {
			inBatch[adm[i].e.Digest] = adm[i].e
		}
	}
	seqCtx := ctx
	if revoking {
		l.revs.mu.Lock()
		defer l.revs.mu.Unlock()
		if err := l.checkRevocable(ctx, adm); err != nil {
			return nil, err
		}
		// Once sent to the log, a revocation is recorded as applied
		// whether or not its submitter waits for the answer.
		seqCtx = context.WithoutCancel(ctx)
	}
	// named holds the digests that releases of this submission name: those
	// entries are logged as they are, never replaced by a logged copy.
	named := map[digest.Digest]bool{}
	for i, a := range adm {
		if a.e.Kind != provenance.KindRelease {
			continue
		}
		if err := l.checkRelease(ctx, a.e, inBatch); err != nil {
			return nil, &EntryError{i, err}
		}
		r := a.e.Release
		for _, d := range r.Provenance {
			named[d] = true
		}
		for _, d := range r.Links {
			named[d] = true
		}
		if r.Layout != nil {
			named[*r.Layout] = true
		}
	}
	for i, a := range adm {
		if a.e.Kind == provenance.KindLink && !named[a.e.Digest] {
			return nil, &EntryError{i, &SubmissionError{Msg: "an in-toto link is logged only with a release that names it, in the same submission"}}
		}
	}

	out := make([]AddResult, len(entries))
	var leaves []log.Leaf
	var order []int
	dups := make([]*Statement, len(entries)) // set by the leaves' Dedup
	// On a shared storage, another frontend may log a revocation or the
	// handover between this submission's judgement and its sequencing:
	// fences refuse it then (503), to be judged again.
	var fences []log.Fence
	if l.log.Shared() && !revoking {
		fences = []log.Fence{{Key: revocationsKey, Above: l.revs.scanned}, {Key: handoverKey, Above: -1}}
	}
	// Releases go last, so that a release never precedes what it names. A
	// Sigstore bundle too large for an entry is stored by digest, durably,
	// first; its leaf is a reference to it.
	for pass := 0; pass < 2; pass++ {
		for i, a := range adm {
			if (a.e.Kind != provenance.KindRelease) != (pass == 0) {
				continue
			}
			leaf := a.data
			if len(leaf) > tiles.MaxEntrySize {
				ref := provenance.ReferenceTo(leaf)
				if _, err := l.cfg.Blobs.Put(ref.Digest, int64(ref.Size), bytes.NewReader(leaf)); err != nil {
					return nil, log.WrapStorageError("store a large entry by digest", err)
				}
				leaf = ref.Marshal()
			}
			lf := log.Leaf{Data: leaf, Hash: tiles.LeafHash(leaf), Keys: append(entryKeys(a.e), signerKeys(a.signers)...), Fences: fences}
			// Statement deduplication: an entry whose statement is logged,
			// with nothing new among its signers, adds nothing. An entry a
			// release of the submission names is logged as it is.
			if a.e.Kind != provenance.KindLink && !named[a.e.Digest] {
				lf.Dedup = func(indices []uint64, more bool) (uint64, bool) {
					found := l.duplicate(context.WithoutCancel(ctx), a, indices, more)
					if found == nil {
						return 0, false
					}
					dups[i] = found
					return found.Index, true
				}
			}
			leaves = append(leaves, lf)
			order = append(order, i)
		}
	}
	if len(leaves) == 0 {
		return out, nil
	}
	seq, err := l.log.Sequence(seqCtx, leaves, unlock)
	unlock = nil
	if err != nil {
		return nil, err
	}
	for k, i := range order {
		out[i] = AddResult{Index: seq[k].Index, LeafHash: leaves[k].Hash, Dup: seq[k].Dup}
		if dups[i] != nil {
			out[i].LeafHash = tiles.LeafHash(dups[i].Data)
		}
	}
	if revoking {
		l.addRevocations(ctx, adm, out)
	}
	return out, nil
}

// parse checks an entry's size and parses it.
func (l *Ledger) parse(data []byte) (*provenance.Entry, error) {
	if len(data) > tiles.MaxEntrySize && !provenance.IsSigstoreBundle(data) {
		return nil, log.ErrEntryTooLarge
	}
	if len(data) > tiles.MaxEntrySize && l.cfg.Blobs == nil {
		return nil, &SizeError{Size: len(data), Max: tiles.MaxEntrySize}
	}
	return provenance.ParseEntry(data)
}

// admit checks one parsed entry of a submission on its own.
func (l *Ledger) admit(ctx context.Context, a *admitted, now time.Time) error {
	e := a.e
	var err error
	if e.Envelope != nil && e.Bundle == nil {
		// A bare DSSE envelope: only its canonical encoding, so that no
		// one can log a statement again in other bytes.
		if err := provenance.CheckCanonical(a.data, e.Envelope); err != nil {
			return err
		}
	}
	if err := l.checkTimes(e, now); err != nil {
		return err
	}
	if e.Kind == provenance.KindRevocation {
		a.signers, err = l.checkRevocationEntry(ctx, a)
		return err
	}
	if e.Kind == provenance.KindProbe {
		return l.admitProbe(ctx, a, now)
	}
	a.signers, err = l.verifyEntry(ctx, e, math.MaxUint64)
	return err
}

// checkTimes refuses statement times later than now plus the allowed clock
// skew: a release created, or a build finished, in the future.
func (l *Ledger) checkTimes(e *provenance.Entry, now time.Time) error {
	check := func(field string, t time.Time) error {
		if !t.IsZero() && t.After(now.Add(l.cfg.MaxClockSkew)) {
			return &TimeError{Field: field, Time: t, Now: now, MaxSkew: l.cfg.MaxClockSkew, Kind: e.Kind}
		}
		return nil
	}
	switch {
	case e.Release != nil:
		return check("created", e.Release.Created)
	case e.Revocation != nil:
		return check("created", e.Revocation.Created)
	case e.Probe != nil:
		return check("created", e.Probe.Created)
	case e.Provenance != nil:
		if err := check("startedOn", e.Provenance.StartedOn); err != nil {
			return err
		}
		return check("finishedOn", e.Provenance.FinishedOn)
	}
	return nil
}

// checkRelease checks what a release of a submission names (its
// provenance, layout and links, in the submission or logged) and judges
// the release with them under the log's policy: the policy file, or the
// one rule of the log's keys.
func (l *Ledger) checkRelease(ctx context.Context, rel *provenance.Entry, inBatch map[digest.Digest]*provenance.Entry) error {
	entries, err := l.checkEndorsements(ctx, rel.Release, inBatch)
	if err != nil {
		return err
	}
	layout, links, err := l.checkLayout(ctx, rel.Release, inBatch)
	if err != nil {
		return err
	}
	if layout != nil {
		entries = append(append(entries, layout), links...)
	}
	set := l.revs.set.Load()
	if by, ok := set.Release(rel.Release.Image); ok {
		return &RevokedError{By: by}
	}
	// A new entry is after every logged revocation, and a logged one is
	// at its index, looked up when a revocation or a validity window asks,
	// once per entry. Validity windows judge a new entry by the integrated
	// size instead, a lower bound of the index it will get.
	type found struct {
		index uint64
		ok    bool
	}
	indices := map[digest.Digest]found{}
	logged := func(d digest.Digest) (uint64, bool) {
		if f, seen := indices[d]; seen {
			return f.index, f.ok
		}
		var f found
		if _, ok := inBatch[d]; !ok && d != rel.Digest {
			if s, err := l.byDigest(ctx, d); err == nil && s != nil {
				f = found{s.Index, true}
			}
		}
		indices[d] = f
		return f.index, f.ok
	}
	size := l.log.Integrated()
	opts := provenance.EvalOptions{AtSubmission: true, Keyless: l.cfg.Keyless, Revoked: set.Revoked(logged),
		IndexOf: func(d digest.Digest) (uint64, bool) {
			if i, ok := logged(d); ok {
				return i, true
			}
			return size, true
		},
	}
	err = l.policy.Evaluate(ctx, rel, entries, opts).Err()
	if err != nil && opts.Revoked != nil {
		if by, ok := set.SignedBy(rel.Envelope, math.MaxUint64); ok {
			return &RevokedError{By: by, Err: err}
		}
	}
	return err
}

// A KeylessError reports keyless provenance the log cannot accept.
type KeylessError struct{ Err error }

func (e *KeylessError) Error() string { return "keyless provenance refused: " + e.Err.Error() }
func (e *KeylessError) Unwrap() error { return e.Err }

// verifyEntry checks the signatures of an entry logged (or to be logged)
// at index at: by the accepted keys, less those a logged revocation
// revokes at that index, or, for keyless provenance, by a certificate of
// one of the policy's keyless builders. An in-toto layout must be signed
// by an accepted layout key; a link is verified with the layout of the
// release that names it. It returns the entry's signers (see signers). A
// new entry is at math.MaxUint64: after every logged revocation.
func (l *Ledger) verifyEntry(ctx context.Context, e *provenance.Entry, at uint64) ([]string, error) {
	switch e.Kind {
	case provenance.KindLayout:
		if err := provenance.VerifyLayoutSignature(e, l.layoutKeys()); err != nil {
			return nil, err
		}
		return layoutSigners(e, l.layoutKeys()), nil
	case provenance.KindLink:
		return nil, nil
	case provenance.KindRevocation:
		if l.cfg.RevocationKeys.Len() == 0 {
			return nil, ErrNoRevocationKeys
		}
		ids, err := provenance.VerifyRevocation(ctx, e, l.cfg.RevocationKeys, l.cfg.RevocationThreshold)
		if err != nil {
			return nil, err
		}
		return sortedSet(ids), nil
	case provenance.KindProbe:
		if l.cfg.ProbeKeys.Len() == 0 {
			return nil, ErrNoProbeKeys
		}
		if e.Bundle != nil {
			return nil, &KeylessError{Err: errors.New("a probe is signed with a probe key, not keylessly")}
		}
		ids, err := provenance.VerifySignatures(ctx, e.Envelope, l.cfg.ProbeKeys, 1)
		if err != nil {
			return nil, err
		}
		return sortedSet(ids), nil
	}
	if e.Bundle == nil {
		set := l.revs.set.Load()
		var revoked func(string) bool
		if set.Len() > 0 {
			revoked = func(id string) bool { _, ok := set.Key(id, at); return ok }
		}
		ids, err := provenance.VerifyEntry(ctx, e, l.cfg.ReleaseKeys.Without(revoked), 1, l.cfg.BuilderKeys.Without(revoked))
		if err != nil {
			if by, ok := set.SignedBy(e.Envelope, at); ok {
				return nil, &RevokedError{By: by, Err: err}
			}
			return nil, err
		}
		return sortedSet(ids), nil
	}
	if e.Kind != provenance.KindProvenance {
		return nil, &KeylessError{Err: errors.New("only provenance may be signed keylessly; releases are signed with release keys")}
	}
	id, err := l.identity(e)
	if err != nil {
		return nil, err
	}
	for _, b := range l.cfg.Policy.Builders() {
		if b.Keyless != nil && b.MatchesID(e.Provenance.BuilderID) && b.Keyless.Match(id) == nil {
			return []string{provenance.KeylessSigner(id)}, nil
		}
	}
	return nil, &KeylessError{Err: fmt.Errorf("no keyless builder of the policy has builder.id %q and certificate identity %s (issuer %s)", e.Provenance.BuilderID, id.SAN, id.Issuer)}
}

// signers returns who signed a logged entry, as verifyEntry does for a new
// one, or nil if none of its signers verifies any more (keys the log no
// longer accepts). Results are cached by index: an entry never changes.
func (l *Ledger) signers(ctx context.Context, s *Statement) []string {
	if ids, ok := l.signerCache.Get(s.Index); ok {
		return ids
	}
	ids, err := l.verifyEntry(ctx, s.Entry, s.Index)
	if err != nil {
		ids = nil
	}
	l.signerCache.Add(s.Index, ids)
	return ids
}

// layoutSigners returns the IDs of the keys that signed a layout.
func layoutSigners(e *provenance.Entry, candidates []*keys.PublicKey) []string {
	var ids []string
	for _, k := range provenance.LayoutSigners(e, candidates) {
		if id, err := k.KeyID(); err == nil {
			ids = append(ids, id)
		}
	}
	return sortedSet(ids)
}

func sortedSet(ids []string) []string {
	out := slices.Clone(ids)
	sort.Strings(out)
	return slices.Compact(out)
}

// duplicate decides whether a, a verified entry of a submission, adds
// anything to the logged entries of its statement, found among the entries
// indexed under its first key (the candidates Sequence gives a Leaf's
// Dedup; more if there are more than it gives), and returns the entry to
// answer with if it does not (nil if it is new).
//
// It is new if one of its trusted signers signed none of the logged
// entries, or if it has all the signers the logged entries have between
// them and no one of them has them all (it completes the set, so that a
// device needing several signatures finds them in one envelope). So anyone
// can recombine logged signatures at most once per statement and signer:
// each new entry needs a signer the others lack, or completes them. A
// duplicate is answered with the earliest logged entry whose signers
// include all of a's, or else the one with the most. With more candidates
// than Sequence gives, a statement with copies among them is a duplicate
// (the rule fails closed).
func (l *Ledger) duplicate(ctx context.Context, a admitted, candidates []uint64, more bool) *Statement {
	var logged []*Statement
	for _, i := range candidates {
		s, err := l.statement(ctx, i)
		if err != nil {
			// Unreadable, it cannot be shown to be a copy: logged, and the
			// entry is judged on the others.
			l.logger.Error("couldn't read an entry for statement deduplication", "index", i, "err", err)
			continue
		}
		if s.Entry != nil && s.Statement == a.e.Statement && s.Kind == a.e.Kind {
			logged = append(logged, s)
		}
	}
	if len(logged) == 0 {
		return nil
	}
	signers := a.signers
	var union []string
	var covering, most *Statement
	mostN, complete := -1, false
	for _, s := range logged {
		have := l.signers(ctx, s)
		union = sortedSet(append(union, have...))
		if covering == nil && len(have) > 0 && isSubset(signers, have) {
			covering = s
		}
		if len(have) > mostN {
			most, mostN = s, len(have)
		}
	}
	for _, s := range logged {
		if isSubset(union, l.signers(ctx, s)) {
			complete = true
		}
	}
	switch {
	case covering != nil:
		return covering
	case more:
		return most // more copies than can be read: fail closed
	case !isSubset(signers, union):
		return nil // a signer none of the logged entries has
	case isSubset(union, signers) && !complete:
		return nil // completes the set of signers
	}
	return most
}

// isSubset reports whether every element of a (sorted) is in b (sorted).
func isSubset(a, b []string) bool {
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			return false
		}
	}
	return true
}

// identity verifies a keyless entry and returns its certificate identity;
// nil for a key-signed entry.
func (l *Ledger) identity(e *provenance.Entry) (*provenance.CertificateIdentity, error) {
	if e.Bundle == nil || e.Identity != nil {
		return e.Identity, nil
	}
	if l.cfg.Keyless == nil || l.cfg.Policy == nil {
		return nil, &KeylessError{Err: errors.New("this log takes keyless provenance only with a policy that names a trusted root and keyless builders (--policy)")}
	}
	id, err := l.cfg.Keyless.VerifyKeyless(e)
	if err != nil {
		return nil, &KeylessError{Err: err}
	}
	e.Identity = id
	return id, nil
}

// layoutKeys returns the keys the log accepts layouts from.
func (l *Ledger) layoutKeys() []*keys.PublicKey {
	ks := append([]*keys.PublicKey{}, l.cfg.LayoutKeys...)
	if l.cfg.Policy != nil {
		ks = append(ks, l.cfg.Policy.LayoutKeys()...)
	}
	return ks
}

// named returns the entry with digest d of the given kind: in the
// submission, or logged.
func (l *Ledger) named(ctx context.Context, d digest.Digest, inBatch map[digest.Digest]*provenance.Entry) (*provenance.Entry, error) {
	if e, ok := inBatch[d]; ok {
		return e, nil
	}
	s, err := l.byDigest(ctx, d)
	if err != nil || s == nil {
		return nil, err
	}
	return s.Entry, nil
}

// checkLayout finds the in-toto layout and links a release names (in the
// submission or the log) and verifies them with the accepted layout keys
// that signed the layout.
func (l *Ledger) checkLayout(ctx context.Context, r *provenance.Release, inBatch map[digest.Digest]*provenance.Entry) (*provenance.Entry, []*provenance.Entry, error) {
	if r.Layout == nil {
		return nil, nil, nil
	}
	find := func(d digest.Digest, kind provenance.Kind) (*provenance.Entry, error) {
		e, err := l.named(ctx, d, inBatch)
		if err != nil {
			return nil, err
		}
		if e == nil || e.Kind != kind {
			return nil, &provenance.EndorsementError{Provenance: d, Reason: fmt.Sprintf("should be an in-toto %s, but is neither logged nor in this submission", kind)}
		}
		return e, nil
	}
	layout, err := find(*r.Layout, provenance.KindLayout)
	if err != nil {
		return nil, nil, err
	}
	var links []*provenance.Entry
	for _, d := range r.Links {
		lk, err := find(d, provenance.KindLink)
		if err != nil {
			return nil, nil, err
		}
		links = append(links, lk)
	}
	signers := provenance.LayoutSigners(layout, l.layoutKeys())
	if err := provenance.VerifyLayout(layout, links, signers, r.Image, "", time.Now()); err != nil {
		return nil, nil, err
	}
	return layout, links, nil
}

// checkEndorsements checks the provenance a release endorses and returns
// it.
func (l *Ledger) checkEndorsements(ctx context.Context, r *provenance.Release, inBatch map[digest.Digest]*provenance.Entry) ([]*provenance.Entry, error) {
	if len(r.Provenance) == 0 && l.cfg.RequireProvenance {
		return nil, ErrProvenanceRequired
	}
	var out []*provenance.Entry
	for _, d := range r.Provenance {
		e, err := l.named(ctx, d, inBatch)
		if err != nil {
			return nil, err
		}
		if e == nil {
			return nil, &provenance.EndorsementError{Provenance: d, Reason: "is neither logged nor in this submission (submit them together)"}
		}
		if e.Kind != provenance.KindProvenance {
			return nil, &provenance.EndorsementError{Provenance: d, Reason: fmt.Sprintf("is an in-toto %s, not SLSA provenance", e.Kind)}
		}
		if err := provenance.CheckEndorsed(r, d, e.Provenance); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// content returns the entry a leaf stands for: the leaf, or the stored
// bytes a reference leaf names.
func (l *Ledger) content(leaf []byte) ([]byte, error) {
	ref, err := provenance.ParseReference(leaf)
	if err != nil || ref == nil {
		return leaf, err
	}
	if l.cfg.Blobs == nil {
		return nil, fmt.Errorf("entry %s is stored by digest, but this log has no store", ref.Digest)
	}
	f, err := l.cfg.Blobs.Open(ref.Digest)
	if err != nil {
		return nil, log.WrapStorageError("read an entry stored by digest", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(ref.Size)+1))
	if err != nil {
		return nil, log.WrapStorageError("read an entry stored by digest", err)
	}
	return provenance.Resolve(leaf, data)
}

// A keyLock serializes work on the same keys (statement digests) while
// leaving different keys independent.
type keyLock struct {
	mu   sync.Mutex
	busy map[digest.Digest]chan struct{}
}

// lock acquires keys, in sorted order so that two callers cannot deadlock,
// and returns the function that releases them.
func (kl *keyLock) lock(ctx context.Context, keys []digest.Digest) (func(), error) {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b digest.Digest) int { return bytes.Compare(a[:], b[:]) })
	keys = slices.Compact(keys)
	var held []digest.Digest
	release := func() {
		kl.mu.Lock()
		for _, k := range held {
			close(kl.busy[k])
			delete(kl.busy, k)
		}
		kl.mu.Unlock()
	}
	for _, k := range keys {
		for {
			kl.mu.Lock()
			if kl.busy == nil {
				kl.busy = map[digest.Digest]chan struct{}{}
			}
			wait, taken := kl.busy[k]
			if !taken {
				kl.busy[k] = make(chan struct{})
				kl.mu.Unlock()
				held = append(held, k)
				break
			}
			kl.mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				release()
				return nil, ctx.Err()
			}
		}
	}
	return release, nil
}
