package delta

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"github.com/fwledger/fwledger/digest"
	"github.com/klauspost/compress/zstd"
)

// Apply reads a delta from d and writes its target to w, rebuilt from
// base, which must be baseSize bytes with SHA-256 digest baseDigest (Apply
// takes the caller's word for that, and reads base only where the delta's
// records point).
//
// Before it writes anything, Apply returns a *[BaseError] if the delta's
// header names another base, and a *[SizeError] if its target is larger
// than maxSize. It then writes the target a block at a time, each block
// once its frame has decoded and passed its checksum, and returns a
// *[FormatError] for a delta that is malformed, truncated or corrupt,
// including one whose output does not have the header's target digest.
// What Apply wrote is the target only if it returns nil: on any error the
// caller discards it. Errors reading d or base, or writing w, are returned
// wrapped. Apply never writes more than the header's target size.
//
// Apply allocates at most [Header.Memory] bytes, whatever the image sizes.
func Apply(w io.Writer, base io.ReaderAt, baseSize int64, baseDigest digest.Digest, d io.Reader, maxSize int64) (written int64, err error) {
	h, err := ParseHeader(d)
	if err != nil {
		return 0, err
	}
	if h.BaseDigest != baseDigest || h.BaseSize != baseSize {
		return 0, &BaseError{Want: h.BaseDigest, WantSize: h.BaseSize, Got: baseDigest, GotSize: baseSize}
	}
	if h.TargetSize > maxSize {
		return 0, &SizeError{Size: h.TargetSize, Max: maxSize}
	}
	a, err := newApplier(h, d, base)
	if err != nil {
		return 0, err
	}
	defer a.dec.Close()
	hash := sha256.New()
	for i := range h.Blocks() {
		block, err := a.next(i)
		if err != nil {
			return written, err
		}
		hash.Write(block)
		n, err := w.Write(block)
		written += int64(n)
		if err != nil {
			return written, fmt.Errorf("couldn't write the target: %w", err)
		}
	}
	if got := digest.Digest(hash.Sum(nil)); got != h.TargetDigest {
		return written, &FormatError{Offset: a.off, Err: &digest.MismatchError{
			Alg: "sha256", Want: h.TargetDigest[:], Got: got[:], WantSize: uint64(h.TargetSize), GotSize: uint64(written),
		}}
	}
	var extra [1]byte
	if n, err := io.ReadFull(d, extra[:]); n > 0 {
		return written, &FormatError{Offset: a.off, Err: errors.New("data after the last record")}
	} else if err != io.EOF {
		return written, fmt.Errorf("couldn't read the delta: %w", err)
	}
	return written, nil
}

// An applier decodes one delta's records, with buffers sized once from
// its header.
type applier struct {
	h     *Header
	d     io.Reader
	base  io.ReaderAt
	off   int64 // of the next record in the delta
	dec   *zstd.Decoder
	win   *window
	frame []byte // allocated at the first record
	out   []byte
}

func newApplier(h *Header, d io.Reader, base io.ReaderAt) (*applier, error) {
	b := h.block()
	// Create's frames of n bytes declare a window of at most the power of
	// two above n, which is what the decoder must accept. The window costs
	// DecodeAll no memory: what it decodes is bounded by out's capacity and
	// the frame's content size, checked before it starts.
	maxWindow := uint64(1) << bits.Len(uint(max(b, zstd.MinWindowSize)))
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(maxWindow),
		zstd.WithDecoderMaxWindow(maxWindow),
		zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderDictRaw(0, nil),
	)
	if err != nil {
		return nil, fmt.Errorf("couldn't make a zstd decoder: %w", err)
	}
	// out has room for one zstd block more than the longest block, so that
	// a frame decoding to more than it declares is stopped before the
	// decoder needs a larger buffer.
	return &applier{
		h: h, d: d, base: base, off: HeaderSize, dec: dec,
		win: newWindow(h.Window), out: make([]byte, 0, b+zstdBlockMax+16),
	}, nil
}

// next reads, checks and decodes record i and returns its block.
func (a *applier) next(i int64) ([]byte, error) {
	h := a.h
	start := i * int64(h.BlockSize)
	n := int(min(int64(h.BlockSize), h.TargetSize-start))
	var rec [recordSize]byte
	if _, err := io.ReadFull(a.d, rec[:]); err != nil {
		return nil, readError(a.off, err)
	}
	winOff := binary.BigEndian.Uint64(rec[0:])
	winLen := binary.BigEndian.Uint32(rec[8:])
	frameLen := binary.BigEndian.Uint32(rec[12:])
	switch {
	case winLen > uint32(h.Window) || winOff > uint64(h.BaseSize)-uint64(winLen):
		return nil, &FormatError{Offset: a.off, Err: fmt.Errorf("block %d: window [%d, +%d) is over the header's window %d or outside the base", i, winOff, winLen, h.Window)}
	case frameLen > uint32(maxFrame(n)):
		return nil, &FormatError{Offset: a.off + 12, Err: fmt.Errorf("block %d: frame length %d is over %d", i, frameLen, maxFrame(n))}
	}
	a.off += recordSize
	if a.frame == nil {
		a.frame = make([]byte, maxFrame(h.block()))
	}
	frame := a.frame[:frameLen]
	if _, err := io.ReadFull(a.d, frame); err != nil {
		return nil, readError(a.off, err)
	}
	dict, err := a.win.load(a.base, int64(winOff), int(winLen))
	if err != nil {
		return nil, err
	}
	out, err := a.decode(frame, dict, n)
	if err != nil {
		return nil, &FormatError{Offset: a.off, Err: fmt.Errorf("block %d: %w", i, err)}
	}
	a.off += int64(frameLen)
	return out, nil
}

// decode decodes frame, which must be one zstd frame of n bytes, with dict
// as its dictionary.
func (a *applier) decode(frame, dict []byte, n int) ([]byte, error) {
	var zh zstd.Header
	if err := zh.Decode(frame); err != nil {
		return nil, err
	}
	if zh.Skippable || !zh.HasFCS || zh.FrameContentSize != uint64(n) || !zh.HasCheckSum {
		return nil, fmt.Errorf("frame does not declare its block's length %d and a checksum", n)
	}
	if err := a.dec.ResetWithOptions(nil, zstd.WithDecoderDictRaw(0, dict)); err != nil {
		return nil, err
	}
	out, err := a.dec.DecodeAll(frame, a.out[:0])
	if err != nil {
		return nil, err
	}
	if len(out) != n {
		return nil, fmt.Errorf("frame decoded to %d bytes, not %d", len(out), n)
	}
	return out, nil
}
