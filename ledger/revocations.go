package ledger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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
	// scanned is the highest index scanRevocations read (-1 before);
	// guarded by mu.
	scanned int64
	// set is built from logged, replaced (under mu), never changed.
	set atomic.Pointer[revocation.Set]
	// synced is when syncShared last ran (unix nanoseconds).
	synced atomic.Int64
}

// scanRevocations reads the revocations logged after the last it read and
// keeps those that verify under the log's revocation keys, and not kept
// already. The caller holds revs.mu for writing (or runs before any
// submission).
func (l *Ledger) scanRevocations(ctx context.Context) error {
	idxs, err := l.log.Lookup(ctx, revocationsKey, l.revs.scanned, revocation.MaxRevocations+1)
	if err != nil {
		return log.WrapStorageError("look up revocations", err)
	}
	have := map[uint64]bool{}
	for _, lg := range l.revs.logged {
		have[lg.Index] = true
	}
	var ignored int
	changed := false
	for _, i := range idxs {
		s, err := l.statement(ctx, i)
		if err != nil {
			return err
		}
		l.revs.scanned = max(l.revs.scanned, int64(i))
		if have[i] || s.Entry == nil || s.Kind != provenance.KindRevocation {
			continue
		}
		lg, err := revocation.Verify(ctx, s.Entry, s.Data, i, l.cfg.RevocationKeys, l.cfg.RevocationThreshold)
		if err != nil {
			ignored++
			continue
		}
		l.revs.logged = append(l.revs.logged, lg)
		changed = true
	}
	if changed || l.revs.set.Load() == nil {
		slices.SortFunc(l.revs.logged, func(a, b revocation.Logged) int { return cmp.Compare(a.Index, b.Index) })
		l.revs.set.Store(revocation.NewSet(l.revs.logged...))
		l.signerCache.Purge()
	}
	if ignored > 0 {
		l.logger.Warn("some logged revocations do not verify under this log's revocation keys; they are not applied to submissions", "revocations", ignored)
	}
	return nil
}

// syncShared brings what this ledger knows of entries that other frontends
// of a shared storage logged up to date, if it was last done more than
// maxAge ago: the revocations it applies, and a handover. A submission
// syncs first (maxAge 0), so that a revocation or handover acknowledged by
// any frontend applies to a submission made after it; reads that depend on
// the revocations sync now and then. With a storage of its own, the ledger
// sees every entry as it is logged, and this does nothing.
func (l *Ledger) syncShared(ctx context.Context, maxAge time.Duration) error {
	if !l.log.Shared() {
		return nil
	}
	if maxAge > 0 && time.Since(time.Unix(0, l.revs.synced.Load())) < maxAge {
		return nil
	}
	start := time.Now()
	// Look without the lock (submissions hold it for reading until they
	// are sequenced), and take it for writing only when there is news.
	l.revs.mu.RLock()
	after := l.revs.scanned
	l.revs.mu.RUnlock()
	news, err := l.log.Lookup(ctx, revocationsKey, after, 1)
	if err != nil {
		return log.WrapStorageError("look up revocations", err)
	}
	if len(news) > 0 {
		l.revs.mu.Lock()
		err := l.scanRevocations(ctx)
		l.revs.mu.Unlock()
		if err != nil {
			return err
		}
	}
	if l.frozen.Load() == nil {
		if _, successor, ok, err := handoverIndex(ctx, l.log); err != nil {
			return log.WrapStorageError("look up the handover", err)
		} else if ok {
			l.frozen.Store(&successor)
		}
	}
	l.revs.synced.Store(start.UnixNano())
	return nil
}

