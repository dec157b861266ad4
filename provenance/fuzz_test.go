package provenance

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzParseEnvelope checks that envelope parsing never panics and enforces
// its limits on whatever it accepts.
func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"k","sig":"AA=="}]}`))
	f.Add([]byte(`{"payloadType":"x","payload":"","signatures":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEnvelope(data)
		if err != nil {
			return
		}
		if len(data) > MaxEnvelopeSize || e.PayloadType != PayloadType || len(e.Signatures) == 0 || len(e.Signatures) > MaxSignatures {
			t.Fatalf("ParseEnvelope accepted an envelope outside its rules: %q", data)
		}
	})
}

// FuzzParseRelease checks that an accepted release statement is valid and
// survives a Statement and ParseRelease round trip.
func FuzzParseRelease(f *testing.F) {
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"fw.bin","digest":{"sha256":"0000000000000000000000000000000000000000000000000000000000000000"}}],"predicateType":"https://fwledger.dev/release/v1","predicate":{"hardwareModels":["a"],"version":"1.0.0","securityVersion":1,"channel":"stable","created":"2026-01-01T00:00:00Z","imageSize":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRelease(data)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseRelease accepted an invalid release: %v", err)
		}
		stmt, err := r.Statement()
		if err != nil {
			t.Fatalf("Statement of an accepted release: %v", err)
		}
		r2, err := ParseRelease(stmt)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		// Created may lose sub-second precision and zone in the round trip.
		r2.Created = r.Created
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the release: %+v vs %+v", r, r2)
		}
	})
}

// FuzzParseEntry checks that entry parsing never panics and classifies what
// it accepts consistently.
func FuzzParseEntry(f *testing.F) {
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"k","sig":"AA=="}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEntry(data)
		if err != nil {
			return
		}
		switch e.Kind {
		case KindRelease:
			if e.Release == nil || e.Release.Validate() != nil {
				t.Fatal("accepted an invalid release")
			}
		case KindProvenance:
			if e.Provenance == nil || len(e.Provenance.Subjects) == 0 || e.Provenance.BuilderID == "" {
				t.Fatal("accepted provenance without subjects or builder")
			}
		case KindLayout, KindLink:
			if e.Metablock == nil || len(e.Metablock.Signatures) == 0 {
				t.Fatal("accepted in-toto metadata without signatures")
			}
		case KindRevocation:
			if e.Revocation == nil || e.Revocation.Validate() != nil {
				t.Fatal("accepted an invalid revocation")
			}
		case KindProbe:
			if e.Probe == nil || e.Probe.Validate() != nil {
				t.Fatal("accepted an invalid probe")
			}
		default:
			t.Fatalf("unknown kind %q", e.Kind)
		}
	})
}

// FuzzParseProvenance checks SLSA provenance parsing on arbitrary
// statements.
func FuzzParseProvenance(f *testing.F) {
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"0000000000000000000000000000000000000000000000000000000000000000"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"t","externalParameters":{"source":"git+https://x"}},"runDetails":{"builder":{"id":"b"}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProvenance(data)
		if err != nil {
			return
		}
		if !p.StartedOn.IsZero() && !p.FinishedOn.IsZero() && p.FinishedOn.Before(p.StartedOn) {
			t.Fatal("accepted finishedOn before startedOn")
		}
		for _, s := range p.Subjects {
			if len(s.Value) < 32 {
				t.Fatal("accepted a digest shorter than 256 bits")
			}
		}
	})
}

// FuzzParsePolicy checks that policy parsing never panics, and that an
// accepted policy has a rule for some model.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("version: 1\nkeys:\n  r: {vkey: \"example.com/r+00000000+AQ==\"}\nrules:\n  - {models: ['*'], release: {keys: [r]}, provenance: {builders: [b]}}\n"))
	f.Add([]byte("version: 1\nbuilders:\n  - {name: b, idRegex: 'a.*', keyless: {issuer: i, san: s}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data, func(string) ([]byte, error) { return nil, errors.New("no files") })
		if err != nil {
			return
		}
		if len(p.rules) == 0 {
			t.Fatal("accepted a policy without rules")
		}
	})
}

