package provenance_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
)

// files serves policy-relative files from memory.
func files(t *testing.T) func(string) ([]byte, error) {
	m := map[string][]byte{}
	for name, k := range map[string]*keys.PrivateKey{"release-1.pub": fwtest.Release1, "release-2.pub": fwtest.Release2, "release-3.pub": fwtest.Release3, "ci.pub": fwtest.Builder, "rebuild.pub": fwtest.Rebuilder, "other.pub": fwtest.OtherBuilder, "layout.pub": fwtest.LayoutKey} {
		pub, err := k.Public().Marshal()
		if err != nil {
			t.Fatal(err)
		}
		m["keys/"+name] = pub
	}
	return func(name string) ([]byte, error) {
		if d, ok := m[name]; ok {
			return d, nil
		}
		return nil, fmt.Errorf("open %s: %w", name, os.ErrNotExist)
	}
}

const testPolicy = `
version: 1
keys:
  release-1: {file: keys/release-1.pub}
  release-2: {file: keys/release-2.pub}
  release-3: {file: keys/release-3.pub}
  ci: {file: keys/ci.pub}
  rebuilder: {file: keys/rebuild.pub}
  other: {file: keys/other.pub}
builders:
  - name: vendor-ci
    id: https://ci.example.com/runner/v1
    keys: [ci]
    slsaLevel: 2
  - name: rebuilder
    idRegex: https://rebuild\.example\.org/.*
    keys: [rebuilder]
    slsaLevel: 3
  - name: low
    id: https://low.example.com/
    keys: [other]
    slsaLevel: 1
riskClasses:
  high: [acme-x1]
rules:
  - name: high risk
    riskClass: high
    release: {keys: [release-1, release-2, release-3], threshold: 2}
    provenance:
      builders: [vendor-ci, rebuilder, low]
      minSLSALevel: 2
      buildTypes: [https://fwledger.dev/build/make@v1]
      sources:
        - repo: git+https://git.example.com/acme/fw
          refs: ["refs/tags/v*"]
      externalParameters: [source, ref, target]
      reproducible: 2
  - name: default
    models: ["*"]
    release: {keys: [release-1]}
    provenance:
      builders: [vendor-ci]
`

func mustPolicy(t *testing.T, text string) *provenance.Policy {
	t.Helper()
	p, err := provenance.ParsePolicy([]byte(text), files(t))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var polImage = fwtest.Image("policy image", 1234)

// provEntry returns parsed provenance for polImage by signer, changed by
// edit.
func provEntry(t *testing.T, signer *keys.PrivateKey, builderID string, edit func(*provenance.Build)) *provenance.Entry {
	b := &provenance.Build{
		BuilderID: builderID, BuildType: provenance.BuildTypeMake,
		Source: "git+https://git.example.com/acme/fw", Ref: "refs/tags/v1.4.0", Commit: strings.Repeat("cd", 20), Target: "acme-x1",
		StartedOn: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), FinishedOn: time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC),
		Subjects: []provenance.Artifact{{Name: "fw.bin", SHA256: sha256.Sum256(polImage)}},
	}
	if edit != nil {
		edit(b)
	}
	stmt, err := b.Statement()
	if err != nil {
		t.Fatal(err)
	}
	e, err := provenance.ParseEntry(fwtest.SignPayload(t, stmt, signer))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// editStatement rewrites a provenance entry's statement (re-signing it).
