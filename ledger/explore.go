package ledger

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/revocation"
)

// The read side that the web explorer (package explorer) is built on:
// entries by index, and newest-first pages of the entries found by a
// search. Every call reads a bounded number of index rows and entries.

// MaxFindRows is the most index rows one Find reads: a page of the
// explorer.
const MaxFindRows = 100

// A Search is what Find looks for.
type Search int

// The searches of Find. Each is answered from one lookup key, and every
// entry found is checked against the value itself (keys are hash
// prefixes, and signer keys are what signatures claim).
const (
	// ByImage finds releases of an image and provenance about it (a
	// SHA-256 digest).
	ByImage Search = iota
	// ByImage512 finds provenance with a SHA-512 subject digest.
	ByImage512
	// ByModel finds the releases of a hardware model.
	ByModel
	// ByModelVersion finds the releases of one version of a model.
	ByModelVersion
	// BySigner finds entries signed by a key ID, as verified.
	BySigner
	// ByBuilder finds provenance of a builder.id.
	ByBuilder
	// BySource finds provenance of builds from a source repository.
	BySource
	// BySourceCommit finds provenance of builds of one commit of a source
	// repository.
	BySourceCommit
	// ByEntryDigest finds the entry whose exact bytes have a SHA-256
	// digest.
	ByEntryDigest
	// RevocationsOf finds the revocations of a key ID or an image
	// (a SHA-256 digest).
	RevocationsOf
	// AllReleases finds every release.
	AllReleases
)

// A Query is a Search and what it looks for. Value is a hex digest for
// ByImage, ByImage512, ByEntryDigest and RevocationsOf (of an image, or a
// key ID), the model for ByModel and ByModelVersion, and otherwise the
// key ID, builder.id or repository; Version is the version, or the
// commit of BySourceCommit.
type Query struct {
	Search  Search
	Value   string
	Version string
}

// keys returns the lookup keys of q (the entries found under any of them
// are candidates) and the check each candidate must pass.
func (q Query) keys() ([][]byte, func(*Statement) bool, error) {
	hex := func(n int) ([]byte, error) {
		b, err := hex.DecodeString(q.Value)
		if err != nil || len(b) != n || strings.ToLower(q.Value) != q.Value {
			return nil, &badRequest{msg: fmt.Sprintf("bad query: want %d lowercase hex digits", 2*n)}
		}
		return b, nil
	}
	switch q.Search {
	case ByImage, ByEntryDigest, RevocationsOf:
		b, err := hex(32)
		if err != nil {
			return nil, nil, err
		}
		d := digest.Digest(b)
		switch q.Search {
		case ByImage:
			return [][]byte{releaseKey(d), subjectKey(d)}, func(s *Statement) bool { return about(s, d) }, nil
		case ByEntryDigest:
			return [][]byte{envelopeKey(d)}, func(s *Statement) bool { return s.Digest == d }, nil
		}
		return [][]byte{revocationOfKey(d)}, func(s *Statement) bool {
			return s.Kind == provenance.KindRevocation && revokedSubject(s.Revocation) == d
		}, nil
	case ByImage512:
		b, err := hex(64)
		if err != nil {
			return nil, nil, err
		}
		return [][]byte{subject512Key(b)}, func(s *Statement) bool {
			return s.Kind == provenance.KindProvenance && s.Provenance.HasDigest("sha512", b)
		}, nil
	case ByModel, ByModelVersion:
		key := modelKey(q.Value)
		if q.Search == ByModelVersion {
			key = modelVersionKey(q.Value, q.Version)
		}
		return [][]byte{key}, func(s *Statement) bool {
			return s.Kind == provenance.KindRelease && slices.Contains(s.Release.Models, q.Value) &&
				(q.Search == ByModel || s.Release.Version == q.Version)
		}, nil
	case BySigner:
		// Checked against the verified signers by Find.
		return [][]byte{signerKey(q.Value)}, func(*Statement) bool { return true }, nil
	case ByBuilder:
		return [][]byte{builderKey(q.Value)}, func(s *Statement) bool {
			return s.Kind == provenance.KindProvenance && s.Provenance.BuilderID == q.Value
		}, nil
	case BySource, BySourceCommit:
		src := sourceName(q.Value)
		key := sourceKey(src)
		commit := strings.ToLower(q.Version)
		if q.Search == BySourceCommit {
			key = sourceCommitKey(src, commit)
		}
		return [][]byte{key}, func(s *Statement) bool {
			return s.Kind == provenance.KindProvenance && sourceName(s.Provenance.Source.Repo) == src &&
				(q.Search == BySource || strings.ToLower(s.Provenance.Source.Commit) == commit)
		}, nil
	case AllReleases:
		return [][]byte{releasesKey}, func(s *Statement) bool { return s.Kind == provenance.KindRelease }, nil
	}
	return nil, nil, &badRequest{msg: "bad query: unknown search"}
}

