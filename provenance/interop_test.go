package provenance_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
)

func ringFromPEM(t *testing.T, name string) *keys.Ring {
	k, err := keys.ParsePublic(fwtest.ReadInterop(t, name))
	if err != nil {
		t.Fatal(err)
	}
	r, err := keys.NewRing(k)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// gcbEnvelope returns the exact bytes of the signed SLSA v1 envelope inside
// Google Cloud Build's provenance summary (the statement beside it is not
// signed and is ignored).
func gcbEnvelope(t *testing.T) []byte {
	var w struct {
		Summary struct {
			Provenance []struct {
				Envelope json.RawMessage `json:"envelope"`
			} `json:"provenance"`
		} `json:"provenance_summary"`
	}
	if err := json.Unmarshal(fwtest.ReadInterop(t, "gcb-slsa-v1.gcloud-container-github.json"), &w); err != nil {
		t.Fatal(err)
	}
	return w.Summary.Provenance[0].Envelope
}

// npmPublishEnvelope returns the DSSE envelope of npm's publish attestation,
// signed with the npm registry's key.
func npmPublishEnvelope(t *testing.T) []byte {
	var a struct {
		Attestations []struct {
			PredicateType string `json:"predicateType"`
			Bundle        struct {
				DSSEEnvelope json.RawMessage `json:"dsseEnvelope"`
			} `json:"bundle"`
		} `json:"attestations"`
	}
	if err := json.Unmarshal(fwtest.ReadInterop(t, "npm-gundam-visor-1.0.1.attestations.json"), &a); err != nil {
		t.Fatal(err)
	}
	for _, at := range a.Attestations {
		if at.PredicateType != provenance.SLSAPredicateType {
			return at.Bundle.DSSEEnvelope
		}
	}
	t.Fatal("no publish attestation")
	return nil
}

// editEnvelope returns env changed by f (the envelope JSON is not signed).
func editEnvelope(t *testing.T, env []byte, f func(m map[string]any)) []byte {
	var m map[string]any
	if err := json.Unmarshal(env, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, _ := json.Marshal(m)
	return out
}

func flipPayload(t *testing.T, env []byte) []byte {
	return editEnvelope(t, env, func(m map[string]any) {
		p, _ := base64.StdEncoding.DecodeString(m["payload"].(string))
		p[len(p)/2] ^= 1
		m["payload"] = base64.StdEncoding.EncodeToString(p)
	})
}

func flipSignature(t *testing.T, env []byte) []byte {
	return editEnvelope(t, env, func(m map[string]any) {
		s := m["signatures"].([]any)[0].(map[string]any)
		sig := s["sig"].(string)
		raw, err := base64.URLEncoding.DecodeString(sig)
		if err != nil {
			raw, _ = base64.StdEncoding.DecodeString(sig)
		}
		raw[len(raw)-5] ^= 1
		s["sig"] = base64.StdEncoding.EncodeToString(raw)
	})
}

func changeSubject(t *testing.T, env []byte) []byte {
	return editEnvelope(t, env, func(m map[string]any) {
		p, _ := base64.StdEncoding.DecodeString(m["payload"].(string))
		var st map[string]any
		json.Unmarshal(p, &st)
		sub := st["subject"].([]any)[0].(map[string]any)
		for alg, d := range sub["digest"].(map[string]any) {
			h := []byte(d.(string))
			h[0] = "01"[map[bool]int{true: 1, false: 0}[h[0] == '0']]
			sub["digest"].(map[string]any)[alg] = string(h)
		}
		p, _ = json.Marshal(st)
		m["payload"] = base64.StdEncoding.EncodeToString(p)
	})
}

// TestRealKeySignedProvenance verifies Google Cloud Build's SLSA v1
// provenance (ECDSA P-256, base64url signature, a KMS key name as keyid) and
// npm's publish attestation (ECDSA, an SSH-fingerprint keyid) with their
// public keys, and checks that tampered copies fail.
func TestRealKeySignedProvenance(t *testing.T) {
	ctx := context.Background()
	gcb := gcbEnvelope(t)
	e, err := provenance.ParseEntry(gcb)
	if err != nil {
		t.Fatalf("ParseEntry(GCB): %v", err)
	}
	if e.Kind != provenance.KindProvenance || e.Provenance.BuilderID != "https://cloudbuild.googleapis.com/GoogleHostedWorker" ||
		e.Provenance.Source.Commit != "2ce3f90facdb51aeb950d5bc641e981be61fdf48" || len(e.Provenance.Subjects) != 2 {
		t.Errorf("GCB provenance = %+v", e.Provenance)
	}
	gcbKey := ringFromPEM(t, "gcb-google-hosted-worker_1.pub.pem")
	if _, err := provenance.VerifySignatures(ctx, e.Envelope, gcbKey, 1); err != nil {
		t.Fatalf("GCB signature: %v", err)
	}
	npm := npmPublishEnvelope(t)
	npmKey := ringFromPEM(t, "npm-registry-publish-key.pub.pem")
	env, err := provenance.ParseEnvelope(npm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provenance.VerifySignatures(ctx, env, npmKey, 1); err != nil {
		t.Fatalf("npm publish attestation signature: %v", err)
	}
	// Each key verifies only its own producer's envelope.
	if _, err := provenance.VerifySignatures(ctx, e.Envelope, npmKey, 1); err == nil {
		t.Error("the npm key verifies GCB's provenance")
	}

	for name, tc := range map[string]struct {
		env  []byte
		ring *keys.Ring
	}{"gcb": {gcb, gcbKey}, "npm": {npm, npmKey}} {
		for desc, bad := range map[string][]byte{
			"payload byte": flipPayload(t, tc.env), "signature byte": flipSignature(t, tc.env), "subject digest": changeSubject(t, tc.env),
		} {
			env, err := provenance.ParseEnvelope(bad)
			if err != nil {
				continue
			}
			if _, err := provenance.VerifySignatures(ctx, env, tc.ring, 1); err == nil {
				t.Errorf("%s with a changed %s verifies", name, desc)
			}
		}
	}
	if !bytes.Contains(gcb, []byte(`"payloadType"`)) {
		t.Error("not the envelope")
	}
}
