package keys

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// ed25519Case is one (key, message, signature) triple and the verdict
// crypto/ed25519 gives it.
type ed25519Case struct {
	name          string
	pub, msg, sig []byte
	valid         bool
}

// torsionSigned returns a signature by priv over msg whose R carries the
// small-order point t: it satisfies the cofactored verification equation
// but not the cofactorless one that crypto/ed25519 checks.
func torsionSigned(t *testing.T, priv ed25519.PrivateKey, msg []byte, torsion *curve.EdwardsPoint) []byte {
	t.Helper()
	h := sha512.Sum512(priv.Seed())
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	a, err := scalar.New().SetBytesModOrder(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	nonce := sha512.Sum512(append([]byte("nonce"), msg...))
	r, err := scalar.New().SetBytesModOrderWide(nonce[:])
	if err != nil {
		t.Fatal(err)
	}
	var R curve.EdwardsPoint
	R.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, r)
	R.Add(&R, torsion)
	var Rc curve.CompressedEdwardsY
	Rc.SetEdwardsPoint(&R)
	kh := sha512.New()
	kh.Write(Rc[:])
	kh.Write(priv.Public().(ed25519.PublicKey))
	kh.Write(msg)
	k, err := scalar.New().SetBytesModOrderWide(kh.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	S := scalar.New().Add(r, scalar.New().Mul(k, a))
	sig := append([]byte(nil), Rc[:]...)
	sig = append(sig, make([]byte, 32)...)
	if err := S.ToBytes(sig[32:]); err != nil {
		t.Fatal(err)
	}
	return sig
}

func ed25519Cases(t *testing.T) []ed25519Case {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	msg := []byte("DSSEv1 28 application/vnd.in-toto+json 2 {}")
	sig := ed25519.Sign(priv, msg)

	// S + ℓ: the same point equation with a non-canonical scalar.
	order, _ := hex.DecodeString("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
	high := append([]byte(nil), sig...)
	carry := 0
	for i := range 32 {
		v := int(high[32+i]) + int(order[i]) + carry
		high[32+i], carry = byte(v), v>>8
	}

	identity := append([]byte{1}, make([]byte, 31)...)
	// p+1 = 2^255-18: a non-canonical encoding of the identity's y.
	nonCanonical := append([]byte{0xee}, bytes.Repeat([]byte{0xff}, 30)...)
	nonCanonical = append(nonCanonical, 0x7f)
	zeroS := make([]byte, 32)

	flipped := append([]byte(nil), sig...)
	flipped[5] ^= 1
	cases := []ed25519Case{
		{"valid", pub, msg, sig, true},
		{"other message", pub, []byte("DSSEv1 28 application/vnd.in-toto+json 2 []"), sig, false},
		{"R bit flipped", pub, msg, flipped, false},
		{"S plus the group order", pub, msg, high, false},
		{"short signature", pub, msg, sig[:63], false},
		{"long signature", pub, msg, append(append([]byte(nil), sig...), 0), false},
		{"small-order key and R, S zero", identity, msg, append(append([]byte(nil), identity...), zeroS...), true},
		{"non-canonical key encoding", nonCanonical, msg, append(append([]byte(nil), identity...), zeroS...), true},
		{"non-canonical R encoding", identity, msg, append(append([]byte(nil), nonCanonical...), zeroS...), false},
	}
	for i, tp := range curve.EIGHT_TORSION {
		if i == 0 {
			continue // the identity: an ordinary signature
		}
		cases = append(cases, ed25519Case{fmt.Sprintf("R plus small-order point %d", i), pub, msg, torsionSigned(t, priv, msg, tp), false})
	}
	return cases
}

// TestEd25519MatchesStdlib holds the ring's Ed25519 verifier to
// crypto/ed25519's verdict on the cases where Ed25519 implementations are
// known to differ, and shows why batch verification is not used: it
// accepts the signatures whose R carries a small-order point.
func TestEd25519MatchesStdlib(t *testing.T) {
	for _, c := range ed25519Cases(t) {
		t.Run(c.name, func(t *testing.T) {
			if got := ed25519.Verify(c.pub, c.msg, c.sig); got != c.valid {
				t.Fatalf("crypto/ed25519 says %v, the case says %v", got, c.valid)
			}
			v, err := NewRing(&PublicKey{Name: "example.com/k", Key: ed25519.PublicKey(c.pub)})
			if err != nil {
				t.Fatal(err)
			}
			id := v.IDs()[0]
			ver, _ := v.Lookup(id)
			if _, ok := ver.(*ed25519Verifier); !ok {
				t.Fatalf("the ring's verifier is a %T, not the precomputed one", ver)
			}
			if got := ver.Verify(context.Background(), c.msg, c.sig) == nil; got != c.valid {
				t.Fatalf("the ring's verifier says %v, crypto/ed25519 %v", got, c.valid)
			}
		})
	}
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	msg := []byte("DSSEv1 28 application/vnd.in-toto+json 2 {}")
	mixed := torsionSigned(t, priv, msg, curve.EIGHT_TORSION[1])
	b := voi.NewBatchVerifier()
	b.AddWithOptions(voi.PublicKey(priv.Public().(ed25519.PublicKey)), msg, ed25519.Sign(priv, msg), &voi.Options{Verify: voi.VerifyOptionsFIPS_186_5})
	b.AddWithOptions(voi.PublicKey(priv.Public().(ed25519.PublicKey)), msg, mixed, &voi.Options{Verify: voi.VerifyOptionsFIPS_186_5})
	if ok, _ := b.Verify(nil); !ok {
		t.Error("batch verification refused a signature with a small-order R: the reason it is not used is gone")
	}
}

// FuzzEd25519MatchesStdlib checks that the ring's Ed25519 verifier and
// crypto/ed25519 agree on every key, message and signature.
func FuzzEd25519MatchesStdlib(f *testing.F) {
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		if len(pub) != ed25519.PublicKeySize {
			return
		}
		want := ed25519.Verify(pub, msg, sig)
		ring, err := NewRing(&PublicKey{Name: "example.com/k", Key: ed25519.PublicKey(pub)})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := ring.Lookup(ring.IDs()[0])
		if got := v.Verify(context.Background(), msg, sig) == nil; got != want {
			t.Fatalf("the ring's verifier says %v, crypto/ed25519 %v", got, want)
		}
	})
}
