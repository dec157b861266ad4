package provenance

import (
	"crypto/sha256"
	"fmt"
	"io"
)

// A DigestError reports an image whose size or SHA-256 digest is not the
// expected one.
type DigestError struct {
	Want, Got         Digest
	WantSize, GotSize uint64
}

func (e *DigestError) Error() string {
	if e.WantSize != e.GotSize {
		return fmt.Sprintf("image is %d bytes, the release says %d", e.GotSize, e.WantSize)
	}
	return fmt.Sprintf("image digest is %s, the release says %s", e.Got, e.Want)
}

// CheckImage hashes image as a stream, reading at most size+1 bytes, and
// returns a *DigestError unless it is exactly size bytes with digest want.
// Errors reading image are returned as they are.
func CheckImage(want Digest, size uint64, image io.Reader) error {
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(image, int64(size)+1))
	if err != nil {
		return fmt.Errorf("couldn't read the image: %w", err)
	}
	var got Digest
	h.Sum(got[:0])
	if uint64(n) != size || got != want {
		return &DigestError{Want: want, Got: got, WantSize: size, GotSize: uint64(n)}
	}
	return nil
}
