// Package tiles addresses, builds and reads the Merkle tree tiles and entry
// bundles of a C2SP tlog-tiles log (https://c2sp.org/tlog-tiles).
//
// It is pure: tiles come in and go out as bytes, through functions the caller
// provides, so storage backends and clients share it.
//
// # Layout
//
// A tile at level L and index N holds up to 256 consecutive 32-byte hashes of
// the tree nodes at Merkle level 8·L: hashes [N·256, N·256+W) where W is the
// tile's width. Level 0 tiles hold leaf hashes. A tile is "full" at width 256
// and "partial" below; a partial tile of width W is the first W hashes of the
// full tile, so every version of a tile is a prefix of the next. Entry bundles
// have the same shape with entries (big-endian uint16 length, then the bytes)
// in place of hashes. Paths name them so ([Tile] holds the coordinates):
//
//	tile/0/x001/234          level 0, index 1234: leaf hashes 315904 to 316159
//	tile/1/000.p/7           level 1, index 0, a partial tile of 7 hashes
//	tile/entries/x001/234    the entries whose leaf hashes tile/0/x001/234 holds
package tiles

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
)

// Height is the number of Merkle levels a tile spans; Width is 2^Height.
const (
	Height   = 8
	Width    = 1 << Height
	HashSize = 32
	// MaxEntrySize is the largest entry an entry bundle can hold.
	MaxEntrySize = 1<<16 - 1
)

// An ID names a tile: its level and its index within the level.
type ID struct {
	Level, Index uint64
}

// Path returns the C2SP path of the tile, without a leading slash. A width of
// 0 or Width names the full tile.
func Path(level, index uint64, width int) string {
	return layout.TilePath(level, index, partial(width))
}

// EntriesPath returns the C2SP path of an entry bundle, without a leading
// slash. A width of 0 or Width names the full bundle.
func EntriesPath(index uint64, width int) string {
	return layout.EntriesPath(index, partial(width))
}

func partial(width int) uint8 {
	if width <= 0 || width >= Width {
		return 0
	}
	return uint8(width)
}

// parseIndex parses the "<N>[.p/<W>]" part of a tile or entry bundle path. It
// accepts only the canonical encoding (three-digit groups, "x" prefixes, W in
// 1..255 without leading zeroes) and returns width 0 for a full tile.
func parseIndex(s string) (index uint64, width int, err error) {
	if len(s) > 64 {
		return 0, 0, errors.New("tile path is too long")
	}
	i, w, err := layout.ParseTileIndexPartial(s)
	if err != nil {
		return 0, 0, fmt.Errorf("malformed tile index %q", s)
	}
	if got := layout.NWithSuffix(0, i, w); got != s {
		return 0, 0, fmt.Errorf("malformed tile index %q: the canonical form is %q", s, got)
	}
	return i, int(w), nil
}

// parseLevel parses the "<L>" part of a tile path: 0 to 63, no leading zeroes.
func parseLevel(s string) (uint64, error) {
	l, err := layout.ParseTileLevel(s)
	if err != nil || fmt.Sprint(l) != s {
		return 0, fmt.Errorf("malformed tile level %q: want 0 to 63", s)
	}
	return l, nil
}

// A Tile is the position of a tile or an entry bundle in a tiled log, as
// x/mod/sumdb/tlog.Tile is for sumdb's: its level, its index in the level,
// its width (the hashes, or entries, it holds: Width when it is full), and
// whether it is the entry bundle of the level-0 tile at Index.
//
//	tile/1/x001/234.p/8    Tile{Level: 1, Index: 1234, Width: 8}
//	tile/entries/000       Tile{Index: 0, Width: 256, Entries: true}
type Tile struct {
	Level   uint64
	Index   uint64
	Width   int
	Entries bool
}

// ID returns the tile's level and index.
func (t Tile) ID() ID { return ID{Level: t.Level, Index: t.Index} }

// Path returns the tile's C2SP path, without a leading slash.
func (t Tile) Path() string {
	if t.Entries {
		return EntriesPath(t.Index, t.Width)
	}
	return Path(t.Level, t.Index, t.Width)
}

// ParsePath parses a tile path "tile/<L>/<N>[.p/<W>]" or an entry bundle path
// "tile/entries/<N>[.p/<W>]" (with or without a leading slash), accepting
// only the canonical encoding. A full tile has width Width.
func ParsePath(p string) (Tile, error) {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(p, "/"), "tile/")
	if !ok {
		return Tile{}, fmt.Errorf("%q is not a tile path", p)
	}
	head, tail, ok := strings.Cut(rest, "/")
	if !ok {
		return Tile{}, fmt.Errorf("%q is not a tile path", p)
	}
	var t Tile
	var err error
	if head == "entries" {
		t.Entries = true
	} else if t.Level, err = parseLevel(head); err != nil {
		return Tile{}, err
	}
	if t.Index, t.Width, err = parseIndex(tail); err != nil {
		return Tile{}, err
	}
	if t.Width == 0 {
		t.Width = Width
	}
	return t, nil
}

