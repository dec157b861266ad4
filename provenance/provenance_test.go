package provenance_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

func TestReleaseRoundTrip(t *testing.T) {
	base := digest.Digest{1, 2, 3}
	r := fwtest.NewRelease([]byte("image"), func(r *provenance.Release) {
		r.Models = []string{"acme-x1", "acme-x1-pro"}
		r.Version = "2.0.0-rc.1+build.5"
		r.SecurityVersion = 1 << 40
		r.ImageSize = 5_000_000_000
		r.Provenance = []digest.Digest{{9}, {8}}
		r.BaseImage = &base
	})
	stmt, err := r.Statement()
	if err != nil {
		t.Fatal(err)
	}
	got, err := provenance.ParseRelease(stmt)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("ParseRelease(Statement(r)) = %+v, want %+v", got, r)
	}
}

func TestValidVersion(t *testing.T) {
	for v, want := range map[string]bool{
		"1.4.0": true, "0.0.1": true, "1.0.0-rc.1": true, "1.0.0+build": true, "1.0.0-a.b+c.d": true,
		"1.4": false, "v1.4.0": false, "1": false, "01.2.3": false, "1.2.3-": false, "": false, "1.2.3.4": false,
	} {
		if got := provenance.ValidVersion(v); got != want {
			t.Errorf("ValidVersion(%q) = %v, want %v", v, got, want)
		}
	}
}

// statementWith returns a valid release statement with the predicate edited
// as JSON: keys in set are replaced, keys in del removed.
func statementWith(t *testing.T, edit func(st, pred map[string]any)) []byte {
	stmt, err := fwtest.NewRelease([]byte("image"), nil).Statement()
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	json.Unmarshal(stmt, &st)
	edit(st, st["predicate"].(map[string]any))
	out, _ := json.Marshal(st)
	return out
}

func TestParseReleaseRejects(t *testing.T) {
	for _, tc := range []struct {
		desc string
		edit func(st, pred map[string]any)
		msg  string
	}{
		{"unknown predicate field", func(_, p map[string]any) { p["color"] = "red" }, "unknown field"},
		{"missing securityVersion", func(_, p map[string]any) { delete(p, "securityVersion") }, "securityVersion is required"},
		{"fractional securityVersion", func(_, p map[string]any) { p["securityVersion"] = 1.5 }, "securityVersion"},
		{"negative securityVersion", func(_, p map[string]any) { p["securityVersion"] = -1 }, "securityVersion"},
		{"string securityVersion", func(_, p map[string]any) { p["securityVersion"] = "7" }, "securityVersion"},
		{"missing imageSize", func(_, p map[string]any) { delete(p, "imageSize") }, "imageSize is required"},
		{"zero imageSize", func(_, p map[string]any) { p["imageSize"] = 0 }, "image size must be positive"},
		{"no models", func(_, p map[string]any) { p["hardwareModels"] = []any{} }, "at least one hardware model"},
		{"bad model", func(_, p map[string]any) { p["hardwareModels"] = []any{"a b"} }, "invalid hardware model"},
		{"duplicate model", func(_, p map[string]any) { p["hardwareModels"] = []any{"a", "a"} }, "listed twice"},
		{"bad version", func(_, p map[string]any) { p["version"] = "1.4" }, "invalid version"},
		{"bad channel", func(_, p map[string]any) { p["channel"] = "" }, "invalid channel"},
		{"bad created", func(_, p map[string]any) { p["created"] = "yesterday" }, "RFC 3339"},
		{"bad provenance digest", func(_, p map[string]any) {
			p["provenance"] = []any{map[string]any{"digest": map[string]any{"sha1": "00"}}}
		}, "provenance[0]"},
		{"wrong predicateType", func(st, _ map[string]any) { st["predicateType"] = "https://slsa.dev/provenance/v1" }, "predicateType"},
		{"a sha384 subject digest nobody checks", func(st, _ map[string]any) {
			st["subject"].([]any)[0].(map[string]any)["digest"].(map[string]any)["sha384"] = strings.Repeat("ab", 48)
		}, `subject digest "sha384": a release names its image by sha256, and optionally sha512, only`},
		{"a subject digest of an unknown algorithm", func(st, _ map[string]any) {
			st["subject"].([]any)[0].(map[string]any)["digest"].(map[string]any)["sha3-256"] = "zz"
		}, `subject digest "sha3-256"`},
		{"legacy statement type", func(st, _ map[string]any) { st["_type"] = "https://in-toto.io/Statement/v0.1" }, "_type"},
		{"two subjects", func(st, _ map[string]any) {
			s := st["subject"].([]any)
			st["subject"] = append(s, s[0])
		}, "exactly one subject"},
		{"no sha256 digest", func(st, _ map[string]any) {
			st["subject"] = []any{map[string]any{"name": "x", "digest": map[string]any{"sha512": strings.Repeat("0", 128)}}}
		}, "no sha256"},
		{"uppercase digest", func(st, _ map[string]any) {
			st["subject"] = []any{map[string]any{"name": "x", "digest": map[string]any{"sha256": strings.Repeat("A", 64)}}}
		}, "lowercase"},
		{"unknown statement field", func(st, _ map[string]any) { st["extra"] = true }, "invalid statement"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := provenance.ParseRelease(statementWith(t, tc.edit))
			var se *provenance.StatementError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("ParseRelease = %v, want a StatementError containing %q", err, tc.msg)
			}
		})
	}
	dup := []byte(`{"_type":"https://in-toto.io/Statement/v1","_type":"x"}`)
	_, err := provenance.ParseRelease(dup)
	var se *provenance.StatementError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("ParseRelease with a duplicate key = %v, want a *StatementError naming the duplicate", err)
	}
}

