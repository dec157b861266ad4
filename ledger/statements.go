package ledger

import (
	"context"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/provenance"
)

// A Statement is a logged entry, parsed, with its index.
type Statement struct {
	Index uint64
	// Data is the leaf; Content, for a leaf that is a reference, is the
	// entry stored by digest.
	Data    []byte
	Content []byte
	// Entry is the parsed entry, nil if it no longer parses (a parser that
	// grew stricter since it was logged).
	*provenance.Entry
}

// statement reads, checks and parses the entry at index. Integrated
// entries, which never change, are kept parsed in a cache; the Entry
// returned is the caller's own (see provenance.Entry.Copy).
func (l *Ledger) statement(ctx context.Context, index uint64) (*Statement, error) {
	if s, ok := l.entryCache.Get(index); ok {
		return s.copy(), nil
	}
	data, err := l.log.ReadEntry(ctx, index)
	if err != nil {
		return nil, err
	}
	content, err := l.content(data)
	if err != nil {
		return nil, err
	}
	s := &Statement{Index: index, Data: data}
	if len(content) != len(data) {
		s.Content = content
	}
	s.Entry, _ = provenance.ParseEntry(content)
	if index < l.log.Integrated() {
		l.entryCache.Add(index, s)
		return s.copy(), nil
	}
	return s, nil
}

// Bytes returns the entry itself: Content for an entry stored by digest,
// otherwise Data.
func (s *Statement) Bytes() []byte {
	if s.Content != nil {
		return s.Content
	}
	return s.Data
}

// copy returns s with its own copy of the parsed entry.
func (s *Statement) copy() *Statement {
	c := *s
	if s.Entry != nil {
		c.Entry = s.Entry.Copy()
	}
	return &c
}

// byDigest returns the logged entry whose exact bytes have SHA-256 digest
// d (an entry stored by digest: its content's), or nil if none is logged.
func (l *Ledger) byDigest(ctx context.Context, d digest.Digest) (*Statement, error) {
	idx, err := l.log.Lookup(ctx, envelopeKey(d), -1, 1)
	if err != nil {
		return nil, log.WrapStorageError("look up an entry", err)
	}
	if len(idx) == 0 {
		return nil, nil
	}
	s, err := l.statement(ctx, idx[0])
	if err != nil || s.Entry == nil || s.Digest != d {
		return nil, err
	}
	return s, nil
}

// lookupPage returns the statements with a lookup key, in log order after
// index after (-1 for the start), reading at most limit index rows, and
// whether more rows may follow (next is then the index to continue after).
// Entries that no longer parse are skipped.
func (l *Ledger) lookupPage(ctx context.Context, key []byte, after int64, limit int) (sts []*Statement, next int64, more bool, err error) {
	idxs, err := l.log.Lookup(ctx, key, after, limit)
	if err != nil {
		return nil, 0, false, log.WrapStorageError("look up entries", err)
	}
	for _, i := range idxs {
		s, err := l.statement(ctx, i)
		if err != nil {
			return nil, 0, false, err
		}
		if s.Entry != nil {
			sts = append(sts, s)
		}
	}
	if len(idxs) < limit {
		return sts, 0, false, nil
	}
	return sts, int64(idxs[len(idxs)-1]), true, nil
}