// FuzzParseReference checks that only canonical references are accepted.
func FuzzParseReference(f *testing.F) {
	f.Add(ReferenceTo([]byte("content")).Marshal())
	f.Add([]byte(`{"mediaType":"application/vnd.fwledger.entry-ref.v1+json","digest":{"sha256":"00"},"size":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseReference(data)
		if err != nil || r == nil {
			return
		}
		if !bytes.Equal(r.Marshal(), data) {
			t.Fatalf("accepted a non-canonical reference %q", data)
		}
	})
}

// FuzzCanonicalize checks the canonical encoding of envelopes: whatever
// parses canonicalizes to an envelope that parses, is canonical, carries the
// same payload and signatures, and canonicalizes to itself; an envelope that
// CheckCanonical accepts is its own canonical encoding.
func FuzzCanonicalize(f *testing.F) {
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"k","sig":"AA=="}]}`))
	f.Add([]byte(` {"signatures":[{"sig":"_-8=","keyid":"b"},{"keyid":"a","sig":"AA=="}],"payload":"e30","payloadType":"application/vnd.in-toto+json"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, perr := ParseEnvelope(bytes.TrimSpace(data))
		canon, err := Canonicalize(data)
		if (perr == nil) != (err == nil) {
			t.Fatalf("ParseEnvelope = %v but Canonicalize = %v", perr, err)
		}
		if err != nil {
			return
		}
		cenv, err := ParseEnvelope(canon)
		if err != nil {
			t.Fatalf("the canonical encoding %q does not parse: %v", canon, err)
		}
		if err := CheckCanonical(canon, cenv); err != nil {
			t.Fatalf("the canonical encoding %q is not canonical: %v", canon, err)
		}
		if !bytes.Equal(cenv.Body, env.Body) || cenv.PayloadType != env.PayloadType {
			t.Fatalf("canonicalizing changed the payload")
		}
		sigs := func(e *Envelope) map[string]bool {
			out := map[string]bool{}
			for _, s := range e.Signatures {
				raw, err := decodeBase64(s.Sig)
				if err != nil {
					t.Fatalf("signature %q does not decode: %v", s.Sig, err)
				}
				out[s.KeyID+"\x00"+string(raw)] = true
			}
			return out
		}
		if !reflect.DeepEqual(sigs(env), sigs(cenv)) {
			t.Fatalf("canonicalizing changed the signatures: %v vs %v", sigs(env), sigs(cenv))
		}
		if again, err := Canonicalize(canon); err != nil || !bytes.Equal(again, canon) {
			t.Fatalf("canonicalizing is not idempotent: %q -> %q, %v", canon, again, err)
		}
		if CheckCanonical(data, env) == nil && !bytes.Equal(data, canon) {
			t.Fatalf("CheckCanonical accepts %q, whose canonical encoding is %q", data, canon)
		}
	})
}

// FuzzProbeMayFind checks that ParseEntry's shortcut is exact: whenever
// probeMayFind says a document holds none of the probe's deciding fields,
// decoding it finds none.
func FuzzProbeMayFind(f *testing.F) {
	for _, s := range []string{
		`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"k","sig":"AA=="}]}`,
		`{"signed":{"_type":"layout"},"signatures":[]}`,
		`{"SIGNED":{}}`,
		`{"sign\u0065d":{}}`,
		`{"ſigned":{}}`,
		`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{}}`,
		`{"MediaType":"x"}`,
		`{"a":"signed","b":{"dsseEnvelope":1}}`,
		`[{"signed":1}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if probeMayFind(data) {
			return
		}
		var p entryProbe
		if json.Unmarshal(data, &p) != nil {
			return
		}
		if p.Signed != nil || p.MediaType != nil || p.DSSEEnvelope != nil {
			t.Fatalf("probeMayFind(%q) = false, but the probe finds %+v", data, p)
		}
	})
}

