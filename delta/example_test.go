package delta_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/fwledger/fwledger/delta"
	"github.com/fwledger/fwledger/digest"
)

// A device updates from the image in its slot (base) to a new release
// (target) by downloading a delta instead of the 8 MiB image.
func Example() {
	base := make([]byte, 8<<20)
	rand.NewChaCha8([32]byte{}).Read(base)
	// The new release has a kilobyte more code near the start.
	target := slices.Concat(base[:4096], bytes.Repeat([]byte("new code"), 128), base[4096:])

	// The server makes the delta.
	var d bytes.Buffer
	if err := delta.Create(&d, bytes.NewReader(base), int64(len(base)), bytes.NewReader(target), int64(len(target)), nil); err != nil {
		panic(err)
	}
	fmt.Printf("delta is under 1%% of the target: %v\n", d.Len() < len(target)/100)

	// The device reads which images the delta is for, and what applying it
	// costs.
	h, err := delta.ParseHeader(bytes.NewReader(d.Bytes()))
	if err != nil {
		panic(err)
	}
	fmt.Printf("base %d bytes, target %d bytes in %d blocks of %d\n", h.BaseSize, h.TargetSize, h.Blocks(), h.BlockSize)
	fmt.Printf("applying it allocates at most %.1f MiB\n", float64(h.Memory())/(1<<20))

	// The device applies it to its base, and gets the target; it then
	// checks the target against the release's logged digests.
	var out bytes.Buffer
	n, err := delta.Apply(&out, bytes.NewReader(base), int64(len(base)), digest.Sum(base), &d, 64<<20)
	fmt.Println(n, err, bytes.Equal(out.Bytes(), target))
	// Output:
	// delta is under 1% of the target: true
	// base 8388608 bytes, target 8389632 bytes in 3 blocks of 4194304
	// applying it allocates at most 17.1 MiB
	// 8389632 <nil> true
}
