package ledger

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/fwledger/fwledger/handover"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/revocation"
	"github.com/fwledger/fwledger/tiles"
)

// ErrNoRevocationKeys is returned for a revocation submitted to a log that
// has no revocation keys.
var ErrNoRevocationKeys = errors.New("this log accepts no revocations: it has no revocation keys (fwlog --revocation-keys, or the policy's revocation section)")

// ErrRevocationsFull is returned for a new revocation when the log holds
// revocation.MaxRevocations of them, the most a bundle carries.
var ErrRevocationsFull = fmt.Errorf("the log holds %d revocations, the most a bundle carries", revocation.MaxRevocations)

// RevokedError reports a release refused for a logged revocation.
type RevokedError = revocation.RevokedError

// revocations is the revocations the log applies: those logged and signed
// by a threshold of its revocation keys. A submission that holds a
// revocation holds mu for writing from its checks until it is sequenced,
// one that holds a release for reading: so a release is never judged by a
// set that a revocation logged before it lacks.
type revocations struct {
	mu     sync.RWMutex
	logged []revocation.Logged // guarded by mu, in log order
	set    *revocation.Set     // built from logged; replaced, never changed
	count  int                 // every logged revocation, verified or not
}

// loadRevocations reads the logged revocations at start-up and keeps those
// that verify under the log's revocation keys.
func (l *Ledger) loadRevocations(ctx context.Context) error {
	idxs, err := l.log.Lookup(ctx, revocationsKey, -1, revocation.MaxRevocations+1)
	if err != nil {
		return log.WrapStorageError("look up revocations", err)
	}
	l.revs.count = len(idxs)
	var ignored int
	for _, i := range idxs {
		s, err := l.statement(ctx, i)
		if err != nil {
			return err
		}
		if s.Entry == nil || s.Kind != provenance.KindRevocation {
			continue
		}
		lg, err := revocation.Verify(ctx, s.Entry, s.Data, i, l.cfg.RevocationKeys, l.cfg.RevocationThreshold)
		if err != nil {
			ignored++
			continue
		}
		l.revs.logged = append(l.revs.logged, lg)
	}
	l.revs.set = setOf(l.revs.logged)
	if ignored > 0 {
		l.logger.Warn("some logged revocations do not verify under this log's revocation keys; they are not applied to submissions", "revocations", ignored)
	}
	return nil
}

func setOf(logged []revocation.Logged) *revocation.Set {
	s := &revocation.Set{}
	for _, lg := range logged {
		s.Add(lg)
	}
	return s
}

// lockRevocations takes the revocation lock a submission of adm needs (see
// revocations) and returns its release, or nil.
func (l *Ledger) lockRevocations(adm []admitted) func() {
	var release, revoke bool
	for _, a := range adm {
		release = release || a.e.Kind == provenance.KindRelease
		revoke = revoke || a.e.Kind == provenance.KindRevocation
	}
	switch {
	case revoke:
		l.revs.mu.Lock()
		return l.revs.mu.Unlock
	case release:
		l.revs.mu.RLock()
		return l.revs.mu.RUnlock
	}
	return nil
}

// checkRevocable refuses a new revocation beyond the most a bundle
// carries. The caller holds the revocation lock for writing.
func (l *Ledger) checkRevocable(adm []admitted) error {
	n := 0
	for _, a := range adm {
		if a.e.Kind == provenance.KindRevocation {
			n++
		}
	}
	if n > 0 && l.revs.count+n > revocation.MaxRevocations {
		return ErrRevocationsFull
	}
	return nil
}

// addRevocations records the revocations of a sequenced submission. The
// caller holds the revocation lock for writing.
func (l *Ledger) addRevocations(adm []admitted, res []AddResult) {
	changed := false
	for i, a := range adm {
		if a.e.Kind != provenance.KindRevocation || res[i].Dup {
			continue
		}
		l.revs.count++
		l.revs.logged = append(l.revs.logged, revocation.Logged{Index: res[i].Index, Revocation: a.e.Revocation, Signers: a.signers, Data: a.data})
		changed = true
	}
	if changed {
		l.revs.set = setOf(l.revs.logged)
	}
}

