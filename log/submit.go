package log

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/log/tiles"
	"github.com/fwledger/fwledger/provenance"
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
	// Dup is true if the entry was already logged.
	Dup bool
}

// An EntryError reports which entry of a submission was refused.
type EntryError struct {
	Entry int
	Err   error
}

func (e *EntryError) Error() string { return fmt.Sprintf("entry %d: %v", e.Entry, e.Err) }
func (e *EntryError) Unwrap() error { return e.Err }

// Add verifies one entry and, if it is acceptable, sequences it and
// returns its durable index. A duplicate returns the existing index.
func (l *Log) Add(ctx context.Context, entry []byte) (AddResult, error) {
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
// it names, say. It returns one result per
// entry, in order. A refused entry is named by an *EntryError.
//
// Each entry must verify on its own (a release signed by a release key,
// provenance by a builder key). A release must endorse at least one
// provenance envelope if the log requires provenance, and every envelope it
// endorses must be in this submission or already logged, and must attest
// the released image.
func (l *Log) AddAll(ctx context.Context, entries [][]byte) ([]AddResult, error) {
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

func (l *Log) addAll(ctx context.Context, entries [][]byte) ([]AddResult, error) {
	if len(entries) == 0 {
		return nil, &badRequest{msg: "the submission holds no entries"}
	}
	if len(entries) > MaxBatch {
		return nil, &badRequest{msg: fmt.Sprintf("the submission holds %d entries, more than the limit of %d", len(entries), MaxBatch)}
	}
	parsed := make([]*provenance.Entry, len(entries))
	inBatch := map[provenance.Digest]*provenance.Entry{}
	for i, data := range entries {
		if len(data) > tiles.MaxEntrySize && !provenance.IsSigstoreBundle(data) {
			return nil, &EntryError{i, ErrEntryTooLarge}
		}
		if len(data) > tiles.MaxEntrySize && l.cfg.Blobs == nil {
			return nil, &EntryError{i, &tooLarge{msg: fmt.Sprintf("the Sigstore bundle is %d bytes, more than a log entry holds (%d), and this log stores no large entries", len(data), tiles.MaxEntrySize)}}
		}
		e, err := provenance.ParseEntry(data)
		if err != nil {
			return nil, &EntryError{i, err}
		}
		if err := l.verifyEntry(ctx, e); err != nil {
			return nil, &EntryError{i, err}
		}
		parsed[i] = e
		if e.Kind != provenance.KindRelease {
			inBatch[e.Digest] = e
		}
	}
	linked := map[provenance.Digest]bool{} // links a release of this submission names
	for i, e := range parsed {
		if e.Kind != provenance.KindRelease {
			continue
		}
		endorsed, err := l.checkEndorsements(ctx, e.Release, inBatch)
		if err != nil {
			return nil, &EntryError{i, err}
		}
		layout, links, err := l.checkLayout(ctx, e.Release, inBatch)
		if err != nil {
			return nil, &EntryError{i, err}
		}
		for _, lk := range links {
			linked[lk.Digest] = true
		}
		if l.cfg.Policy != nil {
			var ev []provenance.ProvenanceEvidence
			for _, pe := range endorsed {
				id, err := l.identity(pe)
				if err != nil {
					return nil, &EntryError{i, err}
				}
				ev = append(ev, provenance.ProvenanceEvidence{Entry: pe, Endorsed: true, Identity: id})
			}
			evidence := provenance.Evidence{Provenance: ev, Layout: layout, Links: links}
			for _, m := range e.Release.Models {
				rep := l.cfg.Policy.EvaluateWith(ctx, m, e, evidence, provenance.EvalOptions{AtSubmission: true})
				if err := rep.Err(); err != nil {
					return nil, &EntryError{i, err}
				}
			}
		}
	}
	for i, e := range parsed {
		if e.Kind == provenance.KindLink && !linked[e.Digest] {
			return nil, &EntryError{i, &badRequest{msg: "an in-toto link is logged only with a release that names it, in the same submission"}}
		}
	}
	// Releases go last, so that a release never precedes what it names. A
	// Sigstore bundle too large for an entry is stored by digest, durably,
	// first; its leaf is a reference to it.
	var leaves []Leaf
	var order []int
	for pass := 0; pass < 2; pass++ {
		for i, e := range parsed {
			if (e.Kind != provenance.KindRelease) != (pass == 0) {
				continue
			}
			leaf := entries[i]
			if len(leaf) > tiles.MaxEntrySize {
				ref := provenance.ReferenceTo(leaf)
				if err := l.cfg.Blobs.Put(ref.Digest, int64(ref.Size), bytes.NewReader(leaf)); err != nil {
					return nil, fmt.Errorf("couldn't store entry %d by digest: %w", i, err)
				}
				leaf = ref.Marshal()
			}
			leaves = append(leaves, Leaf{Data: leaf, Hash: tiles.LeafHash(leaf), Keys: entryKeys(e)})
			order = append(order, i)
		}
	}
	seq, err := l.enqueue(ctx, leaves)
	if err != nil {
		return nil, err
	}
	out := make([]AddResult, len(entries))
	for k, i := range order {
		out[i] = AddResult{Index: seq[k].Index, LeafHash: leaves[k].Hash, Dup: seq[k].Dup}
	}
	return out, nil
}

// A KeylessError reports keyless provenance the log cannot accept.
type KeylessError struct{ Err error }

func (e *KeylessError) Error() string { return "keyless provenance refused: " + e.Err.Error() }
func (e *KeylessError) Unwrap() error { return e.Err }

// verifyEntry checks an entry's signatures: by the accepted keys, or, for
// keyless provenance, by a certificate of one of the policy's keyless
// builders. An in-toto layout must be signed by an accepted layout key; a
// link is verified with the layout of the release that names it.
func (l *Log) verifyEntry(ctx context.Context, e *provenance.Entry) error {
	switch e.Kind {
	case provenance.KindLayout:
		return provenance.VerifyLayoutSignature(e, l.layoutKeys())
	case provenance.KindLink:
		return nil
	}
	if e.Bundle == nil {
		_, err := provenance.VerifyEntry(ctx, e, l.cfg.ReleaseKeys, 1, l.cfg.BuilderKeys)
		return err
	}
	if e.Kind != provenance.KindProvenance {
		return &KeylessError{Err: errors.New("only provenance may be signed keylessly; releases are signed with release keys")}
	}
	id, err := l.identity(e)
	if err != nil {
		return err
	}
	for _, b := range l.cfg.Policy.Builders() {
		if b.Keyless != nil && b.MatchesID(e.Provenance.BuilderID) && b.Keyless.Match(id) == nil {
			return nil
		}
	}
	return &KeylessError{Err: fmt.Errorf("no keyless builder of the policy has builder.id %q and certificate identity %s (issuer %s)", e.Provenance.BuilderID, id.SAN, id.Issuer)}
}

// identity verifies a keyless entry and returns its certificate identity;
// nil for a key-signed entry.
func (l *Log) identity(e *provenance.Entry) (*provenance.CertificateIdentity, error) {
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
func (l *Log) layoutKeys() []*keys.PublicKey {
	ks := append([]*keys.PublicKey{}, l.cfg.LayoutKeys...)
	if l.cfg.Policy != nil {
		ks = append(ks, l.cfg.Policy.LayoutKeys()...)
	}
	return ks
}

// checkLayout finds the in-toto layout and links a release names (in the
// submission or the log) and verifies them with the accepted layout keys
// that signed the layout.
func (l *Log) checkLayout(ctx context.Context, r *provenance.Release, inBatch map[provenance.Digest]*provenance.Entry) (*provenance.Entry, []*provenance.Entry, error) {
	if r.Layout == nil {
		return nil, nil, nil
	}
	find := func(d provenance.Digest, kind provenance.Kind) (*provenance.Entry, error) {
		e, ok := inBatch[d]
		if !ok {
			var err error
			if e, err = l.loggedEntry(ctx, envelopeKey(d)); err != nil {
				return nil, err
			}
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
func (l *Log) checkEndorsements(ctx context.Context, r *provenance.Release, inBatch map[provenance.Digest]*provenance.Entry) ([]*provenance.Entry, error) {
	if len(r.Provenance) == 0 && l.cfg.RequireProvenance {
		return nil, ErrProvenanceRequired
	}
	var out []*provenance.Entry
	for _, d := range r.Provenance {
		e, ok := inBatch[d]
		if !ok {
			var err error
			if e, err = l.loggedEntry(ctx, envelopeKey(d)); err != nil {
				return nil, err
			}
			if e == nil {
				return nil, &provenance.EndorsementError{Provenance: d, Reason: "is neither logged nor in this submission (submit them together)"}
			}
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

// loggedEntry returns the first sequenced entry with the given key, parsed,
// or nil if there is none.
func (l *Log) loggedEntry(ctx context.Context, key []byte) (*provenance.Entry, error) {
	idx, err := l.store.Lookup(ctx, key, -1, 1)
	if err != nil || len(idx) == 0 {
		return nil, err
	}
	data, err := l.store.ReadEntry(ctx, idx[0])
	if err != nil {
		return nil, err
	}
	content, err := l.content(data)
	if err != nil {
		return nil, err
	}
	return provenance.ParseEntry(content)
}

// content returns the entry a leaf stands for: the leaf, or the stored
// bytes a reference leaf names.
func (l *Log) content(leaf []byte) ([]byte, error) {
	ref, err := provenance.ParseReference(leaf)
	if err != nil || ref == nil {
		return leaf, err
	}
	if l.cfg.Blobs == nil {
		return nil, fmt.Errorf("entry %s is stored by digest, but this log has no store", ref.Digest)
	}
	f, err := l.cfg.Blobs.Open(ref.Digest)
	if err != nil {
		return nil, fmt.Errorf("the content of entry %s: %w", ref.Digest, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(ref.Size)+1))
	if err != nil {
		return nil, err
	}
	return provenance.Resolve(leaf, data)
}

func (l *Log) enqueue(ctx context.Context, leaves []Leaf) ([]Sequenced, error) {
	p := &pending{leaves: leaves, done: make(chan result, 1)}
	l.stopMu.RLock()
	if l.stopping {
		l.stopMu.RUnlock()
		return nil, ErrStopped
	}
	select {
	case l.queue <- p:
		l.stopMu.RUnlock()
	default:
		l.stopMu.RUnlock()
		return nil, ErrPushback
	}
	select {
	case r := <-p.done:
		return r.seq, r.err
	case <-ctx.Done():
		// The entries may still be sequenced; a retry finds them as
		// duplicates.
		return nil, ctx.Err()
	}
}

// Lookup keys: a kind byte and a digest. The first key of an entry is
// unique to its content and serves duplicate detection.
const (
	keySubjectSHA256 = 1 // a subject's SHA-256 digest
	keyEnvelope      = 2 // SHA-256 of the exact entry bytes
	keySubjectSHA512 = 3 // a subject's SHA-512 digest
	keyModel         = 4 // SHA-256 of a hardware model name, first 16 bytes
	keyModelVersion  = 5 // model key hash (first 16 bytes), then the version
)

func subjectKey(d provenance.Digest) []byte  { return append([]byte{keySubjectSHA256}, d[:]...) }
func envelopeKey(d provenance.Digest) []byte { return append([]byte{keyEnvelope}, d[:]...) }

// Model keys use 16 bytes of the hash: readers compare the names exactly,
// so a collision costs a wasted read, not a wrong answer.
func modelKey(model string) []byte {
	h := sha256.Sum256([]byte(model))
	return append([]byte{keyModel}, h[:16]...)
}

// modelVersionKey is the model's key followed by the version itself (at
// most maxVersionInKey bytes of it), not a hash of the two: a model's
// versions mostly grow, so a new release's row lands beside its
// predecessors' in the index instead of at a random place. A random place
// costs a page write per entry that grows with the log (see
// docs/BENCHMARKS.md); the subject digest is then the only random key a
// release has.
func modelVersionKey(model, version string) []byte {
	h := sha256.Sum256([]byte(model))
	k := append([]byte{keyModelVersion}, h[:16]...)
	if len(version) > maxVersionInKey {
		version = version[:maxVersionInKey]
	}
	return append(k, version...)
}

// maxVersionInKey keeps a model-version key within the storage's 80 bytes.
// Longer versions share a key with others of the same first 63 bytes; the
// readers compare versions exactly.
const maxVersionInKey = 63

// entryKeys returns the lookup keys of an entry.
func entryKeys(e *provenance.Entry) [][]byte {
	switch e.Kind {
	case provenance.KindRelease:
		r := e.Release
		keys := [][]byte{subjectKey(r.Image)}
		for _, m := range r.Models {
			keys = append(keys, modelKey(m), modelVersionKey(m, r.Version))
		}
		return keys
	}
	keys := [][]byte{envelopeKey(e.Digest)}
	if e.Provenance == nil {
		return keys // in-toto layouts and links
	}
	for _, s := range e.Provenance.Subjects {
		switch s.Alg {
		case "sha256":
			keys = append(keys, subjectKey(provenance.Digest(s.Value)))
		case "sha512":
			keys = append(keys, append([]byte{keySubjectSHA512}, s.Value...))
		}
	}
	return keys
}
