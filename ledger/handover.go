package ledger

import (
	"context"
	"fmt"

	"github.com/fwledger/fwledger/handover"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/tiles"
)

// handoverKey indexes the handover entry of a frozen log.
var handoverKey = []byte{keyHandover}

// A FrozenError refuses a submission to a frozen log: it handed over to
// its successor (package handover).
type FrozenError struct {
	// Successor is the successor's verifier key.
	Successor string
}

func (e *FrozenError) Error() string {
	return fmt.Sprintf("this log is frozen: it handed over to its successor %s; submit there", e.Successor)
}

// handoverIndex returns the index and successor of the log's handover
// entry, if it has one.
func handoverIndex(ctx context.Context, lg *log.Log) (uint64, string, bool, error) {
	idxs, err := lg.Lookup(ctx, handoverKey, -1, 1)
	if err != nil || len(idxs) == 0 {
		return 0, "", false, err
	}
	data, err := lg.ReadEntry(ctx, idxs[0])
	if err != nil {
		return 0, "", false, err
	}
	successor, ok := handover.ParseLeaf(data)
	if !ok {
		return 0, "", false, fmt.Errorf("entry %d is indexed as the handover but is not one", idxs[0])
	}
	return idxs[0], successor, true, nil
}

// Successor returns the successor's verifier key of a frozen log, or "".
func (l *Ledger) Successor() string {
	if s := l.frozen.Load(); s != nil {
		return *s
	}
	return ""
}

// Freeze hands the log over to the successor whose verifier key is given:
// it logs the handover entry, after which the log takes no entry and
// every checkpoint names the successor. It waits for the submissions in
// progress. Freezing a frozen log again with the same successor does
// nothing; with another, it is an error.
func (l *Ledger) Freeze(ctx context.Context, successor string) error {
	if err := handover.Check(l.log.Origin(), successor); err != nil {
		return err
	}
	l.freezeMu.Lock()
	defer l.freezeMu.Unlock()
	if s := l.Successor(); s != "" {
		if s != successor {
			return fmt.Errorf("the log is frozen already, with the successor %s", s)
		}
		return nil
	}
	leaf := handover.Leaf(successor)
	if _, err := l.log.Sequence(ctx, []log.Leaf{{Data: leaf, Hash: tiles.LeafHash(leaf), Keys: [][]byte{handoverKey}}}, nil); err != nil {
		return fmt.Errorf("couldn't log the handover: %w", err)
	}
	l.frozen.Store(&successor)
	l.logger.Warn("the log is frozen: it takes no more entries; its checkpoints name the successor", "successor", successor)
	return nil
}