// checkRevoked judges a release of a submission against the revocations:
// its image must not be revoked, and it must pass the policy with the
// revoked keys left out. Every logged revocation applies to it, as it is
// logged after them. The caller holds the revocation lock.
func (l *Ledger) checkRevoked(rel *provenance.Entry) (revoked func(string) bool, err error) {
	set := l.revs.set
	if by, ok := set.Release(rel.Release.Image); ok {
		return nil, &RevokedError{By: by}
	}
	if set.Len() == 0 {
		return nil, nil
	}
	return func(id string) bool {
		_, ok := set.Key(id, math.MaxUint64)
		return ok
	}, nil
}

// revokedSigner returns the revocation of a key that a signature of env
// names (by its keyid) for an entry logged at index, if any.
func revokedSigner(set *revocation.Set, env *provenance.Envelope, index uint64) (revocation.Logged, bool) {
	for _, s := range env.Signatures {
		if by, ok := set.Key(s.KeyID, index); ok {
			return by, true
		}
	}
	return revocation.Logged{}, false
}

// Revocations returns the logged revocations in log order after index
// after (-1 for the start), at most limit of them.
func (l *Ledger) Revocations(ctx context.Context, after int64, limit int) (*Page, error) {
	size := l.log.Published().Size
	sts, next, more, err := l.lookupPage(ctx, revocationsKey, after, limit)
	if err != nil {
		return nil, err
	}
	out := sts[:0]
	for _, s := range sts {
		if s.Kind == provenance.KindRevocation {
			out = append(out, s)
		}
	}
	return &Page{Statements: out, Next: next, More: more, Size: size}, nil
}

// revocationsBelow returns the logged revocations at indices below size,
// in log order.
func (l *Ledger) revocationsBelow(ctx context.Context, size uint64) ([]*Statement, error) {
	idxs, err := l.log.Lookup(ctx, revocationsKey, -1, revocation.MaxRevocations+1)
	if err != nil {
		return nil, log.WrapStorageError("look up revocations", err)
	}
	var out []*Statement
	for _, i := range idxs {
		if i >= size {
			break
		}
		s, err := l.statement(ctx, i)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// CheckpointExtensions returns the function a log (log.Config.Extensions)
// gives the extension lines of its checkpoints with: the commitment to the
// revocations below the checkpoint's size (package revocation), and, once
// the tree holds a handover entry, the successor (package handover). It
// reads them through the log, so it serves before the Ledger exists.
func CheckpointExtensions() func(ctx context.Context, lg *log.Log, size uint64) ([]string, error) {
	var mu sync.Mutex
	leaves := map[uint64][]byte{} // leaf hashes of revocations by index
	return func(ctx context.Context, lg *log.Log, size uint64) ([]string, error) {
		idxs, err := lg.Lookup(ctx, revocationsKey, -1, revocation.MaxRevocations+1)
		if err != nil {
			return nil, err
		}
		var hashes [][]byte
		mu.Lock()
		defer mu.Unlock()
		for _, i := range idxs {
			if i >= size {
				break
			}
			h, ok := leaves[i]
			if !ok {
				data, err := lg.ReadEntry(ctx, i)
				if err != nil {
					return nil, err
				}
				h = tiles.LeafHash(data)
				leaves[i] = h
			}
			hashes = append(hashes, h)
		}
		c, err := revocation.Commit(hashes)
		if err != nil {
			return nil, err
		}
		lines := []string{c.Line()}
		// A frozen log's checkpoints name its successor, from the size
		// that holds the handover entry on.
		if i, successor, ok, err := handoverIndex(ctx, lg); err != nil {
			return nil, err
		} else if ok && i < size {
			lines = append(lines, handover.Line(successor))
		}
		return lines, nil
	}
}
