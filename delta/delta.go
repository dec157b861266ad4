// Package delta makes and applies delta updates of firmware images: a device
// holding the image in its current slot (the base) rebuilds a new image (the
// target) from a delta that is much smaller than the target when the two
// images are alike.
//
// A delta is not trusted. [Apply] checks that the delta names the base it is
// given before it writes anything, writes no more than the delta's target
// size and the caller's limit, and checks what it wrote against the target
// SHA-256 digest in the delta's header. Its output is the target only if it
// returns nil; the caller still checks the result against the digests of the
// logged release, since the header is as untrusted as the rest of the delta.
//
// Compression is Zstandard (github.com/klauspost/compress/zstd): each block
// of the target is one zstd frame, compressed with a raw dictionary made of
// the base's bytes around the same offset. Nothing here is hand-written
// compression; this package only cuts the images into blocks and windows
// and checks every length it reads.
//
// # Memory
//
// Neither side holds an image in memory. [Create] holds one block of the
// target, one window of the base and the encoder's state (its history,
// which is the window and the block, and its hash tables, 68 MiB at the
// best level): about 100 MiB with the default options, whatever the image
// size. [Apply] allocates, for the whole call, at most [Header.Memory]
// bytes:
//
//	window + (block + 128 KiB + 16) + (block + block/256 + 1 KiB) + 1 MiB
//
// where block is the smaller of the block size and the target size, and
// window the header's largest window: one window of the base (the
// dictionary), the decoded block, the compressed frame and the decoder's own
// state. With the default options (4 MiB blocks, 4 MiB margins, so windows
// of at most 12 MiB) that is 21.1 MiB, for an image of 4 KiB or of 1 TiB;
// the most a header may ask for is 49.2 MiB. A device that has less to
// give reads the header first ([ParseHeader]) and checks [Header.Memory].
//
// Why blocks with windows, rather than one frame with the whole base as its
// dictionary (as zstd --patch-from does): that needs the whole base in the
// decoder's memory. Cutting the target into blocks bounds the decoder by a
// block and a window. Data that moved by less than the margin (an insertion
// or deletion earlier in the image) is still in the window and still
// compresses to a few bytes a block; data that moved further costs what zstd
// makes of it without a dictionary. Each record names its window's offset
// and length, so a later Create may pick windows better (following a shift
// it has found) without changing the format or Apply.
//
// # Format
//
// All integers are unsigned, big-endian. A delta is a header of 100 bytes:
//
//	magic          8 bytes  "FWDELTA\x00"
//	version        4 bytes  1
//	base digest   32 bytes  SHA-256 of the base
//	base size      8 bytes
//	target digest 32 bytes  SHA-256 of the target
//	target size    8 bytes
//	block size     4 bytes  B, from 4 KiB to 8 MiB
//	window size    4 bytes  W, the largest window of any record, at most 32 MiB and the base size
//
// then, for each block i of the target (the target's bytes [i*B, min((i+1)*B,
// target size)); there are ceil(target size / B) of them, and none for an
// empty target), one record:
//
//	window offset  8 bytes  where the window starts in the base
//	window length  4 bytes  at most W; offset + length at most the base size
//	frame length   4 bytes  at most n + n/256 + 1024, n the block's length
//	frame          a zstd frame (RFC 8878) with its content size (n) and checksum, whose
//	               dictionary (ID 0, raw content) is base[offset : offset+length]
//
// and nothing after the last record. Apply refuses a frame that does not
// declare its content size and a checksum.
//
// For example, Create with the default options makes a delta from a 16 MiB
// base to a 10 MiB target with B = 4 MiB and W = 12 MiB (a block and a 4 MiB
// margin on either side), and three records: blocks of 4, 4 and 2 MiB, whose
// windows start 4 MiB before the block or at the start of the base, and are
// W long: base[0 : 12 MiB], base[0 : 12 MiB] and base[4 MiB : 16 MiB].
package delta

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fwledger/fwledger/digest"
)

const (
	// Version is the format version that Create writes and Apply reads.
	Version = 1

	// HeaderSize is the length of a delta's header.
	HeaderSize = 100

	// MinBlockSize and MaxBlockSize bound a header's block size.
	MinBlockSize = 4 << 10
	MaxBlockSize = 8 << 20

	// MaxWindow bounds a header's window size.
	MaxWindow = 32 << 20

	// MaxImageSize bounds the base and target sizes of a header.
	MaxImageSize = 1 << 50

	// recordSize is the length of a record's fields before its frame.
	recordSize = 16
	// zstdBlockMax is the most that one zstd block decodes to.
	zstdBlockMax = 128 << 10
	// decoderState bounds what the zstd decoder allocates for itself in
	// Apply (tables and literal buffers, in its low-memory mode).
	decoderState = 1 << 20
)

var magic = [8]byte{'F', 'W', 'D', 'E', 'L', 'T', 'A', 0}

// A Header is what a delta says of itself: the base it applies to, the
// target it makes, and the sizes that bound the memory of applying it.
type Header struct {
	BaseDigest   digest.Digest
	BaseSize     int64
	TargetDigest digest.Digest
	TargetSize   int64
	// BlockSize is the length of each block of the target but the last.
	BlockSize int
	// Window is the largest window of the base that any record uses.
	Window int
}

// Blocks returns how many records follow the header.
func (h *Header) Blocks() int64 {
	return (h.TargetSize + int64(h.BlockSize) - 1) / int64(h.BlockSize)
}

// block returns the length of the longest block: the block size, or the
// target size if it is smaller.
func (h *Header) block() int {
	return int(min(int64(h.BlockSize), h.TargetSize))
}

