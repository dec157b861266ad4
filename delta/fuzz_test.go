package delta_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fwledger/fwledger/delta"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest/vectors"
)

// FuzzApply applies deltas to the base of the seed corpus (made by
// fwtest/vectors): Apply never panics, never writes more than it is
// allowed, fails only with its typed errors (the delta is read from
// memory), and what it writes without an error has the header's target
// size and digest.
func FuzzApply(f *testing.F) {
	base := vectors.DeltaBase
	f.Fuzz(func(t *testing.T, d []byte) {
		const maxSize = 1 << 20
		var out bytes.Buffer
		n, err := delta.Apply(&out, bytes.NewReader(base), int64(len(base)), digest.Sum(base), bytes.NewReader(d), maxSize)
		if n != int64(out.Len()) || n > maxSize {
			t.Fatalf("Apply says it wrote %d bytes, wrote %d, limit %d", n, out.Len(), maxSize)
		}
		if err != nil {
			var (
				fe *delta.FormatError
				be *delta.BaseError
				se *delta.SizeError
			)
			if !errors.As(err, &fe) && !errors.As(err, &be) && !errors.As(err, &se) {
				t.Fatalf("Apply = %v, want a *FormatError, *BaseError or *SizeError", err)
			}
			return
		}
		h, err := delta.ParseHeader(bytes.NewReader(d))
		if err != nil {
			t.Fatalf("Apply accepted a delta whose header does not parse: %v", err)
		}
		if n != h.TargetSize || digest.Sum(out.Bytes()) != h.TargetDigest {
			t.Fatalf("Apply accepted a delta and wrote %d bytes that are not its target", n)
		}
	})
}

// FuzzParseHeader checks that a header that parses is in its canonical
// form and asks for no more memory than the format's limits allow.
func FuzzParseHeader(f *testing.F) {
	// 32 MiB window, 8 MiB block, 8 MiB + 128 KiB + 16 decoded block,
	// 8 MiB + 32 KiB + 1 KiB frame, 1 MiB decoder: the package doc's 49.2 MiB.
	const most = 49<<20 + 161<<10 + 16
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := delta.ParseHeader(bytes.NewReader(b))
		if err != nil {
			if !errors.As(err, new(*delta.FormatError)) {
				t.Fatalf("ParseHeader = %v, want a *FormatError", err)
			}
			return
		}
		if enc, _ := h.AppendBinary(nil); !bytes.Equal(enc, b[:delta.HeaderSize]) {
			t.Fatalf("ParseHeader accepted a header that is not its own encoding")
		}
		if m := h.Memory(); m > most {
			t.Fatalf("header %+v asks for %d bytes, over %d", h, m, most)
		}
	})
}
