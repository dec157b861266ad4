package delta

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/fwledger/fwledger/digest"
)

// firmware returns n bytes that look like a firmware image: runs of
// code-like random bytes, tables of similar records, repeated strings and
// padding, all made from seed.
func firmware(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, 0, n+64<<10)
	for len(b) < n {
		switch r.IntN(4) {
		case 0: // code
			for range 1 + r.IntN(4096) {
				b = append(b, byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()))
			}
		case 1: // a table of 16-byte records that differ in a counter
			rec := make([]byte, 16)
			for i := range rec {
				rec[i] = byte(r.Uint32())
			}
			for i := range 16 + r.IntN(512) {
				rec[0], rec[1] = byte(i), byte(i>>8)
				b = append(b, rec...)
			}
		case 2: // padding
			b = append(b, bytes.Repeat([]byte{0xff * byte(r.IntN(2))}, 256+r.IntN(4096))...)
		case 3: // strings
			s := []byte("error: partition table checksum mismatch at sector ")
			for i := range 8 + r.IntN(64) {
				b = append(b, s...)
				b = append(b, byte('0'+i%10), 0)
			}
		}
	}
	return b[:n]
}

// splice returns b with b[at:at+del] replaced by ins.
func splice(b []byte, at, del int, ins []byte) []byte {
	return slices.Concat(b[:at], ins, b[at+del:])
}

func flip(b []byte, at ...int) []byte {
	b = bytes.Clone(b)
	for _, i := range at {
		b[i] ^= 0x5a
	}
	return b
}

// small are Options that cut the test images into many blocks.
var small = &Options{BlockSize: 64 << 10, Margin: 32 << 10}

func create(t testing.TB, base, target []byte, opts *Options) []byte {
	t.Helper()
	var d bytes.Buffer
	if err := Create(&d, bytes.NewReader(base), int64(len(base)), bytes.NewReader(target), int64(len(target)), opts); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return d.Bytes()
}

func apply(base, delta []byte, maxSize int64) ([]byte, int64, error) {
	var out bytes.Buffer
	n, err := Apply(&out, bytes.NewReader(base), int64(len(base)), digest.Sum(base), bytes.NewReader(delta), maxSize)
	if n != int64(out.Len()) {
		panic("Apply miscounted what it wrote")
	}
	return out.Bytes(), n, err
}

func TestRoundTrip(t *testing.T) {
	base := firmware(1, 1<<20)
	for _, tc := range []struct {
		desc         string
		base, target []byte
		opts         *Options
		// maxRatio, if not zero, is the largest delta size as a share
		// of the target size.
		maxRatio float64
	}{
		{"identical", base, base, small, 0.005},
		{"a few bytes changed", base, flip(base, 10, 300_000, 300_001, 1<<20-1), small, 0.01},
		{"1 KiB inserted near the start", base, splice(base, 100, 0, firmware(2, 1024)), small, 0.01},
		{"4 KiB deleted in the middle", base, splice(base, 500_000, 4096, nil), small, 0.01},
		{"a block appended", base, slices.Concat(base, firmware(3, 64<<10)), small, 0.1},
		{"target smaller than base", base, splice(base[:700_000], 1000, 3000, nil), small, 0.01},
		{"shifted by more than the margin", base, splice(base, 0, 0, firmware(4, 40<<10)), small, 0.2},
		{"unrelated target", base, firmware(5, 1<<20), small, 0},
		{"empty base", nil, base, small, 0},
		{"empty target", base, nil, small, 0},
		{"both empty", nil, nil, nil, 0},
		{"target shorter than a block", base, base[:1000], small, 0},
		{"base shorter than a window", base[:1000], base[:5000], small, 0},
		{"default options, 9 MiB, 1 KiB inserted", firmware(6, 9<<20), splice(firmware(6, 9<<20), 4096, 0, firmware(7, 1024)), nil, 0.002},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			d := create(t, tc.base, tc.target, tc.opts)
			h, err := ParseHeader(bytes.NewReader(d))
			if err != nil {
				t.Fatalf("ParseHeader: %v", err)
			}
			want := Header{BaseDigest: digest.Sum(tc.base), BaseSize: int64(len(tc.base)), TargetDigest: digest.Sum(tc.target), TargetSize: int64(len(tc.target))}
			if h.BaseDigest != want.BaseDigest || h.BaseSize != want.BaseSize || h.TargetDigest != want.TargetDigest || h.TargetSize != want.TargetSize {
				t.Errorf("ParseHeader = %+v, want the base and target of %+v", h, want)
			}
			got, n, err := apply(tc.base, d, int64(len(tc.target)))
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if n != int64(len(tc.target)) || !bytes.Equal(got, tc.target) {
				t.Fatalf("Apply wrote %d bytes, not the target's %d", n, len(tc.target))
			}
			ratio := float64(len(d)) / float64(max(len(tc.target), 1))
			t.Logf("target %d bytes, delta %d bytes (%.4f)", len(tc.target), len(d), ratio)
			if tc.maxRatio != 0 && ratio > tc.maxRatio {
				t.Errorf("delta is %d bytes, %.4f of the target's %d, want at most %.4f", len(d), ratio, len(tc.target), tc.maxRatio)
			}
		})
	}
}

