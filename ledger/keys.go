package ledger

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/handover"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
)

// Lookup keys: a kind byte and a digest (docs/FORMATS.md, "Lookup keys").
// The first key of an entry is the one the storage detects exact duplicates
// by (with the leaf hash).
const (
	keySubjectSHA256 = 1  // a subject's SHA-256 digest
	keyEnvelope      = 2  // SHA-256 of the exact entry bytes
	keySubjectSHA512 = 3  // a subject's SHA-512 digest
	keyModel         = 4  // SHA-256 of a hardware model name, first 8 bytes
	keyModelVersion  = 5  // model key hash (first 8 bytes), then the version
	keyStatement     = 6  // the statement digest (what the signatures sign) of a layout, first 16 bytes
	keyRelease       = 8  // the SHA-256 digest of a release's image, first 16 bytes
	keyRevocations   = 9  // every revocation (the key is this byte alone)
	keyRevocationOf  = 10 // a revocation's subject digest (revoked key ID or image), first 16 bytes
	keyHandover      = 11 // the handover entry of a frozen log (the key is this byte alone)
	keySigner        = 12 // first 16 bytes of SHA-256 of a DSSE signature's keyid
	keyBuilder       = 13 // first 16 bytes of SHA-256 of a provenance's builder.id
	keySource        = 14 // first 16 bytes of SHA-256 of a provenance's source repository (see sourceName)
	keySourceCommit  = 15 // first 16 bytes of SHA-256 of a provenance's source repository, NUL and commit
	keyReleases      = 16 // every release (the key is this byte alone)
)

// revocationsKey lists every revocation, in log order: the set a
// checkpoint commits to and a bundle carries.
var revocationsKey = []byte{keyRevocations}

func revocationOfKey(d digest.Digest) []byte { return append([]byte{keyRevocationOf}, d[:16]...) }

// indexVersion is the version of the lookup keys entryKeys makes. A storage
// indexed under another version is reindexed at start-up (see New).
// Version 2 indexes releases by their image apart from provenance, and
// layouts by their statement. Version 3 shortens the release and model
// keys, a third of the index's bytes. (Revocation keys came later without
// a new version: no entry written before them is a revocation.) Version 4
// adds the explorer's keys: signers, builders, sources and releases.
const indexVersion = 4

func subjectKey(d digest.Digest) []byte  { return append([]byte{keySubjectSHA256}, d[:]...) }
func releaseKey(d digest.Digest) []byte  { return append([]byte{keyRelease}, d[:16]...) }
func subject512Key(d []byte) []byte      { return append([]byte{keySubjectSHA512}, d...) }
func envelopeKey(d digest.Digest) []byte { return append([]byte{keyEnvelope}, d[:]...) }

// Statement and release keys use 16 bytes of the digest: readers compare
// the full digests, so a collision costs a wasted read, not a wrong answer
// (and deduplication compares whole statements).
func statementKey(d digest.Digest) []byte { return append([]byte{keyStatement}, d[:16]...) }

// Model keys use 8 bytes of the hash: readers compare the names exactly,
// so a collision costs a wasted read, not a wrong answer, and one model's
// rows are few among many models.
func modelKey(model string) []byte {
	h := sha256.Sum256([]byte(model))
	return append([]byte{keyModel}, h[:modelHashBytes]...)
}

// modelHashBytes is how many bytes of a model name's hash its keys use.
const modelHashBytes = 8

// modelVersionKey is the model's key followed by the version itself (at
// most maxVersionInKey bytes of it), not a hash of the two: a model's
// versions mostly grow, so a new release's row lands beside its
// predecessors' in the index instead of at a random place. A random place
// costs a page write per entry that grows with the log (see
// docs/BENCHMARKS.md).
func modelVersionKey(model, version string) []byte {
	h := sha256.Sum256([]byte(model))
	k := append([]byte{keyModelVersion}, h[:modelHashBytes]...)
	if len(version) > maxVersionInKey {
		version = version[:maxVersionInKey]
	}
	return append(k, version...)
}

