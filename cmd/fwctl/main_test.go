package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// fwctl runs the command in-process and returns its exit code and output.
func fwctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), &env{stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

// TestWalkthrough follows the README: keygen, attest, release, submit,
// bundle, verify, provenance show, against a real log on SQLite over HTTP.
func TestWalkthrough(t *testing.T) {
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }

	code, out, errs := fwctl(t, "keygen", "--name", "example.com/release-1", "--out", p("keys/release-1"))
	if code != 0 {
		t.Fatalf("keygen = %d: %s", code, errs)
	}
	var kg map[string]string
	if err := json.Unmarshal([]byte(out), &kg); err != nil || kg["key_id"] == "" {
		t.Fatalf("keygen output %q", out)
	}
	if fi, err := os.Stat(p("keys/release-1.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("release-1.key: %v, mode %v", err, fi.Mode())
	}
	if code, _, _ := fwctl(t, "keygen", "--name", "example.com/release-1", "--out", p("keys/release-1")); code != 1 {
		t.Errorf("keygen over an existing key = %d, want 1", code)
	}
	relKey, err := keys.LoadPrivate(p("keys/release-1.key"))
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errs := fwctl(t, "keygen", "--name", "builder.example.com/ci", "--out", p("keys/ci")); code != 0 {
		t.Fatalf("keygen = %d: %s", code, errs)
	}
	ciKey, err := keys.LoadPrivate(p("keys/ci.key"))
	if err != nil {
		t.Fatal(err)
	}
	// A second release key, which countersigns later: the log trusts it
	// too, or a countersigned envelope would add nothing it trusts.
	if code, _, errs := fwctl(t, "keygen", "--name", "example.com/release-2", "--out", p("keys/release-2")); code != 0 {
		t.Fatalf("keygen = %d: %s", code, errs)
	}
	rel2Key, err := keys.LoadPrivate(p("keys/release-2.key"))
	if err != nil {
		t.Fatal(err)
	}
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{relKey, rel2Key}, BuilderKeys: []*keys.PrivateKey{ciKey}, RequireProvenance: true})
	logPub, _ := fwtest.LogKey.Public().Marshal()
	os.WriteFile(p("log.pub"), logPub, 0o644)

	img := fwtest.Image("walkthrough firmware", 70000)
	img0 := bytes.Clone(img)
	os.WriteFile(p("fw.bin"), img, 0o644)
	if code, _, errs := fwctl(t, "attest", "--key", p("keys/ci.key"), "--builder-id", "https://ci.example.com/runner/v1",
		"--build-type", "https://fwledger.dev/build/make@v1", "--source", "git+https://git.example.com/acme/fw@refs/tags/v1.4.0",
		"--commit", "0123456789abcdef0123456789abcdef01234567", "--image", p("fw.bin"), "--out", p("prov.dsse.json")); code != 0 {
		t.Fatalf("attest = %d: %s", code, errs)
	}
	if code, _, errs := fwctl(t, "release", "--key", p("keys/release-1.key"), "--model", "acme-x1", "--version", "1.4.0",
		"--svn", "7", "--image", p("fw.bin"), "--provenance", p("prov.dsse.json"), "--out", p("rel.dsse.json")); code != 0 {
		t.Fatalf("release = %d: %s", code, errs)
	}
	// The release alone is refused: its provenance is not logged.
	if code, _, errs := fwctl(t, "submit", "--log", l.URL, p("rel.dsse.json")); code != 1 || !strings.Contains(errs, "neither logged nor in this submission") {
		t.Errorf("submitting the release alone = %d, %q; want a refusal naming the provenance", code, errs)
	}
	code, out, errs = fwctl(t, "submit", "--log", l.URL, "--image", p("fw.bin"), p("prov.dsse.json"), p("rel.dsse.json"))
	if code != 0 {
		t.Fatalf("submit = %d: %s", code, errs)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	for i := 0; i < 2; i++ {
		var res api.AddResponse
		if err := dec.Decode(&res); err != nil || len(res.LeafHash) != 64 || res.Index != uint64(i) {
			t.Fatalf("submit printed %q", out)
		}
	}
	if code, _, errs := fwctl(t, "bundle", "--log", l.URL, "--image", p("fw.bin"), "--index", "1", "--out", p("fw.bundle")); code != 0 {
		t.Fatalf("bundle = %d: %s", code, errs)
	}
	code, out, errs = fwctl(t, "verify", "--log-key", p("log.pub"), "--release-keys", p("keys/release-1.pub"),
		"--builder-keys", p("keys/ci.pub"), "--image", p("fw.bin"), "--bundle", p("fw.bundle"))
	if code != 0 || !strings.Contains(out, `"verified": true`) || !strings.Contains(out, `"role": "build"`) {
		t.Fatalf("verify = %d: %s %s", code, out, errs)
	}
	// On a device of another model, it is refused.
	code, _, errs = fwctl(t, "verify", "--log-key", p("log.pub"), "--release-keys", p("keys/release-1.pub"),
		"--builder-keys", p("keys/ci.pub"), "--model", "acme-x2", "--image", p("fw.bin"), "--bundle", p("fw.bundle"))
	if code != 3 || !strings.Contains(errs, "not acme-x2") {
		t.Errorf("verify --model acme-x2 = %d, %q; want 3", code, errs)
	}
	// Without a builder key, the provenance cannot verify: a usage error.
	code, _, errs = fwctl(t, "verify", "--log-key", p("log.pub"), "--release-keys", p("keys/release-1.pub"),
		"--image", p("fw.bin"), "--bundle", p("fw.bundle"))
	if code != 2 || !strings.Contains(errs, "--builder-keys is required") {
		t.Errorf("verify without builder keys = %d, %q; want 2", code, errs)
	}
	// With another builder's key, it does not verify.
	fwctl(t, "keygen", "--name", "builder.example.com/other", "--out", p("keys/other"))
	code, _, errs = fwctl(t, "verify", "--log-key", p("log.pub"), "--release-keys", p("keys/release-1.pub"),
		"--builder-keys", p("keys/other.pub"), "--image", p("fw.bin"), "--bundle", p("fw.bundle"))
	if code != 3 || !strings.Contains(errs, "provenance") {
		t.Errorf("verify with another builder's key = %d, %q; want 3", code, errs)
	}
	code, out, _ = fwctl(t, "provenance", "show", "--log", l.URL, "--image", p("fw.bin"))
	if code != 0 || !strings.Contains(out, "commit:       0123456789abcdef0123456789abcdef01234567") || !strings.Contains(out, "1 distinct builder") {
		t.Errorf("provenance show = %d:\n%s", code, out)
	}

	// A tampered image is rejected with exit status 3.
	img[100] ^= 1
	os.WriteFile(p("evil.bin"), img, 0o644)
	code, _, errs = fwctl(t, "verify", "--log-key", p("log.pub"), "--release-keys", p("keys/release-1.pub"),
		"--builder-keys", p("keys/ci.pub"), "--image", p("evil.bin"), "--bundle", p("fw.bundle"))
	if code != 3 || !strings.Contains(errs, "REJECTED: image digest") {
		t.Errorf("verify of a tampered image = %d, %q; want 3", code, errs)
	}
	// The second release key countersigns; a threshold of 2 then passes.
	if code, _, errs := fwctl(t, "sign", "--key", p("keys/release-2.key"), "--in", p("rel.dsse.json"), "--out", p("rel2.dsse.json")); code != 0 {
		t.Fatalf("sign = %d: %s", code, errs)
	}
	threshold2 := func(bundle string) (int, string) {
		code, _, errs := fwctl(t, "verify", "--log-key", p("log.pub"), "--release-keys", p("keys/release-1.pub"),
			"--release-keys", p("keys/release-2.pub"), "--threshold", "2", "--builder-keys", p("keys/ci.pub"), "--image", p("fw.bin"), "--bundle", bundle)
		return code, errs
	}
	if code, errs := threshold2(p("fw.bundle")); code != 3 || !strings.Contains(errs, "want at least 2") {
		t.Errorf("threshold 2 on a singly signed bundle = %d, %q; want 3", code, errs)
	}
	// The countersigned release is a new entry; fwctl submit names its
	// index, and fwctl bundle --index fetches its bundle, not the first
	// release's.
	code, out, errs = fwctl(t, "submit", "--log", l.URL, p("rel2.dsse.json"))
	var res api.AddResponse
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("submit of the countersigned release = %d: %s%s", code, out, errs)
	}
	digest := "sha256:" + fmt.Sprintf("%x", sha256.Sum256(img0))
	hint := fmt.Sprintf("release of %s logged at index %d; fetch its bundle with fwctl bundle --log %s --digest %s --index %d", digest, res.Index, l.URL, digest, res.Index)
	if res.Index != 2 || !strings.Contains(errs, hint) {
		t.Errorf("submit of the countersigned release printed %q on stderr, index %d; want index 2 and %q", errs, res.Index, hint)
	}
	// fwctl bundle waits until a checkpoint covers it.
	if code, _, errs := fwctl(t, "bundle", "--log", l.URL, "--image", p("fw.bin"), "--index", fmt.Sprint(res.Index), "--out", p("fw2.bundle")); code != 0 {
		t.Fatalf("bundle --index %d = %d: %s", res.Index, code, errs)
	}
	if code, errs := threshold2(p("fw2.bundle")); code != 0 {
		t.Errorf("threshold 2 on the countersigned release's bundle = %d, %q; want 0", code, errs)
	}
	// The first release stays what it was: --index 1 fetches it.
	if code, _, errs := fwctl(t, "bundle", "--log", l.URL, "--image", p("fw.bin"), "--index", "1", "--out", p("fw1.bundle")); code != 0 {
		t.Fatalf("bundle --index 1 = %d: %s", code, errs)
	}
	if code, _ := threshold2(p("fw1.bundle")); code != 3 {
		t.Errorf("threshold 2 on the first release's bundle = %d; want 3", code)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "Usage"},
		{[]string{"help"}, 0, "fwctl keygen"},
		{[]string{"nope"}, 2, "unknown command"},
		{[]string{"keygen"}, 2, "--name is required"},
		{[]string{"keygen", "--name", "a b", "--out", "/tmp/x"}, 2, "invalid key name"},
		{[]string{"release", "--help"}, 0, "-svn counter"},
		{[]string{"release", "--key", "k", "--model", "m", "--version", "1.4", "--svn", "1"}, 2, "--image is required"},
		{[]string{"submit", "--log", "http://127.0.0.1:1"}, 2, "at least one envelope"},
		{[]string{"submit", "--log", "ftp://x", "f"}, 2, "want http"},
		{[]string{"bundle", "--log", "http://x", "--digest", "sha256:zz"}, 2, "64 lowercase hex"},
		{[]string{"verify", "--log-key", "k"}, 2, "--release-keys is required"},
		{[]string{"submit", "--bogus"}, 2, "flag provided but not defined"},
	} {
		code, out, errs := fwctl(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.msg) {
			t.Errorf("fwctl %q = %d, %q; want %d with %q", tc.args, code, out+errs, tc.code, tc.msg)
		}
	}
}

