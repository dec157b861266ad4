package provenance

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fwledger/fwledger/digest"
	ita1 "github.com/in-toto/attestation/go/v1"
)

// RevocationPredicateType is the predicateType of a revocation statement.
const RevocationPredicateType = "https://fwledger.dev/revocation/v1"

// KindRevocation is the kind of a revocation statement.
const KindRevocation Kind = "revocation"

// What a revocation revokes.
const (
	// RevokeKey revokes a signing key from a log index on: entries logged
	// before it that the key signed keep its signature.
	RevokeKey = "key"
	// RevokeRelease revokes every release of an image.
	RevokeRelease = "release"
)

// MaxReasonLength bounds a revocation's reason, in bytes.
const MaxReasonLength = 256

// MaxRevocationNameLength bounds a release revocation's subject name (an
// image file name, informative), in bytes: every bundle carries every
// revocation.
const MaxRevocationNameLength = 256

// The subject name of a key revocation; its digest is the key's DSSE key
// ID, itself a SHA-256 digest (see package keys).
const revokedKeyName = "dsse-key"

// A Revocation is the content of a revocation statement, signed by a
// threshold of the vendor's revocation keys (docs/FORMATS.md).
type Revocation struct {
	// Revokes is RevokeKey or RevokeRelease.
	Revokes string
	// KeyID is the DSSE key ID of the revoked key (RevokeKey).
	KeyID string
	// FromIndex is the first log index at which the key's signatures no
	// longer count (RevokeKey). Whatever it says, a key revocation also
	// holds for every entry logged after the revocation itself.
	FromIndex uint64
	// Image is the SHA-256 digest of the revoked image (RevokeRelease).
	Image digest.Digest
	// ImageName is the subject name of a release revocation.
	ImageName string
	// Reason says why, for people: "compromised", "bricks rev B boards".
	Reason string
	// Created is when the revocation was made.
	Created time.Time
}

// revocationPredicate is the JSON form of a revocation predicate.
type revocationPredicate struct {
	Revokes   string  `json:"revokes"`
	FromIndex *uint64 `json:"fromIndex,omitempty"`
	Reason    string  `json:"reason"`
	Created   string  `json:"created"`
}

// Validate checks r's fields.
func (r *Revocation) Validate() error {
	switch r.Revokes {
	case RevokeKey:
		if !isKeyID(r.KeyID) {
			return fmt.Errorf("key ID %q is not a DSSE key ID (64 lowercase hex digits)", r.KeyID)
		}
		if r.FromIndex > 1<<53 {
			return fmt.Errorf("fromIndex %d is too large (at most 2^53)", r.FromIndex)
		}
	case RevokeRelease:
		if r.KeyID != "" || r.FromIndex != 0 {
			return errors.New("a release revocation names no key and no index")
		}
		if len(r.ImageName) > MaxRevocationNameLength {
			return fmt.Errorf("image name is longer than %d bytes", MaxRevocationNameLength)
		}
	default:
		return fmt.Errorf("revokes is %q, want %q or %q", r.Revokes, RevokeKey, RevokeRelease)
	}
	if err := checkReason(r.Reason); err != nil {
		return err
	}
	if r.Created.IsZero() {
		return errors.New("created time is required")
	}
	return nil
}

// checkReason accepts 1 to MaxReasonLength bytes of UTF-8 text without
// control characters.
func checkReason(s string) error {
	switch {
	case s == "":
		return errors.New("a reason is required")
	case len(s) > MaxReasonLength:
		return fmt.Errorf("reason is %d bytes, more than the limit of %d", len(s), MaxReasonLength)
	case !utf8.ValidString(s):
		return errors.New("reason is not UTF-8")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return errors.New("reason holds a control character")
	}
	return nil
}

func isKeyID(s string) bool {
	_, err := digest.ParseHex(s)
	return err == nil
}

// Statement returns r as an in-toto Statement v1, marshalled with protojson:
// the bytes to sign.
func (r *Revocation) Statement() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	pred := map[string]any{
		"revokes": r.Revokes,
		"reason":  r.Reason,
		"created": r.Created.UTC().Format(time.RFC3339),
	}
	sub := &ita1.ResourceDescriptor{}
	switch r.Revokes {
	case RevokeKey:
		pred["fromIndex"] = float64(r.FromIndex)
		sub.Name, sub.Digest = revokedKeyName, map[string]string{"sha256": r.KeyID}
	case RevokeRelease:
		sub.Name, sub.Digest = r.ImageName, map[string]string{"sha256": hex.EncodeToString(r.Image[:])}
	}
	return marshalStatement(sub, RevocationPredicateType, pred)
}

// ParseRevocation parses and validates a revocation statement: the decoded
// payload of a revocation envelope.
func ParseRevocation(body []byte) (*Revocation, error) {
	st, err := ParseStatement(body)
	if err != nil {
		return nil, err
	}
	return parseRevocation(st)
}

func parseRevocation(st *Statement) (*Revocation, error) {
	bad := func(format string, a ...any) error {
		return &StatementError{Err: fmt.Errorf("revocation: "+format, a...)}
	}
	if st.Type != ita1.StatementTypeUri {
		return nil, bad("statement _type is %q, want %q", st.Type, ita1.StatementTypeUri)
	}
	if st.PredicateType != RevocationPredicateType {
		return nil, bad("predicateType is %q, want %q", st.PredicateType, RevocationPredicateType)
	}
	if n := len(st.Subject); n != 1 {
		return nil, bad("a revocation has exactly one subject, this has %d", n)
	}
	sub := st.Subject[0]
	if len(sub.GetDigest()) != 1 {
		return nil, bad("the subject names %d digests, want exactly one, sha256", len(sub.GetDigest()))
	}
	h, ok := sub.GetDigest()["sha256"]
	if !ok {
		return nil, bad("the subject has no sha256 digest")
	}
	var p revocationPredicate
	dec := json.NewDecoder(bytes.NewReader(st.Predicate))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, bad("predicate: %v", err)
	}
	r := &Revocation{Revokes: p.Revokes, Reason: p.Reason}
	var err error
	switch p.Revokes {
	case RevokeKey:
		if sub.GetName() != revokedKeyName {
			return nil, bad("a key revocation's subject is named %q, want %q", sub.GetName(), revokedKeyName)
		}
		if p.FromIndex == nil {
			return nil, bad("fromIndex is required to revoke a key")
		}
		r.KeyID, r.FromIndex = h, *p.FromIndex
	case RevokeRelease:
		if p.FromIndex != nil {
			return nil, bad("fromIndex is for key revocations; a release is revoked whenever it was logged")
		}
		if r.Image, err = digest.ParseHex(h); err != nil {
			return nil, bad("subject sha256 digest: %v", err)
		}
		r.ImageName = sub.GetName()
	}
	if r.Created, err = time.Parse(time.RFC3339, p.Created); err != nil {
		return nil, bad("created %q is not an RFC 3339 time", p.Created)
	}
	if err := r.Validate(); err != nil {
		return nil, bad("%v", err)
	}
	return r, nil
}

// Applies reports whether r revokes a signature by key id on an entry
// logged at index, where r itself was logged at revokedAt: from the lower
// of its fromIndex and its own index on.
func (r *Revocation) Applies(id string, index, revokedAt uint64) bool {
	return r.Revokes == RevokeKey && r.KeyID == id && index >= min(r.FromIndex, revokedAt)
}
