package delta

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"

	"github.com/fwledger/fwledger/digest"
	"github.com/klauspost/compress/zstd"
)

const (
	// DefaultBlockSize is the block size that Create uses unless told.
	DefaultBlockSize = 4 << 20
	// DefaultMargin is the margin that Create uses unless told.
	DefaultMargin = 4 << 20
	// DefaultLevel is the zstd level that Create uses unless told. The
	// faster levels' hash tables are too small for windows of megabytes:
	// they miss most of the base, and their deltas are hundreds of times
	// larger (BenchmarkCreate shows both).
	DefaultLevel = zstd.SpeedBestCompression
)

// Options tune Create. A nil *Options, or a zero field, means the default.
type Options struct {
	// BlockSize is the length of the target's blocks, from MinBlockSize to
	// MaxBlockSize. Apply's memory grows with it (see [Header.Memory]);
	// the delta shrinks a little, by a record's 16 bytes and a frame's
	// overhead a block.
	BlockSize int
	// Margin is how far a block's window of the base reaches before and
	// after the block's own offset: data that moved by less than Margin
	// between base and target compresses to next to nothing. BlockSize +
	// 2*Margin is at most MaxWindow.
	Margin int
	// Level is the zstd encoder level.
	Level zstd.EncoderLevel
}

func (o *Options) withDefaults() (Options, error) {
	var v Options
	if o != nil {
		v = *o
	}
	if v.BlockSize == 0 {
		v.BlockSize = DefaultBlockSize
	}
	if v.Margin == 0 {
		v.Margin = DefaultMargin
	}
	if v.Level == 0 {
		v.Level = DefaultLevel
	}
	switch {
	case v.BlockSize < MinBlockSize || v.BlockSize > MaxBlockSize:
		return v, fmt.Errorf("block size %d is not from %d to %d", v.BlockSize, MinBlockSize, MaxBlockSize)
	case v.Margin < 0 || v.BlockSize+2*v.Margin > MaxWindow:
		return v, fmt.Errorf("margin %d is negative or makes windows over %d bytes", v.Margin, MaxWindow)
	}
	return v, nil
}

// Create writes to w a delta that rebuilds target, targetSize bytes, from
// base, baseSize bytes (see the package doc for the format). It reads base
// and target twice, once to hash them and once to make the frames, and
// holds one block and one window at a time whatever their sizes. opts may
// be nil. Errors reading base or target, or writing w, are returned
// wrapped.
func Create(w io.Writer, base io.ReaderAt, baseSize int64, target io.ReaderAt, targetSize int64, opts *Options) error {
	o, err := opts.withDefaults()
	if err != nil {
		return fmt.Errorf("couldn't make a delta: %w", err)
	}
	if baseSize < 0 || baseSize > MaxImageSize || targetSize < 0 || targetSize > MaxImageSize {
		return fmt.Errorf("couldn't make a delta: sizes %d and %d are not from 0 to %d", baseSize, targetSize, int64(MaxImageSize))
	}
	h := &Header{
		BaseSize:   baseSize,
		TargetSize: targetSize,
		BlockSize:  o.BlockSize,
		Window:     int(min(int64(o.BlockSize+2*o.Margin), baseSize)),
	}
	if h.BaseDigest, err = sum(base, baseSize); err != nil {
		return fmt.Errorf("couldn't read the base: %w", err)
	}
	if h.TargetDigest, err = sum(target, targetSize); err != nil {
		return fmt.Errorf("couldn't read the target: %w", err)
	}
	hb, _ := h.AppendBinary(nil)
	if _, err := w.Write(hb); err != nil {
		return fmt.Errorf("couldn't write the delta: %w", err)
	}
	// Matches reach back over the whole dictionary and the block.
	encWindow := 1 << bits.Len(uint(max(h.Window+h.block(), zstd.MinWindowSize)-1))
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(o.Level),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(encWindow),
		zstd.WithLowerEncoderMem(true),
		zstd.WithEncoderCRC(true),
		zstd.WithSingleSegment(true),
		zstd.WithEncoderDictRaw(0, nil),
	)
	if err != nil {
		return fmt.Errorf("couldn't make a zstd encoder: %w", err)
	}
	win := newWindow(h.Window)
	block := make([]byte, h.block())
	var frame bytes.Buffer
	for i := range h.Blocks() {
		off := i * int64(h.BlockSize)
		n := int(min(int64(h.BlockSize), targetSize-off))
		if err := readAt(target, block[:n], off); err != nil {
			return fmt.Errorf("couldn't read the target: %w", err)
		}
		// The window is as long as it can be, and starts Margin before
		// the block unless that would take it outside the base.
		winOff := min(max(off-int64(o.Margin), 0), baseSize-int64(h.Window))
		dict, err := win.load(base, winOff, h.Window)
		if err != nil {
			return fmt.Errorf("couldn't read the base: %w", err)
		}
		frame.Reset()
		if err := enc.ResetWithOptions(nil, zstd.WithEncoderDictRaw(0, dict)); err != nil {
			return fmt.Errorf("couldn't compress block %d: %w", i, err)
		}
		enc.ResetContentSize(&frame, int64(n))
		if _, err := enc.Write(block[:n]); err != nil {
			return fmt.Errorf("couldn't compress block %d: %w", i, err)
		}
		if err := enc.Close(); err != nil {
			return fmt.Errorf("couldn't compress block %d: %w", i, err)
		}
		if frame.Len() > maxFrame(n) {
			return fmt.Errorf("couldn't compress block %d: its frame of %d bytes is over the format's %d", i, frame.Len(), maxFrame(n))
		}
		var rec [recordSize]byte
		binary.BigEndian.PutUint64(rec[0:], uint64(winOff))
		binary.BigEndian.PutUint32(rec[8:], uint32(len(dict)))
		binary.BigEndian.PutUint32(rec[12:], uint32(frame.Len()))
		if _, err := w.Write(rec[:]); err != nil {
			return fmt.Errorf("couldn't write the delta: %w", err)
		}
		if _, err := frame.WriteTo(w); err != nil {
			return fmt.Errorf("couldn't write the delta: %w", err)
		}
	}
	return nil
}

// sum returns the SHA-256 digest of r's first size bytes.
func sum(r io.ReaderAt, size int64) (digest.Digest, error) {
	h := sha256.New()
	if n, err := io.Copy(h, io.NewSectionReader(r, 0, size)); err != nil {
		return digest.Digest{}, err
	} else if n < size {
		return digest.Digest{}, io.ErrUnexpectedEOF
	}
	return digest.Digest(h.Sum(nil)), nil
}

// readAt fills p from r at off, and fails unless all of p could be read.
func readAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
