package pkcs11

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		desc, uri string
		path      map[string]string
		query     map[string]string
	}{
		{
			"the issue's example",
			"pkcs11:token=fw;object=release-3?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:pin.txt",
			map[string]string{"token": "fw", "object": "release-3"},
			map[string]string{"module-path": "/usr/lib/softhsm/libsofthsm2.so", "pin-source": "file:pin.txt"},
		},
		{
			"RFC 7512's example, percent-encoded",
			"pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=private;id=%69%95%3E%5C%F4%BD%EC%91;serial=",
			map[string]string{"token": "The Software PKCS#11 Softtoken", "manufacturer": "Snake Oil, Inc.", "model": "1.0",
				"object": "my-certificate", "type": "private", "id": "\x69\x95\x3e\x5c\xf4\xbd\xec\x91", "serial": ""},
			map[string]string{},
		},
		{
			"a log's origin as the label",
			"pkcs11:object=example.com%2Ffwlog;slot-id=0?module-path=/m.so",
			map[string]string{"object": "example.com/fwlog", "slot-id": "0"},
			map[string]string{"module-path": "/m.so"},
		},
		{
			"scheme in capitals, reserved characters allowed unencoded",
			"PKCS11:object=a:b@c!$'()*+,=&d?module-path=/a/b?c|d&pin-source=file:///run/pin",
			map[string]string{"object": "a:b@c!$'()*+,=&d"},
			map[string]string{"module-path": "/a/b?c|d", "pin-source": "file:///run/pin"},
		},
		{
			"empty",
			"pkcs11:",
			map[string]string{},
			map[string]string{},
		},
		{
			"library attributes",
			"pkcs11:library-manufacturer=SoftHSM;library-description=Implementation%20of%20PKCS11;library-version=2.6;object=k",
			map[string]string{"library-manufacturer": "SoftHSM", "library-description": "Implementation of PKCS11", "library-version": "2.6", "object": "k"},
			map[string]string{},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			u, err := ParseURI(tc.uri)
			if err != nil {
				t.Fatalf("ParseURI(%q): %v", tc.uri, err)
			}
			if !equalMaps(u.path, tc.path) || !equalMaps(u.query, tc.query) {
				t.Errorf("ParseURI(%q) = %q ? %q, want %q ? %q", tc.uri, u.path, u.query, tc.path, tc.query)
			}
			again, err := ParseURI(u.String())
			if err != nil {
				t.Fatalf("ParseURI(%q) (String() of %q): %v", u.String(), tc.uri, err)
			}
			if !equalMaps(again.path, u.path) || !equalMaps(again.query, u.query) {
				t.Errorf("String() = %q parses as %q ? %q, want %q ? %q", u.String(), again.path, again.query, u.path, u.query)
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestParseURIErrors(t *testing.T) {
	for _, tc := range []struct {
		desc, uri, want string
	}{
		{"a file path", "keys/release.key", `begins with "pkcs11:"`},
		{"PIN in the URI", "pkcs11:object=k?module-path=/m.so&pin-value=1234", "pin-value puts the PIN on the command line"},
		{"unknown path attribute", "pkcs11:object=k;colour=blue", `unsupported path attribute "colour"`},
		{"vendor attribute", "pkcs11:object=k?x-vendor=1", `unsupported query attribute "x-vendor"`},
		{"query attribute in the path", "pkcs11:object=k;module-path=/m.so", "belongs in the URI's query"},
		{"path attribute in the query", "pkcs11:?object=k", "belongs in the URI's path"},
		{"repeated attribute", "pkcs11:object=a;object=b", `"object" appears twice`},
		{"no value", "pkcs11:object", "want name=value"},
		{"empty attribute", "pkcs11:object=a;;token=b", "want name=value"},
		{"bad percent-encoding", "pkcs11:object=a%2", "invalid percent-encoding"},
		{"bad hex digit", "pkcs11:object=a%zz", "invalid percent-encoding"},
		{"unencoded space", "pkcs11:object=a b", "must be percent-encoded"},
		{"unencoded slash in the path", "pkcs11:object=example.com/log", `'/' must be percent-encoded`},
		{"unencoded ampersand in the query", "pkcs11:?module-path=/a&b", "want name=value"},
		{"a PIN in the URI without =", "pkcs11:object=a?pin-value:S3cr3t", "pin-value"},
		{"a PIN in the URI run together", "pkcs11:object=a?pin-valueS3cr3t", "pin-value"},
		{"fragment", "pkcs11:object=k#frag", "no fragment"},
		{"public key", "pkcs11:object=k;type=public", "type=public does not name a signing key"},
		{"invalid type", "pkcs11:object=k;type=key", `invalid type "key"`},
		{"invalid slot-id", "pkcs11:slot-id=one", "invalid slot-id"},
		{"invalid library-version", "pkcs11:library-version=2.x", "invalid library-version"},
		{"relative module path", "pkcs11:object=k?module-path=libsofthsm2.so", "not an absolute path"},
		{"not UTF-8", "pkcs11:object=%ff", "not UTF-8"},
		{"PIN in the URI, badly encoded", "pkcs11:object=k?pin-value=12%zz", "pin-value puts the PIN on the command line"},
		{"too long", "pkcs11:object=" + strings.Repeat("a", maxURI), "longer than"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			u, err := ParseURI(tc.uri)
			if err == nil {
				t.Fatalf("ParseURI(%q) = %s, want an error", tc.uri, u)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseURI(%q) = %q, want an error containing %q", tc.uri, err, tc.want)
			}
			if strings.Contains(err.Error(), "S3cr3t") {
				t.Errorf("ParseURI(%q) = %q, which quotes the PIN", tc.uri, err)
			}
		})
	}
}

func TestStringNeverHoldsAPIN(t *testing.T) {
	u, err := ParseURI("pkcs11:object=k?pin-source=file:/run/pin&module-path=/m.so")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.String(), "pkcs11:object=k?module-path=/m.so&pin-source=file:/run/pin"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestPIN(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("pin", "123456\n", 0o600)
	write("crlf", "123456\r\n", 0o600)
	write("group", "123456", 0o640)
	world := write("world", "123456", 0o604)
	empty := write("empty", "\n", 0o600)
	big := write("big", strings.Repeat("1", maxPIN+1), 0o600)
	t.Chdir(dir)
	for _, tc := range []struct {
		desc, source, env, want, err string
	}{
		{"file, absolute", "file:" + good, "", "123456", ""},
		{"file, relative to the working directory", "file:pin", "", "123456", ""},
		{"file URI with an empty host", "file://" + good, "", "123456", ""},
		{"file URI with localhost", "file://localhost" + good, "", "123456", ""},
		{"CRLF", "file:crlf", "", "123456", ""},
		{"readable by the group", "file:group", "", "", "chmod 600"},
		{"the file wins over the environment", "file:pin", "other", "123456", ""},
		{"environment", "", "654321", "654321", ""},
		{"nothing", "", "", "", "no PIN for the token"},
		{"readable by all", "file:" + world, "", "", "chmod 600"},
		{"empty file", "file:" + empty, "", "", "is empty"},
		{"large file", "file:" + big, "", "", "larger than"},
		{"missing file", "file:nope", "", "", "no such file"},
		{"a directory", "file:" + dir, "", "", "not a regular file"},
		{"another host", "file://pins.example.com/pin", "", "", "only local files"},
		{"a program", "|/usr/bin/pinentry", "", "", "unsupported pin-source"},
		{"no path", "file:", "", "", "names no file"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Setenv(PINEnv, tc.env)
			u := &URI{path: map[string]string{}, query: map[string]string{}}
			if tc.source != "" {
				u.query["pin-source"] = tc.source
			}
			pin, err := u.PIN()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("PIN() = %q, %v; want an error containing %q", pin, err, tc.err)
				}
				return
			}
			if err != nil || pin != tc.want {
				t.Errorf("PIN() = %q, %v; want %q", pin, err, tc.want)
			}
		})
	}
}

// TestNeedMechanisms checks the error for a token that lacks a mechanism
// (SoftHSM2 has both, so this is tested on the mechanism lists).
func TestNeedMechanisms(t *testing.T) {
	if err := needMechanisms("fw", []uint{0x1, ckmEdDSA, ckmEdwardsKeyPairGen}, ckmEdDSA, ckmEdwardsKeyPairGen); err != nil {
		t.Errorf("needMechanisms with both = %v", err)
	}
	err := needMechanisms("fw", []uint{0x1, 0x1041, ckmEdwardsKeyPairGen}, ckmEdDSA)
	if err == nil || !strings.Contains(err.Error(), `token "fw" does not support the mechanism CKM_EDDSA`) {
		t.Errorf("needMechanisms without CKM_EDDSA = %v", err)
	}
	err = needMechanisms("fw", []uint{ckmEdDSA}, ckmEdDSA, ckmEdwardsKeyPairGen)
	if err == nil || !strings.Contains(err.Error(), "CKM_EC_EDWARDS_KEY_PAIR_GEN") {
		t.Errorf("needMechanisms without key generation = %v", err)
	}
}
