package vectors

import (
	"strings"
	"time"

	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/device/state"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/trust"
)

// deviceSeeds adds the seed corpora of the device's parsers: trust files
// (valid, below their root threshold, invalid fields, a bare payload,
// truncated) and state copies (valid, mid-update, torn, a wrong
// checksum).
func deviceSeeds(t *seedTB, corpus func(pkg, target, name string, data []byte)) {
	good := fwtest.TrustFile{}.Signed(t)
	payload := string(fwtest.TrustFile{}.Payload(t))
	corpus("trust", "FuzzParse", "good", good)
	corpus("trust", "FuzzParse", "three-roots-version-9", fwtest.TrustFile{Version: 9, AllowSameSecurityVersion: true, Channels: []string{"stable"}}.Signed(t, fwtest.Root1, fwtest.Root2, fwtest.Root3))
	corpus("trust", "FuzzParse", "below-root-threshold", fwtest.TrustFile{}.Signed(t, fwtest.Root1))
	corpus("trust", "FuzzParse", "version-0", fwtest.SignTyped(t, trust.PayloadType, []byte(strings.Replace(payload, `"version":1,"witnesses"`, `"version":0,"witnesses"`, 1)), fwtest.Root1, fwtest.Root2))
	corpus("trust", "FuzzParse", "empty-object", fwtest.SignTyped(t, trust.PayloadType, []byte(`{}`), fwtest.Root1))
	corpus("trust", "FuzzParse", "bare-payload", []byte(payload))
	corpus("trust", "FuzzParse", "truncated", good[:len(good)/2])

	// A device's bundle: with a consistency proof and a trust file.
	tree := fwtest.NewTree(fwtest.LogKey, fwtest.WitnessA)
	for i := range 9 {
		tree.Append([]byte{byte(i)})
	}
	tree.CosignTime = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	bd, err := bundle.Parse(tree.Bundle(t, 3, 9, 5))
	if err != nil {
		t.Fatal(err)
	}
	bd.Trust = [][]byte{good}
	corpus("bundle", "FuzzParse", "consistency-and-trust", must(bd.Marshal()))

	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	idle := &state.State{
		Model: "acme-x1", Channel: "stable", DeviceKey: strings.Repeat("ab", 32), Trust: good, TrustVersion: 1,
		SecurityFloor: 7, TimeFloor: at, Active: state.SlotA,
		Slots:  map[string]*state.Slot{state.SlotA: {Image: "sha256:" + strings.Repeat("01", 32), Size: 65536, Version: "1.7.0", SecurityVersion: 7, Index: 51}},
		Update: state.Update{Phase: state.Confirmed, MaxAttempts: 3},
	}
	trial := idle.Clone()
	trial.Checkpoint, trial.CheckpointSize = fwtest.SignCheckpoint(t, fwtest.LogKey, 57, make([]byte, 32)), 57
	trial.Slots[state.SlotB] = &state.Slot{Image: "sha256:" + strings.Repeat("02", 32), Size: 70000, Version: "1.8.0", SecurityVersion: 8, Index: 55}
	trial.Update = state.Update{Phase: state.Trial, Slot: state.SlotB, Attempts: 1, MaxAttempts: 3, Started: at}
	trial.Booted = state.SlotB
	a := must(state.Marshal(idle, 1))
	b := must(state.Marshal(trial, 7))
	corpus("device/state", "FuzzParse", "confirmed", a)
	corpus("device/state", "FuzzParse", "trial", b)
	corpus("device/state", "FuzzParse", "torn", a[:len(a)-3])
	corpus("device/state", "FuzzParse", "wrong-checksum", []byte("fwdevice-state/v1 seq=1 sha256=00\n{}"))
}
