package log

import (
	"context"

	"github.com/transparency-dev/formats/proof"
)

// TLogProofUnder returns the C2SP tlog-proof of entry index under p, a
// checkpoint the log published (see Published): a caller that proves
// several entries under one checkpoint takes it once.
func (l *Log) TLogProofUnder(ctx context.Context, index uint64, p Published) (*proof.TLogProof, error) {
	if cur := l.size(); p.Size > cur {
		return nil, &RangeError{Proof: "inclusion", From: index, To: p.Size, Published: cur}
	}
	if index >= p.Size {
		return nil, NotFoundf("entry %d is not in the log of size %d", index, p.Size)
	}
	hashes, err := l.tiles.InclusionProof(ctx, index, p.Size)
	if err != nil {
		return nil, WrapStorageError("read the tiles of a proof", err)
	}
	tp := &proof.TLogProof{Index: index, Checkpoint: p.Note}
	for _, h := range hashes {
		tp.Hashes = append(tp.Hashes, [32]byte(h))
	}
	return tp, nil
}

// TLogProof returns a C2SP tlog-proof of entry index under the published
// checkpoint.
func (l *Log) TLogProof(ctx context.Context, index uint64) ([]byte, error) {
	tp, err := l.TLogProofUnder(ctx, index, l.Published())
	if err != nil {
		return nil, err
	}
	return tp.Marshal(), nil
}
