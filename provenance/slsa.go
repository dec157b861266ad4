package provenance

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fwledger/fwledger/digest"
	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	ita1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// SLSAPredicateType is the predicateType of SLSA provenance v1.
const SLSAPredicateType = "https://slsa.dev/provenance/v1"

// BuildTypeMake is the buildType fwctl attest writes: a build from a git
// source for a target hardware model. Its externalParameters are
// {"source": "git+https://…", "ref": "refs/…", "target": "<model>"}.
const BuildTypeMake = "https://fwledger.dev/build/make@v1"

// A SubjectDigest is one digest of a statement subject.
type SubjectDigest struct {
	// Subject is the index of the subject in the statement: digests of one
	// subject share it.
	Subject int
	Name    string
	// Alg is "sha256", "sha384" or "sha512"; Value is the raw digest.
	Alg   string
	Value []byte
}

// A Source is the source a build came from, as provenance states it.
type Source struct {
	// Repo is the repository URI, such as "git+https://github.com/acme/fw".
	Repo string
	// Ref is the git ref, such as "refs/tags/v1.4.0"; empty if unknown.
	Ref string
	// Commit is the source commit digest in hex; empty if unknown.
	Commit string
}

// A Provenance is a parsed SLSA provenance v1 statement.
type Provenance struct {
	// Subjects are the statement's subject digests of at least 256 bits.
	Subjects []SubjectDigest
	// Predicate is the decoded SLSA predicate.
	Predicate *slsa.Provenance
	// ExternalParameters is the predicate's externalParameters as JSON
	// values.
	ExternalParameters map[string]any
	BuilderID          string
	BuildType          string
	InvocationID       string
	StartedOn          time.Time // zero if absent
	FinishedOn         time.Time // zero if absent
	Source             Source
}

// digestSizes are the subject digest algorithms fwledger matches images
// with, and their sizes; all are at least 256 bits.
var digestSizes = map[string]int{"sha256": 32, "sha384": 48, "sha512": 64}

// ParseProvenance parses and validates a SLSA provenance v1 statement: the
// decoded payload of a provenance envelope. It accepts Statement v1 and, as
// real producers still emit it with a v1 predicate, Statement v0.1.
func ParseProvenance(body []byte) (*Provenance, error) {
	st, err := ParseStatement(body)
	if err != nil {
		return nil, err
	}
	return parseProvenance(st)
}

