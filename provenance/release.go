package provenance

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/internal/strictjson"
	"github.com/fwledger/fwledger/keys"
	ita1 "github.com/in-toto/attestation/go/v1"
	"golang.org/x/mod/semver"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// ReleasePredicateType is the predicateType of a release statement.
const ReleasePredicateType = "https://fwledger.dev/release/v1"

// Limits on release predicates.
const (
	MaxModels      = 64
	MaxFieldLength = 128
	MaxEndorsed    = 16
)

// A Release is the content of a release statement: a firmware image and what
// it is for. It is signed by the vendor's release keys.
type Release struct {
	// ImageName is the subject name, typically the image file name.
	ImageName string
	// Image is the SHA-256 digest of the image (the subject digest).
	Image digest.Digest
	// ImageSHA512 is the image's SHA-512 digest, if the subject has one
	// (so that provenance naming only SHA-512 can be matched).
	ImageSHA512 []byte
	// ImageSize is the image's length in bytes.
	ImageSize uint64
	// Models are the hardware models the image is for.
	Models []string
	// Version is a semantic version (https://semver.org), without a "v".
	Version string
	// SecurityVersion is the anti-rollback counter: a device never installs
	// an image whose security version is below the one it runs.
	SecurityVersion uint64
	// Channel is the release channel, such as "stable" or "beta".
	Channel string
	// Created is when the release was made.
	Created time.Time
	// Provenance lists the SHA-256 digests of the provenance envelopes this
	// release endorses (the exact envelope bytes).
	Provenance []digest.Digest
	// BaseImage is, for a delta image, the digest of the image it applies to.
	BaseImage *digest.Digest
	// Layout and Links are the SHA-256 digests of the in-toto layout and
	// link metadata entries that prove how the image was made, if any.
	Layout *digest.Digest
	Links  []digest.Digest
}

// releasePredicate is the JSON form of a release predicate. See
// docs/FORMATS.md.
type releasePredicate struct {
	HardwareModels  []string       `json:"hardwareModels"`
	Version         string         `json:"version"`
	SecurityVersion *uint64        `json:"securityVersion"`
	Channel         string         `json:"channel"`
	Created         string         `json:"created"`
	ImageSize       *uint64        `json:"imageSize"`
	Provenance      []digestObject `json:"provenance,omitempty"`
	BaseImage       *digestObject  `json:"baseImage,omitempty"`
	Layout          *digestObject  `json:"layout,omitempty"`
	Links           []digestObject `json:"links,omitempty"`
}

type digestObject struct {
	Digest map[string]string `json:"digest"`
}

