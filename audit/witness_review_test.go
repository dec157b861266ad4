package audit_test

import (
	"context"
	"testing"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/tlogpolicy"
)

// TestReviewWitnessAheadFalseBadCheckpoint (review13, finding 3).
//
// A witness's checkpoint (GET <witness>/checkpoint/<origin>) carries the
// log's signature and that witness's own cosignature only. Check is
// documented to need no quorum for it ("a witness's or a device's need
// not carry the quorum"), and verifyLogSigned does not ask for one; but
// when the witness's checkpoint is larger than the auditor's verified
// tree, Check hands it to check(), which verifies it under the witness
// quorum and, failing, raises a critical bad_checkpoint alert.
//
// A witness is ahead of the auditor whenever the log grew since the
// auditor's last Step (every poll of a busy log; and a witness always
// cosigns before the log can publish). With an honest log and honest
// witnesses, each such poll is a new critical bad_checkpoint alert,
// whose evidence verify-evidence accepts as proven.
func TestReviewWitnessAheadFalseBadCheckpoint(t *testing.T) {
	ctx := context.Background()
	wks := []*keys.PrivateKey{fwtest.WitnessA, fwtest.WitnessB}
	urls := fwtest.StartWitnesses(t, wks, fwtest.LogKey)
	policy := fwtest.WitnessPolicy(t, fwtest.LogKey, 2, wks, urls...)
	l := fwtest.StartLog(t, fwtest.LogOptions{
		ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder},
		Witnesser: fwtest.Collector(t, policy),
	})
	lc, _ := logclient.New(l.URL, nil)
	s := &scene{log: l, lc: lc}
	s.release(t, "a", "1.0.0", 1, fwtest.Release1)
	wp, err := tlogpolicy.Parse(policy)
	if err != nil {
		t.Fatal(err)
	}
	a := plainAuditor(t, l.URL, func(c *audit.Config) { c.Log, c.Witnesses = nil, wp })
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	if res, err := a.Witnessed(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Witnessed at the same size = %v, %v", types(res.Alerts), err)
	}
	// The honest log takes one more release (its witnesses cosign it)
	// between the auditor's Step and its Witnessed.
	s.release(t, "b", "1.1.0", 2, fwtest.Release1)
	res, err := a.Witnessed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Witnessed after the honest log grew: %v", types(res.Alerts))
	for _, al := range res.Alerts {
		t.Logf("  %s: %s", al.Type, al.Message)
		if left, err := audit.VerifyEvidence(al, nil, wp); err == nil {
			t.Logf("  verify-evidence: ok, the evidence proves it (left unchecked: %q)", left)
		}
	}
	if len(res.Alerts) > 0 {
		t.Errorf("FALSE ALERT: an honest witness's checkpoint, one tree ahead of the auditor, raised %v", types(res.Alerts))
	}
}