func parseProvenance(st *Statement) (*Provenance, error) {
	if st.PredicateType != SLSAPredicateType {
		return nil, &StatementError{Err: fmt.Errorf("predicateType is %q, want %q", st.PredicateType, SLSAPredicateType)}
	}
	p := &Provenance{}
	for i, sub := range st.Subject {
		// In a fixed order (the map's is random), so that every parse of
		// a statement lists its digests alike.
		for _, alg := range []string{"sha256", "sha384", "sha512"} {
			h, ok := sub.GetDigest()[alg]
			if !ok {
				continue
			}
			size := digestSizes[alg]
			v, err := hex.DecodeString(h)
			if err != nil || len(v) != size || strings.ToLower(h) != h {
				return nil, &StatementError{Err: fmt.Errorf("subject %q: %s digest is not %d lowercase hex digits", sub.GetName(), alg, 2*size)}
			}
			p.Subjects = append(p.Subjects, SubjectDigest{Subject: i, Name: sub.GetName(), Alg: alg, Value: v})
		}
	}
	if len(p.Subjects) == 0 {
		return nil, &StatementError{Err: errors.New("no subject has a sha256, sha384 or sha512 digest")}
	}
	// Decode the predicate from the signed bytes. Producers add fields the
	// schema does not know (the SLSA specification allows it), so unknown
	// fields are skipped here; policy decides about externalParameters.
	p.Predicate = &slsa.Provenance{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(st.Predicate, p.Predicate); err != nil {
		return nil, &StatementError{Err: fmt.Errorf("SLSA predicate: %w", err)}
	}
	// Check what SLSA requires and what fwledger relies on. (The in-toto
	// library's Validate also rejects byproducts that real builders, such
	// as Google Cloud Build, emit.)
	bd, rd := p.Predicate.GetBuildDefinition(), p.Predicate.GetRunDetails()
	switch {
	case bd == nil:
		return nil, &StatementError{Err: errors.New("SLSA predicate: buildDefinition is required")}
	case bd.GetBuildType() == "":
		return nil, &StatementError{Err: errors.New("SLSA predicate: buildDefinition.buildType is required")}
	case rd.GetBuilder().GetId() == "":
		return nil, &StatementError{Err: errors.New("SLSA predicate: runDetails.builder.id is required")}
	}
	if err := rd.GetMetadata().Validate(); rd.GetMetadata() != nil && err != nil {
		return nil, &StatementError{Err: fmt.Errorf("SLSA predicate: %w", err)}
	}
	p.BuilderID = rd.GetBuilder().GetId()
	p.BuildType = bd.GetBuildType()
	p.ExternalParameters = bd.GetExternalParameters().AsMap()
	if md := rd.GetMetadata(); md != nil {
		p.InvocationID = md.GetInvocationId()
		if md.GetStartedOn() != nil {
			p.StartedOn = md.GetStartedOn().AsTime()
		}
		if md.GetFinishedOn() != nil {
			p.FinishedOn = md.GetFinishedOn().AsTime()
		}
	}
	if !p.StartedOn.IsZero() && !p.FinishedOn.IsZero() && p.FinishedOn.Before(p.StartedOn) {
		return nil, &StatementError{Err: fmt.Errorf("SLSA predicate: finishedOn %s is before startedOn %s", p.FinishedOn.Format(time.RFC3339), p.StartedOn.Format(time.RFC3339))}
	}
	p.Source = sourceOf(p)
	return p, nil
}

// HasDigest reports whether a subject of the provenance has the digest d
// under algorithm alg.
func (p *Provenance) HasDigest(alg string, d []byte) bool {
	for _, s := range p.Subjects {
		if s.Alg == alg && bytes.Equal(s.Value, d) {
			return true
		}
	}
	return false
}

// Attests reports whether a subject of the provenance is the released
// image: one subject has the same value as the release for at least one
// algorithm both name (SHA-256, and SHA-512 if the release names it), and a
// different value for none. A provenance that names only SHA-512 thus
// matches only a release that names the image's SHA-512 too, and
// verifiers check every digest a release names against the image
// ([Release.CheckImage]), so the match binds the provenance to the bytes a
// device installs.
func (p *Provenance) Attests(r *Release) bool {
	want := map[string][]byte{"sha256": r.Image[:]}
	if r.ImageSHA512 != nil {
		want["sha512"] = r.ImageSHA512
	}
	match := map[int]bool{}
	conflict := map[int]bool{}
	for _, s := range p.Subjects {
		w, ok := want[s.Alg]
		if !ok {
			continue
		}
		if bytes.Equal(s.Value, w) {
			match[s.Subject] = true
		} else {
			conflict[s.Subject] = true
		}
	}
	for i := range match {
		if !conflict[i] {
			return true
		}
	}
	return false
}

// str returns m[k1][k2]... as a string, or "".
func str(m map[string]any, keys ...string) string {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[k]
	}
	s, _ := v.(string)
	return s
}

// sourceOf finds the source repository, ref and commit of a build. The
// externalParameters of well-known build types name them; otherwise the
// first git resolved dependency does.
func sourceOf(p *Provenance) Source {
	ext := p.ExternalParameters
	var s Source
	switch p.BuildType {
	case BuildTypeMake:
		s = Source{Repo: str(ext, "source"), Ref: str(ext, "ref")}
	case "https://actions.github.io/buildtypes/workflow/v1",
		"https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1":
		s = Source{Repo: gitURI(str(ext, "workflow", "repository")), Ref: str(ext, "workflow", "ref")}
	case "https://cloud.google.com/build/gcb-buildtypes/google-worker/v1":
		s = Source{Repo: gitURI(str(ext, "buildConfigSource", "repository")), Ref: str(ext, "buildConfigSource", "ref")}
	}
	// The commit, and the source itself when the build type did not say,
	// come from the git dependencies.
	for _, dep := range p.Predicate.GetBuildDefinition().GetResolvedDependencies() {
		uri := dep.GetUri()
		if !strings.HasPrefix(uri, "git+") {
			continue
		}
		repo, ref, _ := strings.Cut(uri, "@")
		if s.Repo == "" {
			s.Repo, s.Ref = repo, ref
		}
		if repo != s.Repo {
			continue
		}
		for _, alg := range []string{"gitCommit", "sha1", "sha256"} {
			if c, ok := dep.GetDigest()[alg]; ok {
				s.Commit = c
				break
			}
		}
		break
	}
	return s
}

