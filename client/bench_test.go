package client_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/internal/testutil"
)

// BenchmarkVerifyBundle measures a device's offline check of a bundle and a
// 1 MiB image.
func BenchmarkVerifyBundle(b *testing.B) {
	img := testutil.Image("bench", 1<<20)
	env := testutil.SignRelease(b, testutil.NewRelease(img, nil), rel1)
	entries := [][]byte{env}
	for i := 0; i < 1000; i++ {
		entries = append(entries, []byte{byte(i), byte(i >> 8)})
	}
	bnd := testutil.OfflineBundle(b, testutil.LogKey, entries, 0)
	v, _ := testutil.LogKey.Public().NoteVerifier()
	trust := client.Trust{Log: v, ReleaseKeys: testutil.Ring(b, rel1)}
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		if _, err := client.VerifyBundle(context.Background(), trust, bnd, bytes.NewReader(img)); err != nil {
			b.Fatal(err)
		}
	}
}
