package witness_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwledger/fwledger/witness"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// TestRace sends many concurrent add-checkpoint requests for random sizes
// of one tree, and of a fork of it, in random order, each client learning
// the witness's size from 409s. The stored size must never go down, the
// witness must cosign only one of the two histories past the fork point,
// and every cosigned checkpoint must be consistent with every one cosigned
// before it.
func TestRace(t *testing.T) {
	const size, forkAt = 3000, 300
	honest := newTree(size, -1, "")
	forked := newTree(size, forkAt, "evil ")
	w := startWitness(t, "", witness.Config{})

	type cosigned struct {
		size uint64
		root []byte
	}
	var (
		mu   sync.Mutex
		seen []cosigned // in the order the witness answered
	)
	stop := make(chan struct{})
	var wentDown atomic.Bool
	var refused atomic.Int64 // forked checkpoints refused
	go func() {
		var last uint64
		for {
			select {
			case <-stop:
				return
			default:
			}
			all := w.store.All()
			if s := all[logKey.Name].Size; s < last {
				wentDown.Store(true)
			} else {
				last = s
			}
		}
	}()

	var wg sync.WaitGroup
	for c := range 16 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			var old uint64
			for range 60 {
				tr := honest
				if c%4 == 0 {
					tr = forked
				}
				n := min(size, max(1, int(old)+rng.IntN(30)-5))
				req := &witness.AddCheckpointRequest{OldSize: old, Checkpoint: tr.checkpoint(t, logKey, uint64(n))}
				if old > 0 && old <= uint64(n) {
					req.Proof, _ = tr.ConsistencyProof(old, uint64(n))
				}
				mu.Lock() // hold the order of answers and of seen together
				_, err := w.AddCheckpoint(context.Background(), req)
				if err == nil {
					seen = append(seen, cosigned{uint64(n), tr.HashAt(uint64(n))})
				}
				mu.Unlock()
				var conflict *witness.ConflictError
				var fork *witness.ForkError
				if errors.Is(err, witness.ErrInconsistent) || errors.As(err, &fork) {
					refused.Add(1)
				}
				switch {
				case err == nil:
					old = uint64(n)
				case errors.As(err, &conflict):
					old = conflict.Size
				}
			}
		})
	}
	// Requests without the ordering lock, racing each other inside the
	// witness, checked only by the stored size and the final state.
	for c := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 2))
			var old uint64
			for range 100 {
				n := uint64(min(size, max(1, int(old)+rng.IntN(30)-5)))
				req := &witness.AddCheckpointRequest{OldSize: old, Checkpoint: honest.checkpoint(t, logKey, n)}
				if old > 0 && old <= n {
					req.Proof, _ = honest.ConsistencyProof(old, n)
				}
				_, err := w.AddCheckpoint(context.Background(), req)
				var conflict *witness.ConflictError
				switch {
				case err == nil:
					old = n
				case errors.As(err, &conflict):
					old = conflict.Size
				}
			}
		})
	}
	wg.Wait()
	time.Sleep(10 * time.Millisecond)
	close(stop)
	if wentDown.Load() {
		t.Error("the stored size went down")
	}
	if refused.Load() == 0 {
		t.Error("no checkpoint of the other history was ever refused; the test did not race the fork")
	}
	if len(seen) < 10 {
		t.Fatalf("only %d checkpoints cosigned", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		a, b := seen[i-1], seen[i]
		if b.size < a.size {
			t.Fatalf("cosigned size %d after %d", b.size, a.size)
		}
	}
	// Every pair of cosigned checkpoints must be consistent: the honest
	// tree proves it between any two of its sizes, so a pair from the
	// two histories past the fork point must not exist.
	for i := range seen {
		for j := i + 1; j < len(seen); j++ {
			a, b := seen[i], seen[j]
			if a.size == b.size {
				if !bytes.Equal(a.root, b.root) {
					t.Fatalf("cosigned two roots for size %d", a.size)
				}
				continue
			}
			p, err := honest.ConsistencyProof(a.size, b.size)
			if err != nil {
				t.Fatal(err)
			}
			errH := proof.VerifyConsistency(rfc6962.DefaultHasher, a.size, b.size, p, a.root, b.root)
			pf, _ := forked.ConsistencyProof(a.size, b.size)
			errF := proof.VerifyConsistency(rfc6962.DefaultHasher, a.size, b.size, pf, a.root, b.root)
			if errH != nil && errF != nil {
				t.Fatalf("cosigned %d and then %d, which are not consistent", a.size, b.size)
			}
		}
	}
	all := w.store.All()
	if last := seen[len(seen)-1]; all[logKey.Name].Size < last.size {
		t.Errorf("stored size %d is below the last cosigned %d", all[logKey.Name].Size, last.size)
	}
	t.Logf("%d checkpoints cosigned in order, %d of the other history refused, final size %d", len(seen), refused.Load(), all[logKey.Name].Size)
}
