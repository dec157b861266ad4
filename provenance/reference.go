package provenance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/digest"
)

// Large entries. A C2SP tlog-tiles entry holds at most 65,535 bytes. A
// Sigstore bundle may be larger (long certificate chains, many subjects);
// the log then stores its exact bytes by SHA-256 beside the tree and logs a
// Reference in its place. A DSSE envelope over the limit is refused instead.

// MaxLargeEntrySize is the largest Sigstore bundle the log stores by digest.
const MaxLargeEntrySize = api.MaxLargeEntrySize

// ReferenceMediaType identifies a reference leaf.
const ReferenceMediaType = "application/vnd.fwledger.entry-ref.v1+json"

// A Reference is the leaf of an entry stored by digest.
type Reference struct {
	Digest digest.Digest
	Size   uint64
}

type referenceJSON struct {
	MediaType string            `json:"mediaType"`
	Digest    map[string]string `json:"digest"`
	Size      uint64            `json:"size"`
}

// Marshal returns the reference's leaf bytes; they depend only on the
// content, so the same content always gives the same leaf.
func (r Reference) Marshal() []byte {
	out, _ := json.Marshal(referenceJSON{MediaType: ReferenceMediaType, Digest: map[string]string{"sha256": hex.EncodeToString(r.Digest[:])}, Size: r.Size})
	return out
}

// ReferenceTo returns the reference to content.
func ReferenceTo(content []byte) Reference {
	return Reference{Digest: sha256.Sum256(content), Size: uint64(len(content))}
}

// ParseReference parses a reference leaf. It returns nil, nil if leaf is not
// one, and accepts only the exact bytes Marshal gives.
func ParseReference(leaf []byte) (*Reference, error) {
	if !bytes.Contains(leaf, []byte(ReferenceMediaType)) {
		return nil, nil
	}
	var j referenceJSON
	dec := json.NewDecoder(bytes.NewReader(leaf))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil || j.MediaType != ReferenceMediaType {
		return nil, nil
	}
	var r Reference
	var err error
	if r.Digest, err = digest.ParseHex(j.Digest["sha256"]); err != nil || len(j.Digest) != 1 {
		return nil, errors.New("malformed entry reference: want one sha256 digest")
	}
	r.Size = j.Size
	if !bytes.Equal(r.Marshal(), leaf) {
		return nil, errors.New("malformed entry reference: not in canonical form")
	}
	return &r, nil
}

// A ContentError reports stored content that does not match its reference.
type ContentError struct {
	Ref Reference
	Err error
}

func (e *ContentError) Error() string {
	return fmt.Sprintf("the content of entry reference %s: %v", e.Ref.Digest, e.Err)
}
func (e *ContentError) Unwrap() error { return e.Err }

// Resolve returns the entry a leaf stands for: the leaf itself, or, for a
// reference, content after checking that it is the referenced bytes, and a
// Sigstore bundle.
func Resolve(leaf, content []byte) ([]byte, error) {
	ref, err := ParseReference(leaf)
	if err != nil || ref == nil {
		return leaf, err
	}
	if content == nil {
		return nil, &ContentError{Ref: *ref, Err: errors.New("the content is missing")}
	}
	if got := ReferenceTo(content); got != *ref {
		return nil, &ContentError{Ref: *ref, Err: fmt.Errorf("got %d bytes with digest %s, want %d bytes", got.Size, got.Digest, ref.Size)}
	}
	// Only a Sigstore bundle too large for a tile entry is stored by
	// digest: a release, or anything else, behind a reference would
	// escape whoever reads the log's tiles alone.
	if !IsSigstoreBundle(content) {
		return nil, &ContentError{Ref: *ref, Err: errors.New("the content is not a Sigstore bundle, the only entry stored by digest")}
	}
	return content, nil
}
