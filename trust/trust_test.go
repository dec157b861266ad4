package trust_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/trust"
)

var (
	root4 = fwtest.Key("vendor.example.com/root-4")
	root5 = fwtest.Key("vendor.example.com/root-5")
)

func TestParse(t *testing.T) {
	ctx := context.Background()
	edit := func(f func(string) string) []byte {
		return fwtest.SignTyped(t, trust.PayloadType, []byte(f(string(fwtest.TrustFile{}.Payload(t)))), fwtest.Root1, fwtest.Root2)
	}
	for _, tc := range []struct {
		desc   string
		signed []byte
		want   string // in the error; "" for success
	}{
		{"good", fwtest.TrustFile{}.Signed(t), ""},
		{"all three roots", fwtest.TrustFile{}.Signed(t, fwtest.Root1, fwtest.Root2, fwtest.Root3), ""},
		{"one root of a threshold of two", fwtest.TrustFile{}.Signed(t, fwtest.Root1), "threshold of its own root keys"},
		{"one root twice", fwtest.TrustFile{}.Signed(t, fwtest.Root1, fwtest.Root1), "threshold of its own root keys"},
		{"signed by strangers", fwtest.TrustFile{}.Signed(t, root4, root5), "threshold of its own root keys"},
		{"unsigned", []byte(`{"payloadType":"application/vnd.fwledger.trust.v1+json","payload":"e30=","signatures":[]}`), "no signatures"},
		{"a bare payload", fwtest.TrustFile{}.Payload(t), "envelope"},
		{"another payload type", fwtest.SignTyped(t, "application/vnd.in-toto+json", fwtest.TrustFile{}.Payload(t), fwtest.Root1, fwtest.Root2), "payloadType"},
		{"version 0", edit(func(s string) string {
			return strings.Replace(s, `"version":1,"witnesses"`, `"version":0,"witnesses"`, 1)
		}), "version is missing"},
		{"expires before created", fwtest.TrustFile{Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Expires: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}.Signed(t), "expires is not after created"},
		{"no cosignature age", fwtest.TrustFile{MaxCosignatureAge: "0s"}.Signed(t), "maxCosignatureAge"},
		{"cosignature age beyond a year", fwtest.TrustFile{MaxCosignatureAge: "10000h"}.Signed(t), "maxCosignatureAge"},
		{"witness policy of another log", fwtest.TrustFile{Log: fwtest.Key("example.com/other-log")}.Signed(t), ""},
		{"origin not in the witness policy", edit(func(s string) string {
			return strings.Replace(s, `"origin":"example.com/testlog"`, `"origin":"example.com/elsewhere"`, 1)
		}), "names no key for the log"},
		{"no witnesses", fwtest.TrustFile{Witnesses: []*keys.PrivateKey{}, Quorum: -1}.Signed(t), "witness"},
		{"a key file in the policy", edit(func(s string) string {
			return strings.Replace(s, `"builder":{"vkey":`, `"builder":{"file":"ci.pub","x":`, 1)
		}), "policy"},
		{"policy file reference", edit(func(s string) string {
			return strings.Replace(s, `"builder":{"vkey":`, `"builder":{"file":"ci.pub"},"b2":{"vkey":`, 1)
		}), "cannot name a file"},
		{"no models", fwtest.TrustFile{Models: []string{}}.Signed(t), "models"},
		{"a channel twice", fwtest.TrustFile{Channels: []string{"stable", "stable"}}.Signed(t), "listed twice"},
		{"root threshold above the keys", fwtest.TrustFile{RootThreshold: 4}.Signed(t, fwtest.Root1, fwtest.Root2, fwtest.Root3), "root threshold"},
		{"unknown field", edit(func(s string) string { return strings.Replace(s, `{"allow`, `{"extra":1,"allow`, 1) }), "unknown field"},
		{"duplicate key", edit(func(s string) string { return strings.Replace(s, `{"allow`, `{"version":7,"allow`, 1) }), "duplicate"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			f, err := trust.Parse(ctx, tc.signed)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if f.Version != 1 || len(f.Signers) < 2 {
					t.Errorf("Parse: version %d, %d signers", f.Version, len(f.Signers))
				}
				return
			}
			var te *trust.Error
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse: %v, want a *trust.Error containing %q", err, tc.want)
			}
		})
	}
}

