package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/provenance"
	devicetrust "github.com/fwledger/fwledger/trust"
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

// BenchmarkVerifyUpdate measures what a device checks of an update before
// it hashes the image: a bundle of a release and its provenance under a
// checkpoint of a 65,536-entry tree cosigned by 2 of 3 witnesses, with the
// consistency proof from the 40,000-entry tree the device stored, under a
// device trust file (policy with a builder and a source, revocation keys).
// The image is 1 KiB, so hashing it is negligible. Run with -cpu 1.
func BenchmarkVerifyUpdate(b *testing.B) {
	ctx := context.Background()
	tf, err := devicetrust.Parse(ctx, fwtest.TrustFile{}.Signed(b))
	if err != nil {
		b.Fatal(err)
	}
	ct, err := tf.ClientTrust("acme-x1", "stable", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	tree := fwtest.NewTree(fwtest.LogKey, fwtest.WitnessA, fwtest.WitnessB)
	for i := range 65534 {
		tree.Append([]byte{byte(i), byte(i >> 8), 'x'})
	}
	img := fwtest.Image("bench", 1024)
	prov := fwtest.Provenance(b, img, fwtest.Builder)
	tree.Append(prov, fwtest.SignRelease(b, fwtest.NewRelease(img, func(r *provenance.Release) {
		r.Provenance = []digest.Digest{sha256.Sum256(prov)}
	}), rel1))
	n := tree.Size()
	bnd := tree.Bundle(b, int(n-1), n, 40000, int(n-2))
	st := client.State{Checkpoint: tree.Checkpoint(b, 40000), SecurityFloor: 6, TimeFloor: time.Now().Add(-time.Hour)}
	if _, err := client.VerifyUpdate(ctx, ct, st, bnd, bytes.NewReader(img)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := client.VerifyUpdate(ctx, ct, st, bnd, bytes.NewReader(img)); err != nil {
			b.Fatal(err)
		}
	}
}
