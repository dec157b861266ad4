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
		tile, err := ParsePath(p)
		if err != nil {
			return
		}
		if again := tile.Path(); again != p {
			t.Fatalf("ParsePath(%q) = %+v, which encodes as %q", p, tile, again)
		}
		if tile.Width < 1 || tile.Width > Width || tile.Level > 63 || tile.Entries && tile.Level != 0 {
			t.Fatalf("ParsePath(%q) = %+v: out of range", p, tile)
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
