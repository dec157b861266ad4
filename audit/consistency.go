package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"

	"github.com/fwledger/fwledger/tiles"
	"github.com/transparency-dev/merkle/proof"
)

// A fork of two sizes is proven by a consistency proof bound to the larger
// tree's root: every hash of an RFC 6962 consistency proof goes into the
// larger root, so a proof that rebuilds it also rebuilds the true root of
// the smaller tree. If that is not the smaller checkpoint's root, the log
// signed a tree that is not a prefix of the other. In a proof from a size
// that is a power of two, the smaller tree's root is no hash of the proof;
// the evidence then carries it first (forkProof).

// prefixRoot returns the root of the first size1 entries of the tree of
// size2 and root root2, as the consistency proof p shows it, or an error if
// p is not bound to root2.
func prefixRoot(size1, size2 uint64, p [][]byte, root2 []byte) ([]byte, error) {
	if size1 == 0 || size1 >= size2 {
		return nil, fmt.Errorf("no consistency proof from size %d to %d", size1, size2)
	}
	if bits.OnesCount64(size1) == 1 {
		if len(p) == 0 {
			return nil, errors.New("the proof does not carry the root of the smaller tree")
		}
		if err := proof.VerifyConsistency(hasher, size1, size2, p[1:], p[0], root2); err != nil {
			return nil, err
		}
		return p[0], nil
	}
	// With a root of the smaller tree that cannot be it, the check of the
	// smaller tree fails first and says what the proof rebuilds.
	var mismatch proof.RootMismatchError
	if err := proof.VerifyConsistency(hasher, size1, size2, p, nil, root2); !errors.As(err, &mismatch) {
		return nil, fmt.Errorf("the proof does not rebuild a root of the smaller tree: %v", err)
	}
	if err := proof.VerifyConsistency(hasher, size1, size2, p, mismatch.CalculatedRoot, root2); err != nil {
		return nil, err
	}
	return mismatch.CalculatedRoot, nil
}

// forkProof returns the consistency proof from size1 to size2 from the
// log's tiles, with the root of the smaller tree first when size1 is a
// power of two (see prefixRoot).
func forkProof(ctx context.Context, r *tiles.Reader, size1, size2 uint64) ([][]byte, error) {
	p, err := r.ConsistencyProof(ctx, size1, size2)
	if err != nil || bits.OnesCount64(size1) != 1 {
		return p, err
	}
	root, err := r.Root(ctx, size1)
	if err != nil {
		return nil, err
	}
	return append([][]byte{root}, p...), nil
}

// consistentWith judges a checkpoint of size1 and root1, smaller than the
// verified tree (size2, root2), with a proof from the log's tiles: nil if
// it is a prefix; a fork alert if the proof shows another root at size1; a
// *badTileError if the tiles give no proof bound to the verified root.
func (a *Auditor) consistentWith(ctx context.Context, size1 uint64, root1 []byte, size2 uint64, root2 []byte) ([][]byte, bool, error) {
	p, err := forkProof(ctx, a.tileReader(size2), size1, size2)
	if err != nil {
		return nil, false, fmt.Errorf("couldn't read a consistency proof from the log's tiles: %w", err)
	}
	if size1 == 0 {
		return p, bytes.Equal(root1, hasher.EmptyRoot()), nil
	}
	prefix, err := prefixRoot(size1, size2, p, root2)
	if err != nil {
		return p, false, &badTileError{index: size1, err: fmt.Errorf("the consistency proof from %d to %d does not rebuild the verified root: %w", size1, size2, err)}
	}
	return p, bytes.Equal(prefix, root1), nil
}
