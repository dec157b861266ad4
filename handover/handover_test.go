package handover

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

const vkey = "example.com/next+b09f909b+AR5fe0gr2kw9uMzEXCpfcHvzt4mrSXj7yBuhbs4IDIWc"

func TestLeafRoundTrip(t *testing.T) {
	if _, err := note.NewVerifier(vkey); err != nil {
		t.Fatal(err)
	}
	got, ok := ParseLeaf(Leaf(vkey))
	if !ok || got != vkey {
		t.Fatalf("ParseLeaf(Leaf) = %q, %v", got, ok)
	}
	for _, bad := range []string{
		"", "fwledger.dev/handover/v1\nsuccessor \n", "fwledger.dev/handover/v1\nsuccessor " + vkey,
		"fwledger.dev/handover/v1\nsuccessor " + vkey + " x\n", "fwledger.dev/handover/v1\nsuccessor not-a-key\n",
		`{"payloadType":"application/vnd.in-toto+json"}`,
	} {
		if _, ok := ParseLeaf([]byte(bad)); ok {
			t.Errorf("ParseLeaf(%q) took it", bad)
		}
	}
}

func TestSuccessorIn(t *testing.T) {
	for ext, want := range map[string]string{
		Line(vkey) + "\n": vkey,
		"fwledger.dev/revocations 0 x\n" + Line(vkey) + "\n": vkey,
	} {
		if got, err := successorIn([]byte(ext)); err != nil || got != want {
			t.Errorf("successorIn(%q) = %q, %v", ext, got, err)
		}
	}
	if _, err := successorIn([]byte("fwledger.dev/revocations 0 x\n")); !errors.Is(err, ErrNotFrozen) {
		t.Errorf("no line: %v", err)
	}
	if _, err := successorIn([]byte(Line(vkey) + "\n" + Line(vkey) + "\n")); err == nil {
		t.Error("two lines were taken")
	}
	if err := Check("example.com/next", vkey); err == nil || !strings.Contains(err.Error(), "new origin") {
		t.Errorf("Check with the same origin: %v", err)
	}
}

// FuzzParseLeaf checks that what ParseLeaf accepts is exactly Leaf of it.
func FuzzParseLeaf(f *testing.F) {
	f.Add(Leaf(vkey))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, ok := ParseLeaf(data)
		if ok && string(Leaf(s)) != string(data) {
			t.Fatalf("ParseLeaf(%q) = %q, whose leaf is other bytes", data, s)
		}
	})
}

// FuzzSuccessorIn checks that the line parser never panics and returns a
// key only from a line of the input.
func FuzzSuccessorIn(f *testing.F) {
	f.Add([]byte(Line(vkey) + "\n"))
	f.Fuzz(func(t *testing.T, ext []byte) {
		s, err := successorIn(ext)
		if err == nil && !strings.Contains(string(ext), Line(s)) {
			t.Fatalf("successorIn(%q) = %q, not a line of it", ext, s)
		}
	})
}
