package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/fwledger/fwledger/digest"
)

// hashPhase hashes a file as a device checks an image (digest.Check, the
// code under client.CheckImage) and prints the time and rate.
func hashPhase(args []string) error {
	fs := flag.NewFlagSet("hash", flag.ContinueOnError)
	file := fs.String("file", "", "the file to hash")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := os.Open(*file)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	start := time.Now()
	// Against a wrong digest: the whole file is read and hashed, and the
	// mismatch is the expected outcome.
	err = digest.Check(f, uint64(fi.Size()), digest.Digest{}, nil)
	secs := time.Since(start).Seconds()
	if _, ok := err.(*digest.MismatchError); !ok {
		return fmt.Errorf("hashing %s: %v", *file, err)
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"phase": "hash", "bytes": fi.Size(), "seconds": secs, "mb_per_s": float64(fi.Size()) / secs / 1e6,
	})
}