func sigOf(t *testing.T, k *keys.PrivateKey, env *provenance.Envelope) dsse.Signature {
	s := fwtest.Signer(t, k)
	raw, err := s.Sign(context.Background(), dsse.PAE(env.PayloadType, env.Body))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := s.KeyID()
	return dsse.Signature{KeyID: id, Sig: base64.StdEncoding.EncodeToString(raw)}
}

func TestVerifySignatures(t *testing.T) {
	ctx := context.Background()
	stmt, _ := fwtest.NewRelease([]byte("image"), nil).Statement()
	env, err := provenance.ParseEnvelope(fwtest.SignPayload(t, stmt, fwtest.Release1))
	if err != nil {
		t.Fatal(err)
	}
	s1, s2, s3 := sigOf(t, fwtest.Release1, env), sigOf(t, fwtest.Release2, env), sigOf(t, fwtest.Release3, env)
	bad := s2
	raw, _ := base64.StdEncoding.DecodeString(bad.Sig)
	raw[0] ^= 1
	bad.Sig = base64.StdEncoding.EncodeToString(raw)
	noID := s2
	noID.KeyID = ""
	ring := fwtest.Ring(t, fwtest.Release1, fwtest.Release2)
	// junk returns n signatures that name no trusted key and verify with
	// none: an envelope padded by someone without a key.
	junk := func(n int) []dsse.Signature {
		var out []dsse.Signature
		for i := range n {
			j := s3
			j.KeyID = fmt.Sprintf("junk-%d", i)
			out = append(out, j)
		}
		return out
	}

	for _, tc := range []struct {
		desc      string
		sigs      []dsse.Signature
		threshold int
		want      int   // signers, when no error
		err       error // the error type expected
	}{
		{"one of one", []dsse.Signature{s1}, 1, 1, nil},
		{"two of two", []dsse.Signature{s1, s2}, 2, 2, nil},
		{"same key twice counts once", []dsse.Signature{s1, s1}, 2, 0, &provenance.ThresholdError{}},
		{"unknown key ignored", []dsse.Signature{s1, s3}, 1, 1, nil},
		{"unknown key does not count", []dsse.Signature{s1, s3}, 2, 0, &provenance.ThresholdError{}},
		{"only unknown keys", []dsse.Signature{s3}, 1, 0, &provenance.ThresholdError{}},
		{"invalid signature by a trusted key", []dsse.Signature{s1, bad}, 1, 0, &provenance.SignatureError{}},
		{"empty keyid matched by trying keys", []dsse.Signature{s1, noID}, 2, 2, nil},
		{"a foreign keyid matched within the bound", append(junk(4-1), noID, s1), 2, 2, nil},
		{"a foreign keyid beyond the bound is not tried", append(junk(4), noID, s1), 2, 0, &provenance.ThresholdError{}},
		{"padding does not hide a signature whose keyid names its key", append(junk(30), s1), 1, 1, nil},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			e := *env
			e.Signatures = tc.sigs
			signers, err := provenance.VerifySignatures(ctx, &e, ring, tc.threshold)
			if tc.err == nil {
				if err != nil || len(signers) != tc.want {
					t.Errorf("VerifySignatures = %v, %v; want %d signers", signers, err, tc.want)
				}
				return
			}
			if reflect.TypeOf(err) != reflect.TypeOf(tc.err) {
				t.Errorf("VerifySignatures error = %T %v, want %T", err, err, tc.err)
			}
		})
	}
}

