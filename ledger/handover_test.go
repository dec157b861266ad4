package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/handover"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// TestHandover rotates a log's key: a new key means a new origin, so the
// old log is frozen with a final checkpoint that names its successor. A
// verifier that trusts the old key follows the handover to the new log.
func TestHandover(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old := fwtest.StartLog(t, fwtest.LogOptions{Dir: dir, ReleaseKeys: []*keys.PrivateKey{rel1}})
	submitN(t, old, 3)
	old.WaitSize(t, 3)

	next := fwtest.Key("example.com/testlog-2027")
	nextVKey, _ := next.Public().VerifierKey()
	sameOrigin := fwtest.Key("example.com/testlog-new-key")
	sameOrigin.Name = fwtest.LogKey.Name
	sameVKey, _ := sameOrigin.Public().VerifierKey()
	if err := old.Freeze(ctx, sameVKey); err == nil || !strings.Contains(err.Error(), "new origin") {
		t.Errorf("a successor with the same origin: %v, want a refusal naming the origin", err)
	}
	if err := old.Freeze(ctx, nextVKey); err != nil {
		t.Fatal(err)
	}
	if err := old.Freeze(ctx, nextVKey); err != nil {
		t.Errorf("freezing again with the same successor: %v", err)
	}
	old.WaitSize(t, 4)
	_, err := newClient(t, old).Add(ctx, fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("late", 10), nil), rel1))
	var he *logclient.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusGone || !strings.Contains(he.Message, nextVKey) {
		t.Errorf("a submission to the frozen log: %v, want 410 naming the successor", err)
	}
	info, err := newClient(t, old).Info(ctx)
	if err != nil || info.Successor != nextVKey {
		t.Errorf("/v1/log = %+v, %v; want the successor", info, err)
	}

	// A verifier that trusts the old key follows the final checkpoint to
	// the successor, and finds the handover entry in the tree too.
	final, err := newClient(t, old).Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp, successor, err := handover.Verify(logVerifier(t), final)
	if err != nil || cp.Size != 4 || successor.Name() != next.Name {
		t.Fatalf("handover.Verify = %+v, %v, %v", cp, successor, err)
	}
	last, err := newClient(t, old).Entry(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := handover.ParseLeaf(last.Data); !ok || s != nextVKey {
		t.Errorf("the last entry %q is not the handover to the successor", last.Data)
	}
	p, err := newClient(t, old).InclusionProof(ctx, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, 3, 4, rfc6962.DefaultHasher.HashLeaf(last.Data), p.Hashes, cp.Hash); err != nil {
		t.Errorf("the handover entry is not in the final tree: %v", err)
	}
	// The checkpoint of a log not frozen names no successor.
	newLog := fwtest.StartLog(t, fwtest.LogOptions{Key: next, ReleaseKeys: []*keys.PrivateKey{rel1}})
	submitN(t, newLog, 1)
	newLog.WaitSize(t, 1)
	ncp, err := newClient(t, newLog).Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tlogpolicy.VerifyCheckpoint(successor, ncp); err != nil {
		t.Errorf("the successor's checkpoint does not verify with the key the handover named: %v", err)
	}
	if _, _, err := handover.Verify(successor, ncp); !errors.Is(err, handover.ErrNotFrozen) {
		t.Errorf("handover.Verify of a live log = %v, want ErrNotFrozen", err)
	}
	// A checkpoint of the old log before the freeze names no successor.
	if _, _, err := handover.Verify(logVerifier(t), fwtest.SignCheckpoint(t, fwtest.LogKey, 3, cp.Hash)); !errors.Is(err, handover.ErrNotFrozen) {
		t.Errorf("an unfrozen checkpoint: %v", err)
	}

	// The freeze survives a restart; another successor is refused.
	old.Stop(t)
	old = fwtest.StartLog(t, fwtest.LogOptions{Dir: dir, ReleaseKeys: []*keys.PrivateKey{rel1}})
	if old.Successor() != nextVKey {
		t.Errorf("after a restart the log's successor is %q", old.Successor())
	}
	other, _ := fwtest.Key("example.com/other-log").Public().VerifierKey()
	if err := old.Freeze(ctx, other); err == nil {
		t.Error("a frozen log took another successor")
	}
	if _, err := newClient(t, old).Add(ctx, fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("late", 10), nil), rel1)); !errors.As(err, &he) || he.Status != http.StatusGone {
		t.Errorf("after a restart, a submission: %v, want 410", err)
	}
}

// TestFrozenLogTakesRevocations: a key stolen before the handover can
// still be revoked in the old log, whose bundles keep serving devices
// that trust it; nothing else is taken.
func TestFrozenLogTakesRevocations(t *testing.T) {
	ctx := context.Background()
	l, lc := startRevocableLog(t, t.TempDir())
	img := fwtest.Image("thief", 1000)
	if _, err := lc.Add(ctx, fwtest.SignRelease(t, fwtest.NewRelease(img, nil), rel1)); err != nil {
		t.Fatal(err)
	}
	next, _ := fwtest.Key("example.com/testlog-2027").Public().VerifierKey()
	if err := l.Freeze(ctx, next); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.Add(ctx, revokeKey(t, rel1, 0, sec1, sec2)); err != nil {
		t.Fatalf("a revocation to the frozen log: %v", err)
	}
	l.WaitSize(t, 3)
	b, err := lc.Bundle(ctx, digest.Digest(sha256.Sum256(img)), -1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.VerifyBundle(ctx, revocationTrust(t), b, bytes.NewReader(img))
	var re *client.RevokedError
	if !errors.As(err, &re) {
		t.Errorf("the thief's release in the frozen log, revoked after the freeze: %v, want a *RevokedError", err)
	}
	cp, _ := l.Log.Checkpoint()
	if _, s, err := handover.Verify(logVerifier(t), cp); err != nil || s == nil {
		t.Errorf("the checkpoint after the revocation no longer names the successor: %v", err)
	}
}

// TestReindexKeepsFreeze: rebuilding the lookup index (after an upgrade
// that changes it) keeps a frozen log frozen.
func TestReindexKeepsFreeze(t *testing.T) {
	fwtest.RequireSQLite(t, "edits the SQLite file to force a reindex")
	ctx := context.Background()
	dir := t.TempDir()
	opts := fwtest.LogOptions{Dir: dir, ReleaseKeys: []*keys.PrivateKey{rel1}}
	l := fwtest.StartLog(t, opts)
	submitN(t, l, 2)
	next, _ := fwtest.Key("example.com/testlog-2027").Public().VerifierKey()
	if err := l.Freeze(ctx, next); err != nil {
		t.Fatal(err)
	}
	l.WaitSize(t, 3)
	l.Stop(t)
	db := openDB(t, dir)
	if _, err := db.Exec(`DELETE FROM meta WHERE key = 'index_version'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	l = fwtest.StartLog(t, opts)
	if l.Successor() != next {
		t.Fatalf("after rebuilding the index, the successor is %q", l.Successor())
	}
	_, err := newClient(t, l).Add(ctx, fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("late", 10), nil), rel1))
	var he *logclient.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusGone {
		t.Errorf("a submission after rebuilding the index: %v, want 410", err)
	}
}