// Find returns the entries q finds below index before, newest first,
// reading at most limit (at most MaxFindRows) index rows under each of
// q's keys. Page.More says whether more may follow, and Page.Next is then
// the before of the next page. Entries that no longer parse, or whose
// bytes do not match q, are left out.
func (l *Ledger) Find(ctx context.Context, q Query, before uint64, limit int) (*Page, error) {
	keys, match, err := q.keys()
	if err != nil {
		return nil, err
	}
	limit = max(1, min(limit, MaxFindRows))
	size := l.log.Published().Size
	idxs, more, err := lookupKeys(keys, limit, true, func(key []byte) ([]uint64, error) {
		return l.log.LookupBefore(ctx, key, before, limit)
	})
	if err != nil {
		return nil, err
	}
	p := &Page{Size: size, More: more && len(idxs) > 0}
	for _, i := range idxs {
		s, err := l.statement(ctx, i)
		if err != nil {
			return nil, err
		}
		if s.Entry == nil || !match(s) {
			continue
		}
		if q.Search == BySigner && !slices.Contains(l.signers(ctx, s), q.Value) {
			continue
		}
		p.Statements = append(p.Statements, s)
	}
	if p.More {
		p.Next = int64(idxs[len(idxs)-1])
	}
	return p, nil
}

// Statement returns the entry at index, parsed (Entry is nil if it no
// longer parses), or an error that is log.ErrNotFound if no entry has
// that index.
func (l *Ledger) Statement(ctx context.Context, index uint64) (*Statement, error) {
	return l.statement(ctx, index)
}

// Signers returns the IDs of the trusted keys whose signatures on s
// verify (for keyless provenance, its certificate identity), or nil if
// none does any more.
func (l *Ledger) Signers(ctx context.Context, s *Statement) []string {
	if s.Entry == nil {
		return nil
	}
	return l.signers(ctx, s)
}

// HTTPStatus is the HTTP status an error of the ledger means (docs/API.md
// lists them).
func HTTPStatus(err error) int { return classify(err).status }

// RevokedBy returns the revocations the log applies that concern s: the
// revocation of its image, for a release, and those of the keys its
// signatures name or that verified, which apply from their index on (a
// key's revocation from a later index does not concern s). It reads from
// memory; a frontend of a shared storage first brings its revocations up
// to date, if they are more than half a second old.
func (l *Ledger) RevokedBy(ctx context.Context, s *Statement) ([]revocation.Logged, error) {
	if err := l.syncShared(ctx, readSync); err != nil {
		return nil, err
	}
	set := l.revs.set.Load()
	if set.Len() == 0 || s.Entry == nil {
		return nil, nil
	}
	var out []revocation.Logged
	add := func(r revocation.Logged) {
		if !slices.ContainsFunc(out, func(o revocation.Logged) bool { return o.Index == r.Index }) {
			out = append(out, r)
		}
	}
	if s.Kind == provenance.KindRelease {
		if r, ok := set.Release(s.Release.Image); ok {
			add(r)
		}
	}
	var ids []string
	if s.Envelope != nil {
		for _, sig := range s.Envelope.Signatures {
			ids = append(ids, sig.KeyID)
		}
	}
	for _, id := range append(ids, l.signers(ctx, s)...) {
		if r, ok := set.Key(id, s.Index); ok {
			add(r)
		}
	}
	return out, nil
}

// First returns the first entry, in log order, that q finds, reading at
// most MaxFindRows index rows, or nil if none of those is one.
func (l *Ledger) First(ctx context.Context, q Query) (*Statement, error) {
	keys, match, err := q.keys()
	if err != nil {
		return nil, err
	}
	idxs, _, err := lookupKeys(keys, MaxFindRows, false, func(key []byte) ([]uint64, error) {
		return l.log.Lookup(ctx, key, -1, MaxFindRows)
	})
	if err != nil {
		return nil, err
	}
	for _, i := range idxs {
		s, err := l.statement(ctx, i)
		if err != nil {
			return nil, err
		}
		if s.Entry != nil && match(s) && (q.Search != BySigner || slices.Contains(l.signers(ctx, s), q.Value)) {
			return s, nil
		}
	}
	return nil, nil
}
