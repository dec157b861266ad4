// Package digest names the bytes fwledger handles (images, envelopes,
// Sigstore bundles) by their SHA-256 digest, and checks an image against the
// digests a release gives for it. It imports nothing of fwledger.
//
// A digest's text form is "sha256:" and 64 lowercase hex digits:
//
//	sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
package digest

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// A Digest is a SHA-256 digest.
type Digest [32]byte

// Sum returns the SHA-256 digest of data.
func Sum(data []byte) Digest { return sha256.Sum256(data) }

// String returns "sha256:<hex>".
func (d Digest) String() string { return "sha256:" + hex.EncodeToString(d[:]) }

// Parse parses "sha256:<64 lowercase hex digits>".
func Parse(s string) (Digest, error) {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok {
		return Digest{}, fmt.Errorf("digest %q does not start with \"sha256:\"", s)
	}
	d, err := ParseHex(h)
	if err != nil {
		return Digest{}, fmt.Errorf("digest %q: %w", s, err)
	}
	return d, nil
}

// ParseHex parses a digest written as 64 lowercase hex digits, as in an
// in-toto digest set.
func ParseHex(h string) (Digest, error) {
	var d Digest
	if len(h) != 64 || strings.ToLower(h) != h {
		return d, errors.New("want 64 lowercase hex digits")
	}
	_, err := hex.Decode(d[:], []byte(h))
	return d, err
}

// A MismatchError reports an image whose size or digest is not the expected
// one.
type MismatchError struct {
	// Alg is the algorithm of the digest that differs, "sha256" or
	// "sha512"; it is empty when the size differs.
	Alg string
	// Want and Got are that algorithm's expected and computed digests.
	Want, Got         []byte
	WantSize, GotSize uint64
}

func (e *MismatchError) Error() string {
	if e.Alg == "" {
		return fmt.Sprintf("image is %d bytes, the release says %d", e.GotSize, e.WantSize)
	}
	return fmt.Sprintf("image digest is %s:%s, the release says %s:%s", e.Alg, hex.EncodeToString(e.Got), e.Alg, hex.EncodeToString(e.Want))
}

// Check reads image as a stream, at most size+1 bytes, and returns a
// *MismatchError unless it is exactly size bytes with SHA-256 digest want
// and, if want512 is not nil, SHA-512 digest want512; every digest is
// computed in the one pass. Errors reading image are returned wrapped.
func Check(image io.Reader, size uint64, want Digest, want512 []byte) error {
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
		return &MismatchError{WantSize: size, GotSize: uint64(n)}
	}
	if got := h256.Sum(nil); !bytes.Equal(got, want[:]) {
		return &MismatchError{Alg: "sha256", Want: want[:], Got: got, WantSize: size, GotSize: size}
	}
	if h512 != nil {
		if got := h512.Sum(nil); !bytes.Equal(got, want512) {
			return &MismatchError{Alg: "sha512", Want: want512, Got: got, WantSize: size, GotSize: size}
		}
	}
	return nil
}
