package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"

	"github.com/fwledger/fwledger/log"
)

// A Fault is how a Faulty storage fails a write.
type Fault int

const (
	// BeforeCommit fails the write before it is made: nothing is written,
	// and an error is returned, as when the disk is full.
	BeforeCommit Fault = iota + 1
	// AfterCommit makes the write, then returns an error as if it had
	// failed: the caller cannot tell that it is durable.
	AfterCommit
	// OnSync makes the write, then returns an I/O error (EIO), as a
	// commit whose fsync failed does: whether it is durable is unknown.
	OnSync
)

func (f Fault) String() string {
	switch f {
	case BeforeCommit:
		return "before commit"
	case AfterCommit:
		return "after commit"
	case OnSync:
		return "on sync"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// ErrInjected is the error of every injected fault (OnSync's also wraps
// syscall.EIO).
var ErrInjected = errors.New("injected storage fault")

// The writes a Faulty storage can fail.
const (
	OpSequence      = "Sequence"
	OpIntegrate     = "Integrate"
	OpSetCheckpoint = "SetCheckpoint"
	OpSetWitnessed  = "SetWitnessed"
)

// Faulty wraps a log.Storage and fails its writes on command, so that tests
// can show what the log does when its storage fails before a commit, after
// it, or on the sync that makes it durable. Without a fault set it is the
// storage it wraps, and passes Run.
type Faulty struct {
	log.Storage

	mu     sync.Mutex
	faults map[string][]Fault
	// Injected counts the faults injected, by operation.
	injected map[string]int
}

// NewFaulty wraps s.
func NewFaulty(s log.Storage) *Faulty {
	return &Faulty{Storage: s, faults: map[string][]Fault{}, injected: map[string]int{}}
}

// Fail makes the next calls of op fail with faults, one call each, in order.
func (f *Faulty) Fail(op string, faults ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[op] = append(f.faults[op], faults...)
}

// Injected returns the number of faults injected into op so far.
func (f *Faulty) Injected(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected[op]
}

// next returns the fault for this call of op, if any.
func (f *Faulty) next(op string) Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.faults[op]
	if len(q) == 0 {
		return 0
	}
	f.faults[op] = q[1:]
	f.injected[op]++
	return q[0]
}

// write runs a write of op under its fault, if any.
func (f *Faulty) write(op string, do func() error) error {
	fault := f.next(op)
	if fault == BeforeCommit {
		return fmt.Errorf("%s: %w (%s)", op, ErrInjected, fault)
	}
	if err := do(); err != nil || fault == 0 {
		return err
	}
	if fault == OnSync {
		return fmt.Errorf("%s: %w (%s): %w", op, ErrInjected, fault, syscall.EIO)
	}
	return fmt.Errorf("%s: %w (%s)", op, ErrInjected, fault)
}

// Sequence is the wrapped storage's, under OpSequence's faults.
func (f *Faulty) Sequence(ctx context.Context, leaves []log.Leaf) ([]log.Sequenced, error) {
	var res []log.Sequenced
	err := f.write(OpSequence, func() (err error) {
		res, err = f.Storage.Sequence(ctx, leaves)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Integrate is the wrapped storage's, under OpIntegrate's faults.
func (f *Faulty) Integrate(ctx context.Context, max int) (log.Tree, error) {
	var tree log.Tree
	err := f.write(OpIntegrate, func() (err error) {
		tree, err = f.Storage.Integrate(ctx, max)
		return err
	})
	if err != nil {
		return log.Tree{}, err
	}
	return tree, nil
}

// SetCheckpoint is the wrapped storage's, under OpSetCheckpoint's faults.
func (f *Faulty) SetCheckpoint(ctx context.Context, size uint64, checkpoint []byte) error {
	return f.write(OpSetCheckpoint, func() error { return f.Storage.SetCheckpoint(ctx, size, checkpoint) })
}

// SetWitnessed is the wrapped storage's, under OpSetWitnessed's faults.
func (f *Faulty) SetWitnessed(ctx context.Context, size uint64, checkpoint []byte) error {
	return f.write(OpSetWitnessed, func() error { return f.Storage.SetWitnessed(ctx, size, checkpoint) })
}
