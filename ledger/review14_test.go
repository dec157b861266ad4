package ledger_test

// Review of issue 14 (fwlog on Trillian with several frontends): proofs of
// concept of the problems found. Each test fails while the problem is
// there.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
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

// TestReview14ReindexHidesRevocations: a frontend that starts on a shared
// database indexed under another version (an upgrade of fwlog that changes
// the lookup keys, rolled out one frontend at a time as stateless
// frontends are) rebuilds the lookup index in ledger.New while the others
// run: Reindex empties the lookup table and refills it in batches. The
// publisher's checkpoints commit meanwhile to the revocations the lookup
// table holds, none, and its bundles carry those: a device verifies the
// bundle of a revoked release and installs it (DESIGN.md threat 13), and
// the log signs revocation commitments that go backwards. Here the
// rebuilding frontend is a storage handle whose Reindex is held in its
// first batch, as a large log's is for a while.
func TestReview14ReindexHidesRevocations(t *testing.T) {
	if fwtest.Backend() != "trillian" {
		t.Skip("frontends share a storage only on the Trillian backend (make test-trillian)")
	}
	ctx := context.Background()
	dir := t.TempDir()
	a, lca := startRevocableLog(t, dir)
	img := fwtest.Image("revoked during an upgrade", 1000)
	rel, err := lca.Add(ctx, fwtest.SignRelease(t, fwtest.NewRelease(img, nil), rel1))
	if err != nil {
		t.Fatal(err)
	}
	rev, err := lca.Add(ctx, revokeImage(t, img, sec1, sec3))
	if err != nil {
		t.Fatal(err)
	}
	a.WaitSize(t, rev.Index+1)
	d := digest.Digest(sha256.Sum256(img))
	bb, err := lca.Bundle(ctx, d, int64(rel.Index))
	if err != nil {
		t.Fatal(err)
	}
	var re *client.RevokedError
	if _, err := client.VerifyBundle(ctx, revocationTrust(t), bb, bytes.NewReader(img)); !errors.As(err, &re) {
		t.Fatalf("before: VerifyBundle = %v, want a *RevokedError", err)
	}

	// Another frontend starts and rebuilds the index.
	other, err := fwtest.OpenStorage(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	started, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(proceed) }) // never leave the Reindex hanging
	done := make(chan error, 1)
	go func() {
		first := true
		done <- other.Reindex(ctx, 99, func(uint64, []byte) ([][]byte, error) {
			if first {
				first = false
				close(started)
				<-proceed
			}
			return [][]byte{{0xff}}, nil
		}, nil)
	}()
	<-started
	// Fixed: while another frontend rebuilds the index, submissions and
	// bundles are refused (503: retry), so no checkpoint or bundle is made
	// from a partial index.
	_, addErr := lca.Add(ctx, fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("during the rebuild", 1000), nil), rel1))
	bb, bundleErr := lca.Bundle(ctx, d, int64(rel.Index))
	once.Do(func() { close(proceed) })
	if rerr := <-done; rerr != nil {
		t.Fatal(rerr)
	}
	var he *logclient.HTTPError
	if !errors.As(addErr, &he) || he.Status != http.StatusServiceUnavailable {
		t.Errorf("a submission during another frontend's rebuild of the index: %v, want 503", addErr)
	}
	if bundleErr == nil {
		if _, err := client.VerifyBundle(ctx, revocationTrust(t), bb, bytes.NewReader(img)); err == nil {
			t.Errorf("while another frontend rebuilt the index, the log served a bundle of the revoked release that a device verifies")
		}
	}
}

// TestReview14ReplayWedgesLog is TestReview14DuplicateBeyondCandidates
// (log/trillian) through the HTTP API: with more than
// log.MaxDedupCandidates releases of one image logged (a stolen release
// key can log them; so can a vendor that re-releases one image under many
// versions, channels or models), sending one of the later ones again (a
// build system's retry after a timeout, or anyone replaying public data)
// logs it a second time instead of answering with its index. On SQLite
// the log holds a copy; on Trillian, whose PREORDERED_LOG refuses a second
// leaf with the same identity hash and leaves the index a hole, no
// checkpoint is ever published again.
func TestReview14ReplayWedgesLog(t *testing.T) {
	ctx := context.Background()
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}})
	lc := newClient(t, l)
	img := fwtest.Image("one image, many releases", 1000)
	const n = 1030
	envs := make([][]byte, n)
	for i := range envs {
		envs[i] = fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) { r.Version = fmt.Sprintf("1.%d.0", i) }), rel1)
	}
	var wg sync.WaitGroup
	var last sync.Map
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				res, err := lc.Add(ctx, envs[i])
				if err != nil {
					t.Error(err)
					return
				}
				last.Store(i, res.Index)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	l.WaitSize(t, n)
	// The release logged last, again.
	var lastI int
	var lastIdx uint64
	last.Range(func(k, v any) bool {
		if v.(uint64) >= lastIdx {
			lastI, lastIdx = k.(int), v.(uint64)
		}
		return true
	})
	res, err := lc.Add(ctx, envs[lastI])
	if err != nil {
		t.Fatal(err)
	}
	if !res.Duplicate || res.Index != lastIdx {
		t.Errorf("the release logged at %d, sent again: %+v; want its index, a duplicate", lastIdx, res)
	}
	after, err := lc.Add(ctx, fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("after the replay", 1000), nil), rel1))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for l.Log.Published().Size <= after.Index {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint covers the release logged at %d after 15 s: publication is stuck at %d", after.Index, l.Log.Published().Size)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
