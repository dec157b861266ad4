package provenance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go.yaml.in/yaml/v3"
	"io"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/keys"
)

// PolicyVersion is the version of the policy format.
const PolicyVersion = 1

// MaxPolicySize is the largest policy file that is parsed.
const MaxPolicySize = 1 << 20

// A Policy says which releases and which build provenance to trust, per
// hardware model or risk class. docs/POLICY.md describes the file format
// and docs/policy.example.yaml is a complete example.
//
// A Policy is pure data: evaluating it reads nothing but its arguments.
type Policy struct {
	keys        map[string]*keys.PublicKey
	builders    map[string]*Builder
	riskClasses map[string][]string
	rules       []*Rule
	// TrustedRoot is the Sigstore trusted root (JSON) for keyless builders,
	// or nil.
	TrustedRoot []byte
	// RevocationKeys sign revocations, RevocationThreshold of them (at
	// least 1) each; nil if the policy names none.
	RevocationKeys      *keys.Ring
	RevocationThreshold int
	// validity holds the keys' validity windows by DSSE key ID.
	validity map[string]Validity
}

// A Builder is a build system the policy knows.
type Builder struct {
	Name string
	// ID is the exact runDetails.builder.id; IDRegex matches it instead.
	ID      string
	IDRegex *regexp.Regexp
	// Keys sign the builder's provenance (keyed builders).
	Keys *keys.Ring
	// Keyless identifies the builder's Sigstore certificates.
	Keyless *KeylessIdentity
	// SLSALevel is the SLSA Build level the policy credits the builder with.
	SLSALevel int
}

// A KeylessIdentity matches the Fulcio certificate of a keyless builder.
type KeylessIdentity struct {
	Issuer           string
	SAN              string
	SANRegex         string
	SourceRepository string
}

// A Rule says what a release for some hardware models needs.
type Rule struct {
	Name      string
	Models    []string // "*" matches every model
	RiskClass string

	ReleaseKeys      *keys.Ring
	ReleaseKeyNames  map[string]string // DSSE key ID to policy name
	ReleaseThreshold int

	Builders           []string
	MinSLSALevel       int
	BuildTypes         []string
	Sources            []SourceRule
	ExternalParameters []string // nil: any
	Reproducible       int
	// ProvenanceOptional lets a release endorse no provenance. A policy
	// file cannot set it; a [KeyPolicy] without RequireProvenance does.
	ProvenanceOptional bool

	// LayoutKeys, when set, require an in-toto layout signed by all of them
	// whose supply chain produced the image at LayoutProductStep (the
	// layout's last step when empty).
	LayoutKeys        []*keys.PublicKey
	LayoutKeyNames    []string
	LayoutProductStep string
}

// A SourceRule allows a repository and refs (path.Match patterns).
type SourceRule struct {
	Repo string
	Refs []string
}

// The YAML form. Fields are documented in docs/POLICY.md.
type policyFile struct {
	Version     int                 `yaml:"version"`
	TrustedRoot string              `yaml:"trustedRoot"`
	Keys        map[string]keyRef   `yaml:"keys"`
	Builders    []builderFile       `yaml:"builders"`
	RiskClasses map[string][]string `yaml:"riskClasses"`
	Revocation  *struct {
		Keys      []string `yaml:"keys"`
		Threshold int      `yaml:"threshold"`
	} `yaml:"revocation"`
	Rules []ruleFile `yaml:"rules"`
}

type keyRef struct {
	File     string        `yaml:"file"`
	VKey     string        `yaml:"vkey"`
	PEM      string        `yaml:"pem"`
	Validity *validityFile `yaml:"validity"`
}

type validityFile struct {
	FromIndex  *uint64    `yaml:"fromIndex"`
	UntilIndex *uint64    `yaml:"untilIndex"`
	From       *time.Time `yaml:"from"`
	Until      *time.Time `yaml:"until"`
}

