// Package state stores what a device remembers: its model and channel,
// the trust file in force, the newest checkpoint it verified, its time and
// security floors, its two firmware slots and the progress of an update.
//
// # Durability
//
// The state is written in two copies, state.0 and state.1 in the state
// directory, each atomically (temporary file, fsync, rename, fsync of the
// directory). Each copy starts with a header line that holds a sequence
// number and the SHA-256 of the rest:
//
//	fwdevice-state/v1 seq=42 sha256=<64 hex digits>
//	{"model":"acme-x1","channel":"stable",...}
//
// A save writes the copy that is not the newest, so the newest intact copy
// survives a power cut at any point; [Store.Load] reads both and takes the
// valid one with the higher sequence number. A copy that is torn, or whose
// checksum does not match, is passed over.
//
// # Monotonicity
//
// [Store.Save] refuses a state that would move backwards: a lower security
// floor, time floor, trust file version or checkpoint size than the saved
// one. The one exception: a newer trust file may clear the checkpoint (for
// a device moved to another log).
package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fwledger/fwledger/device/fsys"
	"github.com/fwledger/fwledger/internal/strictjson"
)

// MaxSize bounds a copy of the state: a trust file (64 KiB), a checkpoint
// with its cosignatures, and the rest.
const MaxSize = 128 << 10

// Slot names.
const (
	SlotA = "a"
	SlotB = "b"
)

// Other returns the slot that is not s.
func Other(s string) string {
	if s == SlotA {
		return SlotB
	}
	return SlotA
}

// Update phases: idle → staged → trial → confirmed | reverted.
const (
	Idle      = "idle"
	Staged    = "staged"    // the slot is being written
	Trial     = "trial"     // written and verified; boots on trial
	Confirmed = "confirmed" // the new firmware confirmed itself
	Reverted  = "reverted"  // it did not, or failed verification at boot
)

// A State is what a device remembers.
type State struct {
	// Seq is the sequence number of the copy it was loaded from.
	Seq     uint64 `json:"-"`
	Model   string `json:"model"`
	Channel string `json:"channel"`
	// DeviceKey is the key ID of the device's own key.
	DeviceKey string `json:"deviceKey"`
	// Trust is the signed trust file in force, and TrustVersion its
	// version.
	Trust        []byte `json:"trust"`
	TrustVersion uint64 `json:"trustVersion"`
	// Checkpoint is the newest checkpoint the device verified, and
	// CheckpointSize its tree size.
	Checkpoint     []byte    `json:"checkpoint,omitempty"`
	CheckpointSize uint64    `json:"checkpointSize"`
	TimeFloor      time.Time `json:"timeFloor"`
	SecurityFloor  uint64    `json:"securityFloor"`
	// Active is the slot that boots ("a" or "b"), empty before the first
	// firmware is confirmed.
	Active string `json:"active"`
	// Slots describes what each slot holds; absent for a slot that holds
	// nothing verified (or is being written).
	Slots map[string]*Slot `json:"slots"`
	// Update is the progress of the current or last update.
	Update Update `json:"update"`
	// Booted is the slot the device booted last.
	Booted string `json:"booted,omitempty"`
}

// A Slot is the verified firmware in a slot.
type Slot struct {
	Image           string `json:"image"` // sha256:<hex>
	Size            uint64 `json:"size"`
	Version         string `json:"version"`
	SecurityVersion uint64 `json:"securityVersion"`
	// Index is the release's index in the log.
	Index uint64 `json:"index"`
	// Verified is the device's reference time when it installed the
	// slot: what the slot is judged at again at boot (an in-toto layout
	// that has expired since does not unmake firmware installed in time).
	Verified time.Time `json:"verified,omitzero"`
}

// An Update is the progress of an update.
type Update struct {
	Phase string `json:"phase"`
	Slot  string `json:"slot,omitempty"`
	// Attempts is how many times the trial slot has been booted, of at
	// most MaxAttempts.
	Attempts    int       `json:"attempts"`
	MaxAttempts int       `json:"maxAttempts"`
	Started     time.Time `json:"started,omitzero"`
	// Reason says why the last update was reverted.
	Reason string `json:"reason,omitempty"`
}

// A Store reads and writes the state in a directory.
type Store struct {
	dir string
	fs  fsys.FS
	// seq is the sequence number of the newest copy; next the copy the
	// next save writes.
	seq  uint64
	next int
}

// An Error reports a state that cannot be loaded or saved.
type Error struct{ Err error }

