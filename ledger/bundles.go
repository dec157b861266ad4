package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/cas"
	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/trust"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/sumdb/note"
)

// A Page is one page of a lookup: the statements found, in log order, and
// whether more may follow (Next is then the index to continue after).
type Page struct {
	Statements []*Statement
	Next       int64
	More       bool
	// Size is the published size when the page was read: statements at
	// or beyond it are not yet covered by a checkpoint.
	Size uint64
}

// Subject returns the statements about subject digest d (including ones not
// yet integrated): the releases of the image and the provenance about it,
// in log order after index after (-1 for the start), reading at most limit
// entries.
func (l *Ledger) Subject(ctx context.Context, d digest.Digest, after int64, limit int) (*Page, error) {
	size := l.log.Published().Size
	idxs, more, err := lookupKeys([][]byte{releaseKey(d), subjectKey(d)}, limit, false, func(key []byte) ([]uint64, error) {
		return l.log.Lookup(ctx, key, after, limit)
	})
	if err != nil {
		return nil, err
	}
	p := &Page{Size: size, More: more}
	for _, i := range idxs {
		s, err := l.statement(ctx, i)
		if err != nil {
			return nil, err
		}
		// The release key is a prefix of the digest: compare it whole.
		if s.Entry != nil && about(s, d) {
			p.Statements = append(p.Statements, s)
		}
	}
	if more && len(idxs) > 0 {
		p.Next = int64(idxs[len(idxs)-1])
	}
	return p, nil
}

// lookupKeys returns the indices lookup finds under any of keys (each
// lookup reads at most limit rows), merged in log order (newest first if
// desc), the first limit of them, and whether more may follow: the rest
// come with the next page.
func lookupKeys(keys [][]byte, limit int, desc bool, lookup func(key []byte) ([]uint64, error)) ([]uint64, bool, error) {
	var idxs []uint64
	more := false
	for _, key := range keys {
		got, err := lookup(key)
		if err != nil {
			return nil, false, log.WrapStorageError("look up entries", err)
		}
		idxs = append(idxs, got...)
		more = more || len(got) == limit
	}
	slices.Sort(idxs)
	idxs = slices.Compact(idxs)
	if desc {
		slices.Reverse(idxs)
	}
	if len(idxs) > limit {
		idxs, more = idxs[:limit], true
	}
	return idxs, more, nil
}

// about reports whether s is a release of image d or provenance with
// subject d.
func about(s *Statement, d digest.Digest) bool {
	switch s.Kind {
	case provenance.KindRelease:
		return s.Release.Image == d
	case provenance.KindProvenance:
		return s.Provenance.HasDigest("sha256", d[:])
	}
	return false
}

// Endorsed returns the digests of the provenance entries that logged
// releases of image d endorse (its build provenance, as opposed to
// rebuilds), reading at most scanPage releases.
func (l *Ledger) Endorsed(ctx context.Context, d digest.Digest) (map[digest.Digest]bool, error) {
	idxs, err := l.log.LookupBefore(ctx, releaseKey(d), 1<<63-1, scanPage)
	if err != nil {
		return nil, log.WrapStorageError("look up releases", err)
	}
	out := map[digest.Digest]bool{}
	for _, i := range idxs {
		s, err := l.statement(ctx, i)
		if err != nil {
			return nil, err
		}
		if s.Entry != nil && s.Kind == provenance.KindRelease && s.Release.Image == d {
			for _, pd := range s.Release.Provenance {
				out[pd] = true
			}
		}
	}
	return out, nil
}

// Releases returns the releases for a hardware model (of one version, if
// version is not empty), in log order after index after, reading at most
// limit entries.
func (l *Ledger) Releases(ctx context.Context, model, version string, after int64, limit int) (*Page, error) {
	size := l.log.Published().Size
	key := modelKey(model)
	if version != "" {
		key = modelVersionKey(model, version)
	}
	sts, next, more, err := l.lookupPage(ctx, key, after, limit)
	if err != nil {
		return nil, err
	}
	out := sts[:0]
	for _, s := range sts {
		// The key is a hash of the names; compare the names themselves.
		if s.Kind == provenance.KindRelease && slices.Contains(s.Release.Models, model) && (version == "" || s.Release.Version == version) {
			out = append(out, s)
		}
	}
	return &Page{Statements: out, Next: next, More: more, Size: size}, nil
}

// A PendingError reports a release that is logged but not yet covered by a
// published checkpoint: its bundle will exist shortly.
type PendingError struct {
	Image digest.Digest
	Index uint64
	// Size is the published size.
	Size uint64
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("the release of image %s at entry %d is logged but not yet covered by a published checkpoint (size %d); retry shortly", e.Image, e.Index, e.Size)
}

// scanPage is how many index rows a scan reads at a time.
const scanPage = 256