func TestNext(t *testing.T) {
	ctx := context.Background()
	v1, err := trust.Parse(ctx, fwtest.TrustFile{}.Signed(t))
	if err != nil {
		t.Fatal(err)
	}
	newRoots := fwtest.TrustFile{Version: 2, Roots: []*keys.PrivateKey{root4, root5}}
	for _, tc := range []struct {
		desc   string
		signed []byte
		want   string
	}{
		{"v2 by the old roots", fwtest.TrustFile{Version: 2}.Signed(t), ""},
		{"v5 skipping versions", fwtest.TrustFile{Version: 5}.Signed(t), ""},
		{"new roots, signed by old and new", newRoots.Signed(t, fwtest.Root1, fwtest.Root3, root4, root5), ""},
		{"new roots, self-signed only", newRoots.Signed(t, root4, root5), "not signed by a threshold of version 1's root keys"},
		{"new roots, by the old only", newRoots.Signed(t, fwtest.Root1, fwtest.Root2), "threshold of its own root keys"},
		{"v2 by one old root", fwtest.TrustFile{Version: 2}.Signed(t, fwtest.Root1, fwtest.Root1), "threshold of its own"},
		{"same version", fwtest.TrustFile{}.Signed(t), "not newer"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			next, err := v1.Next(ctx, tc.signed)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Next: %v", err)
				}
				if next.Version <= v1.Version {
					t.Errorf("Next accepted version %d", next.Version)
				}
				return
			}
			var te *trust.Error
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Next: %v, want a *trust.Error containing %q", err, tc.want)
			}
		})
	}
	// A chain: v3 must be signed by v2's roots, not v1's.
	v2, err := v1.Next(ctx, newRoots.Signed(t, fwtest.Root1, fwtest.Root2, root4, root5))
	if err != nil {
		t.Fatal(err)
	}
	v3old := fwtest.TrustFile{Version: 3}.Signed(t)
	if _, err := v2.Next(ctx, v3old); err == nil {
		t.Fatal("v2 accepted a v3 signed by v1's roots only")
	}
	v3 := fwtest.TrustFile{Version: 3}.Signed(t, fwtest.Root1, fwtest.Root2, root4, root5)
	if _, err := v2.Next(ctx, v3); err != nil {
		t.Fatalf("v2 refused v3 signed by both root sets: %v", err)
	}
	var ve *trust.VersionError
	if _, err := v2.Next(ctx, fwtest.TrustFile{Version: 1}.Signed(t, fwtest.Root1, fwtest.Root2, root4, root5)); !errors.As(err, &ve) {
		t.Fatalf("v2.Next(v1) = %v, want a *VersionError", err)
	}
}

func TestClientTrust(t *testing.T) {
	f, err := trust.Parse(context.Background(), fwtest.TrustFile{Expires: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}.Signed(t))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := f.ClientTrust("acme-x1", "beta", time.Time{})
	if err != nil || ct.Channel != "beta" || ct.Model != "acme-x1" || ct.MaxCosignatureAge != 24*time.Hour || ct.Witnesses == nil || ct.Policy == nil {
		t.Fatalf("ClientTrust = %+v, %v", ct, err)
	}
	var te *trust.TargetError
	if _, err := f.ClientTrust("acme-x2", "beta", time.Time{}); !errors.As(err, &te) {
		t.Errorf("ClientTrust(acme-x2) = %v, want a *TargetError", err)
	}
	if _, err := f.ClientTrust("acme-x1", "nightly", time.Time{}); !errors.As(err, &te) {
		t.Errorf("ClientTrust(nightly) = %v, want a *TargetError", err)
	}
	if f.Expired(time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)) || !f.Expired(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error("Expired is wrong around the expiry time")
	}
}
