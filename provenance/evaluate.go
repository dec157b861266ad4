package provenance

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/keys"
)

// EvalOptions adjust an evaluation.
type EvalOptions struct {
	// Models are the hardware models to judge the release for (default:
	// every model the release names).
	Models []string
	// AtSubmission skips the reproducibility check: when a log takes a
	// release, independent rebuilds usually do not exist yet.
	AtSubmission bool
	// Now is the time layouts must not have expired at (default: now).
	Now time.Time
	// Keyless verifies keyless (Sigstore bundle) provenance that carries
	// no verified identity yet; without it, such provenance fails the
	// builder check.
	Keyless KeylessVerifier
	// Revoked, when set, reports whether the signatures of a key do not
	// count on the entry with the given digest (the release, or a
	// provenance): a key revoked at the entry's log index. Revoked keys
	// are left out of the rule's release keys and builders' keys.
	Revoked func(keyID string, entry digest.Digest) bool
	// IndexOf returns the log index of the entry with the given digest
	// (the release, or a provenance), for the keys' validity windows; a
	// verifier knows it from the inclusion proofs, a log judging a
	// submission gives a lower bound. Without it, index bounds are not
	// checked.
	IndexOf func(d digest.Digest) (uint64, bool)
}

// outside returns the keys of ring whose validity window leaves out entry
// e, with why, or nil if none does.
func (p *Policy) outside(ring *keys.Ring, e *Entry, opts EvalOptions) map[string]string {
	if len(p.validity) == 0 {
		return nil
	}
	var idx *uint64
	if opts.IndexOf != nil {
		if i, ok := opts.IndexOf(e.Digest); ok {
			idx = &i
		}
	}
	var out map[string]string
	for _, id := range ring.IDs() {
		v, ok := p.validity[id]
		if !ok {
			continue
		}
		why := v.Check(idx, statementTime(e))
		if why == "" && opts.AtSubmission && v.Until != nil && !opts.Now.Before(*v.Until) {
			why = fmt.Sprintf("valid until %s, which the log's clock has passed", v.Until.UTC().Format(time.RFC3339))
		}
		if why != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[id] = why
		}
	}
	return out
}

// leftOut describes the keys outside their validity windows, for a check's
// detail.
func leftOut(out map[string]string, name func(string) string) string {
	if len(out) == 0 {
		return ""
	}
	var parts []string
	for id, why := range out {
		parts = append(parts, name(id)+" ("+why+")")
	}
	sort.Strings(parts)
	return "; outside their validity window, not counted: " + strings.Join(parts, ", ")
}

// Evidence is what a release is judged with: the provenance about its
// image, and the in-toto layout and links it names.
type Evidence struct {
	Provenance []ProvenanceEvidence
	Layout     *Entry
	Links      []*Entry
}

// A ProvenanceEvidence is a provenance statement presented to a policy.
type ProvenanceEvidence struct {
	Entry *Entry
	// Endorsed is true for provenance the release endorses; false for
	// rebuild attestations.
	Endorsed bool
	// Identity is the verified certificate identity of a keyless entry;
	// nil for a key-signed one, or a keyless one that did not verify.
	Identity *CertificateIdentity
	// KeylessErr is why a keyless entry has no Identity.
	KeylessErr error
}

// An Attestation is provenance that a builder of the policy verified as
// attesting the released image.
type Attestation struct {
	Entry    *Entry
	Endorsed bool
	// Builder is the policy's name for the builder.
	Builder string
	// Signers are the DSSE key IDs of the builder's keys that signed, or
	// "keyless:<issuer> <identity>" for a keyless builder.
	Signers []string
}

// A Result is the outcome of [Policy.Evaluate].
type Result struct {
	// Reports holds a report for each model judged, in order.
	Reports []*Report
	// Evidence is what the release was judged with, gathered from the
	// entries given.
	Evidence Evidence
	// Signers are the DSSE key IDs of the release keys that signed, under
	// the rule for the first model.
	Signers []string
	// Attested is the provenance that a builder of the rule for the first
	// model verified: the endorsed build provenance, and the rebuilds.
	Attested []Attestation
}

// Err returns the *PolicyViolation of the first failed report, or nil.
func (r *Result) Err() error {
	for _, rep := range r.Reports {
		if err := rep.Err(); err != nil {
			return err
		}
	}
	return nil
}