// testDelta returns a small delta of several blocks: base, target and the
// delta between them.
func testDelta(t testing.TB) (base, target, d []byte) {
	base = firmware(10, 24<<10)
	target = splice(flip(base, 9000), 100, 0, []byte("inserted"))
	d = create(t, base, target, &Options{BlockSize: MinBlockSize, Margin: 1024})
	if got, _, err := apply(base, d, int64(len(target))); err != nil || !bytes.Equal(got, target) {
		t.Fatalf("Apply(test delta) = %v, want the target", err)
	}
	return base, target, d
}

func TestWrongBase(t *testing.T) {
	base, target, d := testDelta(t)
	other := flip(base, 0)
	for _, tc := range []struct {
		desc   string
		base   []byte
		digest digest.Digest
	}{
		{"other digest", other, digest.Sum(other)},
		{"other size", base[:len(base)-1], digest.Sum(base)},
		{"digest of another image", base, digest.Sum(target)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var out bytes.Buffer
			n, err := Apply(&out, bytes.NewReader(tc.base), int64(len(tc.base)), tc.digest, bytes.NewReader(d), 1<<30)
			var be *BaseError
			if !errors.As(err, &be) {
				t.Fatalf("Apply = %v, want a *BaseError", err)
			}
			if be.Want != digest.Sum(base) || be.WantSize != int64(len(base)) || be.Got != tc.digest || be.GotSize != int64(len(tc.base)) {
				t.Errorf("BaseError = %+v, want the delta's base and the one given", be)
			}
			if n != 0 || out.Len() != 0 {
				t.Errorf("Apply wrote %d bytes (said %d) for the wrong base", out.Len(), n)
			}
		})
	}
}

func TestSizeLimit(t *testing.T) {
	base, target, d := testDelta(t)
	for _, tc := range []struct {
		max     int64
		wantErr bool
	}{
		{0, true},
		{int64(len(target)) - 1, true},
		{int64(len(target)), false},
		{int64(len(target)) + 1, false},
	} {
		got, n, err := apply(base, d, tc.max)
		var se *SizeError
		if tc.wantErr {
			if !errors.As(err, &se) || se.Size != int64(len(target)) || se.Max != tc.max {
				t.Errorf("Apply(maxSize %d) = %v, want a *SizeError for %d bytes", tc.max, err, len(target))
			}
			if n != 0 || len(got) != 0 {
				t.Errorf("Apply(maxSize %d) wrote %d bytes", tc.max, len(got))
			}
		} else if err != nil || !bytes.Equal(got, target) {
			t.Errorf("Apply(maxSize %d) = %v, want the target", tc.max, err)
		}
	}
}

// TestTruncated applies every proper prefix of a delta: each is a
// *FormatError, and what was written is a prefix of the target.
func TestTruncated(t *testing.T) {
	base, target, d := testDelta(t)
	for n := range len(d) {
		got, _, err := apply(base, d[:n], 1<<30)
		var fe *FormatError
		if !errors.As(err, &fe) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("Apply(first %d of %d bytes) = %v, want a *FormatError for a truncated delta", n, len(d), err)
		}
		if !bytes.HasPrefix(target, got) {
			t.Fatalf("Apply(first %d of %d bytes) wrote bytes that are not the target's", n, len(d))
		}
	}
	if _, _, err := apply(base, append(bytes.Clone(d), 0), 1<<30); !errors.As(err, new(*FormatError)) {
		t.Errorf("Apply(delta with a byte more) = %v, want a *FormatError", err)
	}
}

