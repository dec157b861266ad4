package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/cmd/internal/cli"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/keys/pkcs11/pkcs11test"
)

// TestPKCS11Walkthrough is the README's walkthrough with every key in a
// SoftHSM2 token: fwctl keygen --pkcs11 writes only the public key files;
// attest, release and sign take the keys' URIs; the log accepts the
// envelopes, and fwctl verify accepts the bundle with the ordinary public
// key files, the release with both release keys' signatures.
func TestPKCS11Walkthrough(t *testing.T) {
	tk := pkcs11test.SoftHSM(t)
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }
	pin, err := os.ReadFile(tk.PINFile)
	if err != nil {
		t.Fatal(err)
	}
	// noSecret fails the test if a command printed the PIN.
	noSecret := func(outputs ...string) {
		t.Helper()
		for _, o := range outputs {
			if strings.Contains(o, strings.TrimSpace(string(pin))) {
				t.Fatalf("a command printed the PIN: %q", o)
			}
		}
	}

	uris, labels := map[string]string{}, map[string]string{}
	for _, name := range []string{"release-1", "release-2", "ci"} {
		labels[name] = pkcs11test.Label(name)
		uri := tk.URI(labels[name])
		tk.Cleanup(t, uri)
		uris[name] = uri
		code, out, errs := fwctl(t, "keygen", "--pkcs11", uri, "--out", p("keys/"+name))
		noSecret(out, errs)
		if code != 0 {
			t.Fatalf("keygen --pkcs11 %s = %d: %s", uri, code, errs)
		}
		var kg map[string]string
		if err := json.Unmarshal([]byte(out), &kg); err != nil || kg["key_id"] == "" || kg["public_key"] != p("keys/"+name+".pub") || !strings.HasPrefix(kg["pkcs11"], "pkcs11:") {
			t.Fatalf("keygen --pkcs11 printed %q", out)
		}
		if _, err := os.Stat(p("keys/" + name + ".key")); !os.IsNotExist(err) {
			t.Errorf("keygen --pkcs11 wrote a private key file (%v)", err)
		}
		pub, err := keys.LoadPublic(p("keys/" + name + ".pub"))
		if err != nil {
			t.Fatal(err)
		}
		if id, _ := pub.KeyID(); id != kg["key_id"] {
			t.Errorf("the .pub file's key ID %s, keygen printed %s", id, kg["key_id"])
		}
	}
	// A second key under the same label is refused, and so is a name
	// other than the label.
	if code, _, errs := fwctl(t, "keygen", "--pkcs11", uris["ci"], "--out", p("keys/again")); code != 1 || !strings.Contains(errs, "already holds an object labelled") {
		t.Errorf("keygen --pkcs11 of an existing label = %d, %q; want a refusal", code, errs)
	}
	if code, _, errs := fwctl(t, "keygen", "--pkcs11", tk.URI(pkcs11test.Label("x")), "--name", "example.com/x", "--out", p("keys/x")); code != 2 || !strings.Contains(errs, "named by its label") {
		t.Errorf("keygen --pkcs11 --name other than the label = %d, %q; want a usage error", code, errs)
	}

	img := fwtest.Image("pkcs11 firmware", 50000)
	os.WriteFile(p("fw.bin"), img, 0o644)
	run := func(args ...string) {
		t.Helper()
		code, out, errs := fwctl(t, args...)
		noSecret(out, errs)
		if code != 0 {
			t.Fatalf("fwctl %s = %d: %s", args[0], code, errs)
		}
	}
	run("attest", "--key", uris["ci"], "--builder-id", "https://ci.example.com/runner/v1",
		"--source", "git+https://git.example.com/acme/fw@refs/tags/v2.0.0",
		"--commit", "0123456789abcdef0123456789abcdef01234567", "--image", p("fw.bin"), "--out", p("prov.dsse.json"))
	run("release", "--key", uris["release-1"], "--model", "acme-x1", "--version", "2.0.0",
		"--svn", "8", "--image", p("fw.bin"), "--provenance", p("prov.dsse.json"), "--out", p("rel1.dsse.json"))
	run("sign", "--key", uris["release-2"], "--in", p("rel1.dsse.json"), "--out", p("rel.dsse.json"))

	// The log trusts the keys' public halves (read from the token here,
	// and closed again: see the wrong PIN below).
	ks, closeKeys, err := cli.LoadSigners([]string{uris["release-1"], uris["release-2"], uris["ci"]})
	if err != nil {
		t.Fatal(err)
	}
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: ks[:2], BuilderKeys: ks[2:], RequireProvenance: true})
	closeKeys()
	logPub, _ := fwtest.LogKey.Public().Marshal()
	os.WriteFile(p("log.pub"), logPub, 0o644)
	run("submit", "--log", l.URL, "--image", p("fw.bin"), p("prov.dsse.json"), p("rel.dsse.json"))
	run("bundle", "--log", l.URL, "--image", p("fw.bin"), "--index", "1", "--out", p("fw.bundle"))
	code, out, errs := fwctl(t, "verify", "--log-key", p("log.pub"),
		"--release-keys", p("keys/release-1.pub"), "--release-keys", p("keys/release-2.pub"), "--threshold", "2",
		"--builder-keys", p("keys/ci.pub"), "--image", p("fw.bin"), "--bundle", p("fw.bundle"))
	if code != 0 || !strings.Contains(out, `"verified": true`) || !strings.Contains(out, `"role": "build"`) {
		t.Fatalf("verify with the public key files = %d: %s %s", code, out, errs)
	}

	// Keys that cannot be used fail with a message that names the
	// problem, and print no PIN.
	wrong := p("wrong.pin")
	os.WriteFile(wrong, []byte("0000\n"), 0o600)
	for _, tc := range []struct {
		desc, key, want string
		code            int
	}{
		{"wrong PIN", strings.Replace(uris["release-1"], "pin-source=file:"+tk.PINFile, "pin-source=file:"+wrong, 1), "wrong PIN for token", 1},
		{"missing object", tk.URI("no-such-key"), "no private key in token", 1},
		{"missing module", strings.Replace(uris["release-1"], tk.Module, "/usr/lib/nowhere/libnone.so", 1), "PKCS #11 module /usr/lib/nowhere/libnone.so does not exist", 1},
		{"PIN on the command line", "pkcs11:token=" + tk.Label + ";object=" + labels["release-1"] + "?module-path=" + tk.Module + "&pin-value=s3cr3t-pin", "pin-value puts the PIN on the command line", 1},
		{"public key file", p("keys/release-1.pub"), "this is a public key", 1},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			code, out, errs := fwctl(t, "release", "--key", tc.key, "--model", "acme-x1", "--version", "2.0.1",
				"--svn", "8", "--image", p("fw.bin"), "--out", p("bad.dsse.json"))
			noSecret(out, errs)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Errorf("release --key %s = %d, %q; want %d naming %q", tc.key, code, errs, tc.code, tc.want)
			}
			if strings.Contains(errs, "s3cr3t") {
				t.Errorf("the error quotes the PIN: %q", errs)
			}
		})
	}
}
