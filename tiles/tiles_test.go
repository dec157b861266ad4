package tiles

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

// refTree is the independent implementation: golang.org/x/mod/sumdb/tlog,
// with every stored hash kept in memory.
type refTree struct {
	hashes []tlog.Hash
	n      int64
}

func (r *refTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = r.hashes[x]
	}
	return out, nil
}

func (r *refTree) add(t *testing.T, data []byte) {
	hs, err := tlog.StoredHashes(r.n, data, r)
	if err != nil {
		t.Fatal(err)
	}
	r.hashes = append(r.hashes, hs...)
	r.n++
}

// memTiles is a tile store in memory that keeps every version of every tile,
// so tests can check that each version extends the previous one.
type memTiles map[ID][]byte

func (m memTiles) read(_ context.Context, id ID) ([]byte, error) {
	t, ok := m[id]
	if !ok {
		return nil, fmt.Errorf("no tile %v", id)
	}
	return t, nil
}

// grow appends leaves to the tree kept in m, checking that no tile shrinks or
// changes a hash it already held.
func (m memTiles) grow(t *testing.T, size uint64, leaves [][]byte) uint64 {
	t.Helper()
	var rng = RangeFactory.NewEmptyRange(0)
	if size > 0 {
		var err error
		rng, err = NewReader(cached(m.read)).Range(context.Background(), size)
		if err != nil {
			t.Fatalf("Range(%d): %v", size, err)
		}
	}
	b := NewBuilder(rng, func(id ID) ([]byte, error) { return m[id], nil })
	for _, l := range leaves {
		if err := b.Append(LeafHash(l)); err != nil {
			t.Fatal(err)
		}
	}
	changed, err := b.Tiles()
	if err != nil {
		t.Fatal(err)
	}
	for id, data := range changed {
		if old := m[id]; !bytes.HasPrefix(data, old) {
			t.Fatalf("tile %v changed a stored hash", id)
		}
		m[id] = data
	}
	return b.Range().End()
}

func leaf(i int) []byte { return []byte(fmt.Sprintf("leaf %d", i)) }

func checkTree(t *testing.T, m memTiles, ref *refTree, size uint64, rnd *rand.Rand) {
	t.Helper()
	ctx := context.Background()
	r := NewReader(cached(m.read))
	want, err := tlog.TreeHash(int64(size), ref)
	if err != nil {
		t.Fatal(err)
	}
	root, err := r.Root(ctx, size)
	if err != nil {
		t.Fatalf("Root(%d): %v", size, err)
	}
	if !bytes.Equal(root, want[:]) {
		t.Fatalf("Root(%d) = %x, want %x", size, root, want)
	}
	// Every tile of this size matches sumdb's tile data byte for byte.
	for _, tile := range tlog.NewTiles(Height, 0, int64(size)) {
		wantData, err := tlog.ReadTileData(tile, ref)
		if err != nil {
			t.Fatal(err)
		}
		got := m[ID{uint64(tile.L), uint64(tile.N)}]
		if w := WidthAt(uint64(tile.L), uint64(tile.N), size); w != tile.W {
			t.Fatalf("WidthAt(%d, %d, %d) = %d, want %d", tile.L, tile.N, size, w, tile.W)
		}
		if len(got) < tile.W*HashSize || !bytes.Equal(got[:tile.W*HashSize], wantData) {
			t.Fatalf("size %d: tile %s differs from sumdb's", size, Path(uint64(tile.L), uint64(tile.N), tile.W))
		}
	}
	th := tlog.Hash(want)
	indexes := []uint64{0, size / 3, size - 1, rnd.Uint64N(size)}
	for _, i := range indexes {
		p, err := r.InclusionProof(ctx, i, size)
		if err != nil {
			t.Fatalf("InclusionProof(%d, %d): %v", i, size, err)
		}
		rp, err := tlog.ProveRecord(int64(size), int64(i), ref)
		if err != nil {
			t.Fatal(err)
		}
		if !equalProof(p, rp) {
			t.Fatalf("InclusionProof(%d, %d) differs from sumdb's", i, size)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, size, LeafHash(leaf(int(i))), p, root); err != nil {
			t.Fatalf("InclusionProof(%d, %d) does not verify: %v", i, size, err)
		}
	}
	for _, old := range []uint64{1, size / 2, size - 1, 1 + rnd.Uint64N(size)} {
		if old == 0 {
			continue
		}
		p, err := r.ConsistencyProof(ctx, old, size)
		if err != nil {
			t.Fatalf("ConsistencyProof(%d, %d): %v", old, size, err)
		}
		rp, err := tlog.ProveTree(int64(size), int64(old), ref)
		if err != nil {
			t.Fatal(err)
		}
		if !equalProof(p, rp) {
			t.Fatalf("ConsistencyProof(%d, %d) differs from sumdb's", old, size)
		}
		oldRoot, _ := tlog.TreeHash(int64(old), ref)
		if err := tlog.CheckTree(rp, int64(size), th, int64(old), oldRoot); err != nil {
			t.Fatalf("sumdb's own proof fails: %v", err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old, size, p, oldRoot[:], root); err != nil {
			t.Fatalf("ConsistencyProof(%d, %d) does not verify: %v", old, size, err)
		}
	}
}

func equalProof(a [][]byte, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i][:]) {
			return false
		}
	}
	return true
}

