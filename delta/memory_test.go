package delta

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"runtime"
	"testing"

	"github.com/fwledger/fwledger/digest"
)

// synthetic is an image that is made as it is read, so that a test can
// apply a delta to images larger than it would want to hold: 4 KiB pages,
// every fourth one a repeated 16-byte record and the others random bytes,
// all from seed and the offset.
type synthetic struct {
	seed uint64
	size int64
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (s synthetic) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	var w [8]byte
	for n < len(p) && off < s.size {
		k := uint64(off) / 8
		if page := k / 512; page%4 == 0 {
			k = page<<20 | k%2
		}
		binary.LittleEndian.PutUint64(w[:], splitmix(s.seed<<48^k))
		c := copy(p[n:min(len(p), n+int(s.size-off))], w[off%8:])
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// concat is the images of parts, one after the other.
type concat []*io.SectionReader

func (c concat) size() (n int64) {
	for _, p := range c {
		n += p.Size()
	}
	return n
}

func (c concat) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for _, part := range c {
		if off >= part.Size() {
			off -= part.Size()
			continue
		}
		m, err := part.ReadAt(p[n:min(len(p), n+int(part.Size()-off))], off)
		n += m
		if err != nil && err != io.EOF {
			return n, err
		}
		off = 0
		if n == len(p) {
			return n, nil
		}
	}
	return n, io.EOF
}

// TestMemory makes and applies a delta between two 256 MiB images and
// checks that each side allocates, in all, less than its documented bound:
// a bound on what they allocate is one on their heap, whenever the
// garbage collector runs.
func TestMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 256 MiB images several times")
	}
	const size = 256 << 20
	base := synthetic{seed: 1, size: size}
	target := concat{
		io.NewSectionReader(base, 0, 3<<20),
		io.NewSectionReader(synthetic{seed: 2, size: 1024}, 0, 1024), // 1 KiB inserted
		io.NewSectionReader(base, 3<<20, 200<<20),
		io.NewSectionReader(base, 203<<20+4096, size-(203<<20+4096)), // 4 KiB deleted
	}
	var d bytes.Buffer
	created := allocated(func() {
		if err := Create(&d, base, size, target, target.size(), nil); err != nil {
			t.Fatalf("Create: %v", err)
		}
	})
	h, err := ParseHeader(bytes.NewReader(d.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Create allocated %.1f MiB; delta of %d bytes for a target of %d", mib(created), d.Len(), target.size())
	const createBound = 128 << 20 // the package doc says about 100 MiB
	if created > createBound {
		t.Errorf("Create allocated %.1f MiB, over its bound of %.1f MiB", mib(created), mib(createBound))
	}
	if d.Len() > 64<<10 {
		t.Errorf("delta is %d bytes, want at most 64 KiB for a 1 KiB insertion and a 4 KiB deletion", d.Len())
	}

	hash := sha256.New()
	var n int64
	applied := allocated(func() {
		n, err = Apply(hash, base, size, h.BaseDigest, bytes.NewReader(d.Bytes()), size)
	})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if n != target.size() || digest.Digest(hash.Sum(nil)) != h.TargetDigest {
		t.Fatalf("Apply wrote %d bytes, want the target's %d", n, target.size())
	}
	t.Logf("Apply allocated %.1f MiB; its bound (Header.Memory) is %.1f MiB", mib(applied), mib(h.Memory()))
	if applied > h.Memory() {
		t.Errorf("Apply allocated %.1f MiB, over its bound of %.1f MiB", mib(applied), mib(h.Memory()))
	}
}

// allocated returns how many bytes f allocates.
func allocated(f func()) int64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
