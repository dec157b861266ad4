// Package pkcs11test gives tests the SoftHSM2 token that `make softhsm`
// (scripts/softhsm.sh) makes under local/softhsm, and keys in it.
//
// The token is described by four environment variables, which `make test`
// exports from local/softhsm/env: SOFTHSM2_CONF, FWLEDGER_SOFTHSM_MODULE,
// FWLEDGER_SOFTHSM_TOKEN and FWLEDGER_SOFTHSM_PIN_FILE. When they are
// absent, the file local/softhsm/env of the repository is read if it is
// there; when neither is, the tests that need a token skip, so that `go
// test ./...` passes on a machine without SoftHSM2.
package pkcs11test

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/keys/pkcs11"
)

// The environment variables that describe the token.
const (
	ConfEnv    = "SOFTHSM2_CONF"
	ModuleEnv  = "FWLEDGER_SOFTHSM_MODULE"
	TokenEnv   = "FWLEDGER_SOFTHSM_TOKEN"
	PINFileEnv = "FWLEDGER_SOFTHSM_PIN_FILE"
)

// A Token is the SoftHSM2 token of the tests.
type Token struct {
	// Module is the absolute path of libsofthsm2.so.
	Module string
	// Label is the token's label.
	Label string
	// PINFile is the absolute path of the file holding the user PIN.
	PINFile string
}

// SoftHSM returns the token, or skips the test, saying how to get one.
func SoftHSM(t testing.TB) *Token {
	t.Helper()
	if !cgoEnabled {
		t.Skip("built without cgo: PKCS#11 keys are unavailable")
	}
	names := []string{ModuleEnv, TokenEnv, PINFileEnv, ConfEnv}
	env := map[string]string{}
	for _, k := range names {
		env[k] = os.Getenv(k)
	}
	if env[ModuleEnv] == "" {
		readEnvFile(env)
	}
	for _, k := range names {
		if env[k] == "" {
			t.Skipf("no SoftHSM2 token (%s is not set): run `make softhsm`, or `make test`, which runs it and exports local/softhsm/env, to run the PKCS#11 tests", k)
		}
	}
	// The module reads its configuration from the environment, and so do
	// the commands the tests start.
	if os.Getenv(ConfEnv) != env[ConfEnv] {
		os.Setenv(ConfEnv, env[ConfEnv])
	}
	return &Token{Module: env[ModuleEnv], Label: env[TokenEnv], PINFile: env[PINFileEnv]}
}

// readEnvFile fills env from local/softhsm/env, the file scripts/softhsm.sh
// writes, if the repository has one.
func readEnvFile(env map[string]string) {
	dir, err := os.Getwd()
	if err != nil {
		return
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return
		}
		dir = parent
	}
	f, err := os.Open(filepath.Join(dir, "local", "softhsm", "env"))
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export ")
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		if _, want := env[k]; want {
			env[k] = strings.Trim(v, "'")
		}
	}
}

// URI returns the PKCS #11 URI of the key labelled object in the token,
// with the module's path and the PIN file, and extra path attributes
// (each "name=value", already encoded) after the object.
func (tk *Token) URI(object string, extra ...string) string {
	path := []string{"token=" + escape(tk.Label), "object=" + escape(object)}
	path = append(path, extra...)
	return pkcs11.Scheme + strings.Join(path, ";") + "?module-path=" + tk.Module + "&pin-source=file:" + tk.PINFile
}

// escape percent-encodes a path attribute's value.
func escape(s string) string { return strings.ReplaceAll(url.PathEscape(s), ";", "%3B") }

// Label returns a label no other test run uses: prefix and random hex.
func Label(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// NewKey generates a key labelled with a fresh Label(prefix) in the token
// and returns its URI and the key, wrapped as a keys.PrivateKey named by
// its label. The key is closed, and deleted from the token, when the test
// ends.
func (tk *Token) NewKey(t testing.TB, prefix string) (string, *keys.PrivateKey) {
	t.Helper()
	uri := tk.URI(Label(prefix))
	u, err := pkcs11.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	k, err := pkcs11.Generate(u)
	if err != nil {
		t.Fatalf("Generate(%s): %v", uri, err)
	}
	tk.Cleanup(t, uri)
	t.Cleanup(func() { k.Close() })
	return uri, &keys.PrivateKey{Name: k.Label(), Key: k}
}

// NewPublicKeyFile generates a key labelled label in the token, as fwctl
// keygen --pkcs11 does, writes its public key file to pubFile, closes it
// (a process under test opens it by its URI) and returns its URI. The key
// is deleted from the token when the test ends.
func (tk *Token) NewPublicKeyFile(t testing.TB, label, pubFile string) string {
	t.Helper()
	uri := tk.URI(label)
	u, err := pkcs11.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	k, err := pkcs11.Generate(u)
	if err != nil {
		t.Fatalf("Generate(%s): %v", uri, err)
	}
	tk.Cleanup(t, uri)
	defer k.Close()
	if err := keys.WritePublic(pubFile, &keys.PublicKey{Name: k.Label(), Key: k.Public()}); err != nil {
		t.Fatal(err)
	}
	return uri
}

// Cleanup deletes the key that uri names from the token when the test
// ends (after the cleanups registered later, such as closing it).
func (tk *Token) Cleanup(t testing.TB, uri string) {
	t.Helper()
	u, err := pkcs11.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pkcs11.Delete(u); err != nil {
			t.Errorf("couldn't delete the test key %s: %v", uri, err)
		}
	})
}