func TestAddSignatureKeepsPayload(t *testing.T) {
	ctx := context.Background()
	stmt, _ := fwtest.NewRelease([]byte("image"), nil).Statement()
	env := fwtest.SignPayload(t, stmt, fwtest.Release1)
	two, err := provenance.AddSignature(ctx, env, fwtest.Signer(t, fwtest.Release2))
	if err != nil {
		t.Fatal(err)
	}
	e1, _ := provenance.ParseEnvelope(env)
	e2, _ := provenance.ParseEnvelope(two)
	if e1.Payload != e2.Payload || !bytes.Equal(e2.Body, stmt) {
		t.Error("AddSignature changed the payload")
	}
	if _, err := provenance.VerifySignatures(ctx, e2, fwtest.Ring(t, fwtest.Release1, fwtest.Release2), 2); err != nil {
		t.Errorf("two signatures do not verify: %v", err)
	}
	if _, err := provenance.AddSignature(ctx, two, fwtest.Signer(t, fwtest.Release2)); err == nil {
		t.Error("adding a second signature by the same key succeeded")
	}
}

func TestParseEnvelopeRejects(t *testing.T) {
	good := fwtest.SignPayload(t, []byte("{}"), fwtest.Release1)
	for _, tc := range []struct {
		desc string
		data []byte
	}{
		{"too large", bytes.Repeat([]byte(" "), provenance.MaxEnvelopeSize+1)},
		{"not JSON", []byte("hello")},
		{"trailing data", append(append([]byte{}, good...), "{}"...)},
		{"invalid UTF-8", []byte("{\"payloadType\":\"\xff\"}")},
		{"deep nesting", []byte(strings.Repeat("[", 100) + strings.Repeat("]", 100))},
		{"missing payloadType", []byte(`{"payload":"e30=","signatures":[{"sig":"AA=="}]}`)},
		{"empty signature", []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":""}]}`)},
		{"too many signatures", []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[` + strings.Repeat(`{"sig":"AA=="},`, 32) + `{"sig":"AA=="}]}`)},
	} {
		if _, err := provenance.ParseEnvelope(tc.data); err == nil {
			t.Errorf("ParseEnvelope(%s) succeeded", tc.desc)
		}
	}
	if _, err := provenance.ParseEnvelope(good); err != nil {
		t.Errorf("ParseEnvelope(good) = %v", err)
	}
}

func TestStatementIsProtojson(t *testing.T) {
	r := fwtest.NewRelease([]byte("x"), func(r *provenance.Release) { r.Created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) })
	stmt, err := r.Statement()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(stmt, &m); err != nil {
		t.Fatal(err)
	}
	if m["_type"] != "https://in-toto.io/Statement/v1" || m["predicateType"] != provenance.ReleasePredicateType {
		t.Errorf("statement = %s", stmt)
	}
	if p := m["predicate"].(map[string]any); p["created"] != "2026-01-02T03:04:05Z" {
		t.Errorf("created = %v", p["created"])
	}
}
