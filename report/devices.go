package report

import (
	"bytes"
	"context"
	"fmt"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/keys"
)

// MaxDevices is the most devices a log takes reports from, and the most
// keys a device key file lists.
const MaxDevices = api.ReportDevices

// MaxDevicesFileSize is the largest device key file read: MaxDevices keys
// of about 100 bytes each, and comments.
const MaxDevicesFileSize = 16 << 20

// Devices is a set of device public keys by DSSE key ID: the devices a log
// takes reports from. It is not changed once made, and safe for concurrent
// use.
//
// A fleet's keys are many, so Devices keeps only the public keys and makes
// a key's verifier when a report of that device is verified (a keys.Ring
// of every device would hold the precomputed tables of each key, about
// 1.8 KB apiece).
type Devices struct {
	byID map[string]*keys.PublicKey
	ids  []string
}

// NewDevices returns the set of pubs. A key given twice, and more than
// MaxDevices keys, are errors.
func NewDevices(pubs ...*keys.PublicKey) (*Devices, error) {
	d := &Devices{byID: make(map[string]*keys.PublicKey, len(pubs))}
	for _, p := range pubs {
		if err := d.add(p); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *Devices) add(p *keys.PublicKey) error {
	id, err := p.KeyID()
	if err != nil {
		return err
	}
	if _, dup := d.byID[id]; dup {
		return fmt.Errorf("device key %s is given twice", id)
	}
	if len(d.ids) >= MaxDevices {
		return fmt.Errorf("more than %d device keys", MaxDevices)
	}
	d.byID[id] = p
	d.ids = append(d.ids, id)
	return nil
}

// ParseDevices parses a device key file: one device's C2SP signed-note
// verifier key (vkey) a line, such as
//
//	# acme-x1 fleet, batch 7
//	dev-0001.acme.example+6a1c2f0e+AX8x…
//
// Blank lines and lines whose first non-blank character is '#' are
// ignored; surrounding blanks are trimmed. Anything else on a line is an
// error naming the line (without quoting it: a private key given by
// mistake is not repeated).
func ParseDevices(data []byte) (*Devices, error) {
	if len(data) > MaxDevicesFileSize {
		return nil, fmt.Errorf("the device key file is %d bytes, more than the limit of %d", len(data), MaxDevicesFileSize)
	}
	d := &Devices{byID: map[string]*keys.PublicKey{}}
	for n, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if bytes.HasPrefix(line, []byte("-----")) {
			return nil, fmt.Errorf("line %d: want a signed-note verifier key (name+hash+key) on one line, not a PEM block", n+1)
		}
		p, err := keys.ParsePublic(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		if err := d.add(p); err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
	}
	return d, nil
}

// Lookup returns the public key of device id.
func (d *Devices) Lookup(id string) (*keys.PublicKey, bool) {
	if d == nil {
		return nil, false
	}
	p, ok := d.byID[id]
	return p, ok
}

// IDs returns the devices' key IDs, in the order given.
func (d *Devices) IDs() []string {
	if d == nil {
		return nil
	}
	return append([]string(nil), d.ids...)
}

// Len returns the number of devices.
func (d *Devices) Len() int {
	if d == nil {
		return 0
	}
	return len(d.ids)
}

// An UnknownDeviceError reports a report by a device whose key is not
// among the devices a log takes reports from.
type UnknownDeviceError struct{ Device string }

func (e *UnknownDeviceError) Error() string {
	return fmt.Sprintf("device %s is not registered with this log: its key is not among the device keys", e.Device)
}

// VerifyDevice checks that e is signed by its device, which must be one of
// devices, and returns the report. The error is an *UnknownDeviceError or
// a *SignatureError.
func (e *Envelope) VerifyDevice(ctx context.Context, devices *Devices) (*Report, error) {
	p, ok := devices.Lookup(e.KeyID)
	if !ok {
		return nil, &UnknownDeviceError{Device: e.KeyID}
	}
	ring, err := keys.NewRing(p)
	if err != nil {
		return nil, &SignatureError{Device: e.KeyID, Err: err}
	}
	r, _, err := e.Verify(ctx, ring)
	return r, err
}
