package revocation_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/revocation"
)

var created = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

func keyRevocation(t *testing.T, k *keys.PrivateKey, from uint64) *provenance.Revocation {
	return &provenance.Revocation{Revokes: provenance.RevokeKey, KeyID: fwtest.KeyID(t, k), FromIndex: from, Reason: "compromised", Created: created}
}

func parse(t *testing.T, env []byte) *provenance.Entry {
	t.Helper()
	e, err := provenance.ParseEntry(env)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestKeyRevokedFrom checks when a key revocation applies: from the lower
// of its fromIndex and its own log index, to that key only.
func TestKeyRevokedFrom(t *testing.T) {
	id := fwtest.KeyID(t, fwtest.Release1)
	other := fwtest.KeyID(t, fwtest.Release2)
	var s revocation.Set
	s.Add(revocation.Logged{Index: 10, Revocation: keyRevocation(t, fwtest.Release1, 4)})
	s.Add(revocation.Logged{Index: 20, Revocation: keyRevocation(t, fwtest.Release2, 50)})
	for _, c := range []struct {
		id      string
		index   uint64
		revoked bool
	}{
		{id, 3, false}, {id, 4, true}, {id, 9, true}, {id, 10, true}, {id, 1 << 40, true},
		// A fromIndex after the revocation's own index: it holds from its
		// own index on.
		{other, 19, false}, {other, 20, true}, {other, 49, true},
	} {
		if _, got := s.Key(c.id, c.index); got != c.revoked {
			t.Errorf("key %s… at index %d: revoked = %v, want %v", c.id[:8], c.index, got, c.revoked)
		}
	}
	if by, ok := s.Key(id, 5); !ok || by.Index != 10 {
		t.Errorf("key %s… at 5: %+v, %v; want the revocation at 10", id[:8], by, ok)
	}
	for _, k := range []string{other, "unknown"} {
		if _, ok := s.Key(k, 5); ok {
			t.Errorf("key %q at 5 is revoked", k)
		}
	}
}

// TestRevocationThreshold holds a revocation to the signature rules of a
// threshold of revocation keys: k-1 refused, k accepted in any order, one
// key signing twice counts once, and a bad signature does not count.
func TestRevocationThreshold(t *testing.T) {
	ctx := context.Background()
	s1, s2, s3 := fwtest.Security1, fwtest.Security2, fwtest.Security3
	ring := fwtest.Ring(t, s1, s2, s3)
	r := keyRevocation(t, fwtest.Release1, 0)
	badSig := func(env []byte, i int) []byte {
		var m map[string]any
		json.Unmarshal(env, &m)
		sig := m["signatures"].([]any)[i].(map[string]any)
		raw, _ := base64.StdEncoding.DecodeString(sig["sig"].(string))
		raw[0] ^= 1
		sig["sig"] = base64.StdEncoding.EncodeToString(raw)
		out, _ := json.Marshal(m)
		return out
	}
	for _, c := range []struct {
		name string
		env  []byte
		ok   bool
	}{
		{"k-1 of k", fwtest.SignRevocation(t, r, s1), false},
		{"k of k", fwtest.SignRevocation(t, r, s1, s2), true},
		{"k, in the other order", fwtest.SignRevocation(t, r, s2, s1), true},
		{"two signatures by one key", fwtest.SignRevocation(t, r, s1, s1), false},
		// A revocation counts its valid signatures: a bad one by a known
		// key is passed over (extra signatures cannot weaken it), and
		// does not count.
		{"a bad signature by a known key beside k good ones", badSig(fwtest.SignRevocation(t, r, s1, s2, s3), 2), true},
		{"a bad signature by a known key leaving k-1 good ones", badSig(fwtest.SignRevocation(t, r, s1, s2), 1), false},
		{"a release key and a revocation key", fwtest.SignRevocation(t, r, s1, fwtest.Release1), false},
	} {
		_, err := revocation.Verify(ctx, parse(t, c.env), c.env, 7, ring, 2)
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v, want ok %v", c.name, err, c.ok)
		}
		var te *provenance.ThresholdError
		if !c.ok && !errors.As(err, &te) {
			t.Errorf("%s: err = %T, want a *provenance.ThresholdError", c.name, err)
		}
	}
	// A release is not a revocation, whoever signed it.
	rel := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("a", 10), nil), s1, s2)
	if _, err := revocation.Verify(ctx, parse(t, rel), rel, 0, ring, 2); err == nil {
		t.Error("Verify took a release")
	}
}
