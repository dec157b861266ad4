package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fwledger/fwledger/cas"
	"github.com/fwledger/fwledger/delta"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/log"
)

// MaxDeltaSize bounds a delta upload for an image of size n: a delta of
// an image that shares nothing with its base is about as large as the
// image compressed, at most n plus zstd's and the format's overhead.
func MaxDeltaSize(n uint64) int64 { return int64(n + n/128 + 1<<20) }

// A DeltaError reports a delta upload that is not a delta from the
// release's base image to its image.
type DeltaError struct{ Err error }

func (e *DeltaError) Error() string { return "delta rejected: " + e.Err.Error() }
func (e *DeltaError) Unwrap() error { return e.Err }

// PutDelta stores the delta update to image target read from r. The
// latest release of target must name a base image (baseImage), which must
// be stored; the delta must be in the format of package delta, from that
// base to target, and applying it to the stored base must give target
// exactly. So the log serves no delta a device would refuse.
func (l *Ledger) PutDelta(ctx context.Context, target digest.Digest, r io.Reader) (created bool, err error) {
	if l.cfg.Images == nil {
		return false, ErrNoImageStore
	}
	rel, err := l.latestRelease(ctx, target)
	if err != nil {
		return false, err
	}
	if rel == nil {
		return false, log.NotFoundf("no release of image %s is logged; submit the release first", target)
	}
	if rel.Release.BaseImage == nil {
		return false, &DeltaError{Err: fmt.Errorf("the release of image %s names no base image (baseImage) for a delta", target)}
	}
	base := *rel.Release.BaseImage
	bf, err := l.OpenImage(base)
	if errors.Is(err, log.ErrNotFound) {
		return false, log.NotFoundf("the base image %s is not stored: upload it first", base)
	}
	if err != nil {
		return false, err
	}
	defer bf.Close()
	fi, err := bf.Stat()
	if err != nil {
		return false, log.WrapStorageError("read the base image", err)
	}
	want := rel.Release.ImageSize
	if l.cfg.Images.HasDelta(target) {
		// Checking another costs as much as making the image; the one
		// stored was checked.
		return false, nil
	}
	// Checking a delta is applying it: a small upload can make the log
	// decode the whole image. One at a time, then, and not for a client
	// that went away.
	select {
	case l.deltaSem <- struct{}{}:
		defer func() { <-l.deltaSem }()
	default:
		return false, ErrDeltaBusy
	}
	created, err = l.cfg.Images.PutDelta(target, MaxDeltaSize(want), r, func(f *os.File) error {
		hdr, err := delta.ParseHeader(io.NewSectionReader(f, 0, 1<<62))
		if err != nil {
			return &DeltaError{Err: err}
		}
		if hdr.TargetDigest != target || uint64(hdr.TargetSize) != want {
			return &DeltaError{Err: fmt.Errorf("the delta is to image %s of %d bytes, not the release's %s of %d", hdr.TargetDigest, hdr.TargetSize, target, want)}
		}
		if _, err := delta.Apply(ctxWriter{ctx}, bf, fi.Size(), base, io.NewSectionReader(f, 0, 1<<62), int64(want)); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &DeltaError{Err: err}
		}
		return nil
	})
	var de *DeltaError
	var re *cas.ReadError
	switch {
	case err == nil, errors.As(err, &de), errors.As(err, &re):
		return created, err
	}
	return false, log.WrapStorageError("store the delta", err)
}

// ErrDeltaBusy is returned for a delta upload while another is checked.
var ErrDeltaBusy = errors.New("another delta is being checked; retry shortly")

// ctxWriter discards what it is given until its context ends.
type ctxWriter struct{ ctx context.Context }

func (w ctxWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// OpenDelta opens the stored delta update to the image target.
func (l *Ledger) OpenDelta(target digest.Digest) (*os.File, error) {
	if l.cfg.Images == nil {
		return nil, ErrNoImageStore
	}
	f, err := l.cfg.Images.OpenDelta(target)
	if errors.Is(err, os.ErrNotExist) {
		return nil, log.NotFoundf("no delta to image %s is stored", target)
	}
	if err != nil {
		return nil, log.WrapStorageError("read the delta", err)
	}
	return f, nil
}
