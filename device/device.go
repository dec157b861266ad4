// Package device is the update agent of a device: it keeps the device's
// state, verifies an update under the trust file in force and the state
// (package client's VerifyUpdate), installs it into the inactive of two
// slots, boots it on trial, and confirms or reverts it. cmd/fwdevice is
// its command line.
//
// # Slots and state
//
// A device has two slots, "a" and "b": files, or block devices by path.
// The state (package state) says which slot is active (boots), what each
// holds, and how far an update has come. Each slot's proof bundle is kept
// in the state directory (bundle.a, bundle.b) and verified again, with
// the image, at every boot.
//
// # Update
//
//	Install: verify → state "staged" (the inactive slot marked empty) →
//	         write the slot, sync, read it back and hash it → write its
//	         bundle → state "trial" (new checkpoint and time floor)
//	Boot:    a trial slot boots with one more attempt counted first; after
//	         MaxAttempts boots without a confirm, or if it fails
//	         verification, the update is reverted and the active slot
//	         boots
//	Confirm: the trial slot, once booted, becomes the active one; only now
//	         does the security floor move to its security version
//
// Every step is one atomic state write (package fsys says how), so a
// power cut at any point leaves a state that names only verified slots,
// and a boot after it boots one.
package device

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/device/fsys"
	"github.com/fwledger/fwledger/device/state"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/trust"
)

// DefaultMaxAttempts is how many times a trial slot boots without a
// confirm before the update is reverted.
const DefaultMaxAttempts = 3

// Config configures a device.
type Config struct {
	// StateDir holds the state, the device key, the slots' bundles and
	// downloads.
	StateDir string
	// Slots are the paths of slots a and b: files (created if missing) or
	// block devices.
	Slots map[string]string
	// FS is what files are changed through (default fsys.OS).
	FS fsys.FS
	// Now is the device's clock; nil for a device without one, whose
	// reference time is then its time floor.
	Now func() time.Time
	// Logger receives structured logs (default: discarded).
	Logger *slog.Logger
	// MaxAttempts is, at Init, how many times a trial slot boots without
	// a confirm before its update is reverted (default
	// DefaultMaxAttempts).
	MaxAttempts int
}

// A Device is the update agent of one device. It is not for concurrent
// use; cmd/fwdevice holds a lock on the state directory.
type Device struct {
	cfg   Config
	store *state.Store
	st    *state.State
	trust *trust.File
	log   *slog.Logger
}