// Evaluate judges the release whose parsed entry is rel. It is the one
// place where a release and its provenance are judged: the log calls it
// when it takes a release, the verifier when it checks a bundle, and fwctl
// policy check to explain a verdict.
//
// entries are parsed entries in any order: the build provenance the
// release endorses, rebuilds of its image, the in-toto layout and links it
// names; others are passed over. From them Evaluate gathers the evidence
// (verifying keyless provenance with opts.Keyless) and judges it against
// the rule for each model, under the policy's signature rules. Nothing is
// trusted for being in entries.
func (p *Policy) Evaluate(ctx context.Context, rel *Entry, entries []*Entry, opts EvalOptions) *Result {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	res := &Result{}
	if rel.Release == nil {
		res.Reports = []*Report{{Rule: "(none)", Checks: []Check{{Name: "release", Detail: fmt.Sprintf("the entry is %s, not a release", rel.Kind)}}}}
		return res
	}
	res.Evidence = gather(rel.Release, entries, opts.Keyless)
	models := opts.Models
	if len(models) == 0 {
		models = rel.Release.Models
	}
	for i, m := range models {
		rep, signers, attested := p.evaluate(ctx, m, rel, res.Evidence, opts)
		res.Reports = append(res.Reports, rep)
		if i == 0 {
			res.Signers, res.Attested = signers, attested
		}
	}
	return res
}

// gather picks from entries the evidence about release r.
func gather(r *Release, entries []*Entry, kv KeylessVerifier) Evidence {
	var ev Evidence
	seen := map[digest.Digest]bool{}
	for _, e := range entries {
		if e == nil || seen[e.Digest] {
			continue
		}
		seen[e.Digest] = true
		endorsed := slices.Contains(r.Provenance, e.Digest)
		switch {
		case e.Kind == KindProvenance || endorsed:
			pe := ProvenanceEvidence{Entry: e, Endorsed: endorsed, Identity: e.Identity}
			if e.Bundle != nil && pe.Identity == nil {
				if kv == nil {
					pe.KeylessErr = fmt.Errorf("it is keyless (a Sigstore bundle), and no keyless verifier is configured")
				} else if pe.Identity, pe.KeylessErr = kv.VerifyKeyless(e); pe.KeylessErr != nil {
					pe.Identity = nil
				}
			}
			ev.Provenance = append(ev.Provenance, pe)
		case e.Kind == KindLayout && r.Layout != nil && e.Digest == *r.Layout:
			ev.Layout = e
		case e.Kind == KindLink && slices.Contains(r.Links, e.Digest):
			ev.Links = append(ev.Links, e)
		}
	}
	return ev
}

