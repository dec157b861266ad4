//go:build !cgo

package pkcs11

import (
	"errors"
	"testing"
)

// TestNoCgo checks that a binary built without cgo says so for every
// token operation, and still parses URIs.
func TestNoCgo(t *testing.T) {
	u, err := ParseURI("pkcs11:token=fw;object=release-3?module-path=/usr/lib/softhsm/libsofthsm2.so")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(u); !errors.Is(err, ErrNoCgo) {
		t.Errorf("Open = %v, want ErrNoCgo", err)
	}
	if _, err := Generate(u); !errors.Is(err, ErrNoCgo) {
		t.Errorf("Generate = %v, want ErrNoCgo", err)
	}
	if err := Delete(u); !errors.Is(err, ErrNoCgo) {
		t.Errorf("Delete = %v, want ErrNoCgo", err)
	}
	if want := "this binary was built without cgo: PKCS#11 keys are unavailable"; ErrNoCgo.Error() != want {
		t.Errorf("ErrNoCgo = %q, want %q", ErrNoCgo, want)
	}
}
