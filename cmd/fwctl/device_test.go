package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/delta"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/trust"
)

// TestTrustWalkthrough makes a device trust file as a vendor would: the
// payload from a witness policy and a provenance policy whose keys are
// files, then signatures by two root keys one after the other.
func TestTrustWalkthrough(t *testing.T) {
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }
	for _, k := range []*keys.PrivateKey{fwtest.Release1, fwtest.Builder, fwtest.Root1, fwtest.Root2} {
		name := strings.ReplaceAll(k.Name, "/", "_")
		pub, _ := k.Public().Marshal()
		priv, _ := k.MarshalPrivate()
		os.WriteFile(p(name+".pub"), pub, 0o644)
		os.WriteFile(p(name+".key"), priv, 0o600)
	}
	os.WriteFile(p("witnesses.txt"), fwtest.WitnessPolicy(t, fwtest.LogKey, 2, []*keys.PrivateKey{fwtest.WitnessA, fwtest.WitnessB, fwtest.WitnessC}), 0o644)
	os.WriteFile(p("policy.yaml"), []byte(`version: 1
keys:
  rel: {file: example.com_release-1.pub}
  ci: {file: builder.example.com_ci.pub}
builders:
  - {name: ci, id: https://ci.example.com/runner/v1, keys: [ci], slsaLevel: 2}
rules:
  - {name: all, models: ["*"], release: {keys: [rel], threshold: 1}, provenance: {builders: [ci]}}
`), 0o644)
	code, _, errs := fwctl(t, "trust", "init", "--witness-policy", p("witnesses.txt"), "--policy", p("policy.yaml"),
		"--model", "acme-x1", "--channel", "stable", "--root-key", p("vendor.example.com_root-1.pub"), "--root-key", p("vendor.example.com_root-2.pub"),
		"--root-threshold", "2", "--log-url", "https://log.example.com", "--out", p("trust.json"))
	if code != 0 {
		t.Fatalf("trust init = %d: %s", code, errs)
	}
	payload, _ := os.ReadFile(p("trust.json"))
	if bytes.Contains(payload, []byte(`"file"`)) || !bytes.Contains(payload, []byte(`"vkey"`)) {
		t.Errorf("the payload's policy does not name its keys inline:\n%s", payload)
	}
	// One root of two: signed, but below the threshold.
	code, _, errs = fwctl(t, "trust", "sign", "--in", p("trust.json"), "--key", p("vendor.example.com_root-1.key"), "--out", p("one.json"))
	if code != 0 || !strings.Contains(errs, "threshold of its own root keys") {
		t.Fatalf("trust sign by one root = %d: %s", code, errs)
	}
	if code, _, _ := fwctl(t, "trust", "show", p("one.json")); code != exitRejected {
		t.Errorf("trust show of a file below its root threshold = %d, want %d", code, exitRejected)
	}
	code, _, errs = fwctl(t, "trust", "sign", "--in", p("one.json"), "--key", p("vendor.example.com_root-2.key"), "--out", p("two.json"))
	if code != 0 || !strings.Contains(errs, "signed by 2 of its root keys") {
		t.Fatalf("trust sign by the second root = %d: %s", code, errs)
	}
	code, out, _ := fwctl(t, "trust", "show", p("two.json"))
	if code != 0 || !strings.Contains(out, "log example.com/testlog https://log.example.com") || !strings.Contains(out, "signed by 2") {
		t.Fatalf("trust show = %d: %s", code, out)
	}
	signed, _ := os.ReadFile(p("two.json"))
	tf, err := trust.Parse(context.Background(), bytes.TrimSpace(signed))
	if err != nil || tf.Policy.RuleFor("acme-x1") == nil || tf.RootThreshold != 2 {
		t.Fatalf("the signed trust file: %+v, %v", tf, err)
	}
	// A policy with a trusted root (keyless builders) is refused.
	os.WriteFile(p("keyless.yaml"), append([]byte("trustedRoot: root.json\n"), must(os.ReadFile(p("policy.yaml")))...), 0o644)
	os.WriteFile(p("root.json"), []byte("{}"), 0o644)
	if code, _, _ := fwctl(t, "trust", "init", "--witness-policy", p("witnesses.txt"), "--policy", p("keyless.yaml"),
		"--model", "acme-x1", "--channel", "stable", "--root-key", p("vendor.example.com_root-1.pub")); code == 0 {
		t.Error("trust init took a policy with a trustedRoot")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestDeltaCommand makes a delta with fwctl delta and applies it.
func TestDeltaCommand(t *testing.T) {
	dir := t.TempDir()
	base := fwtest.Image("base", 100000)
	target := append(bytes.Clone(base[:500]), append([]byte("new"), base[500:]...)...)
	os.WriteFile(filepath.Join(dir, "base"), base, 0o644)
	os.WriteFile(filepath.Join(dir, "target"), target, 0o644)
	if code, _, errs := fwctl(t, "delta", "--base", filepath.Join(dir, "base"), "--target", filepath.Join(dir, "target"), "--out", filepath.Join(dir, "d")); code != 0 {
		t.Fatalf("delta = %d: %s", code, errs)
	}
	d, _ := os.ReadFile(filepath.Join(dir, "d"))
	var out bytes.Buffer
	if _, err := delta.Apply(&out, bytes.NewReader(base), int64(len(base)), digest.Sum(base), bytes.NewReader(d), int64(len(target))); err != nil || !bytes.Equal(out.Bytes(), target) {
		t.Fatalf("the delta does not give the target: %v", err)
	}
	if len(d) > len(target)/10 {
		t.Errorf("a delta of 3 inserted bytes is %d bytes", len(d))
	}
}
