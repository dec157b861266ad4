package keys

import (
	"reflect"
	"testing"
)

// FuzzParsePublic checks that an accepted public key file re-encodes to a
// file that parses to the same key.
func FuzzParsePublic(f *testing.F) {
	k, _ := Generate(nil, "example.com/fuzz")
	pub, _ := k.Public().Marshal()
	f.Add(pub)
	f.Add([]byte("example.com/fuzz+01234567+AQ=="))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePublic(data)
		if err != nil {
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		p2, err := ParsePublic(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatal("public key changed in a round trip")
		}
	})
}

// FuzzParsePrivate checks private key parsing never panics and round-trips.
func FuzzParsePrivate(f *testing.F) {
	k, _ := Generate(nil, "example.com/fuzz")
	priv, _ := k.MarshalPrivate()
	f.Add(priv)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePrivate(data)
		if err != nil {
			return
		}
		out, err := p.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParsePrivate(out); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
	})
}
