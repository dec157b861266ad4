package sqlite_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/sqlite"
	"github.com/fwledger/fwledger/tiles"
)

// benchLeaf is a leaf of the size of a typical release envelope (~770 bytes)
// with the lookup key a release has.
func benchLeaf(i uint64) log.Leaf {
	data := make([]byte, 770)
	binary.BigEndian.PutUint64(data, i)
	d := sha256.Sum256(data[:8])
	return log.Leaf{Data: data, Hash: tiles.LeafHash(data), Keys: [][]byte{append([]byte{1}, d[:]...)}}
}

func fill(b *testing.B, s *sqlite.Storage, from, n uint64) {
	ctx := context.Background()
	const batch = 1000
	for i := from; i < from+n; i += batch {
		leaves := make([]log.Leaf, 0, batch)
		for j := i; j < min(i+batch, from+n); j++ {
			leaves = append(leaves, benchLeaf(j))
		}
		if _, err := s.Sequence(ctx, leaves); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Integrate(ctx, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSequence measures durable sequencing of batches of 64 leaves (the
// batch a group commit collects from 64 concurrent clients), with the log
// already holding 10,000 or 300,000 entries, and integration of each batch.
func BenchmarkSequence(b *testing.B) {
	for _, prefill := range []uint64{10_000, 300_000} {
		b.Run(fmt.Sprintf("size=%d", prefill), func(b *testing.B) {
			ctx := context.Background()
			s, err := sqlite.Open(ctx, b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			fill(b, s, 0, prefill)
			next := prefill
			i := 0
			for b.Loop() {
				i++
				leaves := make([]log.Leaf, 64)
				for j := range leaves {
					leaves[j] = benchLeaf(next)
					next++
				}
				if _, err := s.Sequence(ctx, leaves); err != nil {
					b.Fatal(err)
				}
				if i%8 == 0 {
					if _, err := s.Integrate(ctx, 1<<20); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(i*64)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
