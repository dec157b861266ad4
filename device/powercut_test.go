package device_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/fwledger/fwledger/device"
	"github.com/fwledger/fwledger/device/fsys"
	"github.com/fwledger/fwledger/device/state"
	"github.com/fwledger/fwledger/fwtest"
)

// copyTree copies the directory src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// configIn returns the configuration of the device provisioned in dir
// (as newDevice lays it out), writing through fsys.
func configIn(dir string, f fsys.FS) device.Config {
	return device.Config{
		StateDir: filepath.Join(dir, "state"),
		Slots:    map[string]string{state.SlotA: filepath.Join(dir, "slot-a.img"), state.SlotB: filepath.Join(dir, "slot-b.img")},
		FS:       f,
		Now:      nil, // no clock: the reference time is the time floor
	}
}

// TestPowerCut cuts the power at every write, sync and rename of each
// step of an update (install, the trial boot, confirm, a revert, a trust
// update), then starts the device again from what is on disk. The device
// always boots a slot that verifies, at or above its security floor, no
// field of its state moves backwards, and the update can be done again.
func TestPowerCut(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	v1 := w.release(t, "v1", 1, nil)
	w.installConfirm(t, v1)
	v2 := w.release(t, "v2", 2, nil)
	b2, p2 := w.bundle(t, v2)
	// Templates: the device's directory before each step.
	tmpl := func(name string, prepare func(d *device.Device)) string {
		dir := filepath.Join(t.TempDir(), name)
		copyTree(t, w.dir, dir)
		os.Remove(filepath.Join(dir, "download.img"))
		d, err := device.Open(ctx, configIn(dir, fsys.OS))
		if err != nil {
			t.Fatal(err)
		}
		prepare(d)
		return dir
	}
	confirmed := tmpl("confirmed", func(*device.Device) {})
	installed := tmpl("installed", func(d *device.Device) {
		if _, err := d.Install(ctx, b2, p2); err != nil {
			t.Fatal(err)
		}
	})
	booted := tmpl("booted", func(d *device.Device) {
		if _, err := d.Install(ctx, b2, p2); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Boot(ctx); err != nil {
			t.Fatal(err)
		}
	})
	exhausted := tmpl("exhausted", func(d *device.Device) {
		if _, err := d.Install(ctx, b2, p2); err != nil {
			t.Fatal(err)
		}
		for range device.DefaultMaxAttempts {
			if _, err := d.Boot(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
	trustV2 := fwtest.TrustFile{Version: 2}.Signed(t)

	for _, step := range []struct {
		name string
		from string
		run  func(d *device.Device) error
	}{
		{"install", confirmed, func(d *device.Device) error { _, err := d.Install(ctx, b2, p2); return err }},
		{"trial boot", installed, func(d *device.Device) error { _, err := d.Boot(ctx); return err }},
		{"confirm", booted, func(d *device.Device) error { _, err := d.Confirm(ctx); return err }},
		{"revert", exhausted, func(d *device.Device) error { _, err := d.Boot(ctx); return err }},
		{"trust update", confirmed, func(d *device.Device) error { _, err := d.UpdateTrust(ctx, trustV2); return err }},
	} {
		t.Run(step.name, func(t *testing.T) {
			cuts := 0
			for at := 1; ; at++ {
				dir := filepath.Join(t.TempDir(), "dev")
				copyTree(t, step.from, dir)
				f := &fsys.Faulty{At: at}
				d, err := device.Open(ctx, configIn(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				before := d.State()
				err = step.run(d)
				if err == nil && !f.Cut() {
					if cuts == 0 {
						t.Fatalf("the step made no change to cut")
					}
					t.Logf("%d cuts", cuts)
					return
				}
				if err != nil && !errors.Is(err, fsys.ErrPowerCut) {
					t.Fatalf("cut at %d: %v, want the power cut", at, err)
				}
				cuts++
				// Power back on.
				d2, err := device.Open(ctx, configIn(dir, fsys.OS))
				if err != nil {
					t.Fatalf("cut at %d: the device does not start: %v", at, err)
				}
				after := d2.State()
				if after.SecurityFloor < before.SecurityFloor || after.TimeFloor.Before(before.TimeFloor) ||
					after.CheckpointSize < before.CheckpointSize || after.TrustVersion < before.TrustVersion {
					t.Fatalf("cut at %d: the state moved backwards: %+v → %+v", at, before, after)
				}
				boot, err := d2.Boot(ctx)
				if err != nil {
					t.Fatalf("cut at %d: no bootable slot: %v", at, err)
				}
				if boot.Release.SecurityVersion < d2.State().SecurityFloor {
					t.Fatalf("cut at %d: booted security version %d below the floor %d", at, boot.Release.SecurityVersion, d2.State().SecurityFloor)
				}
				// And the device can still be updated to v2 and confirm
				// it (unless it runs it already).
				if st := d2.State(); st.Slots[st.Active].SecurityVersion < 2 {
					if st.Update.Phase != state.Trial {
						if _, err := d2.Install(ctx, b2, p2); err != nil {
							t.Fatalf("cut at %d: install after the restart: %v", at, err)
						}
						if _, err := d2.Boot(ctx); err != nil {
							t.Fatalf("cut at %d: boot after the restart: %v", at, err)
						}
					}
					if _, err := d2.Confirm(ctx); err != nil {
						t.Fatalf("cut at %d: confirm after the restart: %v", at, err)
					}
				}
			}
		})
	}
}