// evaluate judges rel against the rule for model, and returns the report,
// the release's trusted signers and the verified provenance.
func (p *Policy) evaluate(ctx context.Context, model string, rel *Entry, ev Evidence, opts EvalOptions) (*Report, []string, []Attestation) {
	rep := &Report{Model: model}
	add := func(c Check) bool {
		rep.Checks = append(rep.Checks, c)
		return c.OK
	}
	r := p.RuleFor(model)
	if r == nil {
		rep.Rule = "(none)"
		add(Check{Name: "rule", Detail: "no rule covers model " + model})
		return rep, nil, nil
	}
	rep.Rule = r.Name
	if !slices.Contains(rel.Release.Models, model) {
		add(Check{Name: "model", Detail: fmt.Sprintf("the release is for %s, not %s", strings.Join(rel.Release.Models, ", "), model)})
		return rep, nil, nil
	}
	out := p.outside(r.ReleaseKeys, rel, opts)
	ring := r.ReleaseKeys.Without(func(id string) bool {
		_, o := out[id]
		return o || opts.Revoked != nil && opts.Revoked(id, rel.Digest)
	})
	signers, err := VerifySignatures(ctx, rel.Envelope, ring, r.ReleaseThreshold)
	if err != nil {
		add(Check{Name: "release signatures", Detail: err.Error() + leftOut(out, r.keyName), Err: err})
	} else {
		var names []string
		for _, id := range signers {
			names = append(names, r.keyName(id))
		}
		add(Check{Name: "release signatures", OK: true, Detail: fmt.Sprintf("%d of %d required: %s", len(signers), max(r.ReleaseThreshold, 1), strings.Join(names, ", ")) + leftOut(out, r.keyName)})
	}

	byDigest := map[digest.Digest]ProvenanceEvidence{}
	for _, pe := range ev.Provenance {
		byDigest[pe.Entry.Digest] = pe
	}
	if len(rel.Release.Provenance) == 0 {
		if r.ProvenanceOptional {
			add(Check{Name: "build provenance", OK: true, Detail: "the release endorses none, and the rule requires none"})
		} else {
			add(Check{Name: "build provenance", Detail: "the release endorses no provenance"})
		}
	}
	var attested []Attestation
	attesting := map[string]bool{} // builder names attesting the image
	for _, d := range rel.Release.Provenance {
		pe, ok := byDigest[d]
		if !ok {
			add(Check{Name: "build provenance", Detail: fmt.Sprintf("%s is endorsed but not available", d), Provenance: d})
			continue
		}
		name := "provenance " + shortDigest(d)
		if a, ok := p.checkProvenance(ctx, r, rel.Release, pe, opts, func(c Check) bool {
			c.Name, c.Provenance = name+" "+c.Name, d
			return add(c)
		}); ok {
			attesting[a.Builder] = true
			attested = append(attested, a)
		}
	}
	// Rebuilds count towards reproducibility if a builder of the rule
	// signed them and they attest the image; they are not otherwise judged
	// (a rebuilder may build from a mirror, with a build type of its own).
	attestsImage := func(c Check) bool { return c.OK || c.Name != "subject" }
	for _, pe := range ev.Provenance {
		if pe.Endorsed {
			continue
		}
		if a, ok := p.checkProvenance(ctx, r, rel.Release, pe, opts, attestsImage); ok {
			attesting[a.Builder] = true
			attested = append(attested, a)
		}
	}
	if r.LayoutKeys != nil {
		err := checkLayout(r, rel.Release, ev, opts.Now)
		add(Check{Name: "layout", OK: err == nil, Detail: layoutDetail(r, rel.Release, err), Err: err})
	}
	if r.Reproducible > 0 && !opts.AtSubmission {
		var names []string
		for b := range attesting {
			names = append(names, b)
		}
		sort.Strings(names)
		add(Check{Name: "reproducible", OK: len(names) >= r.Reproducible, Detail: fmt.Sprintf("%d distinct builder(s) attest the image (%s), %d required", len(names), strings.Join(names, ", "), r.Reproducible)})
	}
	return rep, signers, attested
}

// keyName is the policy's name for a release key, or its key ID.
func (r *Rule) keyName(id string) string {
	if n, ok := r.ReleaseKeyNames[id]; ok {
		return n
	}
	return id
}

// KeyTrust is trust given as keys rather than as a policy file.
type KeyTrust struct {
	// ReleaseKeys are the vendor's release keys; ReleaseThreshold of them
	// (default 1) must sign a release.
	ReleaseKeys      *keys.Ring
	ReleaseThreshold int
	// BuilderKeys sign build provenance, whatever its builder ID.
	BuilderKeys *keys.Ring
	// RequireProvenance refuses a release that endorses no provenance.
	RequireProvenance bool
}

// anyBuilderID matches every builder ID: trust by keys names no builder.
// Compiled once, as KeyPolicy runs for each bundle a verifier checks.
var anyBuilderID = regexp.MustCompile("")

// KeyPolicyRule is the name of the one rule of a [KeyPolicy].
const KeyPolicyRule = "trusted keys"

// KeyPolicy returns the policy that trust by keys amounts to: one rule, for
// every model, that needs the release signed by ReleaseThreshold of
// ReleaseKeys and every provenance it endorses signed by one of
// BuilderKeys and about the image (and, with RequireProvenance, at least
// one). Trust by keys and trust by a policy file are so judged by one code
// path, [Policy.Evaluate].
func KeyPolicy(t KeyTrust) *Policy {
	release, builder := t.ReleaseKeys, t.BuilderKeys
	if release == nil {
		release, _ = keys.NewRing()
	}
	if builder == nil {
		builder, _ = keys.NewRing()
	}
	b := &Builder{Name: "builder keys", IDRegex: anyBuilderID, Keys: builder}
	return &Policy{
		builders: map[string]*Builder{b.Name: b},
		rules: []*Rule{{
			Name:               KeyPolicyRule,
			Models:             []string{"*"},
			ReleaseKeys:        release,
			ReleaseThreshold:   max(t.ReleaseThreshold, 1),
			Builders:           []string{b.Name},
			ProvenanceOptional: !t.RequireProvenance,
		}},
	}
}