// TestPolicyCommands checks fwctl policy check and fwctl verify --policy on
// a release logged by a real log.
func TestPolicyCommands(t *testing.T) {
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }
	for _, k := range []string{"release-1", "release-2", "ci"} {
		if code, _, errs := fwctl(t, "keygen", "--name", "example.com/"+k, "--out", p("keys/"+k)); code != 0 {
			t.Fatal(errs)
		}
	}
	load := func(name string) *keys.PrivateKey {
		k, err := keys.LoadPrivate(p("keys/" + name + ".key"))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{load("release-1"), load("release-2")}, BuilderKeys: []*keys.PrivateKey{load("ci")}, RequireProvenance: true})
	logPub, _ := fwtest.LogKey.Public().Marshal()
	os.WriteFile(p("log.pub"), logPub, 0o644)
	os.WriteFile(p("fw.bin"), fwtest.Image("policy fw", 5000), 0o644)
	steps := [][]string{
		{"attest", "--key", p("keys/ci.key"), "--builder-id", "https://ci.example.com/runner/v1", "--source", "git+https://git.example.com/acme/fw@refs/tags/v2.0.0",
			"--commit", "0123456789abcdef0123456789abcdef01234567", "--model", "acme-x1", "--image", p("fw.bin"), "--out", p("prov.dsse.json")},
		{"release", "--key", p("keys/release-1.key"), "--model", "acme-x1", "--version", "2.0.0", "--svn", "9", "--image", p("fw.bin"), "--provenance", p("prov.dsse.json"), "--out", p("rel.dsse.json")},
		{"submit", "--log", l.URL, p("prov.dsse.json"), p("rel.dsse.json")},
		{"bundle", "--log", l.URL, "--image", p("fw.bin"), "--out", p("fw.bundle")},
	}
	for _, s := range steps {
		if code, _, errs := fwctl(t, s...); code != 0 {
			t.Fatalf("fwctl %s = %d: %s", s[0], code, errs)
		}
	}
	policy := func(threshold int, refs string) string {
		text := fmt.Sprintf(`version: 1
keys:
  release-1: {file: keys/release-1.pub}
  release-2: {file: keys/release-2.pub}
  ci: {file: keys/ci.pub}
builders:
  - {name: ci, id: "https://ci.example.com/runner/v1", keys: [ci], slsaLevel: 2}
rules:
  - name: acme
    models: [acme-x1]
    release: {keys: [release-1, release-2], threshold: %d}
    provenance:
      builders: [ci]
      minSLSALevel: 2
      sources: [{repo: "git+https://git.example.com/acme/fw", refs: [%q]}]
      externalParameters: [source, ref, target]
`, threshold, refs)
		name := p(fmt.Sprintf("policy-%d-%s.yaml", threshold, strings.ReplaceAll(refs, "/", "_")))
		os.WriteFile(name, []byte(text), 0o644)
		return name
	}
	good, twoKeys, mainOnly := policy(1, "refs/tags/v*"), policy(2, "refs/tags/v*"), policy(1, "refs/heads/main")

	code, out, errs := fwctl(t, "policy", "check", "--policy", good, "--bundle", p("fw.bundle"))
	if code != 0 || !strings.Contains(out, `rule "acme": PASS`) || !strings.Contains(out, "ok   provenance sha256:") {
		t.Errorf("policy check (good) = %d:\n%s%s", code, out, errs)
	}
	code, out, _ = fwctl(t, "policy", "check", "--policy", twoKeys, p("rel.dsse.json"), p("prov.dsse.json"))
	if code != 3 || !strings.Contains(out, "FAIL release signatures") {
		t.Errorf("policy check (2 keys) = %d:\n%s", code, out)
	}
	code, out, _ = fwctl(t, "policy", "check", "--policy", mainOnly, "--bundle", p("fw.bundle"))
	if code != 3 || !strings.Contains(out, "FAIL provenance") || !strings.Contains(out, "refs/tags/v2.0.0") {
		t.Errorf("policy check (main only) = %d:\n%s", code, out)
	}
	verify := func(pol string) (int, string) {
		code, _, errs := fwctl(t, "verify", "--log-key", p("log.pub"), "--policy", pol, "--model", "acme-x1", "--image", p("fw.bin"), "--bundle", p("fw.bundle"))
		return code, errs
	}
	if code, errs := verify(good); code != 0 {
		t.Errorf("verify --policy (good) = %d: %s", code, errs)
	}
	if code, errs := verify(twoKeys); code != 3 || !strings.Contains(errs, "release signatures") {
		t.Errorf("verify --policy (2 keys) = %d: %s", code, errs)
	}

	// --model is applied with or without a policy: a release for acme-x1
	// is refused on an acme-x2.
	withKeys := []string{"verify", "--log-key", p("log.pub"), "--release-keys", p("keys/release-1.pub"), "--builder-keys", p("keys/ci.pub"), "--image", p("fw.bin"), "--bundle", p("fw.bundle")}
	withPolicy := []string{"verify", "--log-key", p("log.pub"), "--policy", good, "--image", p("fw.bin"), "--bundle", p("fw.bundle")}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{append(withKeys, "--model", "acme-x1"), 0, ""},
		{append(withKeys, "--model", "acme-x2"), 3, "for model acme-x1, not acme-x2"},
		{append(withPolicy, "--model", "acme-x2"), 3, "for model acme-x1, not acme-x2"},
		{[]string{"policy", "check", "--policy", good, "--bundle", p("fw.bundle"), "--model", "acme-x2"}, 3, "no rule covers model acme-x2"},
	} {
		code, out, errs := fwctl(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.msg) {
			t.Errorf("fwctl %q = %d, %s%s; want %d with %q", tc.args, code, out, errs, tc.code, tc.msg)
		}
	}
}

