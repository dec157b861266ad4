package log

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/fwledger/fwledger/tiles"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
)

// An FsckReport is what Fsck found in a log's storage.
type FsckReport struct {
	// Entries is the number of integrated entries checked; Sequenced the
	// number of sequenced entries (those beyond Entries are checked when
	// they are integrated).
	Entries, Sequenced uint64
	// FirstBad is the index of the first entry whose bytes do not hash to
	// the leaf hash in the tree's tiles, or -1; Bad counts such entries.
	FirstBad int64
	Bad      uint64
	// Root is the root recomputed from the entries' bytes; StateOK reports
	// whether it is the integrated tree's stored root.
	Root    []byte
	StateOK bool
	// FirstBadTile is the path of the first stored tile (at any level)
	// that differs from the tile recomputed from the entries, or ""; Tiles
	// counts the tiles checked and BadTiles those that differ.
	FirstBadTile    string
	Tiles, BadTiles uint64
	// Checkpoints holds, for the stored signed checkpoint and the stored
	// witnessed one, whether the root recomputed at its size is its root.
	Checkpoints []CheckpointCheck
	// Problems are what the storage's own checks found (a Checker).
	Problems []string
}

// A Checker is a Storage with checks of its own, which Fsck runs too: of
// what it keeps beside the tree, such as the sequenced entries not yet
// integrated, or another system's copy of the tree.
type Checker interface {
	// Check returns the problems it found, each a sentence; an error if
	// it could not check.
	Check(ctx context.Context) ([]string, error)
}

// A CheckpointCheck is the check of one stored checkpoint.
type CheckpointCheck struct {
	What string // "checkpoint" or "witnessed checkpoint"
	Size uint64
	Root []byte
	// OK reports whether the entries hash to Root at Size.
	OK bool
}

// OK reports whether every check passed.
func (r *FsckReport) OK() bool {
	ok := r.Bad == 0 && r.BadTiles == 0 && r.StateOK && len(r.Problems) == 0
	for _, c := range r.Checkpoints {
		ok = ok && c.OK
	}
	return ok
}

