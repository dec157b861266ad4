package provenance

import (
	"io"

	"github.com/fwledger/fwledger/digest"
)

// CheckImage checks that image, read as a stream, is the released one: its
// size, its SHA-256 digest and, if the release names one, its SHA-512
// digest, all computed in one pass (see [digest.Check]). Every digest a
// release names is checked, so that provenance matched to the release
// through any of them (see [Provenance.Attests]) is about the bytes that
// pass.
func (r *Release) CheckImage(image io.Reader) error {
	return digest.Check(image, r.ImageSize, r.Image, r.ImageSHA512)
}