// TestCorrupt changes every byte of a delta in turn: Apply must fail with
// one of its typed errors, unless what it writes is the target all the
// same (a record's window can move without changing a frame that uses
// none of it).
func TestCorrupt(t *testing.T) {
	base, target, d := testDelta(t)
	failed := 0
	for i := range d {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			c := bytes.Clone(d)
			c[i] ^= x
			got, _, err := apply(base, c, 1<<30)
			if err == nil {
				if !bytes.Equal(got, target) {
					t.Fatalf("Apply(delta with byte %d ^ %#x) wrote a wrong target and no error", i, x)
				}
				continue
			}
			failed++
			var (
				fe *FormatError
				be *BaseError
				se *SizeError
			)
			if !errors.As(err, &fe) && !errors.As(err, &be) && !errors.As(err, &se) {
				t.Errorf("Apply(delta with byte %d ^ %#x) = %v, want a typed error", i, x, err)
			}
		}
	}
	t.Logf("%d of %d changes failed", failed, 3*len(d))
	if failed < 3*len(d)*9/10 {
		t.Errorf("only %d of %d changes made Apply fail", failed, 3*len(d))
	}
}

func TestParseHeaderLimits(t *testing.T) {
	_, _, d := testDelta(t)
	good := d[:HeaderSize]
	set := func(at int, v ...byte) []byte { b := bytes.Clone(good); copy(b[at:], v); return b }
	for _, tc := range []struct {
		desc string
		b    []byte
	}{
		{"empty", nil},
		{"short", good[:HeaderSize-1]},
		{"bad magic", set(0, 'X')},
		{"version 2", set(8, 0, 0, 0, 2)},
		{"base size over the limit", set(44, 0, 4, 0, 0, 0, 0, 0, 1)},
		{"target size over the limit", set(84, 0x80, 0, 0, 0, 0, 0, 0, 0)},
		{"block size too small", set(92, 0, 0, 0x0f, 0xff)},
		{"block size too large", set(92, 0, 0x80, 0, 1)},
		{"window over the base", set(96, 0, 0, 0x60, 1)},
		{"window over the limit", set(96, 0x02, 0, 0, 1)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if h, err := ParseHeader(bytes.NewReader(tc.b)); !errors.As(err, new(*FormatError)) {
				t.Errorf("ParseHeader = %+v, %v, want a *FormatError", h, err)
			}
		})
	}
	if _, err := ParseHeader(bytes.NewReader(good)); err != nil {
		t.Errorf("ParseHeader(good header) = %v", err)
	}
}

// failingReader returns err after the first n bytes of r.
type failingReader struct {
	r   io.Reader
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// TestReadError checks that an error reading the delta (a network that
// fails, say) is returned as it is, not taken for a malformed delta.
func TestReadError(t *testing.T) {
	base, _, d := testDelta(t)
	errNet := errors.New("connection reset")
	for _, n := range []int{0, HeaderSize, HeaderSize + 10, len(d) / 2, len(d)} {
		var out bytes.Buffer
		_, err := Apply(&out, bytes.NewReader(base), int64(len(base)), digest.Sum(base), &failingReader{bytes.NewReader(d), n, errNet}, 1<<30)
		if !errors.Is(err, errNet) || errors.As(err, new(*FormatError)) {
			t.Errorf("Apply(delta failing after %d bytes) = %v, want the read error, not a *FormatError", n, err)
		}
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []*Options{
		{BlockSize: MinBlockSize - 1},
		{BlockSize: MaxBlockSize + 1},
		{Margin: -1},
		{BlockSize: MaxBlockSize, Margin: MaxWindow / 2},
	} {
		if err := Create(io.Discard, bytes.NewReader(nil), 0, bytes.NewReader(nil), 0, o); err == nil {
			t.Errorf("Create(options %+v) = nil, want an error", o)
		}
	}
}
