package tiles

import (
	"bytes"
	"testing"
)

// FuzzParsePath checks that tile paths parse only in canonical form: any
// accepted path encodes back to itself.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"tile/0/000", "tile/1/x001/x234/067.p/8", "tile/entries/x001/000", "tile/entries/000.p/255", "tile/63/x999/999", "tile/0/x000/000", "tile/0/001.p/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		level, index, width, entries, err := ParsePath(p)
		if err != nil {
			return
		}
		var again string
		if entries {
			again = EntriesPath(index, width)
		} else {
			again = Path(level, index, width)
		}
		if again != p {
			t.Fatalf("ParsePath(%q) = %d, %d, %d, %v, which encodes as %q", p, level, index, width, entries, again)
		}
		if width < 0 || width >= Width || level > 63 {
			t.Fatalf("ParsePath(%q) returned out-of-range values", p)
		}
	})
}

// FuzzSplitBundle checks that bundle parsing never panics and that an
// accepted bundle re-encodes to the same bytes.
func FuzzSplitBundle(f *testing.F) {
	b, _ := AppendEntry(nil, []byte("hello"))
	b, _ = AppendEntry(b, []byte(""))
	f.Add(b)
	f.Add([]byte{0, 5, 'a'})
	f.Fuzz(func(t *testing.T, data []byte) {
		es, err := SplitBundle(data)
		if err != nil {
			return
		}
		var re []byte
		for _, e := range es {
			re, _ = AppendEntry(re, e)
		}
		if !bytes.Equal(re, data) {
			t.Fatal("SplitBundle result does not re-encode to the input")
		}
		if tb, err := TruncateBundle(data, len(es)); err != nil || !bytes.Equal(tb, data) {
			t.Fatalf("TruncateBundle(all) = %v", err)
		}
	})
}

// FuzzExpand checks tile expansion on arbitrary tile bytes.
func FuzzExpand(f *testing.F) {
	f.Add(make([]byte, 32*3))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Expand(data)
		if err != nil {
			return
		}
		if e.Width()*HashSize != len(data) {
			t.Fatal("width mismatch")
		}
	})
}
