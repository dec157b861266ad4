package provenance

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// A DigestError reports an image whose size or digest is not the expected
// one.
type DigestError struct {
	// Alg is the algorithm of the digest that differs, "sha256" or
	// "sha512"; it is empty when the size differs.
	Alg string
	// Want and Got are that algorithm's expected and computed digests.
	Want, Got         []byte
	WantSize, GotSize uint64
}

func (e *DigestError) Error() string {
	if e.Alg == "" {
		return fmt.Sprintf("image is %d bytes, the release says %d", e.GotSize, e.WantSize)
	}
	return fmt.Sprintf("image digest is %s:%s, the release says %s:%s", e.Alg, hex.EncodeToString(e.Got), e.Alg, hex.EncodeToString(e.Want))
}

// CheckImage hashes image as a stream, reading at most size+1 bytes, and
// returns a *DigestError unless it is exactly size bytes with SHA-256
// digest want. Errors reading image are returned as they are.
func CheckImage(want Digest, size uint64, image io.Reader) error {
	return checkImage(image, size, want, nil)
}

// CheckImage checks that image, read as a stream, is the released one: its
// size, its SHA-256 digest and, if the release names one, its SHA-512
// digest, all computed in one pass. Every digest a release names is
// checked, so that provenance matched to the release through any of them
// (see [Provenance.Attests]) is about the bytes that pass.
func (r *Release) CheckImage(image io.Reader) error {
	return checkImage(image, r.ImageSize, r.Image, r.ImageSHA512)
}

func checkImage(image io.Reader, size uint64, want256 Digest, want512 []byte) error {
	h256 := sha256.New()
	var w io.Writer = h256
	var h512 hash.Hash
	if want512 != nil {
		h512 = sha512.New()
		w = io.MultiWriter(h256, h512)
	}
	n, err := io.Copy(w, io.LimitReader(image, int64(size)+1))
	if err != nil {
		return fmt.Errorf("couldn't read the image: %w", err)
	}
	if uint64(n) != size {
		return &DigestError{WantSize: size, GotSize: uint64(n)}
	}
	if got := h256.Sum(nil); !bytes.Equal(got, want256[:]) {
		return &DigestError{Alg: "sha256", Want: want256[:], Got: got, WantSize: size, GotSize: size}
	}
	if h512 != nil {
		if got := h512.Sum(nil); !bytes.Equal(got, want512) {
			return &DigestError{Alg: "sha512", Want: want512, Got: got, WantSize: size, GotSize: size}
		}
	}
	return nil
}
