package ledger_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/sqlite"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tiles"
)

// BenchmarkAdd measures verified, durable submissions in-process (no HTTP)
// from 256 concurrent submitters, on real SQLite.
func BenchmarkAdd(b *testing.B) {
	l := fwtest.StartLog(b, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}})
	envs := make([][]byte, b.N)
	for i := range envs {
		img := []byte(fmt.Sprint("bench image ", i))
		envs[i] = fwtest.SignRelease(b, fwtest.NewRelease(img, nil), rel1)
	}
	var next atomic.Int64
	b.SetParallelism(128)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			if _, err := l.Add(context.Background(), envs[i]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkAppendStages isolates the stages of the append path, each on its
// own, per entry, with the same release envelopes the HTTP load sends:
// parse (strict envelope, statement and predicate, and the canonical
// encoding check), verify (the Ed25519 signature against the release key
// ring), sequence (one durable group-commit write of 256 leaves with their
// lookup keys, on SQLite) and integrate (tiles, entry bundles and state for
// those 256). A regression in one shows in its own line.
func BenchmarkAppendStages(b *testing.B) {
	ctx := context.Background()
	const batch = 256
	envs := make([][]byte, 4096)
	for i := range envs {
		envs[i] = fwtest.SignRelease(b, fwtest.NewRelease([]byte(fmt.Sprint("stage image ", i)), nil), rel1)
	}
	ring, err := keys.NewRing(rel1.Public())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("parse", func(b *testing.B) {
		i := 0
		for b.Loop() {
			e, err := provenance.ParseEntry(envs[i%len(envs)])
			if err != nil {
				b.Fatal(err)
			}
			if err := provenance.CheckCanonical(envs[i%len(envs)], e.Envelope); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	parsed := make([]*provenance.Entry, len(envs))
	for i, env := range envs {
		if parsed[i], err = provenance.ParseEntry(env); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("verify", func(b *testing.B) {
		i := 0
		for b.Loop() {
			// A fresh copy: an envelope remembers the checks it passed.
			if _, err := provenance.VerifySignatures(ctx, parsed[i%len(parsed)].Copy().Envelope, ring, 1); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("sequence+integrate", func(b *testing.B) {
		s, err := sqlite.Open(ctx, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		var seq, integ time.Duration
		n := 0
		for b.Loop() {
			leaves := make([]log.Leaf, batch)
			for j := range leaves {
				env := fmt.Appendf(nil, "%s %d", envs[(n+j)%len(envs)], n+j) // distinct bytes
				leaves[j] = log.Leaf{Data: env, Hash: tiles.LeafHash(env), Keys: [][]byte{tiles.LeafHash(env)[:16]}}
			}
			t0 := time.Now()
			if _, err := s.Sequence(ctx, leaves); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, err := s.Integrate(ctx, batch); err != nil {
				b.Fatal(err)
			}
			seq += t1.Sub(t0)
			integ += time.Since(t1)
			n += batch
		}
		b.ReportMetric(float64(seq.Microseconds())/float64(n), "µs-sequence/entry")
		b.ReportMetric(float64(integ.Microseconds())/float64(n), "µs-integrate/entry")
		b.ReportMetric(0, "ns/op")
	})
}
