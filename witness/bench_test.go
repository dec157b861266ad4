package witness_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/witness"
)

// BenchmarkAddCheckpoint measures the witness's add-checkpoint in process,
// on SQLite: log signature, consistency proof, cosignature and a durable
// write per request. Each request grows one log's tree by a few entries.
func BenchmarkAddCheckpoint(b *testing.B) {
	size := uint64(7*b.N + 7)
	tr := newTree(int(size), -1, "")
	w := startWitness(b, "", witness.Config{})
	// Requests prepared beforehand: the log's work is not measured.
	var reqs []*witness.AddCheckpointRequest
	old := uint64(0)
	for n := uint64(7); n < size; n += 7 {
		req := &witness.AddCheckpointRequest{OldSize: old, Checkpoint: tr.checkpoint(b, logKey, n)}
		if old > 0 {
			req.Proof, _ = tr.ConsistencyProof(old, n)
		}
		reqs = append(reqs, req)
		old = n
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.AddCheckpoint(ctx, reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}

// BenchmarkAddCheckpointLogs is BenchmarkAddCheckpoint with 16 logs fed in
// parallel, as a witness serving many logs sees it.
func BenchmarkAddCheckpointLogs(b *testing.B) {
	const logs = 16
	size := uint64(7*(b.N/logs) + 14)
	var lks []*keys.PrivateKey
	for i := range logs {
		lks = append(lks, fwtest.Key(fmt.Sprintf("example.com/log-%d", i)))
	}
	w := startWitness(b, "", witness.Config{Logs: fwtest.LogList(b, lks...)})
	tr := newTree(int(size), -1, "")
	reqs := make([][]*witness.AddCheckpointRequest, logs)
	for i, lk := range lks {
		old := uint64(0)
		for n := uint64(7); n < size; n += 7 {
			req := &witness.AddCheckpointRequest{OldSize: old, Checkpoint: tr.checkpoint(b, lk, n)}
			if old > 0 {
				req.Proof, _ = tr.ConsistencyProof(old, n)
			}
			reqs[i] = append(reqs[i], req)
			old = n
		}
	}
	ctx := context.Background()
	b.ResetTimer()
	done := make(chan error, logs)
	per := (b.N + logs - 1) / logs
	for i := range logs {
		go func() {
			for j := 0; j < per && j < len(reqs[i]); j++ {
				if _, err := w.AddCheckpoint(ctx, reqs[i][j]); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range logs {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(per*logs)/b.Elapsed().Seconds(), "requests/s")
}

// BenchmarkRefresh measures the witness's answer to its latest checkpoint
// sent again, in process: a log's refresh, or anyone's replay. It costs a
// cosignature and no write. The checkpoint's bytes are those verified last,
// so its log signature is not verified again; BenchmarkRefreshOtherBytes
// alternates two encodings of it (one with an unknown signature line), so
// that each request is verified, to measure what that saves.
func BenchmarkRefresh(b *testing.B) {
	benchmarkRefresh(b, false)
}

// BenchmarkRefreshOtherBytes is BenchmarkRefresh with the log signature
// verified on each request.
func BenchmarkRefreshOtherBytes(b *testing.B) {
	benchmarkRefresh(b, true)
}

func benchmarkRefresh(b *testing.B, alternate bool) {
	tr := newTree(8, -1, "")
	w := startWitness(b, "", witness.Config{})
	ctx := context.Background()
	cp := tr.checkpoint(b, logKey, 8)
	if _, err := w.AddCheckpoint(ctx, &witness.AddCheckpointRequest{Checkpoint: cp}); err != nil {
		b.Fatal(err)
	}
	reqs := []*witness.AddCheckpointRequest{{OldSize: 8, Checkpoint: cp}}
	if alternate {
		reqs = append(reqs, &witness.AddCheckpointRequest{OldSize: 8, Checkpoint: fwtest.Cosign(b, cp, fwtest.Key("witness-z.example.org"))})
	}
	writes := w.store.Writes()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.AddCheckpoint(ctx, reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if w.store.Writes() != writes {
		b.Fatalf("%d writes for refreshes", w.store.Writes()-writes)
	}
}

// BenchmarkReplayOlder measures the witness's answer to a checkpoint it
// cosigned before its latest, sent again with its own size as the old size
// (anyone can replay one): a 409 with the latest size, after the check of
// its root against the history of cosigned checkpoints.
func BenchmarkReplayOlder(b *testing.B) {
	tr := newTree(16, -1, "")
	w := startWitness(b, "", witness.Config{})
	ctx := context.Background()
	old := uint64(0)
	for _, n := range []uint64{4, 8, 16} {
		req := &witness.AddCheckpointRequest{OldSize: old, Checkpoint: tr.checkpoint(b, logKey, n)}
		if old > 0 {
			req.Proof, _ = tr.ConsistencyProof(old, n)
		}
		if _, err := w.AddCheckpoint(ctx, req); err != nil {
			b.Fatal(err)
		}
		old = n
	}
	req := &witness.AddCheckpointRequest{OldSize: 8, Checkpoint: tr.checkpoint(b, logKey, 8)}
	writes := w.store.Writes()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var conflict *witness.ConflictError
		if _, err := w.AddCheckpoint(ctx, req); !errors.As(err, &conflict) || conflict.Size != 16 {
			b.Fatalf("replay of size 8: %v, want a conflict with 16", err)
		}
	}
	b.StopTimer()
	if w.store.Writes() != writes {
		b.Fatalf("%d writes for replays", w.store.Writes()-writes)
	}
}
