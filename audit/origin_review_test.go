package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/tlogpolicy"
)

// TestReviewWitnessPolicyOriginNotPinned (review13, finding 8).
//
// With --witness-policy and no --log-key, a checkpoint is "the log's" if
// any log line of the policy signed it (tlog-policy files name several
// logs, e.g. production and staging, or a shared policy). Neither Step
// (check), Check nor VerifyEvidence compares the checkpoint's origin with
// the origin of the tree the auditor verified. Anyone can replay another
// listed log's genuine checkpoint at the audited log's URL (a mirror, a
// cache, an http path), or as a witness's or device's checkpoint: the
// auditor reports a critical fork (same size) or rollback (smaller)
// against the audited log, and verify-evidence says the evidence proves it
// with nothing left unchecked.
func TestReviewWitnessPolicyOriginNotPinned(t *testing.T) {
	ctx := context.Background()
	staging := fwtest.Key("example.com/staging-log")
	va, _ := fwtest.LogKey.Public().VerifierKey()
	vb, _ := staging.Public().VerifierKey()
	wp, err := tlogpolicy.Parse([]byte(fmt.Sprintf("log %s\nlog %s\nquorum none\n", va, vb)))
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeLog(t)
	for i := range 4 {
		f.add(t, fwtest.Provenance(t, fwtest.Image(fmt.Sprint(i), 100), fwtest.Builder))
	}
	f.publish(t, 4)
	a := plainAuditor(t, f.srv.URL, func(c *audit.Config) { c.Log, c.Witnesses = nil, wp })
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 || res.Size != 4 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	// The staging log's genuine, public checkpoints.
	for _, size := range []uint64{4, 2} {
		other := fwtest.SignCheckpoint(t, staging, size, bytes.Repeat([]byte{byte(size)}, 32))
		f.mu.Lock()
		f.cp = other
		f.mu.Unlock()
		res, err := a.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Another log's checkpoint at the audited log's URL is a bad
		// checkpoint (of another origin), never a fork or rollback.
		for _, al := range res.Alerts {
			left, verr := audit.VerifyEvidence(al, nil, wp)
			t.Logf("the staging log's checkpoint of size %d served at the audited log's URL: %s alert (%s); verify-evidence: err=%v, left unchecked %q", size, al.Type, al.Message, verr, left)
			if al.Type != audit.TypeBadCheckpoint || verr != nil || !strings.Contains(left, "another log") {
				t.Errorf("FALSE %s against %s from another log's public checkpoint (%s)", al.Type, fwtest.LogKey.Name, staging.Name)
			}
		}
	}
}
