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

// Lookup keys. Every statement is found by its subject digest; releases are
// also found by image digest alone.
func subjectKey(d provenance.Digest) string { return "subject:" + d.String() }
func releaseKey(d provenance.Digest) string { return "release:" + d.String() }

// maxReleasesPerImage bounds the releases considered for one image digest.
const maxReleasesPerImage = 1000

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

// Subject returns the indices of the entries about subject digest d and the
// published size.
func (l *Log) Subject(ctx context.Context, d provenance.Digest, limit int) ([]uint64, uint64, error) {
	return l.Lookup(ctx, subjectKey(d), limit)
}

// Bundle returns the offline proof bundle for the release of image digest d
// under the published checkpoint: for the release at index when index is
// non-negative, or else for the latest integrated release of d.
func (l *Log) Bundle(ctx context.Context, d provenance.Digest, index int64) ([]byte, error) {
	p := l.latest.Load()
	idxs, err := l.store.Lookup(ctx, releaseKey(d), -1, maxReleasesPerImage)
	if err != nil {
		return nil, err
	}
	var chosen int64 = -1
	pending := false
	for _, i := range idxs {
		switch {
		case index >= 0 && uint64(index) != i:
		case i >= p.size:
			pending = true
		default:
			chosen = int64(i)
		}
	}
	if chosen < 0 {
		switch {
		case pending:
			return nil, fmt.Errorf("the release of image %s is not yet covered by a published checkpoint (size %d); retry shortly: %w", d, p.size, ErrNotFound)
		case index >= 0:
			return nil, fmt.Errorf("entry %d is not a release of image %s: %w", index, d, ErrNotFound)
		}
		return nil, fmt.Errorf("no release of image %s is logged: %w", d, ErrNotFound)
	}
	entry, err := l.store.ReadEntry(ctx, uint64(chosen))
	if err != nil {
		return nil, err
	}
	tp, err := l.tlogProof(ctx, uint64(chosen), p)
	if err != nil {
		return nil, err
	}
	b := &bundle.Bundle{Release: bundle.Entry{Data: entry, Proof: *tp}}
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
	idxs, err := l.store.Lookup(ctx, releaseKey(d), -1, 1)
	if err != nil {
		return err
	}
	if len(idxs) == 0 {
		return fmt.Errorf("no release of image %s is logged; submit the release first: %w", d, ErrNotFound)
	}
	entry, err := l.readSequenced(ctx, idxs[0])
	if err != nil {
		return err
	}
	env, err := provenance.ParseEnvelope(entry)
	if err != nil {
		return err
	}
	rel, err := provenance.ParseRelease(env.Body)
	if err != nil {
		return err
	}
	return l.cfg.Images.Put(d, int64(rel.ImageSize), r)
}

// readSequenced reads an entry that may not be integrated yet.
func (l *Log) readSequenced(ctx context.Context, index uint64) ([]byte, error) {
	return l.store.ReadEntry(ctx, index)
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
