package log

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/provenance"
	"github.com/transparency-dev/formats/proof"
)

// maxStatementsPerSubject bounds the statements considered for one digest.
const maxStatementsPerSubject = 1000

func (l *Log) tlogProof(ctx context.Context, index uint64, p *published) (*proof.TLogProof, error) {
	if index >= p.size {
		return nil, fmt.Errorf("entry %d is not in the log of size %d: %w", index, p.size, ErrNotFound)
	}
	hashes, err := l.tiles.InclusionProof(ctx, index, p.size)
	if err != nil {
		return nil, err
	}
	tp := &proof.TLogProof{Index: index, Checkpoint: p.note}
	for _, h := range hashes {
		tp.Hashes = append(tp.Hashes, [32]byte(h))
	}
	return tp, nil
}

// TLogProof returns a C2SP tlog-proof of entry index under the published
// checkpoint.
func (l *Log) TLogProof(ctx context.Context, index uint64) ([]byte, error) {
	tp, err := l.tlogProof(ctx, index, l.latest.Load())
	if err != nil {
		return nil, err
	}
	return tp.Marshal(), nil
}

// A Statement is a logged entry, parsed, with its index.
type Statement struct {
	Index uint64
	// Data is the leaf; Content, for a leaf that is a reference, is the
	// entry stored by digest.
	Data    []byte
	Content []byte
	*provenance.Entry
}

// statements reads and parses the sequenced entries with a lookup key, in
// log order, starting after index after (-1 for the start).
func (l *Log) statements(ctx context.Context, key []byte, after int64, limit int) ([]Statement, error) {
	idxs, err := l.store.Lookup(ctx, key, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Statement, 0, len(idxs))
	for _, i := range idxs {
		data, err := l.store.ReadEntry(ctx, i)
		if err != nil {
			return nil, err
		}
		content, err := l.content(data)
		if err != nil {
			return nil, err
		}
		e, err := provenance.ParseEntry(content)
		if err != nil {
			// Every logged entry parsed when it was submitted.
			return nil, fmt.Errorf("logged entry %d no longer parses: %w", i, err)
		}
		st := Statement{Index: i, Data: data, Entry: e}
		if len(content) != len(data) {
			st.Content = content
		}
		out = append(out, st)
	}
	return out, nil
}

// Subject returns the statements about subject digest d (including ones not
// yet integrated), in log order, and the published size.
func (l *Log) Subject(ctx context.Context, d provenance.Digest, limit int) ([]Statement, uint64, error) {
	size := l.size()
	st, err := l.statements(ctx, subjectKey(d), -1, limit)
	return st, size, err
}

// Releases returns up to limit releases for a hardware model (of one
// version, if version is not empty), in log order after index after, and
// the published size.
func (l *Log) Releases(ctx context.Context, model, version string, after int64, limit int) ([]Statement, uint64, error) {
	size := l.size()
	key := modelKey(model)
	if version != "" {
		key = modelVersionKey(model, version)
	}
	st, err := l.statements(ctx, key, after, limit)
	if err != nil {
		return nil, 0, err
	}
	out := st[:0]
	for _, s := range st {
		// The key is a hash of the names; compare the names themselves.
		if s.Kind == provenance.KindRelease && slices.Contains(s.Release.Models, model) && (version == "" || s.Release.Version == version) {
			out = append(out, s)
		}
	}
	return out, size, nil
}