// maxVersionInKey keeps a model-version key within the storage's 80 bytes.
// Longer versions share a key with others of the same first 63 bytes; the
// readers compare versions exactly.
const maxVersionInKey = 63

// entryKeys returns the lookup keys of an entry. The first key of a
// statement is one that every copy of it (another encoding, other
// signatures) has too, so that Sequence finds the copies under it
// (statement deduplication, see Log.duplicate): a release's image digest, a
// provenance's first subject digest, a layout's statement digest. An
// in-toto link is found by its exact bytes, which the release that logs it
// names. A release is found by its image apart from the provenance about
// the image, so that finding an image's latest release reads one row
// whatever else is logged about the image.
func entryKeys(e *provenance.Entry) [][]byte {
	switch e.Kind {
	case provenance.KindRelease:
		r := e.Release
		keys := [][]byte{releaseKey(r.Image)}
		for _, m := range r.Models {
			keys = append(keys, modelKey(m), modelVersionKey(m, r.Version))
		}
		return append(keys, releasesKey)
	case provenance.KindLink:
		return [][]byte{envelopeKey(e.Digest)}
	case provenance.KindLayout:
		return [][]byte{statementKey(e.Statement), envelopeKey(e.Digest)}
	case provenance.KindProbe:
		return [][]byte{statementKey(e.Statement)}
	case provenance.KindRevocation:
		return [][]byte{revocationOfKey(revokedSubject(e.Revocation)), revocationsKey}
	}
	var keys [][]byte
	for _, s := range e.Provenance.Subjects {
		switch s.Alg {
		case "sha256":
			keys = append(keys, subjectKey(digest.Digest(s.Value)))
		case "sha512":
			keys = append(keys, subject512Key(s.Value))
		}
	}
	// The envelope key second (a provenance has a subject of at least 256
	// bits, so its first key is a subject's).
	if len(keys) == 0 {
		keys = [][]byte{envelopeKey(e.Digest)}
	} else {
		keys = slices.Insert(keys, 1, envelopeKey(e.Digest))
	}
	p := e.Provenance
	keys = append(keys, builderKey(p.BuilderID))
	if src := sourceName(p.Source.Repo); src != "" {
		keys = append(keys, sourceKey(src))
		if c := commitName(p.Source.Commit); c != "" {
			keys = append(keys, sourceCommitKey(src, c))
		}
	}
	return keys
}

// releasesKey lists every release, in log order: the explorer's recent
// releases.
var releasesKey = []byte{keyReleases}

// maxSignerKeys bounds the signer keys of one entry.
const maxSignerKeys = 8

// signerKeys returns the signer keys of an entry's verified signers (key
// IDs, 64 hex digits; a keyless identity has none): the keys it was
// found to be signed by, at submission or by a reindex, never the keyids
// its signatures merely name, so that nobody can file an entry under a
// key that did not sign it.
func signerKeys(signers []string) [][]byte {
	var out [][]byte
	for _, id := range signers {
		if len(out) < maxSignerKeys && len(id) == 64 && isLowerHex(id) {
			out = append(out, signerKey(id))
		}
	}
	return out
}

func isLowerHex(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') }) < 0
}

func hashKey(kind byte, parts ...string) []byte {
	h := sha256.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	return append([]byte{kind}, h.Sum(nil)[:16]...)
}

func signerKey(keyID string) []byte              { return hashKey(keySigner, keyID) }
func builderKey(id string) []byte                { return hashKey(keyBuilder, id) }
func sourceKey(repo string) []byte               { return hashKey(keySource, repo) }
func sourceCommitKey(repo, commit string) []byte { return hashKey(keySourceCommit, repo, commit) } // commit: commitName

// commitName is the form of a commit digest that its keys hash: its hex
// digits in lower case, and nothing else, so that a commit with an
// invisible character added is the commit it looks like.
func commitName(c string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case '0' <= r && r <= '9', 'a' <= r && r <= 'f':
			return r
		case 'A' <= r && r <= 'F':
			return r - 'A' + 'a'
		}
		return -1
	}, c)
}