// maxFrame returns the longest frame a record may hold for a block of n
// bytes: zstd's bound for incompressible data (a raw block's 3-byte header
// every 128 KiB, the frame header and the checksum) with room to spare.
func maxFrame(n int) int { return n + n/256 + 1024 }

// Memory returns the most that [Apply] allocates to apply a delta with this
// header: a window of the base, a decoded block, a compressed frame and
// the decoder's state.
func (h *Header) Memory() int64 {
	b := h.block()
	return int64(h.Window) + int64(b+zstdBlockMax+16) + int64(maxFrame(b)) + decoderState
}

// AppendBinary appends the header's 100 bytes to b.
func (h *Header) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, magic[:]...)
	b = binary.BigEndian.AppendUint32(b, Version)
	b = append(b, h.BaseDigest[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.BaseSize))
	b = append(b, h.TargetDigest[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.TargetSize))
	b = binary.BigEndian.AppendUint32(b, uint32(h.BlockSize))
	b = binary.BigEndian.AppendUint32(b, uint32(h.Window))
	return b, nil
}

// ParseHeader reads a delta's header, exactly [HeaderSize] bytes of r, and
// returns it once its fields are within the format's limits. A header
// that is short or out of those limits is a *[FormatError]; an error
// reading r is returned wrapped.
func ParseHeader(r io.Reader) (*Header, error) {
	var b [HeaderSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, readError(0, err)
	}
	if [8]byte(b[:8]) != magic {
		return nil, &FormatError{Offset: 0, Err: errors.New("not a delta (bad magic)")}
	}
	if v := binary.BigEndian.Uint32(b[8:]); v != Version {
		return nil, &FormatError{Offset: 8, Err: fmt.Errorf("version %d, want %d", v, Version)}
	}
	h := &Header{
		BaseDigest:   digest.Digest(b[12:44]),
		TargetDigest: digest.Digest(b[52:84]),
	}
	baseSize := binary.BigEndian.Uint64(b[44:])
	targetSize := binary.BigEndian.Uint64(b[84:])
	blockSize := binary.BigEndian.Uint32(b[92:])
	window := binary.BigEndian.Uint32(b[96:])
	switch {
	case baseSize > MaxImageSize:
		return nil, &FormatError{Offset: 44, Err: fmt.Errorf("base size %d is over %d", baseSize, uint64(MaxImageSize))}
	case targetSize > MaxImageSize:
		return nil, &FormatError{Offset: 84, Err: fmt.Errorf("target size %d is over %d", targetSize, uint64(MaxImageSize))}
	case blockSize < MinBlockSize || blockSize > MaxBlockSize:
		return nil, &FormatError{Offset: 92, Err: fmt.Errorf("block size %d is not from %d to %d", blockSize, MinBlockSize, MaxBlockSize)}
	case window > MaxWindow || uint64(window) > baseSize:
		return nil, &FormatError{Offset: 96, Err: fmt.Errorf("window size %d is over %d or the base size %d", window, MaxWindow, baseSize)}
	}
	h.BaseSize, h.TargetSize = int64(baseSize), int64(targetSize)
	h.BlockSize, h.Window = int(blockSize), int(window)
	return h, nil
}

// A FormatError reports a delta that is not well-formed or does not make
// the target its header names: bad magic or version, a field out of its
// limits, a truncated delta, a frame that does not decode to its block
// (including a frame checksum that fails), bytes after the last record, or
// a result whose SHA-256 digest is not the header's target digest (then
// Err is a *[digest.MismatchError]).
type FormatError struct {
	// Offset is where in the delta the problem was found.
	Offset int64
	Err    error
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("malformed delta at byte %d: %v", e.Offset, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

// A BaseError reports a delta made for another base than the one given
// to Apply.
type BaseError struct {
	// Want is the base the delta's header names; Got the one given.
	Want, Got         digest.Digest
	WantSize, GotSize int64
}

func (e *BaseError) Error() string {
	return fmt.Sprintf("delta is for base %s (%d bytes), not %s (%d bytes)", e.Want, e.WantSize, e.Got, e.GotSize)
}

// A SizeError reports a delta whose target is larger than the caller
// allows.
type SizeError struct {
	// Size is the delta's target size; Max the caller's limit.
	Size, Max int64
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("delta's target is %d bytes, over the limit of %d", e.Size, e.Max)
}

// readError turns an error reading the delta at offset off into a
// *FormatError if the delta ended early, and wraps any other.
func readError(off int64, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &FormatError{Offset: off, Err: io.ErrUnexpectedEOF}
	}
	return fmt.Errorf("couldn't read the delta: %w", err)
}

// A window holds base[off : off+len(buf)], the dictionary of one frame.
// The windows of consecutive blocks overlap but for a block, so load keeps
// the overlap and reads only the rest.
type window struct {
	buf []byte
	off int64
}

func newWindow(size int) *window { return &window{buf: make([]byte, 0, size)} }

// load returns base[off : off+n]; n must be at most the window's size.
func (w *window) load(base io.ReaderAt, off int64, n int) ([]byte, error) {
	keep := 0
	if end := w.off + int64(len(w.buf)); off >= w.off && off < end {
		keep = copy(w.buf[:n], w.buf[off-w.off:])
	}
	w.buf, w.off = w.buf[:n], off
	if err := readAt(base, w.buf[keep:], off+int64(keep)); err != nil {
		w.buf = w.buf[:0]
		return nil, fmt.Errorf("couldn't read the base at %d: %w", off+int64(keep), err)
	}
	return w.buf, nil
}