func (c *Config) defaults() {
	if c.FS == nil {
		c.FS = fsys.OS
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
}

// KeyFile is the device key's file name in the state directory.
const KeyFile = "device.key"

// Init provisions a device: it takes the signed trust file (which must
// verify, see trust.Parse, and name the model and channel), makes the
// device's key (KeyFile, mode 0600, and device.pub), and writes the first
// state, with the time floor at the device's clock or the trust file's
// creation time. It refuses a state directory that holds a state.
func Init(ctx context.Context, cfg Config, signedTrust []byte, model, channel string) (*Device, error) {
	cfg.defaults()
	tf, err := trust.Parse(ctx, signedTrust)
	if err != nil {
		return nil, err
	}
	if _, err := tf.ClientTrust(model, channel, time.Time{}); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	store := state.Open(cfg.StateDir, cfg.FS)
	if store.Exists() {
		return nil, fmt.Errorf("%s already holds a device state", cfg.StateDir)
	}
	k, err := keys.Generate(rand.Reader, "fwdevice."+model)
	if err != nil {
		return nil, err
	}
	kid, err := k.Public().KeyID()
	if err != nil {
		return nil, err
	}
	if err := keys.Write(filepath.Join(cfg.StateDir, "device"), k); err != nil {
		return nil, err
	}
	floor := tf.Created
	if cfg.Now != nil && cfg.Now().After(floor) {
		floor = cfg.Now()
	}
	st := &state.State{
		Model: model, Channel: channel, DeviceKey: kid,
		Trust: tf.Signed, TrustVersion: tf.Version, TimeFloor: floor.UTC().Truncate(time.Second),
		Slots:  map[string]*state.Slot{},
		Update: state.Update{Phase: state.Idle, MaxAttempts: cfg.MaxAttempts},
	}
	if err := store.Save(nil, st); err != nil {
		return nil, err
	}
	return &Device{cfg: cfg, store: store, st: st, trust: tf, log: cfg.Logger}, nil
}

// Open opens a provisioned device.
func Open(ctx context.Context, cfg Config) (*Device, error) {
	cfg.defaults()
	store := state.Open(cfg.StateDir, cfg.FS)
	st, err := store.Load()
	if err != nil {
		return nil, err
	}
	tf, err := trust.Parse(ctx, st.Trust)
	if err != nil {
		return nil, fmt.Errorf("the stored trust file: %w", err)
	}
	return &Device{cfg: cfg, store: store, st: st, trust: tf, log: cfg.Logger}, nil
}

// State returns a copy of the device's state.
func (d *Device) State() *state.State { return d.st.Clone() }

// Trust returns the trust file in force.
func (d *Device) Trust() *trust.File { return d.trust }

// reference returns the device's reference time: the later of its clock
// and its time floor.
func (d *Device) reference() time.Time {
	if d.cfg.Now != nil && d.cfg.Now().After(d.st.TimeFloor) {
		return d.cfg.Now()
	}
	return d.st.TimeFloor
}

// clientTrust returns what the device trusts, for the client package.
func (d *Device) clientTrust() (client.Trust, error) {
	var now time.Time
	if d.cfg.Now != nil {
		now = d.cfg.Now()
	}
	return d.trust.ClientTrust(d.st.Model, d.st.Channel, now)
}

// clientState returns the state, for client.VerifyUpdate.
func (d *Device) clientState() client.State {
	cs := client.State{Checkpoint: d.st.Checkpoint, SecurityFloor: d.st.SecurityFloor, TimeFloor: d.st.TimeFloor}
	if s := d.st.Slots[d.st.Active]; s != nil {
		cs.Installed, _ = digest.Parse(s.Image)
	}
	return cs
}

// save writes st as the new state.
func (d *Device) save(st *state.State) error {
	if err := d.store.Save(d.st, st); err != nil {
		return err
	}
	d.st = st
	return nil
}

// An ExpiredError reports a trust file that has expired: no firmware is
// installed until a newer one is.
type ExpiredError struct{ Expires, Reference time.Time }

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("the trust file expired at %s (the device's time is %s): install a newer trust file first",
		e.Expires.UTC().Format(time.RFC3339), e.Reference.UTC().Format(time.RFC3339))
}

// A BusyError reports an update that cannot start because another is on
// trial.
type BusyError struct{ Slot string }

func (e *BusyError) Error() string {
	return fmt.Sprintf("slot %s is on trial: boot it and confirm it (or let it revert) first", e.Slot)
}

// VerifyBundle verifies bundle as an update without its image: all that
// can be checked before the image is fetched (which it is only then, and
// only as large as the verified release says). Like Verify, it applies the
// trust files the bundle carries first.
func (d *Device) VerifyBundle(ctx context.Context, bundleBytes []byte) (*client.Verified, error) {
	ct, err := d.updateTrust(ctx, bundleBytes)
	if err != nil {
		return nil, err
	}
	return client.VerifyUpdateBundle(ctx, ct, d.clientState(), bundleBytes)
}

// updateTrust applies the trust files a bundle carries, and returns what
// the device trusts for an update, or an *ExpiredError.
func (d *Device) updateTrust(ctx context.Context, bundleBytes []byte) (client.Trust, error) {
	if err := d.applyBundledTrust(ctx, bundleBytes); err != nil {
		return client.Trust{}, err
	}
	if ref := d.reference(); d.trust.Expired(ref) {
		return client.Trust{}, &ExpiredError{Expires: d.trust.Expires, Reference: ref}
	}
	return d.clientTrust()
}

