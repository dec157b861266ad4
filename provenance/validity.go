package provenance

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fwledger/fwledger/keys"
)

// A Validity is a key's validity window, as a policy or trust file gives
// it: a log index range and/or a time range, each bound optional, the
// upper ones exclusive. A signature by the key counts only on an entry
// inside the window: logged at an index in the index range, and made (by
// the statement's own time) in the time range.
//
// The index is where the entry is logged, which a verifier proves with
// its inclusion proof; a log judging a submission uses its integrated
// size, a lower bound of the index the entry will get. The time is the
// statement's claim (a release's created, a build's finishedOn or else
// startedOn), which whoever holds the key chooses: against theft, use an
// index window or a revocation; time windows serve scheduled rotation. A
// log also refuses a key used after its window by the log's own clock.
type Validity struct {
	FromIndex, UntilIndex *uint64
	From, Until           *time.Time
}

// zero reports whether v bounds nothing.
func (v Validity) zero() bool {
	return v.FromIndex == nil && v.UntilIndex == nil && v.From == nil && v.Until == nil
}

// Check returns why an entry logged at index (nil if unknown) and made at
// t (zero if it has no time) is outside v, or "" if it is inside. An
// unknown index fails an index bound only at a verifier; a missing time
// fails a time bound.
func (v Validity) Check(index *uint64, t time.Time) string {
	var why []string
	if index != nil {
		if v.FromIndex != nil && *index < *v.FromIndex {
			why = append(why, fmt.Sprintf("valid from index %d, the entry is at %d", *v.FromIndex, *index))
		}
		if v.UntilIndex != nil && *index >= *v.UntilIndex {
			why = append(why, fmt.Sprintf("valid until index %d, the entry is at %d", *v.UntilIndex, *index))
		}
	}
	if v.From != nil || v.Until != nil {
		switch {
		case t.IsZero():
			why = append(why, "the key has a time window and the statement has no time")
		case v.From != nil && t.Before(*v.From):
			why = append(why, fmt.Sprintf("valid from %s, the statement is of %s", v.From.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339)))
		case v.Until != nil && !t.Before(*v.Until):
			why = append(why, fmt.Sprintf("valid until %s, the statement is of %s", v.Until.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339)))
		}
	}
	return strings.Join(why, "; ")
}

// statementTime is the time a validity window judges an entry by.
func statementTime(e *Entry) time.Time {
	switch {
	case e.Release != nil:
		return e.Release.Created
	case e.Provenance != nil && !e.Provenance.FinishedOn.IsZero():
		return e.Provenance.FinishedOn
	case e.Provenance != nil:
		return e.Provenance.StartedOn
	case e.Revocation != nil:
		return e.Revocation.Created
	}
	return time.Time{}
}

// OutsideWindow returns the keys of the policy with a validity window
// that signed e, logged at index (their signature verifies), although the
// window leaves e out: by DSSE key ID, the key's name and why. Their
// signatures do not count for p; an auditor warns of them, as a
// rotated-out or stolen key still in use.
func (p *Policy) OutsideWindow(ctx context.Context, e *Entry, index uint64) map[string]string {
	if len(p.validity) == 0 || e.Envelope == nil {
		return nil
	}
	var out map[string]string
	for name, k := range p.keys {
		id, err := k.KeyID()
		if err != nil {
			continue
		}
		v, ok := p.validity[id]
		if !ok {
			continue
		}
		why := v.Check(&index, statementTime(e))
		if why == "" {
			continue
		}
		ring, err := keys.NewRing(k)
		if err != nil {
			continue
		}
		if _, err := VerifySignatures(ctx, e.Envelope, ring, 1); err != nil {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[id] = name + ": " + why
	}
	return out
}
