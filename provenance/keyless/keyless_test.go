package keyless_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/provenance/keyless"
)

// interop holds real provenance that real generators produced
// (../shared/interop/provenance/README.md says where each comes from).
func read(t *testing.T, name string) []byte { return fwtest.ReadInterop(t, name) }

// samples returns the exact bytes of each real Sigstore bundle.
func samples(t *testing.T) map[string][]byte {
	gha := bytes.TrimSpace(read(t, "gha-attest-build-provenance.rules_lint-v1.3.1.tar.gz.intoto.jsonl"))
	delegator := bytes.TrimSpace(read(t, "slsa-github-generator-delegator-v2.1.0.build.slsa.json"))
	var npm struct {
		Attestations []struct {
			PredicateType string          `json:"predicateType"`
			Bundle        json.RawMessage `json:"bundle"`
		} `json:"attestations"`
	}
	if err := json.Unmarshal(read(t, "npm-gundam-visor-1.0.1.attestations.json"), &npm); err != nil {
		t.Fatal(err)
	}
	var npmProv []byte
	for _, a := range npm.Attestations {
		if a.PredicateType == provenance.SLSAPredicateType {
			npmProv = a.Bundle
		}
	}
	return map[string][]byte{"gha-attest": gha, "slsa-delegator": delegator, "npm": npmProv}
}

func verifier(t *testing.T) *keyless.Verifier {
	v, err := keyless.NewVerifier(read(t, "sigstore-public-good.trusted_root.json"))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRealBundles(t *testing.T) {
	v := verifier(t)
	want := map[string]provenance.CertificateIdentity{
		"gha-attest": {
			Issuer:           "https://token.actions.githubusercontent.com",
			SAN:              "https://github.com/bazel-contrib/.github/.github/workflows/release_ruleset.yaml@refs/tags/v7.1.0",
			SourceRepository: "https://github.com/aspect-build/rules_lint",
		},
		"slsa-delegator": {
			Issuer:           "https://token.actions.githubusercontent.com",
			SAN:              "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/delegator_generic_slsa3.yml@refs/tags/v2.1.0",
			SourceRepository: "https://github.com/slsa-framework/example-package",
		},
		"npm": {
			Issuer:           "https://token.actions.githubusercontent.com",
			SAN:              "https://github.com/ramonpetgrave64/gundam-visor/.github/workflows/npm-publish.yml@refs/tags/v1.0.1",
			SourceRepository: "https://github.com/ramonpetgrave64/gundam-visor",
		},
	}
	for name, data := range samples(t) {
		t.Run(name, func(t *testing.T) {
			e, err := provenance.ParseEntry(data)
			if err != nil {
				t.Fatalf("ParseEntry: %v", err)
			}
			if e.Kind != provenance.KindProvenance || e.Bundle == nil {
				t.Fatalf("kind %s, bundle %v", e.Kind, e.Bundle != nil)
			}
			id, err := v.VerifyKeyless(e)
			if err != nil {
				t.Fatalf("VerifyKeyless: %v", err)
			}
			if *id != want[name] {
				t.Errorf("identity = %+v, want %+v", *id, want[name])
			}
			for _, tc := range tampered(t, data) {
				te, err := provenance.ParseEntry(tc.data)
				if err != nil {
					continue // refused even earlier: also a failure, as it should be
				}
				if _, err := v.VerifyKeyless(te); err == nil {
					t.Errorf("a copy with %s verifies", tc.desc)
				}
			}
		})
	}
}

type variant struct {
	desc string
	data []byte
}

// tampered returns copies of a Sigstore bundle with one change each: a byte
// of the payload, a byte of the signature, the subject digest.
func tampered(t *testing.T, bundle []byte) []variant {
	edit := func(f func(env map[string]any)) []byte {
		var b map[string]any
		if err := json.Unmarshal(bundle, &b); err != nil {
			t.Fatal(err)
		}
		f(b["dsseEnvelope"].(map[string]any))
		out, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	payload := func(env map[string]any) []byte {
		p, err := base64.StdEncoding.DecodeString(env["payload"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	return []variant{
		{"one byte of the payload changed", edit(func(env map[string]any) {
			p := payload(env)
			i := bytes.Index(p, []byte(`"buildType"`)) + 2
			p[i] ^= 0x20
			env["payload"] = base64.StdEncoding.EncodeToString(p)
		})},
		{"one byte of the signature changed", edit(func(env map[string]any) {
			sig := env["signatures"].([]any)[0].(map[string]any)
			raw, _ := base64.StdEncoding.DecodeString(sig["sig"].(string))
			raw[len(raw)/2] ^= 1
			sig["sig"] = base64.StdEncoding.EncodeToString(raw)
		})},
		{"the subject digest changed", edit(func(env map[string]any) {
			p := payload(env)
			var st map[string]any
			json.Unmarshal(p, &st)
			for _, s := range st["subject"].([]any) {
				for alg, d := range s.(map[string]any)["digest"].(map[string]any) {
					h := []byte(d.(string))
					if h[0] == '0' {
						h[0] = '1'
					} else {
						h[0] = '0'
					}
					s.(map[string]any)["digest"].(map[string]any)[alg] = string(h)
				}
			}
			p, _ = json.Marshal(st)
			env["payload"] = base64.StdEncoding.EncodeToString(p)
		})},
	}
}

func TestNotABundle(t *testing.T) {
	v := verifier(t)
	e := &provenance.Entry{Kind: provenance.KindProvenance}
	if _, err := v.VerifyKeyless(e); err == nil || !strings.Contains(err.Error(), "not a Sigstore bundle") {
		t.Errorf("VerifyKeyless of a plain envelope = %v", err)
	}
}