// Verify verifies bundle and the image at imagePath as an update, changing
// nothing. It applies trust files the bundle carries first (see
// UpdateTrust), which is the one change it may make.
func (d *Device) Verify(ctx context.Context, bundleBytes []byte, imagePath string) (*client.Verified, error) {
	ct, err := d.updateTrust(ctx, bundleBytes)
	if err != nil {
		return nil, err
	}
	f, err := d.cfg.FS.Open(imagePath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return client.VerifyUpdate(ctx, ct, d.clientState(), bundleBytes, f)
}

// Install verifies bundle and the image at imagePath as an update, and
// installs it into the inactive slot for a trial boot. A refused update
// changes neither the state nor a slot.
func (d *Device) Install(ctx context.Context, bundleBytes []byte, imagePath string) (*client.Verified, error) {
	if d.st.Update.Phase == state.Trial || d.st.Update.Phase == state.Staged && d.st.Slots[d.st.Update.Slot] != nil {
		return nil, &BusyError{Slot: d.st.Update.Slot}
	}
	v, err := d.Verify(ctx, bundleBytes, imagePath)
	if err != nil {
		return nil, err
	}
	target := state.SlotA
	if d.st.Active != "" {
		target = state.Other(d.st.Active)
	}
	start := time.Now()
	// Staged: the target slot holds nothing verified from here on.
	staged := d.st.Clone()
	delete(staged.Slots, target)
	staged.Update = state.Update{Phase: state.Staged, Slot: target, MaxAttempts: d.st.Update.MaxAttempts, Started: d.reference().UTC()}
	if err := d.save(staged); err != nil {
		return nil, err
	}
	if err := d.writeSlot(target, imagePath, v.Release); err != nil {
		return nil, fmt.Errorf("couldn't write slot %s: %w", target, err)
	}
	if err := fsys.WriteFile(d.cfg.FS, d.bundlePath(target), bundleBytes); err != nil {
		return nil, fmt.Errorf("couldn't write the bundle of slot %s: %w", target, err)
	}
	trial := d.st.Clone()
	trial.Slots[target] = &state.Slot{
		Image: v.Release.Image.String(), Size: v.Release.ImageSize, Version: v.Release.Version,
		SecurityVersion: v.Release.SecurityVersion, Index: v.Index, Verified: d.reference().UTC(),
	}
	trial.Update.Phase = state.Trial
	trial.Update.Attempts = 0
	trial.Checkpoint, trial.CheckpointSize = v.CheckpointNote, v.Checkpoint.Size
	// The time floor moves to when the quorum cosigned: on a device
	// without a clock, by at most the maximum cosignature age at a time,
	// so that cosignatures dated far ahead (a quorum of witnesses with
	// wrong clocks, or stolen keys) cannot put every honest checkpoint
	// out of date at once. (With a clock, VerifyUpdate refuses them.)
	floor := v.QuorumTime
	if lim := d.st.TimeFloor.Add(d.trust.MaxCosignatureAge); d.cfg.Now == nil && floor.After(lim) {
		floor = lim
	}
	if floor.After(trial.TimeFloor) {
		trial.TimeFloor = floor.UTC()
	}
	if err := d.save(trial); err != nil {
		return nil, err
	}
	d.log.Info("installed for a trial boot", "slot", target, "version", v.Release.Version, "security_version", v.Release.SecurityVersion,
		"image", v.Release.Image.String(), "index", v.Index, "seconds", time.Since(start).Seconds())
	return v, nil
}

func (d *Device) bundlePath(slot string) string { return filepath.Join(d.cfg.StateDir, "bundle."+slot) }

// copyBuffer is the size of the buffer images are copied through.
const copyBuffer = 1 << 20

// writeSlot writes the image at imagePath into slot, syncs it, and reads
// it back to check it against the release.
func (d *Device) writeSlot(slot, imagePath string, r *provenance.Release) error {
	path := d.cfg.Slots[slot]
	src, err := d.cfg.FS.Open(imagePath)
	if err != nil {
		return err
	}
	defer src.Close()
	var dst fsys.File
	if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeDevice != 0 {
		dst, err = d.cfg.FS.OpenWrite(path)
		if err != nil {
			return err
		}
	} else if dst, err = d.cfg.FS.Create(path); err != nil {
		return err
	}
	buf := make([]byte, copyBuffer)
	if _, err := io.CopyBuffer(onlyWriter{dst}, io.LimitReader(src, int64(r.ImageSize)), buf); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	return d.checkSlot(slot, r)
}

// onlyWriter hides a file's ReadFrom, so that copies go through Write.
type onlyWriter struct{ io.Writer }

// checkSlot reads the slot's first r.ImageSize bytes and checks them
// against the release.
func (d *Device) checkSlot(slot string, r *provenance.Release) error {
	f, err := d.cfg.FS.Open(d.cfg.Slots[slot])
	if err != nil {
		return err
	}
	defer f.Close()
	return client.CheckImage(r, io.LimitReader(f, int64(r.ImageSize)))
}

// A BootError reports a device with no slot that verifies.
type BootError struct{ Errs map[string]error }

func (e *BootError) Error() string {
	return fmt.Sprintf("no bootable slot: a: %v; b: %v", e.Errs[state.SlotA], e.Errs[state.SlotB])
}

// A Boot says what a (simulated) boot did.
type Boot struct {
	// Slot is the slot booted, and Release its verified release.
	Slot    string
	Release *provenance.Release
	// Trial is true when the slot boots on trial; Attempt is then which
	// attempt this is, of MaxAttempts.
	Trial                bool
	Attempt, MaxAttempts int
	// Reverted is true when this boot reverted an update; Reason says
	// why, and Cause is the kind of reason (ReasonUnconfirmed, or the
	// Reason of the failed verification, or ReasonError for an install
	// that did not finish).
	Reverted      bool
	Reason, Cause string
	// Dropped is what the reverted slot held, if it was known.
	Dropped *state.Slot
}

// Boot chooses the slot to boot as a bootloader would, verifies its
// bundle and image again, and records the boot: a slot on trial boots
// with its attempt counted first, and is reverted after MaxAttempts boots
// without a confirm or if it does not verify; otherwise the active slot
// boots, or the other if the active one does not verify and the other
// does, at or above the security floor.
func (d *Device) Boot(ctx context.Context) (*Boot, error) {
	u := d.st.Update
	var reason, cause string
	switch u.Phase {
	case state.Trial:
		if u.Attempts >= u.MaxAttempts {
			reason, cause = fmt.Sprintf("slot %s booted %d times without a confirm", u.Slot, u.Attempts), ReasonUnconfirmed
			break
		}
		next := d.st.Clone()
		next.Update.Attempts++
		next.Booted = u.Slot
		if err := d.save(next); err != nil {
			return nil, err
		}
		r, err := d.verifySlot(ctx, u.Slot)
		if err == nil {
			return &Boot{Slot: u.Slot, Release: r, Trial: true, Attempt: next.Update.Attempts, MaxAttempts: u.MaxAttempts}, nil
		}
		reason, cause = fmt.Sprintf("slot %s failed verification at boot: %v", u.Slot, err), Reason(err)
	case state.Staged:
		// A power cut while the slot was written: it holds nothing
		// verified, and the update starts over.
		reason, cause = fmt.Sprintf("the install into slot %s did not finish", u.Slot), ReasonError
	}
	var reverted bool
	var dropped *state.Slot
	if reason != "" {
		if s := d.st.Slots[u.Slot]; s != nil {
			c := *s
			dropped = &c
		}
		next := d.st.Clone()
		delete(next.Slots, u.Slot)
		next.Update.Phase, next.Update.Reason = state.Reverted, reason
		if err := d.save(next); err != nil {
			return nil, err
		}
		reverted = true
		d.log.Warn("update reverted", "slot", u.Slot, "reason", reason)
	}
	b, err := d.bootActive(ctx)
	if err != nil {
		return nil, err
	}
	b.Reverted, b.Reason, b.Cause, b.Dropped = reverted, reason, cause, dropped
	return b, nil
}

// bootActive boots the active slot, or the other one if the active one
// does not verify.
func (d *Device) bootActive(ctx context.Context) (*Boot, error) {
	errs := map[string]error{}
	order := []string{d.st.Active, state.Other(d.st.Active)}
	if d.st.Active == "" {
		order = []string{state.SlotA, state.SlotB}
	}
	for _, slot := range order {
		if d.st.Slots[slot] == nil {
			errs[slot] = errors.New("holds no verified firmware")
			continue
		}
		if d.st.Update.Phase == state.Trial && slot == d.st.Update.Slot {
			errs[slot] = errors.New("is on trial")
			continue
		}
		r, err := d.verifySlot(ctx, slot)
		if err != nil {
			errs[slot] = err
			d.log.Error("slot does not verify", "slot", slot, "err", err)
			continue
		}
		if d.st.Booted != slot || d.st.Active != slot {
			next := d.st.Clone()
			next.Booted = slot
			if next.Active != slot {
				// The active slot is gone: the other one, which
				// verified at or above the floor, takes its place.
				next.Active = slot
			}
			if err := d.save(next); err != nil {
				return nil, err
			}
		}
		return &Boot{Slot: slot, Release: r}, nil
	}
	return nil, &BootError{Errs: errs}
}

// verifySlot verifies a slot's bundle and image under the trust in force
// (not for freshness or the stored checkpoint, which an installed image
// need not meet again), at the time it was installed, and against the
// security floor.
func (d *Device) verifySlot(ctx context.Context, slot string) (*provenance.Release, error) {
	s := d.st.Slots[slot]
	b, err := fsys.ReadFile(d.cfg.FS, d.bundlePath(slot), bundle.MaxSize)
	if err != nil {
		return nil, err
	}
	ct, err := d.clientTrust()
	if err != nil {
		return nil, err
	}
	if !s.Verified.IsZero() {
		ct.Now = s.Verified
	}
	f, err := d.cfg.FS.Open(d.cfg.Slots[slot])
	if err != nil {
		return nil, err
	}
	defer f.Close()
	v, err := client.VerifyBundle(ctx, ct, b, io.LimitReader(f, int64(s.Size)))
	if err != nil {
		return nil, err
	}
	if v.Release.Image.String() != s.Image {
		return nil, fmt.Errorf("the bundle of slot %s is for image %s, the state says %s", slot, v.Release.Image, s.Image)
	}
	if v.Release.SecurityVersion < d.st.SecurityFloor {
		return nil, &client.RollbackError{Have: d.st.SecurityFloor, Got: v.Release.SecurityVersion}
	}
	return v.Release, nil
}

// A ConfirmError reports a confirm with no trial slot booted.
type ConfirmError struct{ Phase, Booted, Trial string }

func (e *ConfirmError) Error() string {
	if e.Phase != state.Trial {
		return fmt.Sprintf("no update is on trial (the last update is %s)", e.Phase)
	}
	return fmt.Sprintf("slot %s is on trial, but the device booted slot %s: boot first", e.Trial, e.Booted)
}

// Confirm is called by the new firmware once it runs well: the trial slot
// becomes the active one, and the security floor moves to its security
// version.
func (d *Device) Confirm(ctx context.Context) (*state.Slot, error) {
	u := d.st.Update
	if u.Phase != state.Trial || d.st.Booted != u.Slot {
		return nil, &ConfirmError{Phase: u.Phase, Booted: d.st.Booted, Trial: u.Slot}
	}
	next := d.st.Clone()
	s := next.Slots[u.Slot]
	next.Active = u.Slot
	if s.SecurityVersion > next.SecurityFloor {
		next.SecurityFloor = s.SecurityVersion
	}
	next.Update.Phase = state.Confirmed
	if err := d.save(next); err != nil {
		return nil, err
	}
	d.log.Info("update confirmed", "slot", u.Slot, "version", s.Version, "security_floor", next.SecurityFloor)
	return s, nil
}

// UpdateTrust installs a newer trust file: it must be signed as
// trust.File.Next requires, name the device's model and channel, and
// leave the active slot verifiable (so that a trust file cannot brick
// the device). Expiry of the current file does not matter.
func (d *Device) UpdateTrust(ctx context.Context, signed []byte) (*trust.File, error) {
	next, err := d.trust.Next(ctx, signed)
	if err != nil {
		return nil, err
	}
	if _, err := next.ClientTrust(d.st.Model, d.st.Channel, time.Time{}); err != nil {
		return nil, &trust.Error{Err: err}
	}
	if d.st.Active != "" {
		old := d.trust
		d.trust = next
		_, err := d.verifySlot(ctx, d.st.Active)
		d.trust = old
		if err != nil {
			return nil, &trust.Error{Err: fmt.Errorf("the running firmware (slot %s) would not verify under version %d: %w", d.st.Active, next.Version, err)}
		}
	}
	st := d.st.Clone()
	st.Trust, st.TrustVersion = next.Signed, next.Version
	if next.Origin != d.trust.Origin {
		// Another log: the stored checkpoint is not of it.
		st.Checkpoint, st.CheckpointSize = nil, 0
	}
	if err := d.save(st); err != nil {
		return nil, err
	}
	d.trust = next
	d.log.Info("trust file updated", "version", next.Version)
	return next, nil
}

// applyBundledTrust installs, in order, the trust files a bundle carries
// that are newer than the one in force.
func (d *Device) applyBundledTrust(ctx context.Context, bundleBytes []byte) error {
	b, err := bundle.Parse(bundleBytes)
	if err != nil {
		return &client.BundleError{Err: err}
	}
	for _, signed := range b.Trust {
		f, err := trust.Parse(ctx, signed)
		if err != nil {
			return err
		}
		if f.Version <= d.trust.Version {
			continue
		}
		if _, err := d.UpdateTrust(ctx, signed); err != nil {
			return err
		}
	}
	return nil
}
