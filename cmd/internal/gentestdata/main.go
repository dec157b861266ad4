// Command gentestdata regenerates the repository's testdata (see package
// testvectors). Run it from the repository root: go run ./internal/cmd/gentestdata
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/fwledger/fwledger/fwtest/vectors"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	if err := vectors.Generate(*root); err != nil {
		fmt.Fprintln(os.Stderr, "gentestdata:", err)
		os.Exit(1)
	}
}
