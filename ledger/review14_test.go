package ledger_test

// Review of issue 14 (fwlog on Trillian with several frontends): proofs of
// concept of the problems found. Each test fails while the problem is
// there.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
)

// submitWhile submits releases signed by k through lc from workers
// goroutines until stop is closed, and returns the indices acknowledged
// (not duplicates).
func submitWhile(t *testing.T, l *fwtest.Log, k *keys.PrivateKey, tag string, workers int, stop <-chan struct{}) func() []uint64 {
	t.Helper()
	lc := newClient(t, l)
	var (
		mu    sync.Mutex
		acked []uint64
		wg    sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				env := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image(fmt.Sprintf("%s %d %d", tag, w, i), 200), nil), k)
				res, err := lc.Add(context.Background(), env)
				if err != nil || res.Duplicate {
					continue // refused: fine
				}
				mu.Lock()
				acked = append(acked, res.Index)
				mu.Unlock()
			}
		}()
	}
	return func() []uint64 {
		wg.Wait()
		return acked
	}
}

// TestReview14HandoverRacesOtherFrontends: one frontend freezes the log
// (fwlog serve --successor) while another takes submissions. The other
// learns of the handover only in syncShared, at the start of a
// submission; its freeze lock is its own. So a submission that synced
// before the handover entry was committed is sequenced after it: the
// frozen log acknowledges entries after its final entry, which
// package handover says it never takes.
func TestReview14HandoverRacesOtherFrontends(t *testing.T) {
	if fwtest.Backend() != "trillian" {
		t.Skip("frontends share a storage only on the Trillian backend (make test-trillian)")
	}
	ctx := context.Background()
	dir := t.TempDir()
	a, _ := startRevocableLog(t, dir)
	b, _ := startRevocableLog(t, dir)
	stop := make(chan struct{})
	wait := submitWhile(t, b, rel1, "before the handover", 8, stop)
	time.Sleep(300 * time.Millisecond)
	succ := fwtest.Key("example.com/successor")
	vkey, _ := succ.Public().VerifierKey()
	if err := a.Ledger.Freeze(ctx, vkey); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	acked := wait()
	h, err := a.Log.Lookup(ctx, []byte{11}, -1, 2) // the handover key
	if err != nil || len(h) != 1 {
		t.Fatalf("the handover entry: %v, %v", h, err)
	}
	var after []uint64
	for _, i := range acked {
		if i > h[0] {
			after = append(after, i)
		}
	}
	t.Logf("%d releases acknowledged through the other frontend; handover at %d", len(acked), h[0])
	if len(after) > 0 {
		t.Errorf("the other frontend acknowledged %d entries after the handover entry %d (%v): a frozen log took entries", len(after), h[0], after)
	}
}

// TestReview14RevocationRacesOtherFrontends: one frontend logs the
// revocation of a release key while another takes releases signed by it.
// On one frontend the revocation lock keeps every release sequenced after
// a revocation judged by it; across frontends a release that synced
// before the revocation was committed is sequenced after it, signed by a
// key revoked before its index.
func TestReview14RevocationRacesOtherFrontends(t *testing.T) {
	if fwtest.Backend() != "trillian" {
		t.Skip("frontends share a storage only on the Trillian backend (make test-trillian)")
	}
	ctx := context.Background()
	dir := t.TempDir()
	_, lca := startRevocableLog(t, dir)
	b, _ := startRevocableLog(t, dir)
	stop := make(chan struct{})
	wait := submitWhile(t, b, rel2, "by the key to revoke", 8, stop)
	time.Sleep(300 * time.Millisecond)
	res, err := lca.Add(ctx, revokeKey(t, rel2, 0, sec1, sec2))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	acked := wait()
	var after []uint64
	for _, i := range acked {
		if i > res.Index {
			after = append(after, i)
		}
	}
	t.Logf("%d releases by the key acknowledged through the other frontend; revocation at %d", len(acked), res.Index)
	if len(after) > 0 {
		t.Errorf("the other frontend acknowledged %d releases signed by the key after its revocation at %d (%v)", len(after), res.Index, after)
	}
}
