package delta

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/fwledger/fwledger/digest"
	"github.com/klauspost/compress/zstd"
)

// benchImages returns a 64 MiB firmware-like base and a target with 1 KiB
// inserted near the start and a few bytes changed.
func benchImages() (base, target []byte) {
	base = firmware(20, 64<<20)
	return base, flip(splice(base, 4096, 0, firmware(21, 1024)), 1<<20, 30<<20, 60<<20)
}

func BenchmarkCreate(b *testing.B) {
	base, target := benchImages()
	for _, level := range []zstd.EncoderLevel{zstd.SpeedBestCompression, zstd.SpeedBetterCompression} {
		b.Run(level.String(), func(b *testing.B) {
			b.SetBytes(int64(len(target)))
			var d bytes.Buffer
			for b.Loop() {
				d.Reset()
				if err := Create(&d, bytes.NewReader(base), int64(len(base)), bytes.NewReader(target), int64(len(target)), &Options{Level: level}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(d.Len()), "delta-bytes")
		})
	}
}

func BenchmarkApply(b *testing.B) {
	base, target := benchImages()
	var d bytes.Buffer
	if err := Create(&d, bytes.NewReader(base), int64(len(base)), bytes.NewReader(target), int64(len(target)), nil); err != nil {
		b.Fatal(err)
	}
	sum := digest.Sum(base)
	b.SetBytes(int64(len(target)))
	for b.Loop() {
		if _, err := Apply(sha256.New(), bytes.NewReader(base), int64(len(base)), sum, bytes.NewReader(d.Bytes()), int64(len(target))); err != nil {
			b.Fatal(err)
		}
	}
}