func (o digestObject) sha256() (digest.Digest, error) {
	var d digest.Digest
	if len(o.Digest) != 1 {
		return d, errors.New("digest must name exactly one algorithm, sha256")
	}
	h, ok := o.Digest["sha256"]
	if !ok {
		return d, errors.New("digest must be sha256")
	}
	return digest.ParseHex(h)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$`)

// validName reports whether s is a valid model or channel name.
func validName(s string) bool {
	return len(s) <= MaxFieldLength && nameRE.MatchString(s)
}

// ValidName reports whether s is a valid hardware model or channel name: at
// most MaxFieldLength bytes of [A-Za-z0-9][A-Za-z0-9._:/@+-]*.
func ValidName(s string) bool { return validName(s) }

// ValidVersion reports whether v is a full semantic version such as 1.4.0 or
// 2.0.0-rc.1+build.5.
func ValidVersion(v string) bool {
	if len(v) > MaxFieldLength || v == "" || v[0] == 'v' {
		return false
	}
	sv := "v" + v
	if !semver.IsValid(sv) {
		return false
	}
	core, _, _ := strings.Cut(v, "+")
	return semver.Canonical(sv) == "v"+core
}

// Validate checks r's fields.
func (r *Release) Validate() error {
	if len(r.Models) == 0 {
		return errors.New("at least one hardware model is required")
	}
	if len(r.Models) > MaxModels {
		return fmt.Errorf("%d hardware models, more than the limit of %d", len(r.Models), MaxModels)
	}
	seen := map[string]bool{}
	for _, m := range r.Models {
		if !validName(m) {
			return fmt.Errorf("invalid hardware model %q: want letters, digits and ._:/@+- (at most %d)", m, MaxFieldLength)
		}
		if seen[m] {
			return fmt.Errorf("hardware model %q is listed twice", m)
		}
		seen[m] = true
	}
	if !ValidVersion(r.Version) {
		return fmt.Errorf("invalid version %q: want a semantic version such as 1.4.0", r.Version)
	}
	if !validName(r.Channel) {
		return fmt.Errorf("invalid channel %q", r.Channel)
	}
	if r.Created.IsZero() {
		return errors.New("created time is required")
	}
	if r.ImageSize == 0 {
		return errors.New("image size must be positive")
	}
	if r.ImageSize > 1<<53 {
		return fmt.Errorf("image size %d is too large", r.ImageSize)
	}
	if r.SecurityVersion > 1<<53 {
		return fmt.Errorf("security version %d is too large (at most 2^53)", r.SecurityVersion)
	}
	if len(r.Provenance) > MaxEndorsed {
		return fmt.Errorf("%d endorsed provenance digests, more than the limit of %d", len(r.Provenance), MaxEndorsed)
	}
	if len(r.Links) > MaxEndorsed {
		return fmt.Errorf("%d link digests, more than the limit of %d", len(r.Links), MaxEndorsed)
	}
	if len(r.Links) > 0 && r.Layout == nil {
		return errors.New("links are named without a layout")
	}
	if r.ImageSHA512 != nil && len(r.ImageSHA512) != 64 {
		return errors.New("the SHA-512 image digest must be 64 bytes")
	}
	if len(r.ImageName) > 1024 {
		return errors.New("image name is longer than 1024 bytes")
	}
	return nil
}

// Statement returns r as an in-toto Statement v1, marshalled with protojson.
// These are the bytes to sign; never re-encode them afterwards.
func (r *Release) Statement() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	pred := map[string]any{
		"hardwareModels":  toAny(r.Models),
		"version":         r.Version,
		"securityVersion": float64(r.SecurityVersion),
		"channel":         r.Channel,
		"created":         r.Created.UTC().Format(time.RFC3339),
		"imageSize":       float64(r.ImageSize),
	}
	if len(r.Provenance) > 0 {
		ps := make([]any, len(r.Provenance))
		for i, d := range r.Provenance {
			ps[i] = map[string]any{"digest": map[string]any{"sha256": hex.EncodeToString(d[:])}}
		}
		pred["provenance"] = ps
	}
	if r.BaseImage != nil {
		pred["baseImage"] = map[string]any{"digest": map[string]any{"sha256": hex.EncodeToString(r.BaseImage[:])}}
	}
	if r.Layout != nil {
		pred["layout"] = map[string]any{"digest": map[string]any{"sha256": hex.EncodeToString(r.Layout[:])}}
	}
	if len(r.Links) > 0 {
		ls := make([]any, len(r.Links))
		for i, d := range r.Links {
			ls[i] = map[string]any{"digest": map[string]any{"sha256": hex.EncodeToString(d[:])}}
		}
		pred["links"] = ls
	}
	digests := map[string]string{"sha256": hex.EncodeToString(r.Image[:])}
	if r.ImageSHA512 != nil {
		digests["sha512"] = hex.EncodeToString(r.ImageSHA512)
	}
	return marshalStatement(&ita1.ResourceDescriptor{Name: r.ImageName, Digest: digests}, ReleasePredicateType, pred)
}

// marshalStatement returns the in-toto Statement v1 of one subject and a
// predicate, validated and marshalled with protojson: the bytes to sign.
func marshalStatement(subject *ita1.ResourceDescriptor, predicateType string, pred map[string]any) ([]byte, error) {
	ps, err := structpb.NewStruct(pred)
	if err != nil {
		return nil, err
	}
	st := &ita1.Statement{
		Type:          ita1.StatementTypeUri,
		Subject:       []*ita1.ResourceDescriptor{subject},
		PredicateType: predicateType,
		Predicate:     ps,
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return protojson.Marshal(st)
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// A Statement is a parsed in-toto statement whose predicate is not decoded
// yet.
type Statement struct {
	Type          string
	Subject       []*ita1.ResourceDescriptor
	PredicateType string
	// Predicate is the predicate JSON exactly as signed.
	Predicate json.RawMessage
}

type rawStatement struct {
	Type          string            `json:"_type"`
	Subject       []json.RawMessage `json:"subject"`
	PredicateType string            `json:"predicateType"`
	Predicate     json.RawMessage   `json:"predicate"`
}

// ParseStatement parses an in-toto statement (v1, or v0.1 as real producers
// still emit) and validates it. The statement must be one unambiguous JSON
// object (no duplicate keys at any depth, valid UTF-8, nothing after it)
// with no fields but _type, subject, predicateType and predicate; subjects
// are in-toto resource descriptors; the predicate is left for its own
// decoder.
func ParseStatement(body []byte) (*Statement, error) {
	if err := strictjson.Check(body); err != nil {
		return nil, &StatementError{Err: err}
	}
	var raw rawStatement
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, &StatementError{Err: fmt.Errorf("not an in-toto statement: %w", err)}
	}
	st := &Statement{Type: raw.Type, PredicateType: raw.PredicateType, Predicate: raw.Predicate}
	if st.Type != ita1.StatementTypeUri && st.Type != statementTypeV01 {
		return nil, &StatementError{Err: fmt.Errorf("_type %q is not an in-toto statement type", st.Type)}
	}
	if len(raw.Subject) == 0 {
		return nil, &StatementError{Err: ita1.ErrSubjectRequired}
	}
	for i, rs := range raw.Subject {
		rd := &ita1.ResourceDescriptor{}
		if err := protojson.Unmarshal(rs, rd); err != nil {
			return nil, &StatementError{Err: fmt.Errorf("subject[%d]: %w", i, err)}
		}
		if err := rd.Validate(); err != nil {
			return nil, &StatementError{Err: fmt.Errorf("subject[%d]: %w", i, err)}
		}
		if len(rd.GetDigest()) == 0 {
			return nil, &StatementError{Err: fmt.Errorf("subject[%d]: %w", i, ita1.ErrDigestRequired)}
		}
		st.Subject = append(st.Subject, rd)
	}
	if st.PredicateType == "" {
		return nil, &StatementError{Err: ita1.ErrPredicateTypeRequired}
	}
	if len(st.Predicate) == 0 || st.Predicate[0] != '{' {
		return nil, &StatementError{Err: errors.New("the predicate must be a JSON object")}
	}
	return st, nil
}

// statementTypeV01 is the legacy statement type some producers still use.
const statementTypeV01 = "https://in-toto.io/Statement/v0.1"

// ParseRelease parses and validates a release statement: the decoded payload
// of a release envelope.
func ParseRelease(body []byte) (*Release, error) {
	st, err := ParseStatement(body)
	if err != nil {
		return nil, err
	}
	return parseRelease(st)
}

func parseRelease(st *Statement) (*Release, error) {
	var err error
	if st.Type != ita1.StatementTypeUri {
		return nil, &StatementError{Err: fmt.Errorf("statement _type is %q, want %q", st.Type, ita1.StatementTypeUri)}
	}
	if st.PredicateType != ReleasePredicateType {
		return nil, &StatementError{Err: fmt.Errorf("predicateType is %q, want %q", st.PredicateType, ReleasePredicateType)}
	}
	if n := len(st.Subject); n != 1 {
		return nil, &StatementError{Err: fmt.Errorf("a release has exactly one subject, this has %d", n)}
	}
	sub := st.Subject[0]
	r := &Release{ImageName: sub.GetName()}
	// Every digest a release names is checked against the image, and
	// verifiers check SHA-256 and SHA-512: a release naming another would
	// assert a digest nobody checks, which other tools might match it by.
	for alg := range sub.GetDigest() {
		if alg != "sha256" && alg != "sha512" {
			return nil, &StatementError{Err: fmt.Errorf("subject digest %q: a release names its image by sha256, and optionally sha512, only", alg)}
		}
	}
	h, ok := sub.GetDigest()["sha256"]
	if !ok {
		return nil, &StatementError{Err: errors.New("subject has no sha256 digest")}
	}
	if r.Image, err = digest.ParseHex(h); err != nil {
		return nil, &StatementError{Err: fmt.Errorf("subject sha256 digest: %w", err)}
	}
	if h, ok := sub.GetDigest()["sha512"]; ok {
		d, err := hex.DecodeString(h)
		if err != nil || len(d) != 64 || strings.ToLower(h) != h {
			return nil, &StatementError{Err: errors.New("subject sha512 digest: want 128 lowercase hex digits")}
		}
		r.ImageSHA512 = d
	}

	// Decode the predicate from the signed bytes themselves, strictly, so
	// that numbers keep their exact integer values.
	var p releasePredicate
	dec := json.NewDecoder(bytes.NewReader(st.Predicate))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, &StatementError{Err: fmt.Errorf("release predicate: %w", err)}
	}
	if p.SecurityVersion == nil {
		return nil, &StatementError{Err: errors.New("release predicate: securityVersion is required")}
	}
	if p.ImageSize == nil {
		return nil, &StatementError{Err: errors.New("release predicate: imageSize is required")}
	}
	r.Models = p.HardwareModels
	r.Version = p.Version
	r.SecurityVersion = *p.SecurityVersion
	r.Channel = p.Channel
	r.ImageSize = *p.ImageSize
	r.Created, err = time.Parse(time.RFC3339, p.Created)
	if err != nil {
		return nil, &StatementError{Err: fmt.Errorf("release predicate: created %q is not an RFC 3339 time", p.Created)}
	}
	for i, o := range p.Provenance {
		d, err := o.sha256()
		if err != nil {
			return nil, &StatementError{Err: fmt.Errorf("release predicate: provenance[%d]: %w", i, err)}
		}
		r.Provenance = append(r.Provenance, d)
	}
	if p.BaseImage != nil {
		d, err := p.BaseImage.sha256()
		if err != nil {
			return nil, &StatementError{Err: fmt.Errorf("release predicate: baseImage: %w", err)}
		}
		r.BaseImage = &d
	}
	if p.Layout != nil {
		d, err := p.Layout.sha256()
		if err != nil {
			return nil, &StatementError{Err: fmt.Errorf("release predicate: layout: %w", err)}
		}
		r.Layout = &d
	}
	for i, o := range p.Links {
		d, err := o.sha256()
		if err != nil {
			return nil, &StatementError{Err: fmt.Errorf("release predicate: links[%d]: %w", i, err)}
		}
		r.Links = append(r.Links, d)
	}
	if err := r.Validate(); err != nil {
		return nil, &StatementError{Err: fmt.Errorf("release predicate: %w", err)}
	}
	return r, nil
}

// A SignedRelease is a release envelope whose signatures verified.
type SignedRelease struct {
	Envelope *Envelope
	Release  *Release
	// Signers are the DSSE key IDs of the trusted keys that signed.
	Signers []string
}

// VerifyRelease parses a release envelope and its statement and checks that
// at least threshold distinct keys in ring signed it.
func VerifyRelease(ctx context.Context, envelope []byte, ring *keys.Ring, threshold int) (*SignedRelease, error) {
	env, err := ParseEnvelope(envelope)
	if err != nil {
		return nil, err
	}
	rel, err := ParseRelease(env.Body)
	if err != nil {
		return nil, err
	}
	signers, err := VerifySignatures(ctx, env, ring, threshold)
	if err != nil {
		return nil, err
	}
	return &SignedRelease{Envelope: env, Release: rel, Signers: signers}, nil
}