// FuzzParseCanonical holds parseCanonical, the one-pass parser of canonical
// envelopes, to the general parser and CheckCanonical: whatever it takes,
// they take as canonical, with the same fields; and it takes every canonical
// envelope whose bytes are printable ASCII that encoding/json writes as
// they are.
func FuzzParseCanonical(f *testing.F) {
	for _, s := range []string{
		`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"k","sig":"AA=="}]}`,
		`{"payloadType":"application/vnd.in-toto+json","payload":"e31=","signatures":[{"keyid":"k","sig":"AA=="}]}`,
		`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"AA=="},{"keyid":"a","sig":"AA=="}]}`,
		`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"b","sig":"AA=="},{"keyid":"a","sig":"AA=="}]}`,
		`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"a","sig":"AA=="},{"keyid":"a","sig":"AA=="}]}`,
		`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"a\u003c","sig":"AA=="}]}`,
		`{"payloadType":"application/vnd.in-toto+json","payload":"e30","signatures":[{"keyid":"k","sig":"AA=="}]}`,
		`{"payloadType":"application/vnd.in-toto+json","payload":"e3\n0=","signatures":[{"keyid":"k","sig":"AA=="}]}`,
		`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"k","sig":"AA=="}]}` + "\n",
		`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"k","sig":"AA=="}],"payload":"e30="}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := parseCanonical(data, PayloadType)
		slow, err := parseEnvelopeJSON(data, PayloadType)
		if ok {
			if err != nil {
				t.Fatalf("parseCanonical took %q, which the general parser refuses: %v", data, err)
			}
			if err := CheckCanonical(data, slow); err != nil {
				t.Fatalf("parseCanonical took %q, which is not canonical: %v", data, err)
			}
			if !reflect.DeepEqual(fast.Envelope, slow.Envelope) || !bytes.Equal(fast.Body, slow.Body) {
				t.Fatalf("the parsers disagree on %q: %+v vs %+v", data, fast.Envelope, slow.Envelope)
			}
			return
		}
		if err != nil || CheckCanonical(data, slow) != nil {
			return
		}
		for _, c := range data {
			if c < 0x20 || c > 0x7e || c == '<' || c == '>' || c == '&' || c == '\\' {
				return
			}
		}
		if len(data) <= MaxEnvelopeSize {
			t.Fatalf("parseCanonical refused %q, a canonical envelope", data)
		}
	})
}

// FuzzParseRevocation checks that an accepted revocation statement is
// valid and survives a Statement and ParseRevocation round trip.
func FuzzParseRevocation(f *testing.F) {
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"dsse-key","digest":{"sha256":"0000000000000000000000000000000000000000000000000000000000000000"}}],"predicateType":"https://fwledger.dev/revocation/v1","predicate":{"revokes":"key","fromIndex":3,"reason":"compromised","created":"2026-01-01T00:00:00Z"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRevocation(data)
		if err != nil {
			var se *StatementError
			if !errors.As(err, &se) {
				t.Fatalf("ParseRevocation returned an untyped error: %v", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseRevocation accepted an invalid revocation: %v", err)
		}
		stmt, err := r.Statement()
		if err != nil {
			t.Fatalf("Statement of an accepted revocation: %v", err)
		}
		r2, err := ParseRevocation(stmt)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		r2.Created = r.Created
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the revocation: %+v vs %+v", r, r2)
		}
	})
}

// FuzzParseProbe checks that an accepted probe statement is valid and
// survives a Statement and ParseProbe round trip.
func FuzzParseProbe(f *testing.F) {
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"fwledger-probe","digest":{"sha256":"0000000000000000000000000000000000000000000000000000000000000000"}}],"predicateType":"https://fwledger.dev/probe/v1","predicate":{"origin":"example.com/log","created":"2026-01-01T00:00:00Z"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProbe(data)
		if err != nil {
			var se *StatementError
			if !errors.As(err, &se) {
				t.Fatalf("ParseProbe returned an untyped error: %v", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParseProbe accepted an invalid probe: %v", err)
		}
		stmt, err := p.Statement()
		if err != nil {
			t.Fatalf("Statement of an accepted probe: %v", err)
		}
		p2, err := ParseProbe(stmt)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		p2.Created = p.Created
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip changed the probe: %+v vs %+v", p, p2)
		}
	})
}