// gitURI turns "https://github.com/a/b" into "git+https://github.com/a/b",
// the form SLSA uses for git sources.
func gitURI(u string) string {
	if u == "" || strings.HasPrefix(u, "git+") {
		return u
	}
	return "git+" + u
}

// A Build describes a build for NewProvenance.
type Build struct {
	BuilderID string
	BuildType string
	// Source is the repository ("git+https://…"), Ref its ref, Commit the
	// git commit (hex) that was built.
	Source, Ref, Commit string
	// Target is the hardware model the build was for.
	Target string
	// Toolchains are URIs of the tools used (such as
	// "pkg:generic/gcc@12.2.0"), recorded as resolved dependencies.
	Toolchains   []string
	InvocationID string
	StartedOn    time.Time
	FinishedOn   time.Time
	// Subjects are the artifacts built: name and SHA-256 digest.
	Subjects []Artifact
}

// An Artifact is a named SHA-256 digest.
type Artifact struct {
	Name   string
	SHA256 digest.Digest
}

// Statement returns b as an in-toto Statement v1 with a SLSA provenance v1
// predicate, marshalled with protojson. These are the bytes to sign.
func (b *Build) Statement() ([]byte, error) {
	switch {
	case b.BuilderID == "":
		return nil, errors.New("builder ID is required")
	case b.BuildType == "":
		return nil, errors.New("build type is required")
	case b.Source == "":
		return nil, errors.New("source is required")
	case len(b.Subjects) == 0:
		return nil, errors.New("at least one subject is required")
	case !b.StartedOn.IsZero() && !b.FinishedOn.IsZero() && b.FinishedOn.Before(b.StartedOn):
		return nil, errors.New("finishedOn is before startedOn")
	}
	ext := map[string]any{"source": b.Source}
	if b.Ref != "" {
		ext["ref"] = b.Ref
	}
	if b.Target != "" {
		ext["target"] = b.Target
	}
	extpb, err := structpb.NewStruct(ext)
	if err != nil {
		return nil, err
	}
	src := &ita1.ResourceDescriptor{Uri: b.Source}
	if b.Ref != "" {
		src.Uri += "@" + b.Ref
	}
	if b.Commit != "" {
		src.Digest = map[string]string{"gitCommit": b.Commit}
	}
	deps := []*ita1.ResourceDescriptor{src}
	for _, tc := range b.Toolchains {
		deps = append(deps, &ita1.ResourceDescriptor{Name: "toolchain", Uri: tc})
	}
	md := &slsa.BuildMetadata{InvocationId: b.InvocationID}
	if !b.StartedOn.IsZero() {
		md.StartedOn = timestamppb.New(b.StartedOn)
	}
	if !b.FinishedOn.IsZero() {
		md.FinishedOn = timestamppb.New(b.FinishedOn)
	}
	pred := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{
			BuildType:            b.BuildType,
			ExternalParameters:   extpb,
			ResolvedDependencies: deps,
		},
		RunDetails: &slsa.RunDetails{
			Builder:  &slsa.Builder{Id: b.BuilderID},
			Metadata: md,
		},
	}
	if err := pred.Validate(); err != nil {
		return nil, err
	}
	// The statement's predicate is a Struct; convert through JSON, which is
	// not signed data yet.
	pj, err := protojson.Marshal(pred)
	if err != nil {
		return nil, err
	}
	predStruct := &structpb.Struct{}
	if err := protojson.Unmarshal(pj, predStruct); err != nil {
		return nil, err
	}
	st := &ita1.Statement{Type: ita1.StatementTypeUri, PredicateType: SLSAPredicateType, Predicate: predStruct}
	for _, a := range b.Subjects {
		st.Subject = append(st.Subject, &ita1.ResourceDescriptor{Name: a.Name, Digest: map[string]string{"sha256": hex.EncodeToString(a.SHA256[:])}})
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return protojson.Marshal(st)
}