// sourceName is the form of a source repository that its keys hash, so
// that "git+https://git.example.com/acme/fw.git" and
// "https://git.example.com/acme/fw" find each other: without "git+", the
// scheme, a trailing ".git" or "/", in lower case, and without anything
// but printable ASCII, so that a name with an invisible or blank
// character added is the name it looks like (and its builds are compared
// with that one's).
func sourceName(repo string) string {
	s := strings.ToLower(strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' {
			return -1
		}
		return r
	}, repo))
	s = strings.TrimPrefix(s, "git+")
	if _, rest, ok := strings.Cut(s, "://"); ok {
		s = rest
	}
	s = strings.TrimSuffix(strings.TrimSuffix(s, "/"), ".git")
	return strings.TrimSuffix(s, "/")
}

// revokedSubject is the subject digest of a revocation: the revoked key's
// ID (a SHA-256 digest) or image.
func revokedSubject(r *provenance.Revocation) digest.Digest {
	if r.Revokes == provenance.RevokeKey {
		d, _ := digest.ParseHex(r.KeyID) // validated by the parser
		return d
	}
	return r.Image
}

// trustedKeys returns every key the log trusts, of any role: release,
// builder (the policy's too), revocation and probe keys.
func (l *Ledger) trustedKeys() *keys.Ring {
	trusted := keys.Merge(l.cfg.ReleaseKeys, l.cfg.BuilderKeys, l.cfg.RevocationKeys, l.cfg.ProbeKeys)
	if l.cfg.Policy != nil {
		if pk, err := l.cfg.Policy.BuilderKeys(); err == nil {
			trusted = keys.Merge(trusted, pk)
		}
	}
	return trusted
}

// reindex rebuilds the lookup index under indexVersion if the storage was
// indexed under another version (or none: a storage written before
// versions were recorded, or a new one).
func (l *Ledger) reindex(ctx context.Context) error {
	v, err := l.log.IndexVersion(ctx)
	if err != nil {
		return fmt.Errorf("couldn't read the lookup index version: %w", err)
	}
	if v == indexVersion {
		return nil
	}
	start := time.Now()
	unparsed := 0
	trusted := l.trusted
	keysOf := func(index uint64, leaf []byte) ([][]byte, error) {
		content, err := l.content(leaf)
		if err != nil {
			return nil, err
		}
		if _, ok := handover.ParseLeaf(content); ok {
			return [][]byte{handoverKey}, nil // a frozen log stays frozen
		}
		e, err := provenance.ParseEntry(content)
		if err != nil {
			// A parser that grew stricter since the entry was logged:
			// it stays findable by its exact bytes.
			unparsed++
			return [][]byte{envelopeKey(digest.Sum(content))}, nil
		}
		keys := entryKeys(e)
		// Its signers, as a submission's keys have them, by the
		// signatures alone: a policy's judgement was made at submission.
		if e.Envelope != nil && e.Bundle == nil {
			keys = append(keys, signerKeys(provenance.Signers(ctx, e.Envelope, trusted))...)
		}
		return keys, nil
	}
	var last time.Time
	progress := func(done, total uint64) {
		if total == 0 {
			return // a new log: nothing to rebuild
		}
		if last.IsZero() {
			l.logger.Info("the lookup index is from another version of fwlog: rebuilding it", "stored_version", v, "version", indexVersion, "entries", total)
		}
		if time.Since(last) > 5*time.Second || done == total {
			last = time.Now()
			l.logger.Info("rebuilding the lookup index", "done", done, "total", total)
		}
	}
	if err := l.log.Reindex(ctx, indexVersion, keysOf, progress); err != nil {
		return fmt.Errorf("couldn't rebuild the lookup index: %w", err)
	}
	if unparsed > 0 {
		l.logger.Warn("some logged entries no longer parse; they are indexed by their bytes only", "entries", unparsed)
	}
	if !last.IsZero() {
		l.logger.Info("rebuilt the lookup index", "version", indexVersion, "duration", time.Since(start))
	}
	return nil
}
