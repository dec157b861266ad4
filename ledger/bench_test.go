package ledger_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
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