// TestWitnessedVerify runs a log with three witnesses under a 2-of-3 policy
// and checks fwctl checkpoint and fwctl verify --witness-policy: both
// accept what the log publishes, and refuse it under a policy its
// witnesses cannot meet (exit 3).
func TestWitnessedVerify(t *testing.T) {
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }
	wks := []*keys.PrivateKey{fwtest.WitnessA, fwtest.WitnessB, fwtest.WitnessC}
	urls := fwtest.StartWitnesses(t, wks, fwtest.LogKey)
	policy := fwtest.WitnessPolicy(t, fwtest.LogKey, 2, wks, urls...)
	os.WriteFile(p("policy.txt"), policy, 0o644)
	strict := fwtest.WitnessPolicy(t, fwtest.LogKey, 2, []*keys.PrivateKey{wks[0], fwtest.Key("witness-z.example.org")})
	os.WriteFile(p("strict.txt"), strict, 0o644)
	relKey := fwtest.Release1
	pub, _ := relKey.Public().Marshal()
	os.WriteFile(p("release-1.pub"), pub, 0o644)
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{relKey}, Witnesser: fwtest.Collector(t, policy)})

	img := fwtest.Image("witnessed firmware", 5000)
	os.WriteFile(p("fw.bin"), img, 0o644)
	os.WriteFile(p("rel.dsse.json"), fwtest.SignRelease(t, fwtest.NewRelease(img, nil), relKey), 0o644)
	if code, _, errs := fwctl(t, "submit", "--log", l.URL, p("rel.dsse.json")); code != 0 {
		t.Fatalf("submit = %d: %s", code, errs)
	}
	if code, _, errs := fwctl(t, "bundle", "--log", l.URL, "--image", p("fw.bin"), "--out", p("fw.bundle")); code != 0 {
		t.Fatalf("bundle = %d: %s", code, errs)
	}
	code, out, errs := fwctl(t, "checkpoint", "--log", l.URL, "--witness-policy", p("policy.txt"))
	if code != 0 || !strings.Contains(out, "ok: size 1, signed by the log and cosigned by") || !strings.Contains(out, "— witness-") {
		t.Errorf("checkpoint = %d:\n%s%s", code, out, errs)
	}
	if code, _, errs := fwctl(t, "checkpoint", "--log", l.URL, "--witness-policy", p("strict.txt")); code != 3 || !strings.Contains(errs, `quorum "quorum-group" is not met`) {
		t.Errorf("checkpoint under a policy it cannot meet = %d, %q; want 3", code, errs)
	}
	code, out, errs = fwctl(t, "verify", "--witness-policy", p("policy.txt"), "--release-keys", p("release-1.pub"),
		"--require-provenance=false", "--image", p("fw.bin"), "--bundle", p("fw.bundle"))
	if code != 0 || !strings.Contains(out, `"witness": "w`) {
		t.Errorf("verify --witness-policy = %d:\n%s%s", code, out, errs)
	}
	if code, _, errs := fwctl(t, "verify", "--witness-policy", p("strict.txt"), "--release-keys", p("release-1.pub"),
		"--require-provenance=false", "--image", p("fw.bin"), "--bundle", p("fw.bundle")); code != 3 || !strings.Contains(errs, "REJECTED") {
		t.Errorf("verify under a policy it cannot meet = %d, %q; want 3", code, errs)
	}
	if code, _, errs := fwctl(t, "checkpoint", "--log", l.URL); code != 2 || !strings.Contains(errs, "give --witness-policy or --log-key") {
		t.Errorf("checkpoint without trust = %d, %q; want 2", code, errs)
	}
}

