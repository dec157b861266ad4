package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/fwtest/vectors"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/tlogpolicy"
)

// TestVectors runs the generated bundle vectors in testdata/vectors: the good
// one verifies, and every mutated one fails with the error its manifest names.
func TestVectors(t *testing.T) {
	dir := "../testdata/vectors"
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vectors []vectors.Vector
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	logPub, err := os.ReadFile("../testdata/keys/log.pub")
	if err != nil {
		t.Fatal(err)
	}
	lk, err := keys.ParsePublic(logPub)
	if err != nil {
		t.Fatal(err)
	}
	lv, err := lk.NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	relPub, err := os.ReadFile("../testdata/keys/release-1.pub")
	if err != nil {
		t.Fatal(err)
	}
	rk, err := keys.ParsePublic(relPub)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.NewRing(rk)
	if err != nil {
		t.Fatal(err)
	}
	trust := client.Trust{Log: lv, ReleaseKeys: ring}
	errType := map[string]any{
		"BundleError":     new(*client.BundleError),
		"CheckpointError": new(*tlogpolicy.CheckpointError),
		"InclusionError":  new(*client.InclusionError),
		"ReleaseError":    new(*client.ReleaseError),
		"SignatureError":  new(*client.SignatureError),
		"DigestError":     new(*client.DigestError),
	}
	if len(vectors) < 10 {
		t.Fatalf("only %d vectors", len(vectors))
	}
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, v.Bundle))
			if err != nil {
				t.Fatal(err)
			}
			img, err := os.ReadFile(filepath.Join(dir, v.Image))
			if err != nil {
				t.Fatal(err)
			}
			_, err = client.VerifyBundle(context.Background(), trust, b, bytes.NewReader(img))
			if v.Want == "ok" {
				if err != nil {
					t.Fatalf("VerifyBundle: %v", err)
				}
				return
			}
			target, ok := errType[v.Want]
			if !ok {
				t.Fatalf("manifest names unknown error %q", v.Want)
			}
			if !errors.As(err, target) {
				t.Errorf("VerifyBundle = %T %v, want %s", err, err, v.Want)
			}
		})
	}
}