// latestRelease returns the release of image d with the highest index, or
// nil if none is logged. Every entry under the image's release key is a
// release of it, so this reads one entry (more only for releases that no
// longer parse).
func (l *Ledger) latestRelease(ctx context.Context, d digest.Digest) (*Statement, error) {
	before := uint64(1<<63 - 1)
	for {
		idxs, err := l.log.LookupBefore(ctx, releaseKey(d), before, 8)
		if err != nil {
			return nil, log.WrapStorageError("look up releases", err)
		}
		for _, i := range idxs {
			s, err := l.statement(ctx, i)
			if err != nil {
				return nil, err
			}
			if s.Entry != nil && s.Kind == provenance.KindRelease && s.Release.Image == d {
				return s, nil
			}
		}
		if len(idxs) < 8 {
			return nil, nil
		}
		before = idxs[len(idxs)-1]
	}
}

// readSync is how stale, at most, the revocations a frontend of a shared
// storage puts in a bundle may be (see syncShared): a bundle whose
// revocations disagree with its checkpoint's commitment is refused by
// devices, and asked for again.
const readSync = 500 * time.Millisecond

// Bundle returns the offline proof bundle for the release of image digest d
// under the published checkpoint: for the release at index when index is
// non-negative, or else for the latest release of d. If that release is
// logged but not yet covered by the published checkpoint, it returns a
// *PendingError.
//
// The bundle holds the release; the provenance it endorses, in the order
// it names them; then rebuilds (provenance about the image that the release
// does not endorse), at most one per distinct signer and none by a signer
// of the endorsed provenance, earliest first; the in-toto layout and links
// the release names; every revocation logged below the checkpoint's size,
// which its extension line commits to; and a tlog-proof for each.
//
// With from non-negative (the tree size a device stored), the bundle also
// carries the consistency proof from that size to the checkpoint's, if
// from is not beyond it.
func (l *Ledger) Bundle(ctx context.Context, d digest.Digest, index, from int64) ([]byte, error) {
	if err := l.syncShared(ctx, readSync); err != nil {
		return nil, err
	}
	p := l.log.Published()
	var rel *Statement
	if index >= 0 {
		s, err := l.statement(ctx, uint64(index))
		if err != nil && !errors.Is(err, log.ErrNotFound) {
			return nil, err
		}
		if err != nil || s.Entry == nil || s.Kind != provenance.KindRelease || s.Release.Image != d {
			return nil, log.NotFoundf("entry %d is not a release of image %s", index, d)
		}
		rel = s
	} else {
		s, err := l.latestRelease(ctx, d)
		if err != nil {
			return nil, err
		}
		if s == nil {
			return nil, log.NotFoundf("no release of image %s is logged", d)
		}
		rel = s
	}
	if rel.Index >= p.Size {
		return nil, &PendingError{Image: d, Index: rel.Index, Size: p.Size}
	}
	b, err := l.bundle(ctx, rel, p, from)
	if err != nil {
		return nil, err
	}
	return b.Marshal()
}

// bundle returns the bundle of release rel under the published checkpoint
// p (see Bundle), which covers rel.
func (l *Ledger) bundle(ctx context.Context, rel *Statement, p log.Published, from int64) (*bundle.Bundle, error) {
	entry := func(s *Statement) (bundle.Entry, error) {
		tp, err := l.log.TLogProofUnder(ctx, s.Index, p)
		if err != nil {
			return bundle.Entry{}, err
		}
		return bundle.Entry{Data: s.Data, Content: s.Content, Proof: *tp}, nil
	}
	b := &bundle.Bundle{}
	var err error
	if b.Release, err = entry(rel); err != nil {
		return nil, err
	}
	r := rel.Release
	// The endorsed provenance was logged before the release (or with it,
	// before it), so the checkpoint covers it.
	builders := map[string]bool{}
	for _, pd := range r.Provenance {
		s, err := l.byDigest(ctx, pd)
		if err != nil {
			return nil, err
		}
		if s == nil || s.Index >= p.Size || len(b.Provenance) == bundle.MaxProvenance {
			continue
		}
		e, err := entry(s)
		if err != nil {
			return nil, err
		}
		b.Provenance = append(b.Provenance, e)
		for _, id := range l.signers(ctx, s) {
			builders[id] = true
		}
	}
	if err := l.addRebuilds(ctx, b, r, p.Size, builders, entry); err != nil {
		return nil, err
	}
	if r.Layout != nil {
		if s, err := l.byDigest(ctx, *r.Layout); err != nil {
			return nil, err
		} else if s != nil && s.Index < p.Size {
			e, err := entry(s)
			if err != nil {
				return nil, err
			}
			b.Layout = &e
		}
		for _, ld := range r.Links {
			s, err := l.byDigest(ctx, ld)
			if err != nil {
				return nil, err
			}
			if s != nil && s.Index < p.Size {
				e, err := entry(s)
				if err != nil {
					return nil, err
				}
				b.Links = append(b.Links, e)
			}
		}
	}
	revs, err := l.revocationsBelow(ctx, p.Size)
	if err != nil {
		return nil, err
	}
	for _, s := range revs {
		e, err := entry(s)
		if err != nil {
			return nil, err
		}
		b.Revocations = append(b.Revocations, e)
	}
	// A device whose tree is larger than the published one gets no
	// proof, and refuses the bundle as a rollback; one with none (0)
	// needs none.
	if from > 0 && uint64(from) <= p.Size {
		hashes, err := l.log.ConsistencyProof(ctx, uint64(from), p.Size)
		if err != nil {
			return nil, err
		}
		b.Consistency = &bundle.Consistency{From: uint64(from), Hashes: hashes}
	}
	return b, nil
}

