package provenance

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fwledger/fwledger/digest"
	ita1 "github.com/in-toto/attestation/go/v1"
)

// ProbePredicateType is the predicateType of a probe statement.
const ProbePredicateType = "https://fwledger.dev/probe/v1"

// KindProbe is the kind of a probe statement.
const KindProbe Kind = "probe"

// probeSubjectName is the subject name of every probe: its digest is the
// probe's nonce, not an artifact's.
const probeSubjectName = "fwledger-probe"

// MaxOriginLength bounds a probe's origin, in bytes.
const MaxOriginLength = 256

// A Probe is a canary an auditor submits to a log to see that the log
// logs what it acknowledges within its merge delay (docs/AUDIT.md). It is
// not a release: no device, lookup or policy takes it into account. It is
// signed by one of the log's probe keys (fwlog --probe-keys).
type Probe struct {
	// Origin is the origin of the log the probe is for: a log takes only
	// probes for itself.
	Origin string
	// Nonce makes each probe a statement of its own.
	Nonce digest.Digest
	// Created is when the auditor made the probe.
	Created time.Time
}

type probePredicate struct {
	Origin  string `json:"origin"`
	Created string `json:"created"`
}

// Validate checks p's fields.
func (p *Probe) Validate() error {
	switch {
	case p.Origin == "" || len(p.Origin) > MaxOriginLength || !utf8.ValidString(p.Origin) || strings.IndexFunc(p.Origin, unicode.IsSpace) >= 0 || strings.IndexFunc(p.Origin, unicode.IsControl) >= 0:
		return fmt.Errorf("origin %q is not a log origin: 1 to %d bytes of UTF-8 without spaces or control characters", p.Origin, MaxOriginLength)
	case p.Created.IsZero():
		return errors.New("created time is required")
	}
	return nil
}

// Statement returns p as an in-toto Statement v1, marshalled with protojson:
// the bytes to sign.
func (p *Probe) Statement() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	sub := &ita1.ResourceDescriptor{Name: probeSubjectName, Digest: map[string]string{"sha256": hex.EncodeToString(p.Nonce[:])}}
	return marshalStatement(sub, ProbePredicateType, map[string]any{"origin": p.Origin, "created": p.Created.UTC().Format(time.RFC3339)})
}

// ParseProbe parses and validates a probe statement: the decoded payload
// of a probe envelope.
func ParseProbe(body []byte) (*Probe, error) {
	st, err := ParseStatement(body)
	if err != nil {
		return nil, err
	}
	if st.PredicateType != ProbePredicateType {
		return nil, &StatementError{Err: fmt.Errorf("probe: predicateType is %q, want %q", st.PredicateType, ProbePredicateType)}
	}
	return parseProbe(st)
}

func parseProbe(st *Statement) (*Probe, error) {
	bad := func(format string, a ...any) error {
		return &StatementError{Err: fmt.Errorf("probe: "+format, a...)}
	}
	if st.Type != ita1.StatementTypeUri {
		return nil, bad("statement _type is %q, want %q", st.Type, ita1.StatementTypeUri)
	}
	if n := len(st.Subject); n != 1 {
		return nil, bad("a probe has exactly one subject, this has %d", n)
	}
	sub := st.Subject[0]
	if sub.GetName() != probeSubjectName {
		return nil, bad("the subject is named %q, want %q", sub.GetName(), probeSubjectName)
	}
	h, ok := sub.GetDigest()["sha256"]
	if !ok || len(sub.GetDigest()) != 1 {
		return nil, bad("the subject names %d digests, want exactly one, sha256", len(sub.GetDigest()))
	}
	nonce, err := digest.ParseHex(h)
	if err != nil {
		return nil, bad("subject sha256 digest: %v", err)
	}
	var pp probePredicate
	dec := json.NewDecoder(bytes.NewReader(st.Predicate))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pp); err != nil {
		return nil, bad("predicate: %v", err)
	}
	p := &Probe{Origin: pp.Origin, Nonce: nonce}
	if p.Created, err = time.Parse(time.RFC3339, pp.Created); err != nil {
		return nil, bad("created %q is not an RFC 3339 time", pp.Created)
	}
	if err := p.Validate(); err != nil {
		return nil, bad("%v", err)
	}
	return p, nil
}
