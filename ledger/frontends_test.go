package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"testing"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/handover"
	"github.com/fwledger/fwledger/provenance"
)

// TestFrontendsShareRevocationsAndHandover runs two ledgers (two
// frontends) on one Trillian tree and database. A revocation logged
// through one applies at once to submissions through the other, and to
// the bundles it serves; a handover logged through one freezes the other.
func TestFrontendsShareRevocationsAndHandover(t *testing.T) {
	if fwtest.Backend() != "trillian" {
		t.Skip("frontends share a storage only on the Trillian backend (make test-trillian)")
	}
	ctx := context.Background()
	dir := t.TempDir()
	a, lca := startRevocableLog(t, dir)
	b, lcb := startRevocableLog(t, dir) // the same tree and database
	img := fwtest.Image("shared", 1000)
	if _, err := lcb.Add(ctx, fwtest.SignRelease(t, fwtest.NewRelease(img, nil), rel1)); err != nil {
		t.Fatal(err)
	}
	// Revoke the image and the key through a.
	if _, err := lca.Add(ctx, revokeImage(t, img, sec1, sec3)); err != nil {
		t.Fatal(err)
	}
	if _, err := lca.Add(ctx, revokeKey(t, rel2, 0, sec1, sec2)); err != nil {
		t.Fatal(err)
	}
	// b refuses what they revoke, at once.
	again := fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) { r.Version = "1.4.1" }), rel1)
	if code, err := addStatus(t, lcb, again); code != http.StatusForbidden {
		t.Fatalf("through the other frontend, a new release of an image revoked through the first: status %d (%v), want 403", code, err)
	}
	byRevoked := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("other", 1000), nil), rel2)
	if code, err := addStatus(t, lcb, byRevoked); code != http.StatusForbidden {
		t.Fatalf("through the other frontend, a release by a key revoked through the first: status %d (%v), want 403", code, err)
	}
	// b's bundles carry the revocations, and match its checkpoint's
	// commitment.
	b.WaitSize(t, 3)
	a.WaitSize(t, 3)
	bb, err := lcb.Bundle(ctx, digest.Digest(sha256.Sum256(img)), -1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.VerifyBundle(ctx, revocationTrust(t), bb, bytes.NewReader(img))
	var re *client.RevokedError
	if !errors.As(err, &re) {
		t.Fatalf("VerifyBundle of the revoked release, from the other frontend: %v, want a *RevokedError", err)
	}
	// A handover through a freezes b.
	succ := fwtest.Key("example.com/successor")
	vkey, _ := succ.Public().VerifierKey()
	if err := handover.Check(a.Log.Origin(), vkey); err != nil {
		t.Fatal(err)
	}
	if err := a.Ledger.Freeze(ctx, vkey); err != nil {
		t.Fatal(err)
	}
	later := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("after", 1000), nil), rel1)
	if code, err := addStatus(t, lcb, later); code != http.StatusGone {
		t.Fatalf("through the other frontend, a release after the handover: status %d (%v), want 410", code, err)
	}
	if s := b.Ledger.Successor(); s != vkey {
		t.Errorf("the other frontend's successor = %q, want %q", s, vkey)
	}
}