type builderFile struct {
	Name      string       `yaml:"name"`
	ID        string       `yaml:"id"`
	IDRegex   string       `yaml:"idRegex"`
	Keys      []string     `yaml:"keys"`
	Keyless   *keylessFile `yaml:"keyless"`
	SLSALevel int          `yaml:"slsaLevel"`
}

type keylessFile struct {
	Issuer           string `yaml:"issuer"`
	SAN              string `yaml:"san"`
	SANRegex         string `yaml:"sanRegex"`
	SourceRepository string `yaml:"sourceRepository"`
}

type ruleFile struct {
	Name      string   `yaml:"name"`
	Models    []string `yaml:"models"`
	RiskClass string   `yaml:"riskClass"`
	Release   struct {
		Keys      []string `yaml:"keys"`
		Threshold int      `yaml:"threshold"`
	} `yaml:"release"`
	Layout *struct {
		Keys        []string `yaml:"keys"`
		ProductStep string   `yaml:"productStep"`
	} `yaml:"layout"`
	Provenance struct {
		Builders           []string     `yaml:"builders"`
		MinSLSALevel       int          `yaml:"minSLSALevel"`
		BuildTypes         []string     `yaml:"buildTypes"`
		Sources            []sourceFile `yaml:"sources"`
		ExternalParameters *[]string    `yaml:"externalParameters"`
		Reproducible       int          `yaml:"reproducible"`
	} `yaml:"provenance"`
}

type sourceFile struct {
	Repo string   `yaml:"repo"`
	Refs []string `yaml:"refs"`
}

// A PolicyError reports an invalid policy file.
type PolicyError struct{ Err error }

func (e *PolicyError) Error() string { return "invalid policy: " + e.Err.Error() }
func (e *PolicyError) Unwrap() error { return e.Err }

// ParsePolicy parses a policy file. load reads the files it names (keys,
// the trusted root), relative to the policy's own location.
func ParsePolicy(data []byte, load func(name string) ([]byte, error)) (*Policy, error) {
	p, err := parsePolicy(data, load)
	if err != nil {
		return nil, &PolicyError{Err: err}
	}
	return p, nil
}