// TestSubmitCanonicalizes: an envelope from another producer, in another
// encoding (indented, URL-alphabet signature), is endorsed and submitted in
// its canonical encoding, which the log takes and which keeps its payload
// and signature, so the release and its provenance verify.
func TestSubmitCanonicalizes(t *testing.T) {
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }
	relKey, ciKey := fwtest.Release1, fwtest.Builder
	for name, k := range map[string]*keys.PrivateKey{"release-1": relKey, "ci": ciKey} {
		if err := keys.Write(p(name), k); err != nil {
			t.Fatal(err)
		}
	}
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{relKey}, BuilderKeys: []*keys.PrivateKey{ciKey}, RequireProvenance: true})
	img := fwtest.Image("another producer", 5000)
	os.WriteFile(p("fw.bin"), img, 0o644)
	if code, _, errs := fwctl(t, "attest", "--key", p("ci.key"), "--builder-id", "https://ci.example.com/runner/v1",
		"--source", "git+https://git.example.com/acme/fw@refs/tags/v1.4.0", "--commit", strings.Repeat("ab", 20),
		"--image", p("fw.bin"), "--out", p("prov.dsse.json")); code != 0 {
		t.Fatalf("attest = %d: %s", code, errs)
	}
	canon, _ := os.ReadFile(p("prov.dsse.json"))
	canon = bytes.TrimSuffix(canon, []byte("\n"))
	var env dsse.Envelope
	json.Unmarshal(canon, &env)
	raw, _ := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	env.Signatures[0].Sig = base64.URLEncoding.EncodeToString(raw)
	other, _ := json.MarshalIndent(env, "", "    ")
	os.WriteFile(p("other.json"), other, 0o644)
	if code, _, errs := fwctl(t, "release", "--key", p("release-1.key"), "--model", "acme-x1", "--version", "1.4.0", "--svn", "1",
		"--image", p("fw.bin"), "--provenance", p("other.json"), "--out", p("rel.dsse.json")); code != 0 {
		t.Fatalf("release = %d: %s", code, errs)
	}
	code, out, errs := fwctl(t, "submit", "--log", l.URL, p("other.json"), p("rel.dsse.json"))
	if code != 0 || !strings.Contains(errs, "other.json: sending the envelope in its canonical encoding") {
		t.Fatalf("submit = %d: %s%s", code, out, errs)
	}
	l.WaitSize(t, 2)
	if logged, err := l.Log.Entry(context.Background(), 0); err != nil || !bytes.Equal(logged, canon) {
		t.Errorf("the logged provenance (%v) is not the canonical encoding of the file", err)
	}
	if code, _, errs := fwctl(t, "bundle", "--log", l.URL, "--image", p("fw.bin"), "--out", p("fw.bundle")); code != 0 {
		t.Fatalf("bundle = %d: %s", code, errs)
	}
	pub, _ := fwtest.LogKey.Public().Marshal()
	os.WriteFile(p("log.pub"), pub, 0o644)
	if code, out, errs := fwctl(t, "verify", "--log-key", p("log.pub"), "--release-keys", p("release-1.pub"), "--builder-keys", p("ci.pub"),
		"--image", p("fw.bin"), "--bundle", p("fw.bundle")); code != 0 {
		t.Errorf("verify = %d: %s%s", code, out, errs)
	}
}