func (e *Error) Error() string { return "device state: " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ErrNoState is returned by Load for a directory without a valid state.
var ErrNoState = errors.New("no device state (run fwdevice init)")

func (s *Store) path(i int) string { return filepath.Join(s.dir, "state."+strconv.Itoa(i)) }

// Open returns the store of the state directory dir, writing through fs.
func Open(dir string, fs fsys.FS) *Store { return &Store{dir: dir, fs: fs} }

// Load reads the newest valid copy of the state. It returns ErrNoState
// if neither copy is valid (or exists).
func (s *Store) Load() (*State, error) {
	var best *State
	bestCopy := -1
	for i := range 2 {
		st, err := s.read(i)
		if err != nil {
			continue
		}
		if best == nil || st.Seq > best.Seq {
			best, bestCopy = st, i
		}
	}
	if best == nil {
		return nil, &Error{Err: ErrNoState}
	}
	s.seq, s.next = best.Seq, 1-bestCopy
	return best, nil
}

func (s *Store) read(i int) (*State, error) {
	data, err := fsys.ReadFile(s.fs, s.path(i), MaxSize)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Parse parses one copy of the state, checking its header and checksum.
func Parse(data []byte) (*State, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("state is more than %d bytes", MaxSize)
	}
	header, body, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return nil, errors.New("state has no header line")
	}
	var seq uint64
	var sum string
	if n, err := fmt.Sscanf(string(header), "fwdevice-state/v1 seq=%d sha256=%s", &seq, &sum); err != nil || n != 2 {
		return nil, fmt.Errorf("state header %q is malformed", header)
	}
	want := sha256.Sum256(body)
	if sum != hex.EncodeToString(want[:]) || string(header) != fmt.Sprintf("fwdevice-state/v1 seq=%d sha256=%s", seq, sum) {
		return nil, errors.New("state checksum does not match: the copy is torn or corrupt")
	}
	var st State
	if err := strictjson.Decode(body, &st); err != nil {
		return nil, fmt.Errorf("state does not parse: %w", err)
	}
	if err := st.validate(); err != nil {
		return nil, err
	}
	st.Seq = seq
	return &st, nil
}

// Marshal returns the copy of st with sequence number seq.
func Marshal(st *State, seq uint64) ([]byte, error) {
	body, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	return append(fmt.Appendf(nil, "fwdevice-state/v1 seq=%d sha256=%s\n", seq, hex.EncodeToString(sum[:])), body...), nil
}

func (st *State) validate() error {
	if st.Model == "" || st.Channel == "" || len(st.Trust) == 0 {
		return errors.New("state lacks the model, channel or trust file")
	}
	if st.Active != "" && st.Active != SlotA && st.Active != SlotB {
		return fmt.Errorf("active slot %q is not a or b", st.Active)
	}
	for name := range st.Slots {
		if name != SlotA && name != SlotB {
			return fmt.Errorf("slot %q is not a or b", name)
		}
	}
	switch st.Update.Phase {
	case Idle, Staged, Trial, Confirmed, Reverted:
	default:
		return fmt.Errorf("update phase %q is unknown", st.Update.Phase)
	}
	return nil
}

// A RegressionError reports a save that would move a field backwards.
type RegressionError struct {
	Field     string
	Have, Got string
}

func (e *RegressionError) Error() string {
	return fmt.Sprintf("%s would move backwards, from %s to %s", e.Field, e.Have, e.Got)
}

// Save writes st as the newest state, over the older copy. old is the
// state st was made from (nil for the first save): a field that would
// move backwards from it is a *RegressionError, and nothing is written.
func (s *Store) Save(old, st *State) error {
	if err := st.validate(); err != nil {
		return &Error{Err: err}
	}
	if old != nil {
		if err := checkForward(old, st); err != nil {
			return &Error{Err: err}
		}
	}
	data, err := Marshal(st, s.seq+1)
	if err != nil {
		return &Error{Err: err}
	}
	if len(data) > MaxSize {
		return &Error{Err: fmt.Errorf("state is %d bytes, more than %d", len(data), MaxSize)}
	}
	if err := fsys.WriteFile(s.fs, s.path(s.next), data); err != nil {
		return &Error{Err: fmt.Errorf("couldn't write the state: %w", err)}
	}
	s.seq++
	st.Seq = s.seq
	s.next = 1 - s.next
	return nil
}

func checkForward(old, st *State) error {
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	switch {
	case st.SecurityFloor < old.SecurityFloor:
		return &RegressionError{"security floor", u(old.SecurityFloor), u(st.SecurityFloor)}
	case st.TrustVersion < old.TrustVersion:
		return &RegressionError{"trust version", u(old.TrustVersion), u(st.TrustVersion)}
	case st.CheckpointSize < old.CheckpointSize && !(st.TrustVersion > old.TrustVersion && st.CheckpointSize == 0 && len(st.Checkpoint) == 0):
		// Only a newer trust file (of another log) clears the stored
		// checkpoint.
		return &RegressionError{"checkpoint size", u(old.CheckpointSize), u(st.CheckpointSize)}
	case st.TimeFloor.Before(old.TimeFloor):
		return &RegressionError{"time floor", old.TimeFloor.Format(time.RFC3339), st.TimeFloor.Format(time.RFC3339)}
	}
	return nil
}

// Exists reports whether the directory holds a copy of the state, valid
// or not.
func (s *Store) Exists() bool {
	for i := range 2 {
		if _, err := os.Stat(s.path(i)); err == nil {
			return true
		}
	}
	return false
}

// Clone returns a deep copy of st, to change and save.
func (st *State) Clone() *State {
	c := *st
	c.Slots = map[string]*Slot{}
	for k, v := range st.Slots {
		sv := *v
		c.Slots[k] = &sv
	}
	return &c
}