// checkRevocationEntry verifies a new revocation and returns its signers.
// It holds it to more than a logged one's signature rules (verifyEntry),
// since every bundle carries every revocation: at most revocation.MaxSize
// bytes, and no signature but one valid signature by each of the log's
// revocation keys that signed (a bad one rejects it, and none may be
// added, so that nobody can pad a revocation on its way to the log).
func (l *Ledger) checkRevocationEntry(ctx context.Context, a *admitted) ([]string, error) {
	if l.cfg.RevocationKeys.Len() == 0 {
		return nil, ErrNoRevocationKeys
	}
	if len(a.data) > revocation.MaxSize {
		return nil, &SubmissionError{Msg: fmt.Sprintf("the revocation is %d bytes, more than the limit of %d", len(a.data), revocation.MaxSize)}
	}
	ids, err := provenance.VerifySignatures(ctx, a.e.Envelope, l.cfg.RevocationKeys, l.cfg.RevocationThreshold)
	if err != nil {
		return nil, err
	}
	if n := len(a.e.Envelope.Signatures); len(ids) != n {
		return nil, &SubmissionError{Msg: fmt.Sprintf("the revocation carries %d signatures, of which %d are by distinct revocation keys of this log: a revocation carries theirs only", n, len(ids))}
	}
	return sortedSet(ids), nil
}

// checkRevocable refuses the new revocations of a submission beyond the
// most a bundle carries, counting those logged (in the storage: every one
// sequenced, whatever became of its submission). The caller holds the
// revocation lock for writing.
func (l *Ledger) checkRevocable(ctx context.Context, adm []admitted) error {
	idxs, err := l.log.Lookup(ctx, revocationsKey, -1, revocation.MaxRevocations+1)
	if err != nil {
		return log.WrapStorageError("look up revocations", err)
	}
	// A revocation whose statement is logged is answered as a duplicate,
	// whatever the count.
	n := 0
	for _, a := range adm {
		logged, err := l.revocationLogged(ctx, a.e)
		if err != nil {
			return err
		}
		if !logged {
			n++
		}
	}
	if len(idxs)+n > revocation.MaxRevocations {
		return ErrRevocationsFull
	}
	return nil
}

// revocationLogged reports whether a revocation of e's statement is
// logged.
func (l *Ledger) revocationLogged(ctx context.Context, e *provenance.Entry) (bool, error) {
	idxs, err := l.log.Lookup(ctx, revocationOfKey(revokedSubject(e.Revocation)), -1, revocation.MaxRevocations+1)
	if err != nil {
		return false, log.WrapStorageError("look up revocations", err)
	}
	for _, i := range idxs {
		s, err := l.statement(ctx, i)
		if err != nil {
			return false, err
		}
		if s.Entry != nil && s.Kind == provenance.KindRevocation && s.Statement == e.Statement {
			return true, nil
		}
	}
	return false, nil
}

// addRevocations records the revocations of a sequenced submission. A
// duplicate is recorded too if the revocation it duplicates is not yet
// (a copy logged when another encoding or set of signatures was sent,
// say). The caller holds the revocation lock for writing.
func (l *Ledger) addRevocations(ctx context.Context, adm []admitted, res []AddResult) {
	have := map[uint64]bool{}
	for _, lg := range l.revs.logged {
		have[lg.Index] = true
	}
	changed := false
	for i, a := range adm {
		if have[res[i].Index] {
			continue
		}
		lg := revocation.Logged{Index: res[i].Index, Revocation: a.e.Revocation, Signers: a.signers, Data: a.data}
		if res[i].Dup {
			s, err := l.statement(ctx, res[i].Index)
			if err != nil || s.Entry == nil || s.Kind != provenance.KindRevocation {
				continue
			}
			if lg, err = revocation.Verify(ctx, s.Entry, s.Data, s.Index, l.cfg.RevocationKeys, l.cfg.RevocationThreshold); err != nil {
				continue
			}
		}
		have[lg.Index] = true
		l.revs.logged = append(l.revs.logged, lg)
		changed = true
	}
	if changed {
		slices.SortFunc(l.revs.logged, func(a, b revocation.Logged) int { return cmp.Compare(a.Index, b.Index) })
		l.revs.set.Store(revocation.NewSet(l.revs.logged...))
		// A key revoked from an index below the revocation's own changes
		// who signed entries logged already.
		l.signerCache.Purge()
	}
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
	var handoverAt uint64         // the handover entry's index, once found
	var successor string          // and its successor: they never change
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
		if successor == "" {
			if i, s, ok, err := handoverIndex(ctx, lg); err != nil {
				return nil, err
			} else if ok {
				handoverAt, successor = i, s
			}
		}
		if successor != "" && handoverAt < size {
			lines = append(lines, handover.Line(successor))
		}
		return lines, nil
	}
}