func resign(t *testing.T, e *provenance.Entry, signer *keys.PrivateKey, old, new string) *provenance.Entry {
	body := strings.Replace(string(e.Envelope.Body), old, new, 1)
	if body == string(e.Envelope.Body) {
		t.Fatalf("%q not in the statement", old)
	}
	out, err := provenance.ParseEntry(fwtest.SignPayload(t, []byte(body), signer))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func releaseEntry(t *testing.T, model string, prov []*provenance.Entry, signers ...*keys.PrivateKey) *provenance.Entry {
	r := fwtest.NewRelease(polImage, func(r *provenance.Release) {
		r.Models = []string{model}
		for _, p := range prov {
			r.Provenance = append(r.Provenance, p.Digest)
		}
	})
	e, err := provenance.ParseEntry(fwtest.SignRelease(t, r, signers...))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// evidence returns the entries a release is judged with: the build
// provenance (which the release endorses) and rebuilds.
func evidence(build []*provenance.Entry, rebuilds ...*provenance.Entry) []*provenance.Entry {
	return append(append([]*provenance.Entry{}, build...), rebuilds...)
}

// evaluate judges rel for one model and returns the report.
func evaluate(t testing.TB, p *provenance.Policy, model string, rel *provenance.Entry, entries []*provenance.Entry, opts provenance.EvalOptions) *provenance.Report {
	opts.Models = []string{model}
	res := p.Evaluate(context.Background(), rel, entries, opts)
	if len(res.Reports) != 1 {
		t.Fatalf("Evaluate returned %d reports, want 1", len(res.Reports))
	}
	return res.Reports[0]
}

func TestPolicyEvaluate(t *testing.T) {
	p := mustPolicy(t, testPolicy)
	good := provEntry(t, fwtest.Builder, "https://ci.example.com/runner/v1", nil)
	rebuild := provEntry(t, fwtest.Rebuilder, "https://rebuild.example.org/worker-7", nil)
	rebuildSame := provEntry(t, fwtest.Builder, "https://ci.example.com/runner/v1", func(b *provenance.Build) { b.InvocationID = "second run" })
	idWithWrongKey := provEntry(t, fwtest.OtherBuilder, "https://ci.example.com/runner/v1", nil)
	unknownID := provEntry(t, fwtest.Builder, "https://unknown.example.com/", nil)
	lowLevel := provEntry(t, fwtest.OtherBuilder, "https://low.example.com/", nil)
	wrongRepo := provEntry(t, fwtest.Builder, "https://ci.example.com/runner/v1", func(b *provenance.Build) { b.Source = "git+https://git.evil.example/fork" })
	wrongRef := provEntry(t, fwtest.Builder, "https://ci.example.com/runner/v1", func(b *provenance.Build) { b.Ref = "refs/heads/main" })
	wrongType := provEntry(t, fwtest.Builder, "https://ci.example.com/runner/v1", func(b *provenance.Build) { b.BuildType = "https://example.com/other@v1" })
	extraParam := resign(t, good, fwtest.Builder, `"externalParameters":{`, `"externalParameters":{"debug":true,`)
	otherImage := provEntry(t, fwtest.Builder, "https://ci.example.com/runner/v1", func(b *provenance.Build) {
		b.Subjects = []provenance.Artifact{{Name: "x", SHA256: sha256.Sum256([]byte("x"))}}
	})
	rebuildOfAnother := provEntry(t, fwtest.Rebuilder, "https://rebuild.example.org/worker-7", func(b *provenance.Build) {
		b.Subjects = []provenance.Artifact{{Name: "x", SHA256: sha256.Sum256([]byte("x"))}}
	})

	for _, tc := range []struct {
		desc     string
		model    string
		release  *provenance.Entry
		prov     []*provenance.Entry
		failing  string // name of the check that must fail ("" for a pass)
		contains string
	}{
		{"passes with a rebuild", "acme-x1", releaseEntry(t, "acme-x1", []*provenance.Entry{good}, fwtest.Release1, fwtest.Release2), evidence([]*provenance.Entry{good}, rebuild), "", ""},
		{"default rule, one signature", "acme-y2", releaseEntry(t, "acme-y2", []*provenance.Entry{good}, fwtest.Release1), evidence([]*provenance.Entry{good}), "", ""},
		{"release threshold not met", "acme-x1", releaseEntry(t, "acme-x1", []*provenance.Entry{good}, fwtest.Release1), evidence([]*provenance.Entry{good}, rebuild), "release signatures", "want at least 2"},
		{"same release key twice counts once", "acme-x1", releaseEntry(t, "acme-x1", []*provenance.Entry{good}, fwtest.Release1, fwtest.Release1), evidence([]*provenance.Entry{good}, rebuild), "release signatures", "want at least 2"},
		{"release signed by a key outside the rule", "acme-y2", releaseEntry(t, "acme-y2", []*provenance.Entry{good}, fwtest.Release2), evidence([]*provenance.Entry{good}), "release signatures", "unknown key"},
		{"no provenance endorsed", "acme-y2", releaseEntry(t, "acme-y2", nil, fwtest.Release1), nil, "build provenance", "endorses no provenance"},
		{"endorsed provenance unavailable", "acme-y2", releaseEntry(t, "acme-y2", []*provenance.Entry{good}, fwtest.Release1), nil, "build provenance", "not available"},
		{"builder id signed by another builder's key", "acme-y2", releaseEntry(t, "acme-y2", []*provenance.Entry{idWithWrongKey}, fwtest.Release1), evidence([]*provenance.Entry{idWithWrongKey}), "builder", "signature does not"},
		{"unknown builder id", "acme-y2", releaseEntry(t, "acme-y2", []*provenance.Entry{unknownID}, fwtest.Release1), evidence([]*provenance.Entry{unknownID}), "builder", "is not one of the rule's builders"},
		{"builder below the SLSA level", "acme-x1", releaseEntry(t, "acme-x1", []*provenance.Entry{lowLevel}, fwtest.Release1, fwtest.Release2), evidence([]*provenance.Entry{lowLevel}, rebuild), "SLSA level", "level 1, 2 required"},
		{"source repository not allowed", "acme-x1", releaseEntry(t, "acme-x1", []*provenance.Entry{wrongRepo}, fwtest.Release1, fwtest.Release2), evidence([]*provenance.Entry{wrongRepo}, rebuild), "source", "git.evil.example"},
		{"source ref not allowed", "acme-x1", releaseEntry(t, "acme-x1", []*provenance.Entry{wrongRef}, fwtest.Release1, fwtest.Release2), evidence([]*provenance.Entry{wrongRef}, rebuild), "source", "refs/heads/main"},
		{"build type not allowed", "acme-x1", releaseEntry(t, "acme-x1", []*provenance.Entry{wrongType}, fwtest.Release1, fwtest.Release2), evidence([]*provenance.Entry{wrongType}, rebuild), "build type", "example.com/other"},
		{"unknown external parameter", "acme-x1", releaseEntry(t, "acme-x1", []*provenance.Entry{extraParam}, fwtest.Release1, fwtest.Release2), evidence([]*provenance.Entry{extraParam}, rebuild), "external parameters", "unknown key(s) debug"},
		{"provenance about another image", "acme-y2", releaseEntry(t, "acme-y2", []*provenance.Entry{otherImage}, fwtest.Release1), evidence([]*provenance.Entry{otherImage}), "subject", ""},
		{"reproducibility: one builder only", "acme-x1", releaseEntry(t, "acme-x1", []*provenance.Entry{good}, fwtest.Release1, fwtest.Release2), evidence([]*provenance.Entry{good}), "reproducible", "1 distinct builder(s)"},
		{"reproducibility: two attestations by one builder", "acme-x1", releaseEntry(t, "acme-x1", []*provenance.Entry{good}, fwtest.Release1, fwtest.Release2), evidence([]*provenance.Entry{good}, rebuildSame), "reproducible", "1 distinct builder(s)"},
		{"reproducibility: a trusted rebuilder's rebuild of another image does not count", "acme-x1", releaseEntry(t, "acme-x1", []*provenance.Entry{good}, fwtest.Release1, fwtest.Release2), evidence([]*provenance.Entry{good}, rebuildOfAnother), "reproducible", "1 distinct builder(s)"},
		{"reproducibility: an unknown rebuilder does not count", "acme-x1", releaseEntry(t, "acme-x1", []*provenance.Entry{good}, fwtest.Release1, fwtest.Release2), evidence([]*provenance.Entry{good}, unknownID), "reproducible", "1 distinct builder(s)"},
		{"model not in the release", "acme-z9", releaseEntry(t, "acme-x1", []*provenance.Entry{good}, fwtest.Release1), evidence([]*provenance.Entry{good}), "model", "not acme-z9"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			rep := evaluate(t, p, tc.model, tc.release, tc.prov, provenance.EvalOptions{})
			if tc.failing == "" {
				if !rep.OK() {
					t.Fatalf("report fails:\n%s", rep)
				}
				return
			}
			if rep.OK() {
				t.Fatalf("report passes, want %q to fail:\n%s", tc.failing, rep)
			}
			var found bool
			for _, c := range rep.Checks {
				if !c.OK && (c.Name == tc.failing || strings.HasSuffix(c.Name, " "+tc.failing)) && strings.Contains(c.Detail, tc.contains) {
					found = true
				}
			}
			if !found {
				t.Errorf("want check %q failing with %q:\n%s", tc.failing, tc.contains, rep)
			}
			var pv *provenance.PolicyViolation
			if !errors.As(rep.Err(), &pv) {
				t.Errorf("Err() = %v, want a PolicyViolation", rep.Err())
			}
		})
	}
}

func TestParsePolicyRejects(t *testing.T) {
	base := func(rules string) string {
		return "version: 1\nkeys:\n  r: {file: keys/release-1.pub}\n  c: {file: keys/ci.pub}\nbuilders:\n  - {name: b, id: x, keys: [c]}\nrules:\n" + rules
	}
	for _, tc := range []struct {
		desc, text, msg string
	}{
		{"empty", "", "empty"},
		{"wrong version", "version: 2\n", "version is 2"},
		{"unknown field", "version: 1\ncolour: red\n", "field colour not found"},
		{"two documents", base("  - {models: [a], release: {keys: [r]}, provenance: {builders: [b]}}\n") + "---\nversion: 1\n", "more than one YAML document"},
		{"no rules", "version: 1\n", "no rules"},
		{"missing key file", "version: 1\nkeys:\n  r: {file: keys/nope.pub}\n", "does not exist"},
		{"key in two forms", "version: 1\nkeys:\n  r: {file: keys/release-1.pub, vkey: x}\n", "exactly one of"},
		{"undefined key", base("  - {models: [a], release: {keys: [nope]}, provenance: {builders: [b]}}\n"), `key "nope"`},
		{"undefined builder", base("  - {models: [a], release: {keys: [r]}, provenance: {builders: [nope]}}\n"), `builder "nope"`},
		{"threshold too high", base("  - {models: [a], release: {keys: [r], threshold: 2}, provenance: {builders: [b]}}\n"), "threshold 2"},
		{"reproducible above builders", base("  - {models: [a], release: {keys: [r]}, provenance: {builders: [b], reproducible: 2}}\n"), "reproducible 2"},
		{"no models", base("  - {release: {keys: [r]}, provenance: {builders: [b]}}\n"), "needs models or riskClass"},
		{"undefined risk class", base("  - {riskClass: high, release: {keys: [r]}, provenance: {builders: [b]}}\n"), `risk class "high"`},
		{"bad ref pattern", base("  - {models: [a], release: {keys: [r]}, provenance: {builders: [b], sources: [{repo: x, refs: ['[']}]}}\n"), "ref pattern"},
		{"keyless without trusted root", "version: 1\nbuilders:\n  - {name: k, id: x, keyless: {issuer: i, san: s}}\nrules: []\n", "no trustedRoot"},
		{"builder without keys", "version: 1\nbuilders:\n  - {name: k, id: x}\n", "needs keys or keyless"},
		{"bad id regex", "version: 1\nkeys:\n  c: {file: keys/ci.pub}\nbuilders:\n  - {name: k, idRegex: '(', keys: [c]}\n", "idRegex"},
	} {
		_, err := provenance.ParsePolicy([]byte(tc.text), files(t))
		var pe *provenance.PolicyError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: ParsePolicy = %v, want a PolicyError containing %q", tc.desc, err, tc.msg)
		}
	}
}

