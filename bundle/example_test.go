package bundle_test

import (
	"fmt"
	"os"

	"github.com/fwledger/fwledger/bundle"
)

// An offline proof bundle holds the release, the provenance it needs, and a
// tlog-proof of each under one checkpoint. Parse checks its form only;
// package client verifies it.
func ExampleParse() {
	data, err := os.ReadFile("../testdata/fw.bundle")
	if err != nil {
		panic(err)
	}
	b, err := bundle.Parse(data)
	if err != nil {
		panic(err)
	}
	for _, e := range b.Entries() {
		fmt.Printf("entry %d: %d bytes, %d proof hashes\n", e.Proof.Index, len(e.Bytes()), len(e.Proof.Hashes))
	}
	fmt.Printf("under the checkpoint:\n%s", b.Checkpoint()[:len("example.com/testlog\n5\n")])
	// Output:
	// entry 3: 728 bytes, 3 proof hashes
	// under the checkpoint:
	// example.com/testlog
	// 5
}
