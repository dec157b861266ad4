package witness_test

import (
	"context"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/witness"
	"github.com/prometheus/client_golang/prometheus"
)

// TestCollectorCancelledAfterQuorum checks how the collector counts a
// request to a slow witness that its caller cancels once the quorum is
// met, as fwlog does: as cancelled_after_quorum, not as an error.
func TestCollectorCancelledAfterQuorum(t *testing.T) {
	wn := startWitnesses(t, 3, 2)
	wn.servers[2].slow.Store(true) // w2 answers only when the client gives up
	reg := prometheus.NewRegistry()
	c, err := witness.NewCollector(witness.CollectorConfig{Policy: wn.policy, Logger: fwtest.Logger(t), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	tr := newTree(4, -1, "")
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	if _, err := c.Cosign(ctx, tr.checkpoint(t, logKey, 4), 4, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("quorum in %v", time.Since(start))
	cancel()

	// The slow witness's request ends once its context is cancelled.
	deadline := time.Now().Add(10 * time.Second)
	for len(counters(t, reg, "fwlog_witness_requests_total")) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the slow witness's request was not counted 10s after the cancellation: %v", counters(t, reg, "fwlog_witness_requests_total"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := counters(t, reg, "fwlog_witness_requests_total")
	want := map[string]float64{
		`result="ok",witness="w0"`:                     1,
		`result="ok",witness="w1"`:                     1,
		`result="cancelled_after_quorum",witness="w2"`: 1,
	}
	if len(got) != len(want) {
		t.Errorf("fwlog_witness_requests_total = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("fwlog_witness_requests_total{%s} = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

// counters returns the values of the counter name in reg, by their labels
// (`a="x",b="y"`, sorted by label name).
func counters(t testing.TB, reg prometheus.Gatherer, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var key string
			for i, l := range m.GetLabel() {
				if i > 0 {
					key += ","
				}
				key += l.GetName() + `="` + l.GetValue() + `"`
			}
			out[key] = m.GetCounter().GetValue()
		}
	}
	return out
}