// TestExamplePolicyParses keeps docs/policy.example.yaml valid.
func TestExamplePolicyParses(t *testing.T) {
	data, err := os.ReadFile("../docs/policy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	load := files(t)
	p, err := provenance.ParsePolicy(data, func(name string) ([]byte, error) {
		if name == "sigstore-trusted-root.json" { // shipped beside it
			return os.ReadFile("../docs/" + name)
		}
		return load(strings.TrimPrefix(name, "../local/")) // the README walkthrough's keys
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.RuleFor("acme-x1") == nil || p.RuleFor("anything") == nil {
		t.Error("the example policy should cover acme-x1 and every other model")
	}
}

// TestBuilderKeys: the keys of every keyed builder, each once, whether the
// policy comes from a file or from keys (the auditor checks provenance
// signatures ahead of the rules with them).
func TestBuilderKeys(t *testing.T) {
	ring := func(ks ...*keys.PrivateKey) *keys.Ring {
		var pubs []*keys.PublicKey
		for _, k := range ks {
			pubs = append(pubs, k.Public())
		}
		r, err := keys.NewRing(pubs...)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	file, err := provenance.ParsePolicy([]byte(testPolicy), files(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc string
		p    *provenance.Policy
		want *keys.Ring
	}{
		{"policy file", file, ring(fwtest.Builder, fwtest.Rebuilder, fwtest.OtherBuilder)},
		{"key policy", provenance.KeyPolicy(provenance.KeyTrust{ReleaseKeys: ring(fwtest.Release1), BuilderKeys: ring(fwtest.Builder, fwtest.Rebuilder)}), ring(fwtest.Builder, fwtest.Rebuilder)},
		{"key policy without builders", provenance.KeyPolicy(provenance.KeyTrust{ReleaseKeys: ring(fwtest.Release1)}), ring()},
	} {
		got, err := tc.p.BuilderKeys()
		if err != nil {
			t.Fatalf("%s: BuilderKeys: %v", tc.desc, err)
		}
		g, w := got.IDs(), tc.want.IDs()
		slices.Sort(g)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			t.Errorf("%s: BuilderKeys() = %v, want %v", tc.desc, g, w)
		}
	}
}