// maxUpdateScan bounds the releases of a model that Update looks through,
// newest first.
const maxUpdateScan = 1000

// Update returns the bundle (see Bundle) of the newest eligible release for
// a hardware model on a channel, under the published checkpoint: of those
// the checkpoint covers, among the newest maxUpdateScan releases of the
// model, the one with the highest security version, then the highest
// version (semantic versioning), then the highest index, leaving out
// releases of a revoked image or signed by a key revoked at their index.
// The device judges it all again; this only saves it from fetching
// bundles it would refuse. It returns a log.NotFoundError if there is
// none.
//
// With trustVersion non-negative (the version of the device's trust
// file), the bundle also carries the device trust files the log serves
// (Config.DeviceTrust) of higher versions, oldest first, as many as a
// bundle holds.
func (l *Ledger) Update(ctx context.Context, model, channel string, from, trustVersion int64) ([]byte, error) {
	if err := l.syncShared(ctx, readSync); err != nil {
		return nil, err
	}
	p := l.log.Published()
	set := l.revs.set.Load()
	var cands []*Statement
	before, scanned := p.Size, 0
	for scanned < maxUpdateScan {
		idxs, err := l.log.LookupBefore(ctx, modelKey(model), before, 64)
		if err != nil {
			return nil, log.WrapStorageError("look up releases", err)
		}
		for _, i := range idxs {
			scanned++
			s, err := l.statement(ctx, i)
			if err != nil {
				return nil, err
			}
			if s.Entry == nil || s.Kind != provenance.KindRelease || s.Release.Channel != channel || !slices.Contains(s.Release.Models, model) {
				continue
			}
			if _, revoked := set.Release(s.Release.Image); revoked {
				continue
			}
			if _, revoked := set.SignedBy(s.Envelope, s.Index); revoked {
				continue
			}
			cands = append(cands, s)
		}
		if len(idxs) < 64 {
			break
		}
		before = idxs[len(idxs)-1]
	}
	if len(cands) == 0 {
		return nil, log.NotFoundf("no release for model %q on channel %q is logged", model, channel)
	}
	// Newest first; the scan went newest first, so among equals the
	// higher index stays ahead.
	slices.SortStableFunc(cands, func(a, b *Statement) int {
		switch {
		case newer(a.Release, b.Release):
			return -1
		case newer(b.Release, a.Release):
			return 1
		}
		return 0
	})
	var judge *client.Trust
	for _, f := range l.deviceTrust {
		if trustVersion >= 0 && f.Version == uint64(trustVersion) {
			judge = l.deviceJudge(f, model, channel)
		}
	}
	var b *bundle.Bundle
	for i, s := range cands {
		nb, err := l.bundle(ctx, s, p, from)
		if err != nil {
			return nil, err
		}
		if b == nil {
			b = nb
		}
		// With the device's trust file, the first release it would take:
		// one key the log takes but devices do not (or one of a device's
		// k keys) cannot hold a fleet back with a release it refuses.
		if judge == nil || i == maxUpdateTries {
			break
		}
		if installable(ctx, *judge, nb) {
			b = nb
			break
		}
	}
	if trustVersion >= 0 {
		for _, tf := range l.deviceTrust {
			if tf.Version > uint64(trustVersion) && len(b.Trust) < bundle.MaxTrustFiles {
				b.Trust = append(b.Trust, tf.Signed)
			}
		}
	}
	return b.Marshal()
}

// maxUpdateTries bounds the releases Update judges under a device's trust
// file before it answers with the newest.
const maxUpdateTries = 16

// deviceJudge returns what a device of the model and channel that holds
// the trust file tf trusts, to judge releases by (installable), or nil
// if the file is not for it. The witnesses' cosignatures are the device's
// to judge (the published checkpoint is the one every device gets); the
// log's own signature stands in for them here.
func (l *Ledger) deviceJudge(tf *trust.File, model, channel string) *client.Trust {
	ct, err := tf.ClientTrust(model, channel, time.Now())
	if err != nil {
		return nil
	}
	if ct.Log, err = note.NewVerifier(l.log.VerifierKey()); err != nil {
		return nil
	}
	ct.Witnesses, ct.MaxCosignatureAge = nil, 0
	return &ct
}

