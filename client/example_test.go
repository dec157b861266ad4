package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/keys"
)

// loadKey reads a public key file of the repository's test data.
func loadKey(name string) *keys.PublicKey {
	data, err := os.ReadFile("../testdata/keys/" + name)
	if err != nil {
		panic(err)
	}
	k, err := keys.ParsePublic(data)
	if err != nil {
		panic(err)
	}
	return k
}

// A device verifies the offline proof bundle of an update and the image it
// is for, under the log key and release key it trusts, before it installs
// anything.
func ExampleVerifyBundle() {
	logKey, err := loadKey("log.pub").NoteVerifier()
	if err != nil {
		panic(err)
	}
	releaseKeys, err := keys.NewRing(loadKey("release-1.pub"))
	if err != nil {
		panic(err)
	}
	trust := client.Trust{Log: logKey, ReleaseKeys: releaseKeys}

	bundle, err := os.ReadFile("../testdata/fw.bundle")
	if err != nil {
		panic(err)
	}
	image, err := os.Open("../testdata/fw.bin")
	if err != nil {
		panic(err)
	}
	defer image.Close()
	v, err := client.VerifyBundle(context.Background(), trust, bundle, image)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Printf("install %s %s for %s (security version %d), logged at %d under %s checkpoint %d\n",
		v.Release.ImageName, v.Release.Version, strings.Join(v.Release.Models, ", "), v.Release.SecurityVersion,
		v.Index, v.Checkpoint.Origin, v.Checkpoint.Size)

	// The same bundle with an image that is not the released one.
	_, err = client.VerifyBundle(context.Background(), trust, bundle, strings.NewReader("not the image"))
	var de *client.DigestError
	fmt.Println("another image refused:", errors.As(err, &de))
	// Output:
	// install fw.bin 1.4.0 for acme-x1 (security version 7), logged at 3 under example.com/testlog checkpoint 5
	// another image refused: true
}
