package client_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/internal/testutil"
)

// FuzzVerifyBundle feeds arbitrary bundles to the full verification path: it
// must never panic, and whatever it accepts must be the one genuine release.
func FuzzVerifyBundle(f *testing.F) {
	img := testutil.Image("fuzz image", 300)
	env := testutil.SignRelease(f, testutil.NewRelease(img, nil), rel1)
	other := testutil.SignRelease(f, testutil.NewRelease(testutil.Image("other", 10), nil), rel1)
	f.Add(testutil.OfflineBundle(f, testutil.LogKey, [][]byte{env}, 0))
	f.Add(testutil.OfflineBundle(f, testutil.LogKey, [][]byte{other, env, other}, 1))
	v, err := testutil.LogKey.Public().NoteVerifier()
	if err != nil {
		f.Fatal(err)
	}
	trust := client.Trust{Log: v, ReleaseKeys: testutil.Ring(f, rel1)}
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
