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

// The searches of Find. Each is answered from one lookup key (two for
// ByImage), and every entry found is checked against the value itself:
// keys are hash prefixes, and BySigner checks again that the key's
// signature verifies.
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
		commit := commitName(q.Version)
		if q.Search == BySourceCommit {
			key = sourceCommitKey(src, commit)
		}
		return [][]byte{key}, func(s *Statement) bool {
			return s.Kind == provenance.KindProvenance && sourceName(s.Provenance.Source.Repo) == src &&
				(q.Search == BySource || commitName(s.Provenance.Source.Commit) == commit)
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
		if l.found(ctx, q, match, s) {
			p.Statements = append(p.Statements, s)
		}
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

// A Judgement is what the log's revocations and policy say of a logged
// entry now.
type Judgement struct {
	// Revocations are those the log applies that concern the entry: the
	// revocation of its image, for a release, and those of keys whose
	// signatures on it verify (whatever keyid they name), from their
	// index on (a key's revocation from a later index does not concern
	// it).
	Revocations []revocation.Logged
	// ImageRevoked is set for a release whose image is revoked, and
	// KeyRevoked for an entry a revoked key signed.
	ImageRevoked, KeyRevoked bool
	// Void is set for an entry whose signatures no longer make it valid:
	// a release whose signers that are not revoked fall short of its
	// policy rule's release threshold for one of its models, or another
	// entry whose every signer is revoked.
	Void bool
}

// Judge returns what the log's revocations and policy say of s now. It
// reads from memory (and checks signatures once per entry, while the log
// has revocations); a frontend of a shared storage first brings its
// revocations up to date, if they are more than half a second old.
func (l *Ledger) Judge(ctx context.Context, s *Statement) (Judgement, error) {
	var j Judgement
	if err := l.syncShared(ctx, readSync); err != nil {
		return j, err
	}
	set := l.revs.set.Load()
	if set.Len() == 0 || s.Entry == nil {
		return j, nil
	}
	add := func(r revocation.Logged) {
		if !slices.ContainsFunc(j.Revocations, func(o revocation.Logged) bool { return o.Index == r.Index }) {
			j.Revocations = append(j.Revocations, r)
		}
	}
	if s.Kind == provenance.KindRelease {
		if r, ok := set.Release(s.Release.Image); ok {
			add(r)
			j.ImageRevoked = true
		}
	}
	signed := l.allSigners(ctx, s)
	valid := signed[:0:0]
	for _, id := range signed {
		if r, ok := set.Key(id, s.Index); ok {
			add(r)
			j.KeyRevoked = true
		} else {
			valid = append(valid, id)
		}
	}
	switch {
	case !j.KeyRevoked:
	case s.Kind == provenance.KindRelease:
		for _, m := range s.Release.Models {
			r := l.policy.RuleFor(m)
			if r == nil {
				continue
			}
			n := 0
			for _, id := range valid {
				if _, ok := r.ReleaseKeys.Lookup(id); ok {
					n++
				}
			}
			if n < max(1, r.ReleaseThreshold) {
				j.Void = true
			}
		}
	default:
		j.Void = len(valid) == 0
	}
	return j, nil
}

// allSigners returns the keys the log trusts, of any role, whose
// signatures on s verify, revoked ones included, whatever keyid the
// signatures name: cached by index.
func (l *Ledger) allSigners(ctx context.Context, s *Statement) []string {
	if ids, ok := l.allSignerCache.Get(s.Index); ok {
		return ids
	}
	var ids []string
	if s.Envelope != nil && s.Bundle == nil {
		ids = provenance.Signers(ctx, s.Envelope, l.trusted)
	}
	l.allSignerCache.Add(s.Index, ids)
	return ids
}

// Builders returns who built what provenance s attests, as the policy
// names them: the policy's builders whose keys signed it (or, for keyless
// provenance, its certificate identity). A log that trusts builder keys
// without a policy file tells builders apart by their keys.
func (l *Ledger) Builders(ctx context.Context, s *Statement) []string {
	var out []string
	for _, id := range l.Signers(ctx, s) {
		name := id
		if l.cfg.Policy != nil {
			for n, b := range l.cfg.Policy.Builders() {
				if _, ok := b.Keys.Lookup(id); ok {
					name = n
					break
				}
			}
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// found reports whether s, read under one of q's keys, is what q looks
// for: it parses, match passes, and for BySigner the key's signature on
// it verifies.
func (l *Ledger) found(ctx context.Context, q Query, match func(*Statement) bool, s *Statement) bool {
	return s.Entry != nil && match(s) && (q.Search != BySigner || slices.Contains(l.signers(ctx, s), q.Value))
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
		if l.found(ctx, q, match, s) {
			return s, nil
		}
	}
	return nil, nil
}