// TestSubmitSaysDuplicate: a submission of an entry already logged says so,
// and a flag after the files is a usage error naming it, not a file that
// cannot be opened.
func TestSubmitSaysDuplicate(t *testing.T) {
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }
	relKey := fwtest.Release1
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{relKey}})
	img := fwtest.Image("duplicate", 100)
	os.WriteFile(p("fw.bin"), img, 0o644)
	os.WriteFile(p("rel.dsse.json"), fwtest.SignRelease(t, fwtest.NewRelease(img, nil), relKey), 0o644)
	if code, _, errs := fwctl(t, "submit", "--log", l.URL, p("rel.dsse.json")); code != 0 || strings.Contains(errs, "already logged") {
		t.Fatalf("first submit = %d: %s", code, errs)
	}
	code, out, errs := fwctl(t, "submit", "--log", l.URL, p("rel.dsse.json"))
	if code != 0 || !strings.Contains(out, `"duplicate":true`) || !strings.Contains(errs, "already logged at index 0") {
		t.Errorf("second submit = %d: %s%s; want it to say the release was already logged", code, out, errs)
	}
	if code, _, errs := fwctl(t, "submit", "--log", l.URL, p("rel.dsse.json"), "--image", p("fw.bin")); code != 2 || !strings.Contains(errs, "--image comes after the files: flags go before them") {
		t.Errorf("submit with a flag after the files = %d, %q; want a usage error naming the flag", code, errs)
	}
}

