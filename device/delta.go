package device

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fwledger/fwledger/delta"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/provenance"
)

// A DeltaError reports a delta update that is corrupt, or not from the
// image the device runs; the device refuses it (and may fetch the whole
// image instead).
type DeltaError struct{ Err error }

func (e *DeltaError) Error() string { return "delta refused: " + e.Err.Error() }
func (e *DeltaError) Unwrap() error { return e.Err }

// ApplyDelta makes the image of release r from a delta (package delta)
// read from d and the image in the active slot, and writes it to the file
// out, which Install can then take. r is what the update's bundle says,
// not yet verified: the result counts only once Verify or Install has
// checked it against the verified release. It changes neither the state
// nor a slot.
func (d *Device) ApplyDelta(r *provenance.Release, dr io.Reader, out string) error {
	s := d.st.Slots[d.st.Active]
	if s == nil {
		return &DeltaError{Err: errors.New("the device runs no firmware to apply a delta to")}
	}
	base, err := digest.Parse(s.Image)
	if err != nil {
		return err
	}
	if r.BaseImage == nil || *r.BaseImage != base {
		return &DeltaError{Err: fmt.Errorf("the release's delta is not from the image the device runs (%s)", base)}
	}
	bf, err := d.cfg.FS.Open(d.cfg.Slots[d.st.Active])
	if err != nil {
		return err
	}
	defer bf.Close()
	// Never through a link planted at out.
	if err := d.cfg.FS.Remove(out); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := d.cfg.FS.CreateNew(out)
	if err != nil {
		return err
	}
	if _, err := delta.Apply(onlyWriter{f}, bf, int64(s.Size), base, dr, int64(r.ImageSize)); err != nil {
		f.Close()
		var fe *delta.FormatError
		var be *delta.BaseError
		var se *delta.SizeError
		if errors.As(err, &fe) || errors.As(err, &be) || errors.As(err, &se) {
			return &DeltaError{Err: err}
		}
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
