package client_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/fwtest"
)

// BenchmarkVerifyBundle measures a device's offline check of a bundle and a
// 1 MiB image.
func BenchmarkVerifyBundle(b *testing.B) {
	img := fwtest.Image("bench", 1<<20)
	env := fwtest.SignRelease(b, fwtest.NewRelease(img, nil), rel1)
	entries := [][]byte{env}
	for i := 0; i < 1000; i++ {
		entries = append(entries, []byte{byte(i), byte(i >> 8)})
	}
	bnd := fwtest.OfflineBundle(b, fwtest.LogKey, entries, 0)
	v, _ := fwtest.LogKey.Public().NoteVerifier()
	trust := client.Trust{Log: v, ReleaseKeys: fwtest.Ring(b, rel1)}
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		if _, err := client.VerifyBundle(context.Background(), trust, bnd, bytes.NewReader(img)); err != nil {
			b.Fatal(err)
		}
	}
}
