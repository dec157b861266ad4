// Command minverify is the smallest program that verifies an offline proof
// bundle: what a device's update agent links. It exists to measure the
// verifier's size (docs/BENCHMARKS.md, "The device verifier"):
//
//	CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /tmp/minverify ./cmd/internal/minverify
//
// Usage: minverify LOG.pub RELEASE.pub BUNDLE IMAGE
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/keys"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: minverify LOG.pub RELEASE.pub BUNDLE IMAGE")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3], os.Args[4]); err != nil {
		fmt.Fprintln(os.Stderr, "minverify:", err)
		os.Exit(1)
	}
}

func run(logPub, releasePub, bundleFile, imageFile string) error {
	lk, err := readKey(logPub)
	if err != nil {
		return err
	}
	lv, err := lk.NoteVerifier()
	if err != nil {
		return err
	}
	rk, err := readKey(releasePub)
	if err != nil {
		return err
	}
	ring, err := keys.NewRing(rk)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(bundleFile)
	if err != nil {
		return err
	}
	img, err := os.Open(imageFile)
	if err != nil {
		return err
	}
	defer img.Close()
	v, err := client.VerifyBundle(context.Background(), client.Trust{Log: lv, ReleaseKeys: ring}, b, img)
	if err != nil {
		return err
	}
	fmt.Printf("ok: %s %s, entry %d\n", v.Release.ImageName, v.Release.Version, v.Index)
	return nil
}

func readKey(name string) (*keys.PublicKey, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return keys.ParsePublic(data)
}