// WidthAt returns the width of tile (level, index) in a tree of size: Width
// for a full tile, 1 to 255 for a partial one, and 0 if the tile does not
// exist at that size.
func WidthAt(level, index, size uint64) int {
	n := size >> (Height * level) // nodes at this level
	start := index * Width
	if index > n/Width || n <= start {
		return 0
	}
	if n-start >= Width {
		return Width
	}
	return int(n - start)
}

// hasher is the RFC 6962 SHA-256 hasher.
var hasher = rfc6962.DefaultHasher

// LeafHash returns the RFC 6962 leaf hash of an entry.
func LeafHash(entry []byte) []byte { return hasher.HashLeaf(entry) }

// RangeFactory makes compact ranges with the RFC 6962 hasher.
var RangeFactory = &compact.RangeFactory{Hash: hasher.HashChildren}

// A Builder appends leaves to a tree and collects the tiles that change.
// Tiles are loaded once through read, extended, and returned by Tiles.
type Builder struct {
	rng   *compact.Range
	read  func(ID) ([]byte, error)
	tiles map[ID][]byte
	err   error
}

// NewBuilder returns a Builder that extends the tree whose right border is
// rng (a compact range starting at 0). read returns the stored version of a
// tile, or nil if the tile does not exist yet.
func NewBuilder(rng *compact.Range, read func(ID) ([]byte, error)) *Builder {
	return &Builder{rng: rng, read: read, tiles: make(map[ID][]byte)}
}

// Append adds a leaf hash at the end of the tree.
func (b *Builder) Append(leafHash []byte) error {
	if b.err != nil {
		return b.err
	}
	if err := b.rng.Append(leafHash, b.visit); err != nil {
		b.err = err
	}
	return b.err
}

func (b *Builder) visit(id compact.NodeID, hash []byte) {
	if b.err != nil || id.Level%Height != 0 {
		return
	}
	tid := ID{Level: uint64(id.Level / Height), Index: id.Index / Width}
	t, ok := b.tiles[tid]
	if !ok {
		stored, err := b.read(tid)
		if err != nil {
			b.err = fmt.Errorf("couldn't read tile %s: %w", Path(tid.Level, tid.Index, 0), err)
			return
		}
		t = append(make([]byte, 0, Width*HashSize), stored...)
	}
	if want := int(id.Index%Width) * HashSize; len(t) != want {
		b.err = fmt.Errorf("tile %s holds %d bytes, but node %d needs it to hold %d: storage is inconsistent", Path(tid.Level, tid.Index, 0), len(t), id.Index, want)
		return
	}
	b.tiles[tid] = append(t, hash...)
}

// Tiles returns the tiles that changed, with their new contents.
func (b *Builder) Tiles() (map[ID][]byte, error) {
	return b.tiles, b.err
}

// Range returns the compact range after the appended leaves.
func (b *Builder) Range() *compact.Range { return b.rng }

// EncodeRange serializes a compact range's hashes for storage.
func EncodeRange(r *compact.Range) []byte {
	out := make([]byte, 0, len(r.Hashes())*HashSize)
	for _, h := range r.Hashes() {
		out = append(out, h...)
	}
	return out
}

// DecodeRange rebuilds the compact range [0, size) from EncodeRange's output.
func DecodeRange(size uint64, data []byte) (*compact.Range, error) {
	if len(data)%HashSize != 0 {
		return nil, errors.New("compact range encoding is not a multiple of 32 bytes")
	}
	hashes := make([][]byte, 0, len(data)/HashSize)
	for i := 0; i < len(data); i += HashSize {
		hashes = append(hashes, data[i:i+HashSize:i+HashSize])
	}
	return RangeFactory.NewRange(0, size, hashes)
}

// AppendEntry appends one entry to an entry bundle.
func AppendEntry(bundle, entry []byte) ([]byte, error) {
	if len(entry) > MaxEntrySize {
		return nil, fmt.Errorf("entry is %d bytes, more than %d", len(entry), MaxEntrySize)
	}
	bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(entry)))
	return append(bundle, entry...), nil
}

// SplitBundle returns the entries of an entry bundle, which must hold at most
// Width of them. The entries alias bundle.
func SplitBundle(bundle []byte) ([][]byte, error) {
	var out [][]byte
	for len(bundle) > 0 {
		if len(out) == Width {
			return nil, fmt.Errorf("entry bundle holds more than %d entries", Width)
		}
		if len(bundle) < 2 {
			return nil, errors.New("entry bundle is truncated in a length prefix")
		}
		n := int(binary.BigEndian.Uint16(bundle))
		if len(bundle) < 2+n {
			return nil, fmt.Errorf("entry bundle is truncated in entry %d", len(out))
		}
		out = append(out, bundle[2:2+n:2+n])
		bundle = bundle[2+n:]
	}
	return out, nil
}

// TruncateBundle returns the first width entries of bundle.
func TruncateBundle(bundle []byte, width int) ([]byte, error) {
	off := 0
	for i := 0; i < width; i++ {
		if len(bundle)-off < 2 {
			return nil, fmt.Errorf("entry bundle holds %d entries, fewer than %d", i, width)
		}
		n := int(binary.BigEndian.Uint16(bundle[off:]))
		if len(bundle)-off < 2+n {
			return nil, fmt.Errorf("entry bundle is truncated in entry %d", i)
		}
		off += 2 + n
	}
	return bundle[:off], nil
}
