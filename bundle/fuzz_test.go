package bundle

import (
	"bytes"
	"testing"
)

// FuzzParse checks that bundle parsing never panics and that an accepted
// bundle survives a marshal and parse round trip unchanged.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"mediaType":"application/vnd.fwledger.bundle.v1+json","release":{"entry":"e30=","proof":"c2sp.org/tlog-proof@v1\nindex 0\n\nexample.com/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— example.com/log AAAA\n"}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Parse(data)
		if err != nil {
			return
		}
		out, err := b.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		b2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse of a marshalled bundle failed: %v", err)
		}
		if !bytes.Equal(b2.Release.Data, b.Release.Data) || !bytes.Equal(b2.Release.Proof.Marshal(), b.Release.Proof.Marshal()) {
			t.Fatal("bundle changed in a round trip")
		}
	})
}

// FuzzParseProof checks that only canonical tlog-proofs are accepted.
func FuzzParseProof(f *testing.F) {
	f.Add([]byte("c2sp.org/tlog-proof@v1\nindex 3\ngSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n\nexample.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— example.com/log AAAA\n"))
	f.Add([]byte("c2sp.org/tlog-proof@v1\nextra aGVsbG8=\nindex 0\n\nx\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProof(data)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Marshal(), data) {
			t.Fatal("accepted a non-canonical proof")
		}
	})
}
