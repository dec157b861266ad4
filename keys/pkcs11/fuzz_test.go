package pkcs11

import (
	"strings"
	"testing"
)

// FuzzParseURI checks that ParseURI never panics, and that an accepted
// URI's canonical form parses to the same attributes and is its own
// canonical form, and never holds a PIN.
func FuzzParseURI(f *testing.F) {
	f.Add("pkcs11:token=fw;object=release-3?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:pin.txt")
	f.Add("pkcs11:object=example.com%2Ffwlog;id=%01%ff?pin-source=file:///run/pin")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			return
		}
		out := u.String()
		if strings.Contains(out, "pin-value") {
			t.Fatalf("String() = %q holds a PIN", out)
		}
		u2, err := ParseURI(out)
		if err != nil {
			t.Fatalf("ParseURI(%q) (String() of %q): %v", out, s, err)
		}
		if !equalMaps(u.path, u2.path) || !equalMaps(u.query, u2.query) {
			t.Fatalf("String() = %q changed the attributes of %q", out, s)
		}
		if out2 := u2.String(); out2 != out {
			t.Fatalf("String() is not canonical: %q, then %q", out, out2)
		}
	})
}
