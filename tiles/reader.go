package tiles

import (
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// Expanded holds every node hash under one tile: row r holds the hashes of
// the nodes at Merkle level 8·L+r (row 0 is the tile itself).
type Expanded struct {
	width int
	rows  [Height][][]byte
}

// Expand computes all the node hashes of a tile from its contents.
func Expand(data []byte) (*Expanded, error) {
	if len(data)%HashSize != 0 || len(data) > Width*HashSize {
		return nil, fmt.Errorf("tile is %d bytes: not a whole number of hashes, at most %d", len(data), Width)
	}
	e := &Expanded{width: len(data) / HashSize}
	row := make([][]byte, e.width)
	for i := range row {
		row[i] = data[i*HashSize : (i+1)*HashSize : (i+1)*HashSize]
	}
	e.rows[0] = row
	for r := 1; r < Height; r++ {
		prev := e.rows[r-1]
		next := make([][]byte, len(prev)/2)
		for i := range next {
			next[i] = hasher.HashChildren(prev[2*i], prev[2*i+1])
		}
		e.rows[r] = next
	}
	return e, nil
}

// Width returns the number of hashes in the tile.
func (e *Expanded) Width() int { return e.width }

// A Reader reads node hashes, proofs and roots of a tree from its tiles. It
// keeps nothing itself: tiles come from the function it is given, which may
// cache them (the log keeps expanded tiles in a bounded cache). It is safe
// for concurrent use if that function is.
//
// Nothing read through it is verified: it serves the log's own durable
// tiles. Clients verify what it produces against a signed checkpoint.
type Reader struct {
	tile func(ctx context.Context, id ID, width int) (*Expanded, error)
}

// NewReader returns a Reader over tile, which returns tile id expanded, at
// least width hashes wide (it may be wider: the widest stored version).
func NewReader(tile func(ctx context.Context, id ID, width int) (*Expanded, error)) *Reader {
	return &Reader{tile: tile}
}

// Expanding returns a tile function for NewReader that reads each tile
// with read, which returns its widest stored version, and expands it.
func Expanding(read func(ctx context.Context, id ID) ([]byte, error)) func(ctx context.Context, id ID, width int) (*Expanded, error) {
	return func(ctx context.Context, id ID, _ int) (*Expanded, error) {
		data, err := read(ctx, id)
		if err != nil {
			return nil, err
		}
		return Expand(data)
	}
}

// Node returns the hash of the complete node (level, index).
func (r *Reader) Node(ctx context.Context, level uint, index uint64) ([]byte, error) {
	tl, row := uint64(level/Height), level%Height
	id := ID{Level: tl, Index: index >> (Height - row)}
	j := int(index % (Width >> row))
	e, err := r.tile(ctx, id, (j+1)<<row)
	if err != nil {
		return nil, fmt.Errorf("couldn't read tile %s: %w", Path(id.Level, id.Index, 0), err)
	}
	if j >= len(e.rows[row]) {
		return nil, fmt.Errorf("node (%d, %d) is not in tile %s of width %d", level, index, Path(id.Level, id.Index, 0), e.width)
	}
	return e.rows[row][j], nil
}

func (r *Reader) nodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := r.Node(ctx, id.Level, id.Index)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return hashes, nil
}

// InclusionProof returns the RFC 6962 inclusion proof for the leaf at index
// in the tree of the given size.
func (r *Reader) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	n, err := proof.Inclusion(index, size)
	return r.proof(ctx, n, err)
}

// ConsistencyProof returns the RFC 6962 consistency proof between the trees
// of sizes size1 <= size2.
func (r *Reader) ConsistencyProof(ctx context.Context, size1, size2 uint64) ([][]byte, error) {
	n, err := proof.Consistency(size1, size2)
	return r.proof(ctx, n, err)
}

// proof reads the hashes of the nodes n names and builds the proof from
// them; err is the error of computing n.
func (r *Reader) proof(ctx context.Context, n proof.Nodes, err error) ([][]byte, error) {
	if err != nil {
		return nil, err
	}
	hashes, err := r.nodes(ctx, n.IDs)
	if err != nil {
		return nil, err
	}
	return n.Rehash(hashes, hasher.HashChildren)
}

// Range returns the compact range [0, size) read from the tiles.
func (r *Reader) Range(ctx context.Context, size uint64) (*compact.Range, error) {
	hashes, err := r.nodes(ctx, compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, err
	}
	return RangeFactory.NewRange(0, size, hashes)
}

// Root returns the root hash of the tree of the given size.
func (r *Reader) Root(ctx context.Context, size uint64) ([]byte, error) {
	if size == 0 {
		return hasher.EmptyRoot(), nil
	}
	rng, err := r.Range(ctx, size)
	if err != nil {
		return nil, err
	}
	return rng.GetRootHash(nil)
}

// EmptyRoot is the root hash of the empty tree.
func EmptyRoot() []byte { return hasher.EmptyRoot() }