// TestAgainstSumDB builds trees of every size from 1 to 1000, one leaf at a
// time, and compares roots, tiles and proofs with golang.org/x/mod/sumdb/tlog.
func TestAgainstSumDB(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	m := memTiles{}
	ref := &refTree{}
	var size uint64
	for i := 0; i < 1000; i++ {
		ref.add(t, leaf(i))
		size = m.grow(t, size, [][]byte{leaf(i)})
		checkTree(t, m, ref, size, rnd)
	}
}

// TestAgainstSumDBLarge grows trees in uneven batches to a few large sizes
// that cross tile-level boundaries.
func TestAgainstSumDBLarge(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	targets := []uint64{65535, 65536, 65537, 70000, 256*256*3 + 257}
	if !testing.Short() {
		targets = append(targets, 1<<20+5)
	}
	m := memTiles{}
	ref := &refTree{}
	var size uint64
	for _, target := range targets {
		for size < target {
			n := min(target-size, 1+rnd.Uint64N(5000))
			batch := make([][]byte, n)
			for i := range batch {
				batch[i] = leaf(int(size) + i)
				ref.add(t, batch[i])
			}
			size = m.grow(t, size, batch)
		}
		checkTree(t, m, ref, size, rnd)
	}
}

func TestPaths(t *testing.T) {
	for _, tc := range []struct {
		level, index uint64
		width        int
		entries      bool
		path         string
	}{
		{0, 0, 0, false, "tile/0/000"},
		{0, 1234067, 0, false, "tile/0/x001/x234/067"},
		{0, 1234067, 8, false, "tile/0/x001/x234/067.p/8"},
		{3, 5, 255, false, "tile/3/005.p/255"},
		{63, 1000, 0, false, "tile/63/x001/000"},
		{0, 7, 0, true, "tile/entries/007"},
		{0, 1000000, 1, true, "tile/entries/x001/x000/000.p/1"},
	} {
		var path string
		if tc.entries {
			path = EntriesPath(tc.index, tc.width)
		} else {
			path = Path(tc.level, tc.index, tc.width)
		}
		if path != tc.path {
			t.Errorf("path(%d, %d, %d) = %q, want %q", tc.level, tc.index, tc.width, path, tc.path)
		}
		want := Tile{Level: tc.level, Index: tc.index, Width: tc.width, Entries: tc.entries}
		if want.Width == 0 {
			want.Width = Width
		}
		got, err := ParsePath(tc.path)
		if err != nil || got != want {
			t.Errorf("ParsePath(%q) = %+v, %v; want %+v", tc.path, got, err, want)
		}
		if p := got.Path(); p != tc.path {
			t.Errorf("%+v.Path() = %q, want %q", got, p, tc.path)
		}
	}
	for _, bad := range []string{
		"tile/0/1", "tile/0/0001", "tile/00/000", "tile/64/000", "tile/-1/000",
		"tile/0/x000/001", "tile/0/x1/000", "tile/0/001.p/0", "tile/0/001.p/256",
		"tile/0/001.p/08", "tile/0/001.p/", "tile/0/001.p", "tile/0/x001", "tile/0/000/",
		"tile/entries/", "tile/entries/01", "tile/0", "tile/", "checkpoint", "tile/0/001.p/1/2",
		"tile/0/x001/x002/x003/x004/x005/x006/x007/008", "tile/+1/000", "tile/0/+01",
	} {
		if _, err := ParsePath(bad); err == nil {
			t.Errorf("ParsePath(%q) succeeded, want an error", bad)
		}
	}
}

func TestBundles(t *testing.T) {
	var b []byte
	var err error
	for i := 0; i < 5; i++ {
		if b, err = AppendEntry(b, bytes.Repeat([]byte{byte(i)}, i*100)); err != nil {
			t.Fatal(err)
		}
	}
	es, err := SplitBundle(b)
	if err != nil || len(es) != 5 || len(es[3]) != 300 {
		t.Fatalf("SplitBundle = %d entries, %v", len(es), err)
	}
	tb, err := TruncateBundle(b, 2)
	if err != nil {
		t.Fatal(err)
	}
	if es2, _ := SplitBundle(tb); len(es2) != 2 {
		t.Errorf("TruncateBundle(2) holds %d entries", len(es2))
	}
	if _, err := TruncateBundle(b, 6); err == nil {
		t.Error("TruncateBundle(6) of 5 entries succeeded")
	}
	if _, err := SplitBundle(b[:len(b)-1]); err == nil {
		t.Error("SplitBundle of a truncated bundle succeeded")
	}
	if _, err := AppendEntry(nil, make([]byte, MaxEntrySize+1)); err == nil {
		t.Error("AppendEntry of an oversize entry succeeded")
	}
}

// cached is Expanding with a cache of the widest version of each tile
// read, as the log keeps one: a test reads a tree many times.
func cached(read func(context.Context, ID) ([]byte, error)) func(context.Context, ID, int) (*Expanded, error) {
	var mu sync.Mutex
	seen := map[ID]*Expanded{}
	expand := Expanding(read)
	return func(ctx context.Context, id ID, width int) (*Expanded, error) {
		mu.Lock()
		e := seen[id]
		mu.Unlock()
		if e != nil && e.Width() >= width {
			return e, nil
		}
		e, err := expand(ctx, id, width)
		if err == nil {
			mu.Lock()
			seen[id] = e
			mu.Unlock()
		}
		return e, err
	}
}