func parsePolicy(data []byte, load func(name string) ([]byte, error)) (*Policy, error) {
	if len(data) > MaxPolicySize {
		return nil, fmt.Errorf("policy is %d bytes, more than the limit of %d", len(data), MaxPolicySize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f policyFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the policy is empty")
		}
		return nil, err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("the policy holds more than one YAML document")
	}
	if f.Version != PolicyVersion {
		return nil, fmt.Errorf("version is %d, want %d", f.Version, PolicyVersion)
	}
	p := &Policy{keys: map[string]*keys.PublicKey{}, builders: map[string]*Builder{}, riskClasses: f.RiskClasses, validity: map[string]Validity{}}
	if f.TrustedRoot != "" {
		root, err := load(f.TrustedRoot)
		if err != nil {
			return nil, fmt.Errorf("trustedRoot: %w", err)
		}
		p.TrustedRoot = root
	}
	for name, ref := range f.Keys {
		k, err := loadKey(ref, load)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", name, err)
		}
		p.keys[name] = k
		if vf := ref.Validity; vf != nil {
			v := Validity{FromIndex: vf.FromIndex, UntilIndex: vf.UntilIndex, From: vf.From, Until: vf.Until}
			switch {
			case v.zero():
				return nil, fmt.Errorf("key %q: validity names no bound (fromIndex, untilIndex, from, until)", name)
			case v.FromIndex != nil && v.UntilIndex != nil && *v.FromIndex >= *v.UntilIndex:
				return nil, fmt.Errorf("key %q: validity fromIndex %d is not below untilIndex %d", name, *v.FromIndex, *v.UntilIndex)
			case v.From != nil && v.Until != nil && !v.From.Before(*v.Until):
				return nil, fmt.Errorf("key %q: validity from is not before until", name)
			}
			id, err := k.KeyID()
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", name, err)
			}
			if _, dup := p.validity[id]; dup {
				return nil, fmt.Errorf("key %q is listed twice with a validity window", name)
			}
			p.validity[id] = v
		}
	}
	ring := func(names []string, what string) (*keys.Ring, map[string]string, error) {
		var pubs []*keys.PublicKey
		ids := map[string]string{}
		for _, n := range names {
			k, ok := p.keys[n]
			if !ok {
				return nil, nil, fmt.Errorf("%s names key %q, which the keys section does not define", what, n)
			}
			id, err := k.KeyID()
			if err != nil {
				return nil, nil, err
			}
			ids[id] = n
			pubs = append(pubs, k)
		}
		r, err := keys.NewRing(pubs...)
		return r, ids, err
	}
	for i, bf := range f.Builders {
		what := fmt.Sprintf("builders[%d]", i)
		if bf.Name == "" {
			return nil, fmt.Errorf("%s has no name", what)
		}
		if _, dup := p.builders[bf.Name]; dup {
			return nil, fmt.Errorf("builder %q is defined twice", bf.Name)
		}
		b := &Builder{Name: bf.Name, ID: bf.ID, SLSALevel: bf.SLSALevel}
		switch {
		case bf.ID != "" && bf.IDRegex != "":
			return nil, fmt.Errorf("builder %q has both id and idRegex", bf.Name)
		case bf.ID == "" && bf.IDRegex == "":
			return nil, fmt.Errorf("builder %q needs id or idRegex", bf.Name)
		case bf.IDRegex != "":
			re, err := regexp.Compile("^(?:" + bf.IDRegex + ")$")
			if err != nil {
				return nil, fmt.Errorf("builder %q: idRegex: %w", bf.Name, err)
			}
			b.IDRegex = re
		}
		if bf.SLSALevel < 0 || bf.SLSALevel > 4 {
			return nil, fmt.Errorf("builder %q: slsaLevel %d is not 0 to 4", bf.Name, bf.SLSALevel)
		}
		switch {
		case len(bf.Keys) > 0 && bf.Keyless != nil:
			return nil, fmt.Errorf("builder %q has both keys and keyless", bf.Name)
		case len(bf.Keys) > 0:
			r, _, err := ring(bf.Keys, fmt.Sprintf("builder %q", bf.Name))
			if err != nil {
				return nil, err
			}
			b.Keys = r
		case bf.Keyless != nil:
			k := bf.Keyless
			if k.Issuer == "" || (k.SAN == "" && k.SANRegex == "") {
				return nil, fmt.Errorf("builder %q: keyless needs issuer and san or sanRegex", bf.Name)
			}
			if k.SANRegex != "" {
				if _, err := regexp.Compile(k.SANRegex); err != nil {
					return nil, fmt.Errorf("builder %q: sanRegex: %w", bf.Name, err)
				}
			}
			if p.TrustedRoot == nil {
				return nil, fmt.Errorf("builder %q is keyless, but the policy names no trustedRoot", bf.Name)
			}
			b.Keyless = &KeylessIdentity{Issuer: k.Issuer, SAN: k.SAN, SANRegex: k.SANRegex, SourceRepository: k.SourceRepository}
		default:
			return nil, fmt.Errorf("builder %q needs keys or keyless", bf.Name)
		}
		p.builders[bf.Name] = b
	}
	for class, models := range f.RiskClasses {
		if len(models) == 0 {
			return nil, fmt.Errorf("risk class %q lists no models", class)
		}
	}
	if len(f.Rules) == 0 {
		return nil, errors.New("the policy has no rules")
	}
	for i, rf := range f.Rules {
		what := fmt.Sprintf("rules[%d]", i)
		if rf.Name != "" {
			what = fmt.Sprintf("rule %q", rf.Name)
		}
		r := &Rule{Name: rf.Name, Models: rf.Models, RiskClass: rf.RiskClass}
		if r.Name == "" {
			r.Name = fmt.Sprintf("rules[%d]", i)
		}
		switch {
		case len(rf.Models) > 0 && rf.RiskClass != "":
			return nil, fmt.Errorf("%s has both models and riskClass", what)
		case len(rf.Models) == 0 && rf.RiskClass == "":
			return nil, fmt.Errorf("%s needs models or riskClass", what)
		case rf.RiskClass != "":
			if _, ok := p.riskClasses[rf.RiskClass]; !ok {
				return nil, fmt.Errorf("%s names risk class %q, which riskClasses does not define", what, rf.RiskClass)
			}
		}
		if len(rf.Release.Keys) == 0 {
			return nil, fmt.Errorf("%s: release.keys is required", what)
		}
		var err error
		if r.ReleaseKeys, r.ReleaseKeyNames, err = ring(rf.Release.Keys, what); err != nil {
			return nil, err
		}
		r.ReleaseThreshold = rf.Release.Threshold
		if r.ReleaseThreshold == 0 {
			r.ReleaseThreshold = 1
		}
		if r.ReleaseThreshold < 1 || r.ReleaseThreshold > r.ReleaseKeys.Len() {
			return nil, fmt.Errorf("%s: release.threshold %d is not between 1 and the %d keys listed", what, rf.Release.Threshold, r.ReleaseKeys.Len())
		}
		pv := rf.Provenance
		if len(pv.Builders) == 0 {
			return nil, fmt.Errorf("%s: provenance.builders is required", what)
		}
		for _, b := range pv.Builders {
			if _, ok := p.builders[b]; !ok {
				return nil, fmt.Errorf("%s names builder %q, which the builders section does not define", what, b)
			}
		}
		r.Builders, r.MinSLSALevel, r.BuildTypes, r.Reproducible = pv.Builders, pv.MinSLSALevel, pv.BuildTypes, pv.Reproducible
		if pv.ExternalParameters != nil {
			r.ExternalParameters = append([]string{}, *pv.ExternalParameters...)
		}
		if r.Reproducible < 0 || r.Reproducible > len(r.Builders) {
			return nil, fmt.Errorf("%s: provenance.reproducible %d is more than the %d builders allowed", what, r.Reproducible, len(r.Builders))
		}
		for j, s := range pv.Sources {
			if s.Repo == "" {
				return nil, fmt.Errorf("%s: sources[%d] has no repo", what, j)
			}
			for _, ref := range s.Refs {
				if _, err := path.Match(ref, ""); err != nil {
					return nil, fmt.Errorf("%s: sources[%d]: ref pattern %q: %w", what, j, ref, err)
				}
			}
			r.Sources = append(r.Sources, SourceRule{Repo: s.Repo, Refs: s.Refs})
		}
		if rf.Layout != nil {
			if len(rf.Layout.Keys) == 0 {
				return nil, fmt.Errorf("%s: layout.keys is required", what)
			}
			for _, n := range rf.Layout.Keys {
				k, ok := p.keys[n]
				if !ok {
					return nil, fmt.Errorf("%s: layout names key %q, which the keys section does not define", what, n)
				}
				r.LayoutKeys = append(r.LayoutKeys, k)
			}
			r.LayoutKeyNames, r.LayoutProductStep = rf.Layout.Keys, rf.Layout.ProductStep
		}
		p.rules = append(p.rules, r)
	}
	if rv := f.Revocation; rv != nil {
		if len(rv.Keys) == 0 {
			return nil, errors.New("revocation.keys is required")
		}
		var err error
		if p.RevocationKeys, _, err = ring(rv.Keys, "revocation"); err != nil {
			return nil, err
		}
		p.RevocationThreshold = max(rv.Threshold, 1)
		if rv.Threshold < 0 || p.RevocationThreshold > p.RevocationKeys.Len() {
			return nil, fmt.Errorf("revocation.threshold %d is not between 1 and the %d keys listed", rv.Threshold, p.RevocationKeys.Len())
		}
		// Revocation keys stop a stolen release key: one key holding both
		// roles could revoke the others and keep signing.
		for _, id := range p.RevocationKeys.IDs() {
			for _, r := range p.rules {
				if _, ok := r.ReleaseKeys.Lookup(id); ok {
					return nil, fmt.Errorf("revocation key %q is also a release key of %s: keep the two roles apart", r.keyName(id), r.Name)
				}
			}
		}
	}
	return p, nil
}

