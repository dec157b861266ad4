package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/provenance"
)

// TestReviewCommitmentDropped (review13, finding 16).
//
// checkCommitment skips a checkpoint without a revocation commitment line
// ("not an fwledger log, or one from before revocations"), also when the
// same log's earlier checkpoints had one. A log that drops the line once
// a revocation is logged (a downgrade: devices without revocation keys
// then take its bundles without the revocation) raises no alert.
func TestReviewCommitmentDropped(t *testing.T) {
	ctx := context.Background()
	f := newFakeLog(t)
	f.add(t, fwtest.Provenance(t, fwtest.Image("x", 100), fwtest.Builder))
	f.publish(t, 1) // with "fwledger.dev/revocations 0 …"
	a := plainAuditor(t, f.srv.URL, func(c *audit.Config) { c.RevocationKeys = fwtest.Ring(t, fwtest.Security1) })
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	f.add(t, fwtest.SignRevocation(t, &provenance.Revocation{Revokes: provenance.RevokeKey, KeyID: fwtest.KeyID(t, fwtest.Release1), FromIndex: 0,
		Reason: "stolen", Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}, fwtest.Security1))
	f.tree.Extensions = nil // the log stops committing to its revocations
	f.publish(t, 2)
	res, err := a.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a checkpoint without the commitment line, after a revocation: alerts %v", types(res.Alerts))
	if len(res.Alerts) == 0 {
		t.Errorf("DOWNGRADE UNNOTICED: the log's checkpoints stopped committing to revocations right after one was logged")
	}
}