// Fsck re-hashes every integrated entry in store, checks each leaf hash
// against the tree's tiles, recomputes every tile (at every level) and the
// tree's root from the entries, and compares them with the stored tiles,
// the stored tree state and the roots of the stored checkpoints, which must
// verify with v. It reads everything but
// changes nothing; the log must not be running. progress, if not nil, is
// called after each entry bundle with the entries done and the total.
func Fsck(ctx context.Context, store Storage, v note.Verifier, progress func(done, total uint64)) (*FsckReport, error) {
	// A shared storage may be checked while its frontends run: the
	// checkpoints are read before the tree (each is at most the next),
	// and the tree is checked at the size first read, its rightmost
	// tiles as prefixes of the stored ones, which may have grown.
	_, live := store.(SharedStorage)
	rep := &FsckReport{FirstBad: -1}
	for _, what := range []string{"witnessed checkpoint", "checkpoint"} {
		read := store.Checkpoint
		if what != "checkpoint" {
			read = store.Witnessed
		}
		raw, err := read(ctx)
		if err != nil {
			return nil, fmt.Errorf("couldn't read the stored %s: %w", what, err)
		}
		if raw == nil {
			continue
		}
		cp, _, _, err := flog.ParseCheckpoint(raw, v.Name(), v)
		if err != nil {
			return nil, fmt.Errorf("the stored %s does not verify with the log's key: %w", what, err)
		}
		rep.Checkpoints = append([]CheckpointCheck{{What: what, Size: cp.Size, Root: cp.Hash}}, rep.Checkpoints...)
	}
	tree, sequenced, err := store.Tree(ctx)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the tree state: %w", err)
	}
	rep.Entries, rep.Sequenced = tree.Size, sequenced
	for _, c := range rep.Checkpoints {
		if c.Size > tree.Size {
			return nil, fmt.Errorf("the stored %s is for %d entries, but only %d are integrated", c.What, c.Size, tree.Size)
		}
	}
	rng := tiles.RangeFactory.NewEmptyRange(0)
	// open holds the tiles being recomputed; a tile is compared with the
	// stored one once it is full, or at the end.
	open := map[tiles.ID][]byte{}
	var visitErr error
	checkTile := func(id tiles.ID, built []byte, partial bool) {
		rep.Tiles++
		stored, err := store.ReadTile(ctx, id.Level, id.Index)
		if err != nil && !errors.Is(err, ErrNotFound) {
			visitErr = fmt.Errorf("couldn't read tile %s: %w", tiles.Path(id.Level, id.Index, 0), err)
			return
		}
		if partial && live && len(stored) > len(built) {
			stored = stored[:len(built)]
		}
		if !bytes.Equal(stored, built) {
			rep.BadTiles++
			if rep.FirstBadTile == "" {
				rep.FirstBadTile = tiles.Path(id.Level, id.Index, len(built)/tiles.HashSize%tiles.Width)
			}
		}
	}
	visit := func(id compact.NodeID, hash []byte) {
		if id.Level%tiles.Height != 0 {
			return
		}
		tid := tiles.ID{Level: uint64(id.Level / tiles.Height), Index: id.Index / tiles.Width}
		t := append(open[tid], hash...)
		if len(t) == tiles.Width*tiles.HashSize {
			delete(open, tid)
			checkTile(tid, t, false)
			return
		}
		open[tid] = t
	}
	checkRoots := func() error {
		for i := range rep.Checkpoints {
			c := &rep.Checkpoints[i]
			if c.Size == rng.End() {
				root, err := rootOf(rng)
				if err != nil {
					return err
				}
				c.OK = bytes.Equal(root, c.Root)
			}
		}
		return nil
	}
	if err := checkRoots(); err != nil {
		return nil, err
	}
	for b := uint64(0); b*tiles.Width < tree.Size; b++ {
		data, err := store.ReadEntryBundle(ctx, b)
		if err != nil {
			return nil, fmt.Errorf("couldn't read entry bundle %d: %w", b, err)
		}
		entries, err := tiles.SplitBundle(data)
		if err != nil {
			return nil, fmt.Errorf("stored entry bundle %d is malformed: %w", b, err)
		}
		// The leaf hashes of the bundle's entries: the level-0 tile of the
		// same index, read once for all of them.
		leaves, err := store.ReadTile(ctx, 0, b)
		if err != nil {
			return nil, fmt.Errorf("couldn't read the leaf hashes of entry bundle %d from the tiles: %w", b, err)
		}
		for j, e := range entries {
			i := b*tiles.Width + uint64(j)
			if i >= tree.Size {
				break
			}
			h := tiles.LeafHash(e)
			if len(leaves) < (j+1)*tiles.HashSize {
				return nil, fmt.Errorf("couldn't read the leaf hash of entry %d from the tiles: tile %s holds %d hashes", i, tiles.Path(0, b, 0), len(leaves)/tiles.HashSize)
			}
			if want := leaves[j*tiles.HashSize : (j+1)*tiles.HashSize]; !bytes.Equal(h, want) {
				rep.Bad++
				if rep.FirstBad < 0 {
					rep.FirstBad = int64(i)
				}
			}
			if err := rng.Append(h, visit); err != nil {
				return nil, err
			}
			if visitErr != nil {
				return nil, visitErr
			}
			if err := checkRoots(); err != nil {
				return nil, err
			}
		}
		if progress != nil {
			progress(min(tree.Size, (b+1)*tiles.Width), tree.Size)
		}
	}
	if rng.End() != tree.Size {
		return nil, fmt.Errorf("the entry bundles hold %d integrated entries, the tree state says %d", rng.End(), tree.Size)
	}
	// The partial tiles left: the stored ones are at their widest, which
	// is the tree's.
	ids := make([]tiles.ID, 0, len(open))
	for id := range open {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b tiles.ID) int {
		if a.Level != b.Level {
			return cmp.Compare(a.Level, b.Level)
		}
		return cmp.Compare(a.Index, b.Index)
	})
	for _, id := range ids {
		if checkTile(id, open[id], true); visitErr != nil {
			return nil, visitErr
		}
	}
	root, err := rootOf(rng)
	if err != nil {
		return nil, err
	}
	rep.Root = root
	rep.StateOK = bytes.Equal(root, tree.Root)
	if c, ok := store.(Checker); ok {
		if rep.Problems, err = c.Check(ctx); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func rootOf(rng *compact.Range) ([]byte, error) {
	if rng.End() == 0 {
		return tiles.EmptyRoot(), nil
	}
	return rng.GetRootHash(nil)
}
