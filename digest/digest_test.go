package digest

import (
	"bytes"
	"crypto/sha512"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParse(t *testing.T) {
	d := Sum([]byte("hello"))
	s := d.String()
	if s != "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Fatalf("String = %s", s)
	}
	got, err := Parse(s)
	if err != nil || got != d {
		t.Fatalf("Parse(%s) = %s, %v", s, got, err)
	}
	for _, bad := range []string{
		"",
		"sha512:" + s[7:],
		"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
		"sha256:" + strings.ToUpper(s[7:]),
		s[:len(s)-1],
		s + "0",
		"sha256:" + strings.Repeat("g", 64),
	} {
		if d, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %s, want an error", bad, d)
		}
	}
}

func TestCheck(t *testing.T) {
	img := []byte("firmware image")
	want := Sum(img)
	s512 := sha512.Sum512(img)
	other512 := sha512.Sum512([]byte("other"))
	for _, tc := range []struct {
		name    string
		image   []byte
		size    uint64
		want512 []byte
		alg     string // of the *MismatchError; "-" for a size mismatch, "" for success
	}{
		{"sha256 only", img, uint64(len(img)), nil, ""},
		{"both", img, uint64(len(img)), s512[:], ""},
		{"other content", []byte("firmware imagf"), uint64(len(img)), nil, "sha256"},
		{"sha512 differs", img, uint64(len(img)), other512[:], "sha512"},
		{"shorter", img[1:], uint64(len(img)), nil, "-"},
		{"longer", append(append([]byte{}, img...), 0), uint64(len(img)), nil, "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(bytes.NewReader(tc.image), tc.size, want, tc.want512)
			var me *MismatchError
			switch {
			case tc.alg == "" && err != nil:
				t.Fatalf("Check = %v, want success", err)
			case tc.alg == "":
			case !errors.As(err, &me):
				t.Fatalf("Check = %v, want a *MismatchError", err)
			case tc.alg == "-" && (me.Alg != "" || me.WantSize != tc.size || me.GotSize == tc.size):
				t.Fatalf("Check = %+v, want a size mismatch", me)
			case tc.alg != "-" && me.Alg != tc.alg:
				t.Fatalf("Check = %+v, want a %s mismatch", me, tc.alg)
			}
		})
	}
	// A failing reader is an error of its own, not a mismatch.
	err := Check(iotest.ErrReader(io.ErrUnexpectedEOF), 1, want, nil)
	var me *MismatchError
	if !errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &me) {
		t.Fatalf("Check of a failing reader = %v", err)
	}
}

// FuzzParse checks that Parse accepts only the canonical text form.
func FuzzParse(f *testing.F) {
	f.Add("sha256:0000000000000000000000000000000000000000000000000000000000000000")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err == nil && d.String() != s {
			t.Fatalf("Parse(%q) = %s", s, d)
		}
	})
}
