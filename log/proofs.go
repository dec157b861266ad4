package log

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

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

// Subject returns the indices of the entries about subject digest d (which
// may not all be integrated yet) and the published size.
func (l *Log) Subject(ctx context.Context, d provenance.Digest, limit int) ([]uint64, uint64, error) {
	size := l.size()
	idx, err := l.store.Lookup(ctx, subjectKey(d), -1, limit)
	return idx, size, err
}

// releaseAt returns the entry at index and its release, or a nil release if
// the entry is not a release of image d.
func (l *Log) releaseAt(ctx context.Context, index uint64, d provenance.Digest) ([]byte, *provenance.Release, error) {
	entry, err := l.store.ReadEntry(ctx, index)
	if err != nil {
		return nil, nil, err
	}
	env, err := provenance.ParseEnvelope(entry)
	if err != nil {
		return entry, nil, nil
	}
	rel, err := provenance.ParseRelease(env.Body)
	if err != nil || rel.Image != d {
		return entry, nil, nil
	}
	return entry, rel, nil
}

// Bundle returns the offline proof bundle for the release of image digest d
// under the published checkpoint: for the release at index when index is
// non-negative, or else for the latest integrated release of d.
func (l *Log) Bundle(ctx context.Context, d provenance.Digest, index int64) ([]byte, error) {
	p := l.latest.Load()
	idxs, err := l.store.Lookup(ctx, subjectKey(d), -1, maxStatementsPerSubject)
	if err != nil {
		return nil, err
	}
	pending := false
	for k := len(idxs) - 1; k >= 0; k-- {
		i := idxs[k]
		if index >= 0 && uint64(index) != i {
			continue
		}
		entry, rel, err := l.releaseAt(ctx, i, d)
		if err != nil {
			return nil, err
		}
		if rel == nil {
			continue
		}
		if i >= p.size {
			pending = true
			continue
		}
		tp, err := l.tlogProof(ctx, i, p)
		if err != nil {
			return nil, err
		}
		b := &bundle.Bundle{Release: bundle.Entry{Data: entry, Proof: *tp}}
		return b.Marshal()
	}
	switch {
	case pending:
		return nil, fmt.Errorf("the release of image %s is not yet covered by a published checkpoint (size %d); retry shortly: %w", d, p.size, ErrNotFound)
	case index >= 0:
		return nil, fmt.Errorf("entry %d is not a release of image %s: %w", index, d, ErrNotFound)
	}
	return nil, fmt.Errorf("no release of image %s is logged: %w", d, ErrNotFound)
}

// ErrNoImageStore is returned by the image methods of a log without one.
var ErrNoImageStore = errors.New("this log does not store images")

// PutImage stores the image with digest d read from r. A release of d must
// be logged (sequenced); the image must match its digest and size.
func (l *Log) PutImage(ctx context.Context, d provenance.Digest, r io.Reader) error {
	if l.cfg.Images == nil {
		return ErrNoImageStore
	}
	idxs, err := l.store.Lookup(ctx, subjectKey(d), -1, maxStatementsPerSubject)
	if err != nil {
		return err
	}
	var rel *provenance.Release
	for _, i := range idxs {
		if _, rel, err = l.releaseAt(ctx, i, d); err != nil {
			return err
		}
		if rel != nil {
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
