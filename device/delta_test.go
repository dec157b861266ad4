package device_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"testing"

	"github.com/fwledger/fwledger/delta"
	"github.com/fwledger/fwledger/device"
	"github.com/fwledger/fwledger/device/state"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/provenance"
)

// TestDeltaUpdate updates a device by a delta from the image it runs; a
// corrupt delta, and one from another base, are refused and change
// nothing.
func TestDeltaUpdate(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	v1 := w.release(t, "v1", 1, nil)
	w.installConfirm(t, v1)
	v1d := digest.Sum(v1)
	v2 := append(bytes.Clone(v1[:5000]), append([]byte("new code"), v1[5000:]...)...)
	prov := fwtest.Provenance(t, v2, fwtest.Builder)
	w.submit(t, prov, fwtest.SignRelease(t, fwtest.NewRelease(v2, func(r *provenance.Release) {
		r.SecurityVersion, r.Version, r.BaseImage = 2, "1.2.0", &v1d
		r.Provenance = []digest.Digest{sha256.Sum256(prov)}
	}), fwtest.Release1))
	b, _ := w.bundle(t, v2)
	_, rel := fwtest.BundleRelease(t, b)
	mk := func(from, to []byte) []byte {
		var buf bytes.Buffer
		if err := delta.Create(&buf, bytes.NewReader(from), int64(len(from)), bytes.NewReader(to), int64(len(to)), nil); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	good := mk(v1, v2)
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-20] ^= 0x10
	out := filepath.Join(w.dir, "download.img")

	for _, tc := range []struct {
		desc  string
		rel   *provenance.Release
		delta []byte
	}{
		{"corrupt delta", rel, corrupt},
		{"truncated delta", rel, good[:len(good)/2]},
		{"delta from another base", rel, mk(fwtest.Image("other", len(v1)), v2)},
		{"release from another base", func() *provenance.Release { r := *rel; o := digest.Sum([]byte("x")); r.BaseImage = &o; return &r }(), good},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			before := w.snapshot(t)
			err := w.dev.ApplyDelta(tc.rel, bytes.NewReader(tc.delta), out)
			var de *device.DeltaError
			if !errors.As(err, &de) || device.Reason(err) != device.ReasonDigest {
				t.Fatalf("ApplyDelta = %v, want a *DeltaError", err)
			}
			sameSnapshot(t, before, w.snapshot(t))
		})
	}
	if err := w.dev.ApplyDelta(rel, bytes.NewReader(good), out); err != nil {
		t.Fatal(err)
	}
	if _, err := w.dev.Install(ctx, b, out); err != nil {
		t.Fatal(err)
	}
	if _, err := w.dev.Boot(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.dev.Confirm(ctx); err != nil {
		t.Fatal(err)
	}
	if st := w.dev.State(); st.Slots[st.Active].Image != digest.Sum(v2).String() || st.Active != state.SlotB {
		t.Fatalf("after the delta update: %+v", st)
	}
}
