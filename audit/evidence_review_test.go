package audit_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tlogpolicy"
)

// TestReviewForgedEvidenceAccepted (review13, finding 9).
//
// audit.VerifyEvidence (fwctl audit verify-evidence) accepts alerts built
// by anyone from public data of an honest log, several with nothing left
// unchecked ("ok: the evidence proves the … alert"), and rejects a true
// alert in the way docs/AUDIT.md tells users to run it.
func TestReviewForgedEvidenceAccepted(t *testing.T) {
	f := newFakeLog(t)
	for i := range 4 {
		f.add(t, fwtest.Provenance(t, fwtest.Image(fmt.Sprint(i), 100), fwtest.Builder))
	}
	cp2, cp4 := f.tree.Checkpoint(t, 2), f.tree.Checkpoint(t, 4) // two genuine checkpoints of one honest log
	idx := func(i uint64) *uint64 { return &i }
	stranger := fwtest.Key("nobody.example/probe")
	probe := fwtest.SignProbe(t, &provenance.Probe{Origin: fwtest.LogKey.Name, Created: time.Now()}, stranger)
	// Evidence that proves nothing is refused.
	for _, tc := range []struct {
		name string
		al   *audit.Alert
	}{
		{"fork of two sizes: two genuine consistent checkpoints, no proof", &audit.Alert{Type: audit.TypeFork, Evidence: audit.Evidence{Checkpoints: [][]byte{cp2, cp4}}}},
		{"revocation_commitment: an honest checkpoint whose commitment matches (no revocations)", &audit.Alert{Type: audit.TypeRevocationCommitment, Evidence: audit.Evidence{Checkpoints: [][]byte{cp4}}}},
		{"revocation_commitment: no evidence at all", &audit.Alert{Type: audit.TypeRevocationCommitment}},
		{"tree_mismatch: no evidence at all", &audit.Alert{Type: audit.TypeTreeMismatch}},
		{"bad_tile: no evidence at all", &audit.Alert{Type: audit.TypeBadTile}},
		{"stale: no evidence at all", &audit.Alert{Type: audit.TypeStale}},
	} {
		if left, err := audit.VerifyEvidence(tc.al, logVerifier(t), nil); err == nil {
			t.Errorf("ACCEPTED (not checked offline: %q): %s", left, tc.name)
		}
	}
	// What evidence cannot prove offline, verify-evidence says it did not
	// check.
	for _, tc := range []struct {
		name, left string
		al         *audit.Alert
	}{
		{"rollback: any two genuine checkpoints, smaller first", "served the smaller checkpoint after the larger", &audit.Alert{Type: audit.TypeRollback, Evidence: audit.Evidence{Checkpoints: [][]byte{cp2, cp4}}}},
		{"bad_checkpoint: arbitrary bytes", "presented these bytes", &audit.Alert{Type: audit.TypeBadCheckpoint, Evidence: audit.Evidence{Checkpoints: [][]byte{[]byte("hello")}}}},
		{"canary: a probe nobody's probe key signed, any older checkpoint", "signed by its probe key", &audit.Alert{Type: audit.TypeCanary, Index: idx(7), Evidence: audit.Evidence{Checkpoints: [][]byte{cp4}, Probe: probe}}},
		{"canary (refused): a probe nobody's probe key signed, nothing else", "signed by its probe key", &audit.Alert{Type: audit.TypeCanary, Evidence: audit.Evidence{Probe: probe}}},
	} {
		left, err := audit.VerifyEvidence(tc.al, logVerifier(t), nil)
		if err == nil && !strings.Contains(left, tc.left) {
			t.Errorf("ACCEPTED, saying it did not check %q, not %q: %s", left, tc.left, tc.name)
		}
	}

	// A true alert, rejected: the auditor runs with a witness policy (as
	// docs/AUDIT.md's second example), the log serves a checkpoint
	// without the quorum; verify-evidence run as the doc shows
	// (--log-key only) says the evidence does not prove it.
	wp, err := tlogpolicy.Parse(fwtest.WitnessPolicy(t, fwtest.LogKey, 1, []*keys.PrivateKey{fwtest.WitnessA}))
	if err != nil {
		t.Fatal(err)
	}
	f.publish(t, 4) // signed by the log, no cosignature
	a := plainAuditor(t, f.srv.URL, func(c *audit.Config) { c.Witnesses = wp })
	res, err := a.Step(context.Background())
	if err != nil || len(res.Alerts) != 1 || res.Alerts[0].Type != audit.TypeBadCheckpoint {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	if _, err := audit.VerifyEvidence(res.Alerts[0], logVerifier(t), nil); err != nil {
		t.Errorf("TRUE ALERT REJECTED with --log-key (the doc's command): %v", err)
	}
}
