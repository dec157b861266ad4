package client_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/fwtest"
)

// FuzzVerifyBundle feeds arbitrary bundles to the full verification path: it
// must never panic, and whatever it accepts must be the one genuine release.
func FuzzVerifyBundle(f *testing.F) {
	img := fwtest.Image("fuzz image", 300)
	env := fwtest.SignRelease(f, fwtest.NewRelease(img, nil), rel1)
	other := fwtest.SignRelease(f, fwtest.NewRelease(fwtest.Image("other", 10), nil), rel1)
	f.Add(fwtest.OfflineBundle(f, fwtest.LogKey, [][]byte{env}, 0))
	f.Add(fwtest.OfflineBundle(f, fwtest.LogKey, [][]byte{other, env, other}, 1))
	v, err := fwtest.LogKey.Public().NoteVerifier()
	if err != nil {
		f.Fatal(err)
	}
	trust := client.Trust{Log: v, ReleaseKeys: fwtest.Ring(f, rel1)}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := client.VerifyBundle(context.Background(), trust, b, bytes.NewReader(img))
		if err != nil {
			return
		}
		if res.Release.ImageSize != uint64(len(img)) {
			t.Fatal("accepted a bundle for another image")
		}
	})
}
