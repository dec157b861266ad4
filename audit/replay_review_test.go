package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
)

// withJunkSignature returns signed with one more signature line, by a key
// nobody knows: the note still verifies, and its bytes are new.
func withJunkSignature(signed []byte, i int) []byte {
	sig := make([]byte, 4+64)
	h := sha256.Sum256([]byte(fmt.Sprint(i)))
	copy(sig, h[:])
	return append(bytes.Clone(signed), []byte(fmt.Sprintf("— junk%d.example %s\n", i, base64.StdEncoding.EncodeToString(sig)))...)
}

// TestReviewReplayVariantsRaiseAgain (review13, finding 13).
//
// Alert keys of checkpoint findings (rollback, fork, bad_checkpoint,
// tree_mismatch, stale, bad_tile, revocation_commitment) are digests of
// the exact signed bytes. A signed note stays valid with signature lines
// added by unknown keys (or reordered), so anyone replaying one old,
// genuine checkpoint (a mirror, a cache, an http path, a device report,
// --checkpoint) raises a new critical alert, and a new webhook POST, for
// each byte variant: here five rollback alerts for one stale checkpoint,
// and a second fork alert for one fork a device re-reports. DESIGN threat
// 12: replaying public data with other bytes must change nothing.
func TestReviewReplayVariantsRaiseAgain(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	s.release(t, "a", "1.0.0", 1, fwtest.Release1)
	old, _ := s.lc.Checkpoint(ctx)
	s.release(t, "b", "1.1.0", 2, fwtest.Release1)
	var mu sync.Mutex
	var serve []byte
	mirror := withCheckpoint(t, s.log.URL, func() []byte { mu.Lock(); defer mu.Unlock(); return serve })
	a := auditor(t, mirror.URL, t.TempDir())
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	for i := range 5 {
		mu.Lock()
		serve = withJunkSignature(old, i)
		mu.Unlock()
		if _, err := a.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// One fork, checked twice (a witness's view, then a device's report
	// of the same checkpoint with one more signature line).
	forked := fwtest.SignCheckpoint(t, fwtest.LogKey, 2, bytes.Repeat([]byte{9}, 32))
	a.Check(ctx, forked)
	a.Check(ctx, withJunkSignature(forked, 99))
	all, _ := a.Alerts(ctx)
	count := map[string]int{}
	for _, al := range all {
		count[al.Type]++
	}
	t.Logf("alerts: %v", count)
	if count[audit.TypeRollback] > 1 {
		t.Errorf("REPEATED: %d rollback alerts for one replayed checkpoint", count[audit.TypeRollback])
	}
	if count[audit.TypeFork] > 1 {
		t.Errorf("REPEATED: %d fork alerts for one forked checkpoint", count[audit.TypeFork])
	}
}

// TestReviewProbeFlood (review13, finding 14).
//
// A probe key (given to outside auditors) lets its holder append entries
// without limit: no rate or count limit per probe key (device reports
// have a token bucket per device; probes have none), any created time in
// the past is taken, and each probe is a new leaf every auditor must
// read and every witness cosign. One probe per poll is all the canary
// needs.
func TestReviewProbeFlood(t *testing.T) {
	ctx := context.Background()
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}, ProbeKeys: []*keys.PrivateKey{fwtest.Prober}})
	lc, _ := logclient.New(l.URL, nil)
	const n = 200
	start := time.Now()
	taken := 0
	for i := range n {
		var nonce [32]byte
		nonce[0], nonce[1] = byte(i), byte(i>>8)
		p := fwtest.SignProbe(t, &provenance.Probe{Origin: fwtest.LogKey.Name, Nonce: nonce, Created: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)}, fwtest.Prober)
		if _, err := lc.Add(ctx, p); err == nil {
			taken++
		}
	}
	l.WaitSize(t, uint64(taken))
	t.Logf("%d of %d probes (created in 2001) logged in %s", taken, n, time.Since(start).Round(time.Millisecond))
	if taken == n {
		t.Errorf("UNLIMITED: one probe key appended %d entries back to back", taken)
	}
}
