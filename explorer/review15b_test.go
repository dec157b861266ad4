package explorer_test

// Review 15b: proofs of concept against the fixes of review 15. Each test
// fails on the code under review and shows one problem.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
)

// rowOfEntry returns the table row of a list page that links to entry idx.
func rowOfEntry(t *testing.T, page string, idx uint64) string {
	t.Helper()
	i := strings.Index(page, fmt.Sprintf(`href="/entries/%d"`, idx))
	if i < 0 {
		t.Fatalf("the page does not list entry %d", idx)
	}
	row := page[i:]
	if j := strings.Index(row, "</tr>"); j >= 0 {
		row = row[:j]
	}
	return row
}

// TestReview15bVoidIgnoresThreshold: the log's policy wants two release
// signatures (release-1 and release-2). A release signed by both is
// logged; release-1 is then found stolen and revoked from an index at or
// before the release. Devices now refuse the release (one signature left,
// two required: revocation.RevokedError, and the auditor's revoked-key
// alert), but the lists mark it only "signed by a revoked key" (a
// warning), not void: Void is "no verified signer left", judged against a
// threshold of 1 (Ledger.Signers verifies with threshold 1), not against
// the release threshold of the policy.
func TestReview15bVoidIgnoresThreshold(t *testing.T) {
	pol := fwtest.Policy(t, `version: 1
keys:
  r1: {file: r1.pub}
  r2: {file: r2.pub}
  ci: {file: ci.pub}
builders:
  - {name: ci, id: `+fwtest.BuilderID+`, keys: [ci], slsaLevel: 2}
rules:
  - name: all
    models: ["*"]
    release: {keys: [r1, r2], threshold: 2}
    provenance: {builders: [ci]}
`, fwtest.PubFiles(t, map[string]*keys.PrivateKey{"r1.pub": fwtest.Release1, "r2.pub": fwtest.Release2, "ci.pub": fwtest.Builder}))
	s := startSite(t, fwtest.LogOptions{Policy: pol}, nil)
	img := fwtest.Image("two-of-two", 100)
	prov := fwtest.Provenance(t, img, fwtest.Builder)
	r := fwtest.NewRelease(img, func(r *provenance.Release) { r.Version = "7.0.0" })
	r.Provenance = []digest.Digest{digest.Sum(prov)}
	relIdx := s.add(t, prov, fwtest.SignRelease(t, r, fwtest.Release1, fwtest.Release2))[1]
	s.add(t, fwtest.SignRevocation(t, &provenance.Revocation{
		Revokes: provenance.RevokeKey, KeyID: fwtest.KeyID(t, fwtest.Release1), FromIndex: relIdx,
		Reason: "stolen", Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
	}, fwtest.Security1))
	row := rowOfEntry(t, s.page(t, "/models/acme-x1"), relIdx)
	if !strings.Contains(row, "signed by a revoked key") && !strings.Contains(row, "void") {
		t.Fatalf("the revocation is not shown at all: %s", row)
	}
	if !strings.Contains(row, "void") {
		t.Errorf("release %d has one valid signature of the two its policy requires (release-1 is revoked from its index): devices refuse it, yet the model page marks it only %q: %s",
			relIdx, "signed by a revoked key", row)
	}
}

// TestReview15bOneBuilderTwoKeysAgrees: the log's policy has one builder,
// ci, with two keys (a key rotation: builder-1 and builder-2). A
// compromised ci signs provenance of its image with one key and a second
// provenance of the same image with the other. The page of the first lists
// the second under "Rebuilds that agree", as an independent rebuild: the
// explorer counts distinct signer keys, while the policy (and so devices
// and the auditor, provenance.reproducible) counts distinct builders, and
// finds one.
func TestReview15bOneBuilderTwoKeysAgrees(t *testing.T) {
	pol := fwtest.Policy(t, `version: 1
keys:
  r1: {file: r1.pub}
  ci1: {file: ci1.pub}
  ci2: {file: ci2.pub}
builders:
  - {name: ci, id: `+fwtest.BuilderID+`, keys: [ci1, ci2], slsaLevel: 2}
rules:
  - name: all
    models: ["*"]
    release: {keys: [r1], threshold: 1}
    provenance: {builders: [ci]}
`, fwtest.PubFiles(t, map[string]*keys.PrivateKey{"r1.pub": fwtest.Release1, "ci1.pub": fwtest.Builder, "ci2.pub": fwtest.Rebuilder}))
	s := startSite(t, fwtest.LogOptions{Policy: pol}, nil)
	img := fwtest.Image("one-builder-two-keys", 100)
	first := fwtest.ProvenanceWith(t, img, fwtest.Builder, func(b *provenance.Build) { b.InvocationID = "run-1" })
	second := fwtest.ProvenanceWith(t, img, fwtest.Rebuilder, func(b *provenance.Build) { b.InvocationID = "run-2" })
	idx := s.add(t, first, second)
	page := s.page(t, fmt.Sprintf("/entries/%d", idx[0]))
	if agree := section(page, "Rebuilds that agree"); strings.Contains(agree, fmt.Sprintf(`href="/entries/%d"`, idx[1])) {
		t.Errorf("provenance %d, by the same builder ci (builder.id %s) under its other key, is listed as an independent rebuild that agrees with provenance %d; the policy counts 1 distinct builder",
			idx[1], fwtest.BuilderID, idx[0])
	}
}

