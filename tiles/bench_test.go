package tiles

import (
	"context"
	"testing"
)

func benchTree(b *testing.B, n int) memTiles {
	m := memTiles{}
	bld := NewBuilder(RangeFactory.NewEmptyRange(0), func(id ID) ([]byte, error) { return m[id], nil })
	for i := 0; i < n; i++ {
		bld.Append(LeafHash(leaf(i)))
	}
	changed, err := bld.Tiles()
	if err != nil {
		b.Fatal(err)
	}
	for id, d := range changed {
		m[id] = d
	}
	return m
}

// BenchmarkInclusionProof measures a proof in a tree of 1,048,576 leaves with
// a warm tile cache, as the log serves tlog-proofs.
func BenchmarkInclusionProof(b *testing.B) {
	const n = 1 << 20
	m := benchTree(b, n)
	r := NewReader(cached(m.read))
	ctx := context.Background()
	for i := uint64(0); i < n; i += 256 {
		r.InclusionProof(ctx, i, n)
	}
	i := uint64(0)
	for b.Loop() {
		if _, err := r.InclusionProof(ctx, i%n, n); err != nil {
			b.Fatal(err)
		}
		i += 7919
	}
}

// BenchmarkAppend measures building tiles for one leaf.
func BenchmarkAppend(b *testing.B) {
	m := memTiles{}
	bld := NewBuilder(RangeFactory.NewEmptyRange(0), func(id ID) ([]byte, error) { return m[id], nil })
	h := LeafHash([]byte("x"))
	for b.Loop() {
		if err := bld.Append(h); err != nil {
			b.Fatal(err)
		}
	}
}
