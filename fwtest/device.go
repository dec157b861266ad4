package fwtest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// Root keys of device trust files.
var (
	Root1 = Key("vendor.example.com/root-1")
	Root2 = Key("vendor.example.com/root-2")
	Root3 = Key("vendor.example.com/root-3")
)

// BuilderID is the builder.id of Provenance's statements.
const BuilderID = "https://ci.example.com/runner/v1"

// Provenance returns SLSA provenance for image by the builder BuilderID
// from git+https://git.example.com/acme/fw, signed by k.
func Provenance(t testing.TB, image []byte, k *keys.PrivateKey) []byte {
	t.Helper()
	return ProvenanceWith(t, image, k, nil)
}

// ProvenanceWith is Provenance with the build changed by edit.
func ProvenanceWith(t testing.TB, image []byte, k *keys.PrivateKey, edit func(*provenance.Build)) []byte {
	t.Helper()
	b := &provenance.Build{
		BuilderID: BuilderID, BuildType: provenance.BuildTypeMake,
		Source: "git+https://git.example.com/acme/fw", Ref: "refs/tags/v1", Commit: "0123456789abcdef0123456789abcdef01234567",
		Subjects: []provenance.Artifact{{Name: "fw.bin", SHA256: sha256.Sum256(image)}},
	}
	if edit != nil {
		edit(b)
	}
	stmt, err := b.Statement()
	if err != nil {
		t.Fatal(err)
	}
	return SignPayload(t, stmt, k)
}

// A TrustFile describes a device trust file for tests; its zero value,
// with defaults filled in by Payload, trusts LogKey at URL, a 2-of-3
// quorum of WitnessA-C, Release1 (threshold 1) for acme-x1 on stable and
// beta, provenance by Builder from git.example.com/acme/fw (required),
// revocations by Security1, a day's cosignature age, and Root1-3 with a
// threshold of 2.
type TrustFile struct {
	Version                  uint64
	Created, Expires         time.Time
	URL                      string
	Log                      *keys.PrivateKey
	Witnesses                []*keys.PrivateKey
	Quorum                   int
	ReleaseKeys              []*keys.PrivateKey
	ReleaseThreshold         int
	RevocationKeys           []*keys.PrivateKey
	NoProvenance             bool
	Models, Channels         []string
	MaxCosignatureAge        string
	AllowSameSecurityVersion bool
	Roots                    []*keys.PrivateKey
	RootThreshold            int
}

// Payload returns the trust file's JSON payload.
func (f TrustFile) Payload(t testing.TB) []byte {
	t.Helper()
	def := func(ks *[]*keys.PrivateKey, d ...*keys.PrivateKey) {
		if *ks == nil {
			*ks = d
		}
	}
	def(&f.Witnesses, WitnessA, WitnessB, WitnessC)
	def(&f.ReleaseKeys, Release1)
	def(&f.RevocationKeys, Security1)
	def(&f.Roots, Root1, Root2, Root3)
	if f.Log == nil {
		f.Log = LogKey
	}
	if f.Version == 0 {
		f.Version = 1
	}
	if f.Created.IsZero() {
		f.Created = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if f.Expires.IsZero() {
		f.Expires = f.Created.AddDate(10, 0, 0)
	}
	if f.Quorum == 0 {
		f.Quorum = 2
	}
	if f.ReleaseThreshold == 0 {
		f.ReleaseThreshold = 1
	}
	if f.RootThreshold == 0 {
		f.RootThreshold = 2
	}
	if f.Models == nil {
		f.Models = []string{"acme-x1"}
	}
	if f.Channels == nil {
		f.Channels = []string{"stable", "beta"}
	}
	if f.MaxCosignatureAge == "" {
		f.MaxCosignatureAge = "24h"
	}
	vkey := func(k *keys.PrivateKey) string {
		v, err := k.Public().VerifierKey()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	pkeys := map[string]any{"builder": map[string]string{"vkey": vkey(Builder)}}
	var rel, revs []string
	for i, k := range f.ReleaseKeys {
		name := fmt.Sprintf("release-%d", i)
		pkeys[name] = map[string]string{"vkey": vkey(k)}
		rel = append(rel, name)
	}
	for i, k := range f.RevocationKeys {
		name := fmt.Sprintf("revocation-%d", i)
		pkeys[name] = map[string]string{"vkey": vkey(k)}
		revs = append(revs, name)
	}
	rule := map[string]any{"name": "devices", "models": []string{"*"}, "release": map[string]any{"keys": rel, "threshold": f.ReleaseThreshold}}
	if !f.NoProvenance {
		rule["provenance"] = map[string]any{
			"builders": []string{"ci"},
			"sources":  []any{map[string]any{"repo": "git+https://git.example.com/acme/fw"}},
		}
	}
	policy := map[string]any{
		"version":    1,
		"keys":       pkeys,
		"builders":   []any{map[string]any{"name": "ci", "id": BuilderID, "keys": []string{"builder"}, "slsaLevel": 2}},
		"revocation": map[string]any{"keys": revs, "threshold": 1},
		"rules":      []any{rule},
	}
	var roots []string
	for _, k := range f.Roots {
		roots = append(roots, vkey(k))
	}
	log := map[string]any{"origin": f.Log.Name}
	if f.URL != "" {
		log["url"] = f.URL
	}
	out, err := json.Marshal(map[string]any{
		"version": f.Version, "created": f.Created, "expires": f.Expires,
		"log": log, "witnesses": string(WitnessPolicy(t, f.Log, f.Quorum, f.Witnesses)),
		"policy": policy, "models": f.Models, "channels": f.Channels,
		"maxCosignatureAge": f.MaxCosignatureAge, "allowSameSecurityVersion": f.AllowSameSecurityVersion,
		"root": map[string]any{"keys": roots, "threshold": f.RootThreshold},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Signed returns the trust file signed by the keys given (by default, its
// root keys up to the threshold).
func (f TrustFile) Signed(t testing.TB, signers ...*keys.PrivateKey) []byte {
	t.Helper()
	if signers == nil {
		signers = []*keys.PrivateKey{Root1, Root2}
	}
	return SignTyped(t, "application/vnd.fwledger.trust.v1+json", f.Payload(t), signers...)
}

// SignTyped returns a DSSE envelope of the payload type over payload,
// signed by every key.
func SignTyped(t testing.TB, payloadType string, payload []byte, ks ...*keys.PrivateKey) []byte {
	t.Helper()
	var s []dsse.SignerVerifier
	for _, k := range ks {
		s = append(s, Signer(t, k))
	}
	env, err := provenance.SignTyped(context.Background(), payloadType, payload, s...)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// BundleRelease parses a bundle and its release statement (verifying
// nothing).
func BundleRelease(t testing.TB, b []byte) (*bundle.Bundle, *provenance.Release) {
	t.Helper()
	bd, err := bundle.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	e, err := provenance.ParseEntry(bd.Release.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != provenance.KindRelease {
		t.Fatalf("the bundle's release entry is %s", e.Kind)
	}
	return bd, e.Release
}