// installable reports whether a device that trusts ct would take b's
// release, image aside: its signatures, provenance, model, channel and
// revocations under the trust file's policy.
func installable(ctx context.Context, ct client.Trust, b *bundle.Bundle) bool {
	data, err := b.Marshal()
	if err != nil {
		return false
	}
	_, err = client.VerifyUpdateBundle(ctx, ct, client.State{}, data)
	return err == nil
}

// newer reports whether release a is newer than b (both scanned newest
// first, so an equal one is not newer): by security version, then by
// semantic version.
func newer(a, b *provenance.Release) bool {
	if a.SecurityVersion != b.SecurityVersion {
		return a.SecurityVersion > b.SecurityVersion
	}
	return semver.Compare("v"+a.Version, "v"+b.Version) > 0
}

// maxRebuildScan bounds the entries about an image that a bundle looks
// through for rebuilds. Only holders of builder keys can log entries about
// an image (a copy of a logged statement is not logged again), so the bound
// is met only by a flood from a trusted builder, which an auditor sees.
const maxRebuildScan = 4096

// addRebuilds adds to b, up to its limit, provenance about the released
// image that the release does not endorse, covered by a checkpoint of the
// given size: one per distinct signer, none by a signer already in
// signers, earliest first. Provenance that names the image by SHA-512 only
// is found when the release names the SHA-512 digest.
func (l *Ledger) addRebuilds(ctx context.Context, b *bundle.Bundle, r *provenance.Release, size uint64, signers map[string]bool, entry func(*Statement) (bundle.Entry, error)) error {
	keys := [][]byte{subjectKey(r.Image)}
	if r.ImageSHA512 != nil {
		keys = append(keys, subject512Key(r.ImageSHA512))
	}
	seen := map[uint64]bool{}
	for _, key := range keys {
		after, scanned := int64(-1), 0
		for len(b.Provenance) < bundle.MaxProvenance && scanned < maxRebuildScan {
			idxs, err := l.log.Lookup(ctx, key, after, scanPage)
			if err != nil {
				return log.WrapStorageError("look up rebuilds", err)
			}
			for _, i := range idxs {
				if i >= size || len(b.Provenance) == bundle.MaxProvenance {
					return nil
				}
				if seen[i] {
					continue
				}
				seen[i] = true
				s, err := l.statement(ctx, i)
				if err != nil {
					return err
				}
				if s.Entry == nil || s.Kind != provenance.KindProvenance || slices.Contains(r.Provenance, s.Digest) || !s.Provenance.Attests(r) {
					continue
				}
				ids := l.signers(ctx, s)
				if len(ids) == 0 || slices.ContainsFunc(ids, func(id string) bool { return signers[id] }) {
					continue
				}
				e, err := entry(s)
				if err != nil {
					return err
				}
				b.Provenance = append(b.Provenance, e)
				for _, id := range ids {
					signers[id] = true
				}
			}
			scanned += len(idxs)
			if len(idxs) < scanPage {
				break
			}
			after = int64(idxs[len(idxs)-1])
		}
	}
	return nil
}

// ErrNoImageStore is returned by the image methods of a log without one.
var ErrNoImageStore = errors.New("this log does not store images")

// PutImage stores the image with digest d read from r. A release of d must
// be logged (sequenced); the image must match its digest and size. An image
// already stored is read and checked all the same: success is never
// reported for bytes that were not checked.
func (l *Ledger) PutImage(ctx context.Context, d digest.Digest, r io.Reader) (created bool, err error) {
	if l.cfg.Images == nil {
		return false, ErrNoImageStore
	}
	rel, err := l.latestRelease(ctx, d)
	if err != nil {
		return false, err
	}
	if rel == nil {
		return false, log.NotFoundf("no release of image %s is logged; submit the release first", d)
	}
	created, err = l.cfg.Images.Put(d, int64(rel.Release.ImageSize), r)
	var de *digest.MismatchError
	var re *cas.ReadError
	switch {
	case err == nil, errors.As(err, &de), errors.As(err, &re):
		return created, err
	}
	return false, log.WrapStorageError("store the image", err)
}

// OpenImage opens the stored image with digest d.
func (l *Ledger) OpenImage(d digest.Digest) (*os.File, error) {
	if l.cfg.Images == nil {
		return nil, ErrNoImageStore
	}
	f, err := l.cfg.Images.Open(d)
	if errors.Is(err, os.ErrNotExist) {
		return nil, log.NotFoundf("image %s is not stored", d)
	}
	if err != nil {
		return nil, log.WrapStorageError("read the image", err)
	}
	return f, nil
}