// TestReview15bBlankRepoHidesDisagreement: review 15's commit variant,
// moved to the source repository. A rogue rebuilder key builds another
// image "of" the honest build's repository and commit, but ends the
// repository with U+2800 BRAILLE PATTERN BLANK (category So: not white
// space, so the lookup key's TrimSpace keeps it; not invisible to Reveal,
// which passes it). Its page shows the repository exactly as the honest
// one looks (a blank at the end), with the same commit; the honest
// provenance's page shows no "Rebuilds that disagree".
func TestReview15bBlankRepoHidesDisagreement(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, nil)
	honest := fwtest.Provenance(t, fwtest.Image("honest-build-b", 100), fwtest.Builder)
	rogue := fwtest.ProvenanceWith(t, fwtest.Image("rogue-build-b", 100), fwtest.Rebuilder, func(b *provenance.Build) {
		b.BuilderID = "https://rebuilder.example.org/r1"
		b.Source += "\u2800"
	})
	idx := s.add(t, honest, rogue)
	// Fixed: the rogue page writes the blank out and marks the source,
	// and the lookalike repository is the honest one for the comparison.
	rp := s.page(t, fmt.Sprintf("/entries/%d", idx[1]))
	if !strings.Contains(rp, "U&#43;2800") || !strings.Contains(rp, "not a plain URL") {
		t.Errorf("the rogue provenance's page shows its source as if it were the honest one")
	}
	hp := s.page(t, fmt.Sprintf("/entries/%d", idx[0]))
	if !strings.Contains(section(hp, "Rebuilds that disagree"), fmt.Sprintf(`href="/entries/%d"`, idx[1])) {
		t.Errorf("provenance %d builds another image from what its page shows as the same repository (its name ends in an invisible U+2800) and commit as provenance %d, whose page shows no rebuild that disagrees", idx[1], idx[0])
	}
}

// TestReview15bRevokedKeyWithoutKeyID: review 15's stolen-key release,
// with the thief's signature naming no key ID (or a stranger's): the log
// takes it, since it tries each trusted key on a signature whose keyid it
// does not know, and the signature verifies under release-1. Once
// release-1 is revoked from the release's index, RevokedBy looks for key
// revocations under the keyids the signatures name (none) and the
// signers that still verify (release-1 is left out, being revoked): it
// finds none. The lists mark the void release neither "void" nor "signed
// by a revoked key", and its page shows no "Revocations that apply".
func TestReview15bRevokedKeyWithoutKeyID(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, nil)
	id1 := fwtest.KeyID(t, fwtest.Release1)
	stolen := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("stolen-key-no-keyid", 100), func(r *provenance.Release) {
		r.Version = "6.6.7"
	}), fwtest.Release1)
	stolen = []byte(strings.Replace(string(stolen), id1, "", 1))
	relIdx := s.add(t, stolen)[0]
	if e := s.page(t, fmt.Sprintf("/entries/%d", relIdx)); !strings.Contains(e, "<code>"+id1+"</code>") {
		t.Fatalf("release-1 is not the verified signer of the release before the revocation")
	}
	s.add(t, fwtest.SignRevocation(t, &provenance.Revocation{
		Revokes: provenance.RevokeKey, KeyID: id1, FromIndex: relIdx,
		Reason: "stolen", Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
	}, fwtest.Security1))
	row := rowOfEntry(t, s.page(t, "/models/acme-x1"), relIdx)
	if !strings.Contains(row, "badge bad") {
		t.Errorf("the model page lists release %d, signed by release-1 (under no keyid) and void since release-1 is revoked from its index, with no mark: %s", relIdx, row)
	}
	if e := s.page(t, fmt.Sprintf("/entries/%d", relIdx)); !strings.Contains(e, "Revocations that apply") {
		t.Errorf("the entry page of release %d does not show the key revocation that voids it", relIdx)
	}
}