// Bundle returns the offline proof bundle for the release of image digest d
// under the published checkpoint: for the release at index when index is
// non-negative, or else for the latest integrated release of d. The bundle
// holds the release, every provenance statement about the image that the
// checkpoint covers (the endorsed build provenance first, then rebuilds),
// and a tlog-proof for each.
func (l *Log) Bundle(ctx context.Context, d provenance.Digest, index int64) ([]byte, error) {
	p := l.latest.Load()
	sts, err := l.statements(ctx, subjectKey(d), -1, maxStatementsPerSubject)
	if err != nil {
		return nil, err
	}
	var rel *Statement
	pending := false
	for k := len(sts) - 1; k >= 0; k-- {
		s := &sts[k]
		if s.Kind != provenance.KindRelease || s.Release.Image != d || (index >= 0 && uint64(index) != s.Index) {
			continue
		}
		if s.Index >= p.size {
			pending = true
			continue
		}
		rel = s
		break
	}
	if rel == nil {
		switch {
		case pending:
			return nil, fmt.Errorf("the release of image %s is not yet covered by a published checkpoint (size %d); retry shortly: %w", d, p.size, ErrNotFound)
		case index >= 0:
			return nil, fmt.Errorf("entry %d is not a release of image %s: %w", index, d, ErrNotFound)
		}
		return nil, fmt.Errorf("no release of image %s is logged: %w", d, ErrNotFound)
	}
	entry := func(s *Statement) (bundle.Entry, error) {
		tp, err := l.tlogProof(ctx, s.Index, p)
		if err != nil {
			return bundle.Entry{}, err
		}
		return bundle.Entry{Data: s.Data, Content: s.Content, Proof: *tp}, nil
	}
	b := &bundle.Bundle{}
	if b.Release, err = entry(rel); err != nil {
		return nil, err
	}
	endorsed := map[provenance.Digest]bool{}
	for _, pd := range rel.Release.Provenance {
		endorsed[pd] = true
	}
	if r := rel.Release; r.Layout != nil {
		sts, err := l.statements(ctx, envelopeKey(*r.Layout), -1, 1)
		if err != nil {
			return nil, err
		}
		if len(sts) == 1 && sts[0].Index < p.size {
			e, err := entry(&sts[0])
			if err != nil {
				return nil, err
			}
			b.Layout = &e
		}
		for _, d := range r.Links {
			sts, err := l.statements(ctx, envelopeKey(d), -1, 1)
			if err != nil {
				return nil, err
			}
			if len(sts) == 1 && sts[0].Index < p.size {
				e, err := entry(&sts[0])
				if err != nil {
					return nil, err
				}
				b.Links = append(b.Links, e)
			}
		}
	}
	for pass := 0; pass < 2 && len(b.Provenance) < bundle.MaxProvenance; pass++ {
		for k := range sts {
			s := &sts[k]
			if s.Kind != provenance.KindProvenance || s.Index >= p.size || endorsed[s.Digest] != (pass == 0) {
				continue
			}
			if len(b.Provenance) == bundle.MaxProvenance {
				break
			}
			e, err := entry(s)
			if err != nil {
				return nil, err
			}
			b.Provenance = append(b.Provenance, e)
		}
	}
	return b.Marshal()
}

// ErrNoImageStore is returned by the image methods of a log without one.
var ErrNoImageStore = errors.New("this log does not store images")

// PutImage stores the image with digest d read from r. A release of d must
// be logged (sequenced); the image must match its digest and size.
func (l *Log) PutImage(ctx context.Context, d provenance.Digest, r io.Reader) error {
	if l.cfg.Images == nil {
		return ErrNoImageStore
	}
	sts, err := l.statements(ctx, subjectKey(d), -1, maxStatementsPerSubject)
	if err != nil {
		return err
	}
	var rel *provenance.Release
	for _, s := range sts {
		if s.Kind == provenance.KindRelease && s.Release.Image == d {
			rel = s.Release
			break
		}
	}
	if rel == nil {
		return fmt.Errorf("no release of image %s is logged; submit the release first: %w", d, ErrNotFound)
	}
	return l.cfg.Images.Put(d, int64(rel.ImageSize), r)
}

// OpenImage opens the stored image with digest d.
func (l *Log) OpenImage(d provenance.Digest) (*os.File, error) {
	if l.cfg.Images == nil {
		return nil, ErrNoImageStore
	}
	f, err := l.cfg.Images.Open(d)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("image %s is not stored: %w", d, ErrNotFound)
	}
	return f, err
}