func loadKey(ref keyRef, load func(string) ([]byte, error)) (*keys.PublicKey, error) {
	n := 0
	for _, s := range []string{ref.File, ref.VKey, ref.PEM} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("give exactly one of file, vkey and pem")
	}
	data := []byte(ref.VKey + ref.PEM)
	if ref.File != "" {
		var err error
		if data, err = load(ref.File); err != nil {
			return nil, err
		}
	}
	return keys.ParsePublic(data)
}

// Builders returns the policy's builders, by name.
func (p *Policy) Builders() map[string]*Builder { return p.builders }

// BuilderKeys returns a ring of every key of every keyed builder: the keys a
// log following the policy accepts provenance from. It covers a policy
// read from a file and one made of keys ([KeyPolicy]) alike.
func (p *Policy) BuilderKeys() (*keys.Ring, error) {
	names := make([]string, 0, len(p.builders))
	for name, b := range p.builders {
		if b.Keys != nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	rings := make([]*keys.Ring, 0, len(names))
	for _, name := range names {
		rings = append(rings, p.builders[name].Keys)
	}
	return keys.Merge(rings...), nil
}

// LayoutKeys returns every key that some rule requires to sign a layout.
func (p *Policy) LayoutKeys() []*keys.PublicKey {
	var out []*keys.PublicKey
	seen := map[*keys.PublicKey]bool{}
	for _, r := range p.rules {
		for _, k := range r.LayoutKeys {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// RuleFor returns the first rule that covers model, or nil.
func (p *Policy) RuleFor(model string) *Rule {
	for _, r := range p.rules {
		models := r.Models
		if r.RiskClass != "" {
			models = p.riskClasses[r.RiskClass]
		}
		if slices.Contains(models, model) || slices.Contains(models, "*") {
			return r
		}
	}
	return nil
}

// MatchesID reports whether b accepts builder ID id.
func (b *Builder) MatchesID(id string) bool {
	if b.IDRegex != nil {
		return b.IDRegex.MatchString(id)
	}
	return b.ID == id
}

// A CertificateIdentity is what a verified Fulcio certificate says.
type CertificateIdentity struct {
	Issuer           string
	SAN              string
	SourceRepository string
}

// A Check is one line of a policy report.
type Check struct {
	Name   string
	OK     bool
	Detail string
	// Err is why a failed check failed, where an error says it: a
	// *SignatureError or *ThresholdError for release signatures, say.
	Err error
	// Provenance is the digest of the provenance entry the check is
	// about; zero for a check about the release.
	Provenance digest.Digest
}

// A Report explains, rule by rule, why a release passes or fails a policy
// for one hardware model.
type Report struct {
	Model  string
	Rule   string
	Checks []Check
}

// OK reports whether every check passed.
func (r *Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

// String renders the report, one check a line.
func (r *Report) String() string {
	var b strings.Builder
	verdict := "PASS"
	if !r.OK() {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "model %s, rule %q: %s\n", r.Model, r.Rule, verdict)
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "  %s %s: %s\n", mark, c.Name, c.Detail)
	}
	return b.String()
}

// A PolicyViolation is the error of a failed report. It unwraps to the
// error of its first failed check, if that check has one.
type PolicyViolation struct{ Report *Report }

// Failed returns the report's first failed check.
func (e *PolicyViolation) Failed() Check {
	for _, c := range e.Report.Checks {
		if !c.OK {
			return c
		}
	}
	return Check{Name: "rule", Detail: "no rule covers model " + e.Report.Model}
}

func (e *PolicyViolation) Error() string {
	c := e.Failed()
	return fmt.Sprintf("policy rule %q for model %s: %s: %s", e.Report.Rule, e.Report.Model, c.Name, c.Detail)
}

func (e *PolicyViolation) Unwrap() error { return e.Failed().Err }

// Err returns a *PolicyViolation if the report failed, or nil.
func (r *Report) Err() error {
	if r.OK() {
		return nil
	}
	return &PolicyViolation{Report: r}
}

func shortDigest(d digest.Digest) string { return d.String()[:len("sha256:")+12] }

// checkLayout verifies the in-toto layout a release names under rule r.
func checkLayout(r *Rule, rel *Release, ev Evidence, now time.Time) error {
	if rel.Layout == nil {
		return errors.New("the release names no in-toto layout")
	}
	if ev.Layout == nil || ev.Layout.Digest != *rel.Layout {
		return fmt.Errorf("the layout %s is not available", *rel.Layout)
	}
	var links []*Entry
	for _, d := range rel.Links {
		var found *Entry
		for _, l := range ev.Links {
			if l.Digest == d {
				found = l
			}
		}
		if found == nil {
			return fmt.Errorf("the link %s is not available", d)
		}
		links = append(links, found)
	}
	return VerifyLayout(ev.Layout, links, r.LayoutKeys, rel.Image, r.LayoutProductStep, now)
}

func layoutDetail(r *Rule, rel *Release, err error) string {
	if err != nil {
		return err.Error()
	}
	step := "the last step"
	if r.LayoutProductStep != "" {
		step = "step " + r.LayoutProductStep
	}
	return fmt.Sprintf("signed by %s; %d link(s) satisfy its steps and rules; the image is a product of %s", strings.Join(r.LayoutKeyNames, ", "), len(rel.Links), step)
}

// checkProvenance checks one provenance statement against rule r, reporting
// each check through add, and returns what the policy builder that produced
// it verified, and whether every check passed.
func (p *Policy) checkProvenance(ctx context.Context, r *Rule, rel *Release, pe ProvenanceEvidence, opts EvalOptions, add func(Check) bool) (Attestation, bool) {
	a := Attestation{Entry: pe.Entry, Endorsed: pe.Endorsed}
	pr := pe.Entry.Provenance
	if pr == nil {
		add(Check{Name: "kind", Detail: fmt.Sprintf("the entry is %s, not SLSA provenance", pe.Entry.Kind)})
		return a, false
	}
	ok := add(Check{Name: "subject", OK: pr.Attests(rel), Detail: fmt.Sprintf("attests %s", rel.Image)})
	// Find the rule's builder with this builder ID whose keys or identity
	// signed the statement.
	var b *Builder
	var why []string
	var errs []error
	for _, name := range r.Builders {
		cand := p.builders[name]
		if !cand.MatchesID(pr.BuilderID) {
			continue
		}
		var out map[string]string
		if cand.Keys != nil {
			out = p.outside(cand.Keys, pe.Entry, opts)
		}
		signers, err := cand.verify(ctx, pe, func(id string) bool {
			_, o := out[id]
			return o || opts.Revoked != nil && opts.Revoked(id, pe.Entry.Digest)
		})
		if err != nil {
			why = append(why, fmt.Sprintf("%s: %v%s", name, err, leftOut(out, func(id string) string { return id })))
			errs = append(errs, err)
			continue
		}
		b, a.Signers = cand, signers
		break
	}
	if b == nil {
		c := Check{Name: "builder", Detail: fmt.Sprintf("builder.id %q is not one of the rule's builders (%s)", pr.BuilderID, strings.Join(r.Builders, ", "))}
		if len(why) > 0 {
			c.Detail = fmt.Sprintf("builder.id %q matches, but the signature does not: %s", pr.BuilderID, strings.Join(why, "; "))
			c.Err = errors.Join(errs...)
		}
		add(c)
		return a, false
	}
	a.Builder = b.Name
	ok = add(Check{Name: "builder", OK: true, Detail: fmt.Sprintf("%s (%s)", b.Name, pr.BuilderID)}) && ok
	if r.MinSLSALevel > 0 {
		ok = add(Check{Name: "SLSA level", OK: b.SLSALevel >= r.MinSLSALevel, Detail: fmt.Sprintf("builder %s is level %d, %d required", b.Name, b.SLSALevel, r.MinSLSALevel)}) && ok
	}
	if len(r.BuildTypes) > 0 {
		ok = add(Check{Name: "build type", OK: slices.Contains(r.BuildTypes, pr.BuildType), Detail: fmt.Sprintf("%s (allowed: %s)", pr.BuildType, strings.Join(r.BuildTypes, ", "))}) && ok
	}
	if len(r.Sources) > 0 {
		ok = add(Check{Name: "source", OK: r.sourceAllowed(pr.Source), Detail: fmt.Sprintf("%s at %s", pr.Source.Repo, orUnknown(pr.Source.Ref))}) && ok
	}
	if r.ExternalParameters != nil {
		var unknown []string
		for k := range pr.ExternalParameters {
			if !slices.Contains(r.ExternalParameters, k) {
				unknown = append(unknown, k)
			}
		}
		sort.Strings(unknown)
		detail := "only allowed keys"
		if len(unknown) > 0 {
			detail = fmt.Sprintf("unknown key(s) %s (allowed: %s)", strings.Join(unknown, ", "), strings.Join(r.ExternalParameters, ", "))
		}
		ok = add(Check{Name: "external parameters", OK: len(unknown) == 0, Detail: detail}) && ok
	}
	return a, ok
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown ref)"
	}
	return s
}

func (r *Rule) sourceAllowed(s Source) bool {
	for _, sr := range r.Sources {
		if sr.Repo != s.Repo {
			continue
		}
		if len(sr.Refs) == 0 {
			return true
		}
		for _, pat := range sr.Refs {
			if ok, _ := path.Match(pat, s.Ref); ok {
				return true
			}
		}
	}
	return false
}

// verify checks that the builder signed pe: with one of its keys, or, for a
// keyless builder, with a certificate matching its identity. It returns the
// signers: key IDs, or the certificate identity.
func (b *Builder) verify(ctx context.Context, pe ProvenanceEvidence, drop func(id string) bool) ([]string, error) {
	if pe.Entry.Bundle != nil {
		if b.Keys != nil {
			return nil, errors.New("signed keylessly, but the builder uses keys")
		}
		if pe.Identity == nil {
			return nil, fmt.Errorf("keyless verification failed: %w", pe.KeylessErr)
		}
		if err := b.Keyless.Match(pe.Identity); err != nil {
			return nil, err
		}
		return []string{KeylessSigner(pe.Identity)}, nil
	}
	if b.Keys == nil {
		return nil, errors.New("signed with a key, but the builder is keyless")
	}
	return VerifySignatures(ctx, pe.Entry.Envelope, b.Keys.Without(drop), 1)
}

// KeylessSigner names a keyless signer by its certificate identity:
// "keyless:<issuer> <identity>".
func KeylessSigner(id *CertificateIdentity) string {
	return "keyless:" + id.Issuer + " " + id.SAN
}

// Match checks a verified certificate identity against k.
func (k *KeylessIdentity) Match(id *CertificateIdentity) error {
	if id.Issuer != k.Issuer {
		return fmt.Errorf("certificate issuer %q, want %q", id.Issuer, k.Issuer)
	}
	if k.SAN != "" && id.SAN != k.SAN {
		return fmt.Errorf("certificate identity %q, want %q", id.SAN, k.SAN)
	}
	if k.SANRegex != "" {
		if ok, _ := regexp.MatchString(k.SANRegex, id.SAN); !ok {
			return fmt.Errorf("certificate identity %q does not match %q", id.SAN, k.SANRegex)
		}
	}
	if k.SourceRepository != "" && id.SourceRepository != k.SourceRepository {
		return fmt.Errorf("certificate source repository %q, want %q", id.SourceRepository, k.SourceRepository)
	}
	return nil
}
