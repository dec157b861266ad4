package state_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fwledger/fwledger/device/fsys"
	"github.com/fwledger/fwledger/device/state"
)

func sample(floor uint64) *state.State {
	return &state.State{
		Model: "acme-x1", Channel: "stable", DeviceKey: "k", Trust: []byte("signed trust"), TrustVersion: 1,
		SecurityFloor: floor, TimeFloor: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(floor) * time.Hour),
		Active: state.SlotA, Slots: map[string]*state.Slot{state.SlotA: {Image: "sha256:00", Size: 1, Version: "1.0.0", SecurityVersion: floor}},
		Update: state.Update{Phase: state.Idle, MaxAttempts: 3},
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	s := state.Open(dir, fsys.OS)
	if _, err := s.Load(); !errors.Is(err, state.ErrNoState) {
		t.Fatalf("Load of an empty directory = %v, want ErrNoState", err)
	}
	var old *state.State
	for floor := uint64(1); floor <= 5; floor++ {
		st := sample(floor)
		if err := s.Save(old, st); err != nil {
			t.Fatal(err)
		}
		old = st
		got, err := state.Open(dir, fsys.OS).Load()
		if err != nil || got.SecurityFloor != floor || got.Seq != floor {
			t.Fatalf("after save %d: Load = %+v, %v", floor, got, err)
		}
	}
	for _, name := range []string{"state.0", "state.1"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", name, err, fi.Mode().Perm())
		}
	}
	// A regression is refused and changes nothing.
	var re *state.RegressionError
	if err := s.Save(old, sample(2)); !errors.As(err, &re) {
		t.Fatalf("Save of a lower floor = %v, want a *RegressionError", err)
	}
	back := old.Clone()
	back.TimeFloor = back.TimeFloor.Add(-time.Second)
	if err := s.Save(old, back); !errors.As(err, &re) {
		t.Fatalf("Save of an earlier time floor = %v, want a *RegressionError", err)
	}
	if got, _ := state.Open(dir, fsys.OS).Load(); got.SecurityFloor != 5 {
		t.Fatalf("after refused saves, floor = %d, want 5", got.SecurityFloor)
	}
}

// TestCorruptCopy checks that a corrupt newest copy falls back to the
// other.
func TestCorruptCopy(t *testing.T) {
	dir := t.TempDir()
	s := state.Open(dir, fsys.OS)
	if err := s.Save(nil, sample(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(sample(1), sample(2)); err != nil {
		t.Fatal(err)
	}
	// The second save went to state.1.
	p := filepath.Join(dir, "state.1")
	data, _ := os.ReadFile(p)
	for _, bad := range [][]byte{data[:len(data)-5], append(append([]byte{}, data[:60]...), append([]byte{data[60] ^ 1}, data[61:]...)...), {}} {
		os.WriteFile(p, bad, 0o600)
		got, err := state.Open(dir, fsys.OS).Load()
		if err != nil || got.SecurityFloor != 1 {
			t.Fatalf("with state.1 corrupt: Load = %+v, %v; want the floor-1 copy", got, err)
		}
	}
}

// TestPowerCut cuts the power at every operation of a save: the state
// loaded after it is the old one or the new one.
func TestPowerCut(t *testing.T) {
	for at := 1; ; at++ {
		dir := t.TempDir()
		if err := state.Open(dir, fsys.OS).Save(nil, sample(1)); err != nil {
			t.Fatal(err)
		}
		f := &fsys.Faulty{At: at}
		s := state.Open(dir, f)
		if _, err := s.Load(); err != nil {
			t.Fatal(err)
		}
		err := s.Save(sample(1), sample(2))
		got, lerr := state.Open(dir, fsys.OS).Load()
		if lerr != nil || (got.SecurityFloor != 1 && got.SecurityFloor != 2) {
			t.Fatalf("cut at %d: Load = %+v, %v", at, got, lerr)
		}
		if err == nil {
			if got.SecurityFloor != 2 {
				t.Fatalf("cut at %d: the save succeeded but Load returns floor %d", at, got.SecurityFloor)
			}
			if at < 4 {
				t.Fatalf("a save took only %d operations", at)
			}
			return // past the last operation
		}
	}
}

func FuzzParse(f *testing.F) {
	for floor := range uint64(3) {
		data, err := state.Marshal(sample(floor), floor+1)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := state.Parse(data)
		if err != nil {
			return
		}
		again, err := state.Marshal(st, st.Seq)
		if err != nil {
			t.Fatal(err)
		}
		st2, err := state.Parse(again)
		if err != nil || st2.SecurityFloor != st.SecurityFloor || st2.Seq != st.Seq {
			t.Fatalf("a parsed state does not survive a round trip: %v", err)
		}
	})
}

// TestCheckpointReset: only a newer trust file clears the stored
// checkpoint.
func TestCheckpointReset(t *testing.T) {
	s := state.Open(t.TempDir(), fsys.OS)
	old := sample(1)
	old.Checkpoint, old.CheckpointSize = []byte("cp"), 9
	if err := s.Save(nil, old); err != nil {
		t.Fatal(err)
	}
	cleared := old.Clone()
	cleared.Checkpoint, cleared.CheckpointSize = nil, 0
	var re *state.RegressionError
	if err := s.Save(old, cleared); !errors.As(err, &re) {
		t.Fatalf("clearing the checkpoint = %v, want a *RegressionError", err)
	}
	cleared.TrustVersion++
	if err := s.Save(old, cleared); err != nil {
		t.Fatalf("clearing the checkpoint with a newer trust file: %v", err)
	}
}
