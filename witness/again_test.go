package witness_test

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/witness"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"
)

// A countingSigner is a note.Signer that counts its signatures.
type countingSigner struct {
	note.Signer
	n atomic.Int64
}

func (s *countingSigner) Sign(msg []byte) ([]byte, error) {
	s.n.Add(1)
	return s.Signer.Sign(msg)
}

// TestCosignAgain checks what the latest checkpoint sent again costs: the
// witness signs it once per second of its clock, and gives the same lines
// again within that second, whatever other signatures the checkpoint
// carries (a log's refresh, or a replay of its public checkpoint); each
// answer is a valid cosignature. A checkpoint cosigned before the latest,
// sent again, reads nothing from the store and signs nothing.
func TestCosignAgain(t *testing.T) {
	var clock atomic.Int64
	clock.Store(1_800_000_000)
	defer witness.SetClock(func() time.Time { return time.Unix(clock.Load(), 500_000_000) })()
	s, err := witKey.CosignatureSigner()
	if err != nil {
		t.Fatal(err)
	}
	signer := &countingSigner{Signer: s}
	reg := prometheus.NewRegistry()
	w := startWitness(t, "", witness.Config{Signers: []note.Signer{signer}, Registerer: reg})
	tr := newTree(16, -1, "")
	for _, body := range [][]byte{tr.request(t, 0, 4), tr.request(t, 4, 8)} {
		if status, _, body := post(t, w.url, body); status != 200 {
			t.Fatalf("%d %s", status, body)
		}
	}
	cp := tr.checkpoint(t, logKey, 8)
	public := fwtest.Cosign(t, cp, witKey, fwtest.Key("witness-z.example.org"))
	// sendAgain sends the latest checkpoint n times, alternating the log's
	// bytes and the public ones, and returns the distinct answers.
	sendAgain := func(n int) map[string]bool {
		t.Helper()
		answers := map[string]bool{}
		for i := range n {
			raw := cp
			if i%2 == 1 {
				raw = public
			}
			status, _, body := post(t, w.url, (&witness.AddCheckpointRequest{OldSize: 8, Checkpoint: raw}).Marshal())
			if status != 200 {
				t.Fatalf("the latest checkpoint again: %d %s", status, body)
			}
			if _, err := note.Open(append(bytes.Clone(cp), body...), note.VerifierList(cosignatureVerifier(t, witKey))); err != nil {
				t.Fatalf("answer %q: %v", body, err)
			}
			answers[body] = true
		}
		return answers
	}
	signs := signer.n.Load() // the two new checkpoints
	if answers := sendAgain(100); len(answers) != 1 || signer.n.Load()-signs != 1 {
		t.Errorf("100 requests in one second: %d signatures, %d distinct answers; want 1 and 1", signer.n.Load()-signs, len(answers))
	}
	clock.Add(1)
	if answers := sendAgain(10); signer.n.Load()-signs != 2 || len(answers) != 1 {
		t.Errorf("10 more requests in the next second: %d signatures in all, %d distinct answers; want 2 and 1", signer.n.Load()-signs, len(answers))
	}

	reads := witness.StoreReads(w.store)
	for range 50 {
		if status, _, body := post(t, w.url, tr.request(t, 4, 4)); status != 409 || body != "8\n" {
			t.Fatalf("a checkpoint cosigned before the latest, sent again: %d %q, want 409 8", status, body)
		}
	}
	if got := witness.StoreReads(w.store) - reads; got != 0 {
		t.Errorf("%d store reads for 50 checkpoints cosigned before the latest, sent again; want none", got)
	}
	if got := signer.n.Load() - signs; got != 2 {
		t.Errorf("%d signatures in all, want 2", got)
	}
	for kind, want := range map[string]float64{"new": 2, "again": 2, "reused": 108} {
		if got := counter(t, reg, "fwwitness_cosignatures_total", "kind", kind); got != want {
			t.Errorf("fwwitness_cosignatures_total{kind=%q} = %v, want %v", kind, got, want)
		}
	}
}

// counter returns the value of the counter name whose label has the given
// value, in reg.
func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