// TestReleaseWritesSHA512: fwctl release names the image's SHA-512 when an
// endorsed provenance names the image by SHA-512 only, and refuses
// provenance about another image.
func TestReleaseWritesSHA512(t *testing.T) {
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }
	relKey, ciKey := fwtest.Release1, fwtest.Builder
	if err := keys.Write(p("release-1"), relKey); err != nil {
		t.Fatal(err)
	}
	img := fwtest.Image("sha512 image", 3000)
	os.WriteFile(p("fw.bin"), img, 0o644)
	s512 := sha512.Sum512(img)
	stmt := func(digest string) []byte {
		return []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"fw","digest":{"sha512":"` + digest +
			`"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"t"},"runDetails":{"builder":{"id":"b"}}}}`)
	}
	os.WriteFile(p("prov.json"), fwtest.SignPayload(t, stmt(hex.EncodeToString(s512[:])), ciKey), 0o644)
	os.WriteFile(p("other.json"), fwtest.SignPayload(t, stmt(strings.Repeat("ab", 64)), ciKey), 0o644)
	if code, _, errs := fwctl(t, "release", "--key", p("release-1.key"), "--model", "acme-x1", "--version", "1.0.0", "--svn", "1",
		"--image", p("fw.bin"), "--provenance", p("prov.json"), "--out", p("rel.json")); code != 0 {
		t.Fatalf("release = %d: %s", code, errs)
	}
	data, _ := os.ReadFile(p("rel.json"))
	env, err := provenance.ParseEnvelope(bytes.TrimSpace(data))
	if err != nil {
		t.Fatal(err)
	}
	r, err := provenance.ParseRelease(env.Body)
	if err != nil || !bytes.Equal(r.ImageSHA512, s512[:]) {
		t.Errorf("the release names SHA-512 %x, %v; want the image's", r.ImageSHA512, err)
	}
	if code, _, errs := fwctl(t, "release", "--key", p("release-1.key"), "--model", "acme-x1", "--version", "1.0.0", "--svn", "1",
		"--image", p("fw.bin"), "--provenance", p("other.json"), "--out", p("rel2.json")); code != 1 || !strings.Contains(errs, "none of its subjects has the image's SHA-256 or SHA-512 digest") {
		t.Errorf("release endorsing provenance about another image = %d, %q; want a refusal", code, errs)
	}
}
