package revocation

import (
	"context"
	"fmt"
	"math"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
)

// A Logged is a revocation logged at Index, signed by Signers (DSSE key
// IDs of the trusted revocation keys).
type Logged struct {
	Index      uint64
	Revocation *provenance.Revocation
	Signers    []string
	// Data is the logged entry.
	Data []byte
}

// A Set is the revocations that apply: those signed by a threshold of the
// trusted revocation keys. The zero Set revokes nothing. A Set is not for
// concurrent use while it is added to.
type Set struct {
	keys   map[string][]Logged
	images map[digest.Digest]Logged
	n      int
}

// NewSet returns the set of the given verified revocations.
func NewSet(logged ...Logged) *Set {
	s := &Set{}
	for _, l := range logged {
		s.Add(l)
	}
	return s
}

// Add adds a verified revocation.
func (s *Set) Add(l Logged) {
	if s.keys == nil {
		s.keys, s.images = map[string][]Logged{}, map[digest.Digest]Logged{}
	}
	s.n++
	switch r := l.Revocation; r.Revokes {
	case provenance.RevokeKey:
		s.keys[r.KeyID] = append(s.keys[r.KeyID], l)
	case provenance.RevokeRelease:
		if _, ok := s.images[r.Image]; !ok {
			s.images[r.Image] = l
		}
	}
}

// Len returns the number of revocations in s.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}

// Key returns the revocation that revokes key id for an entry logged at
// index, if any: the earliest logged one that applies.
func (s *Set) Key(id string, index uint64) (Logged, bool) {
	if s == nil {
		return Logged{}, false
	}
	for _, l := range s.keys[id] {
		if l.Revocation.Applies(id, index, l.Index) {
			return l, true
		}
	}
	return Logged{}, false
}

// Revoked returns what reports whether a key's signatures do not count on
// the entry with digest d (provenance.EvalOptions.Revoked), given the log
// index of each entry; an entry whose index indexOf does not know is
// judged as logged after every revocation. It returns nil for an empty
// set.
func (s *Set) Revoked(indexOf func(d digest.Digest) (uint64, bool)) func(id string, d digest.Digest) bool {
	if s.Len() == 0 {
		return nil
	}
	return func(id string, d digest.Digest) bool {
		at, ok := indexOf(d)
		if !ok {
			at = math.MaxUint64
		}
		_, r := s.Key(id, at)
		return r
	}
}

// SignedBy returns the revocation of a key that a signature of env names
// (by its keyid), for an entry logged at index, if any.
func (s *Set) SignedBy(env *provenance.Envelope, index uint64) (Logged, bool) {
	for _, sig := range env.Signatures {
		if by, ok := s.Key(sig.KeyID, index); ok {
			return by, true
		}
	}
	return Logged{}, false
}

// Release returns the revocation of image d, if any: the earliest logged.
func (s *Set) Release(d digest.Digest) (Logged, bool) {
	if s == nil {
		return Logged{}, false
	}
	l, ok := s.images[d]
	return l, ok
}

// Verify checks that a parsed revocation entry, logged at index, is signed
// by threshold distinct keys of ring and returns it as Logged.
func Verify(ctx context.Context, e *provenance.Entry, data []byte, index uint64, ring *keys.Ring, threshold int) (Logged, error) {
	signers, err := provenance.VerifyRevocation(ctx, e, ring, threshold)
	if err != nil {
		return Logged{}, err
	}
	return Logged{Index: index, Revocation: e.Revocation, Signers: signers, Data: data}, nil
}

// A RevokedError reports a release that a logged revocation revokes, or
// an entry whose signatures fall below the threshold once the revoked keys
// are left out (a release's, or the build provenance it endorses).
type RevokedError struct {
	// By is the revocation: of the release's image, or of a key that
	// signed it.
	By Logged
	// Err, for a revoked key, is why the remaining signatures do not
	// suffice (a *provenance.PolicyViolation or *provenance.ThresholdError).
	Err error
}

func (e *RevokedError) Error() string {
	r := e.By.Revocation
	if r.Revokes == provenance.RevokeRelease {
		return fmt.Sprintf("the release of image %s is revoked by entry %d (%q)", r.Image, e.By.Index, r.Reason)
	}
	msg := fmt.Sprintf("key %s is revoked from index %d by entry %d (%q)", r.KeyID, min(r.FromIndex, e.By.Index), e.By.Index, r.Reason)
	if e.Err != nil {
		msg += ", and without it: " + e.Err.Error()
	}
	return msg
}

func (e *RevokedError) Unwrap() error { return e.Err }
