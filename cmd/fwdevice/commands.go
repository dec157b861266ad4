package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/device"
	"github.com/fwledger/fwledger/device/fsys"
	"github.com/fwledger/fwledger/device/state"
	"github.com/fwledger/fwledger/device/transport"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/trust"
)

func initCmd(ctx context.Context, e *env, args []string) error {
	fs, dir := newFlags(e, "init", "--trust FILE --model M --channel C [--slots DIR | --slot-a P --slot-b P]",
		"Provision the device: verify the signed trust file (a threshold of its own root keys\n"+
			"must have signed it), make the device's key (device.key, mode 0600) and write the first\n"+
			"state. The slots are files (created on the first install) or block devices.")
	trustFile := fs.String("trust", "", "the signed trust `file`")
	model := fs.String("model", "", "the device's hardware `model`")
	channel := fs.String("channel", "", "the release `channel` it follows")
	slots := fs.String("slots", "", "a `directory` for the two slots, as files a.img and b.img")
	slotA := fs.String("slot-a", "", "the `path` of slot a (a file or a block device)")
	slotB := fs.String("slot-b", "", "the `path` of slot b")
	logURL := fs.String("log", "", "the log's `URL` (default: the trust file's)")
	pin := fs.String("pin", "", "the log server's TLS key `pin`, sha256/<base64 of the SHA-256 of its SubjectPublicKeyInfo>")
	noClock := fs.Bool("no-clock", false, "the device has no clock: its reference time is the newest time it has verified")
	attempts := fs.Int("max-attempts", device.DefaultMaxAttempts, "boots of a trial slot without a confirm before it is reverted")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	switch {
	case *trustFile == "" || *model == "" || *channel == "":
		return &usageError{msg: "--trust, --model and --channel are required"}
	case (*slots == "") == (*slotA == "" || *slotB == ""):
		return &usageError{msg: "give --slots, or both --slot-a and --slot-b"}
	case *attempts < 1:
		return &usageError{msg: "--max-attempts must be at least 1"}
	}
	if *pin != "" {
		if _, err := transport.ParsePin(*pin); err != nil {
			return &usageError{msg: fmt.Sprintf("--pin: %v", err)}
		}
	}
	signed, err := fsys.ReadFile(fsys.OS, *trustFile, trust.MaxSize)
	if err != nil {
		return err
	}
	cfg := config{Log: *logURL, Pin: *pin, NoClock: *noClock, Slots: map[string]string{state.SlotA: *slotA, state.SlotB: *slotB}}
	if *slots != "" {
		if err := os.MkdirAll(*slots, 0o700); err != nil {
			return err
		}
		abs, err := filepath.Abs(*slots)
		if err != nil {
			return err
		}
		cfg.Slots = map[string]string{state.SlotA: filepath.Join(abs, "a.img"), state.SlotB: filepath.Join(abs, "b.img")}
	}
	lock, err := lockState(*dir)
	if err != nil {
		return err
	}
	defer lock.Close()
	dc := cfg.device(*dir)
	dc.MaxAttempts = *attempts
	d, err := device.Init(ctx, dc, signed, *model, *channel)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := fsys.WriteFile(fsys.OS, filepath.Join(*dir, configFile), data); err != nil {
		return err
	}
	st := d.State()
	fmt.Fprintf(e.stdout, "provisioned %s on %s: trust version %d, device key %s (%s)\n", st.Model, st.Channel, st.TrustVersion, st.DeviceKey, filepath.Join(*dir, "device.pub"))
	return nil
}

// pending is where check leaves a verified update for install.
func pendingPaths(dir string) (bundlePath, imagePath string) {
	return filepath.Join(dir, "pending.bundle"), filepath.Join(dir, "pending.img")
}

func check(ctx context.Context, e *env, args []string) error {
	fs, dir := newFlags(e, "check", "[--log URL] [--pin PIN]",
		"Fetch the bundle of the newest eligible release for the device's model and channel, with a\n"+
			"consistency proof from the checkpoint it stored, and its image (resuming an interrupted\n"+
			"download), and verify them as an update. A verified update waits for fwdevice install.")
	logURL := fs.String("log", "", "the log's `URL` (default: the one init recorded, or the trust file's)")
	pin := fs.String("pin", "", "the log server's TLS key `pin`")
	noDelta := fs.Bool("no-delta", false, "fetch the whole image even if the release has a delta from the running image")
	a, err := parseAndOpen(ctx, e, fs, dir, args)
	if err != nil {
		return err
	}
	defer a.close()
	tc, err := a.client(*logURL, *pin, e.stderr)
	if err != nil {
		return err
	}
	st := a.dev.State()
	q := url.Values{"model": {st.Model}, "channel": {st.Channel}}
	if st.CheckpointSize > 0 {
		q.Set("from", strconv.FormatUint(st.CheckpointSize, 10))
	}
	q.Set("trust", strconv.FormatUint(st.TrustVersion, 10))
	b, err := tc.Get(ctx, api.PathUpdates, q, bundle.MaxSize)
	var se *transport.StatusError
	if errors.As(err, &se) && se.Code == http.StatusNotFound {
		fmt.Fprintf(e.stdout, "no release for %s on %s is logged\n", st.Model, st.Channel)
		return nil
	}
	if err != nil {
		return fmt.Errorf("couldn't fetch the update: %w", err)
	}
	var o outcome
	if rel, err := releaseOf(b); err == nil {
		o = outcome{Image: rel.Image.String(), Version: rel.Version, SecurityVersion: rel.SecurityVersion}
		if s := st.Slots[st.Active]; s != nil && s.Image == rel.Image.String() {
			fmt.Fprintf(e.stdout, "up to date: %s (security version %d) runs in slot %s\n", s.Version, s.SecurityVersion, st.Active)
			return nil
		}
	}
	// Everything but the image is verified before it is fetched: nothing
	// unverified decides what is downloaded, or how much.
	vb, err := a.dev.VerifyBundle(ctx, b)
	if err != nil {
		return a.refused(err, o)
	}
	rel := vb.Release
	dl := filepath.Join(*dir, "download", fmt.Sprintf("%x.img", rel.Image[:]))
	if err := cleanDownloads(filepath.Dir(dl), filepath.Base(dl)); err != nil {
		return err
	}
	viaDelta, err := fetchDelta(ctx, e, a, tc, rel, dl, *noDelta)
	if err != nil {
		return a.refused(err, o)
	}
	// An image made from a delta is checked by Verify like a downloaded
	// one.
	if !viaDelta {
		if err := download(ctx, e, tc, rel, dl); err != nil {
			var tl *transport.TooLargeError
			if errors.As(err, &tl) {
				return a.refused(&device.SizeError{Err: err}, o)
			}
			return fmt.Errorf("couldn't download the image: %w", err)
		}
	}
	v, err := a.dev.Verify(ctx, b, dl)
	if err != nil {
		os.Remove(dl)
		return a.refused(err, o)
	}
	bp, ip := pendingPaths(*dir)
	if err := fsys.WriteFile(fsys.OS, bp, b); err != nil {
		return err
	}
	if err := os.Rename(dl, ip); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "update verified: %s (security version %d), %s at index %d under a checkpoint of size %d cosigned by %d witnesses; run fwdevice install\n",
		v.Release.Version, v.Release.SecurityVersion, v.Release.Image, v.Index, v.Checkpoint.Size, len(v.Cosignatures))
	return nil
}

// cleanDownloads makes the download directory (mode 0700) and removes
// everything in it but the files of the download named keep (its .part
// and sidecar, to resume): at most one download's worth of disk is ever
// used.
func cleanDownloads(dir, keep string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), keep) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxDelta is the largest delta fwdevice fetches (into memory); a larger
// one is not worth it, and the whole image is fetched instead.
const maxDelta = 16 << 20

// fetchDelta makes the release's image at dl from a delta, if the release
// names the running image as its base and the log has the delta. It
// reports whether it did; a delta that is corrupt or from another base is
// a *device.DeltaError.
func fetchDelta(ctx context.Context, e *env, a *agent, tc *transport.Client, rel *provenance.Release, dl string, off bool) (bool, error) {
	st := a.dev.State()
	run := st.Slots[st.Active]
	if off || rel.BaseImage == nil || run == nil || rel.BaseImage.String() != run.Image {
		return false, nil
	}
	d, err := tc.Get(ctx, api.PathDeltas+rel.Image.String(), nil, maxDelta)
	var se *transport.StatusError
	var tl *transport.TooLargeError
	switch {
	case errors.As(err, &se) && se.Code == http.StatusNotFound, errors.As(err, &tl):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("couldn't fetch the delta: %w", err)
	}
	fmt.Fprintf(e.stderr, "fetched a delta of %s from the running image (the image is %s)\n", mib(int64(len(d))), mib(int64(rel.ImageSize)))
	if err := a.dev.ApplyDelta(rel, bytes.NewReader(d), dl); err != nil {
		os.Remove(dl)
		return false, err
	}
	return true, nil
}

// download fetches the release's image to dl, resuming a download an
// earlier check left, and cutting it off beyond the release's size.
func download(ctx context.Context, e *env, tc *transport.Client, rel *provenance.Release, dl string) error {
	fmt.Fprintf(e.stderr, "fetching %s %s (%s)\n", rel.Version, rel.Image, mib(int64(rel.ImageSize)))
	return tc.Download(ctx, api.PathImages+rel.Image.String(), dl, int64(rel.ImageSize))
}

// releaseOf returns the release a bundle carries, unverified.
func releaseOf(b []byte) (*provenance.Release, error) {
	bd, err := bundle.Parse(b)
	if err != nil {
		return nil, err
	}
	e, err := provenance.ParseEntry(bd.Release.Bytes())
	if err != nil {
		return nil, err
	}
	if e.Kind != provenance.KindRelease {
		return nil, fmt.Errorf("the bundle's release entry is %s", e.Kind)
	}
	return e.Release, nil
}

func install(ctx context.Context, e *env, args []string) error {
	fs, dir := newFlags(e, "install", "[--bundle FILE --image FILE]",
		"Verify the update (the one fwdevice check fetched, or the files given, for an offline\n"+
			"update) against the trust file and the state, write it to the inactive slot, read it\n"+
			"back and hash it, and mark it for a trial boot. A refused update changes nothing.")
	bundleFile := fs.String("bundle", "", "the proof bundle `file`")
	imageFile := fs.String("image", "", "the image `file`")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if (*bundleFile == "") != (*imageFile == "") {
		return &usageError{msg: "give both --bundle and --image, or neither (for the update check fetched)"}
	}
	a, err := openAgent(ctx, *dir)
	if err != nil {
		return err
	}
	defer a.close()
	bp, ip := *bundleFile, *imageFile
	pending := bp == ""
	if pending {
		bp, ip = pendingPaths(*dir)
		if _, err := os.Stat(bp); errors.Is(err, os.ErrNotExist) {
			return errors.New("no update is pending: run fwdevice check, or give --bundle and --image")
		}
	}
	b, err := fsys.ReadFile(fsys.OS, bp, bundle.MaxSize)
	if err != nil {
		return err
	}
	var o outcome
	if rel, err := releaseOf(b); err == nil {
		o = outcome{Image: rel.Image.String(), Version: rel.Version, SecurityVersion: rel.SecurityVersion}
	}
	start := time.Now()
	v, err := a.dev.Install(ctx, b, ip)
	if err != nil {
		return a.refused(err, o)
	}
	o.Outcome, o.Index, o.DurationMillis = "installed", v.Index, time.Since(start).Milliseconds()
	if err := a.record(o); err != nil {
		return err
	}
	if pending {
		os.Remove(bp)
		os.Remove(ip)
	}
	st := a.dev.State()
	fmt.Fprintf(e.stdout, "installed %s (security version %d) into slot %s for a trial boot (up to %d boots before a revert); run fwdevice boot, then fwdevice confirm from the new firmware\n",
		v.Release.Version, v.Release.SecurityVersion, st.Update.Slot, st.Update.MaxAttempts)
	return nil
}

func boot(ctx context.Context, e *env, args []string) error {
	fs, dir := newFlags(e, "boot", "", "Boot as a bootloader would (simulated): verify the chosen slot's bundle and image again,\n"+
		"count a trial boot, or revert an update that was not confirmed in time.")
	a, err := parseAndOpen(ctx, e, fs, dir, args)
	if err != nil {
		return err
	}
	defer a.close()
	b, err := a.dev.Boot(ctx)
	if err != nil {
		return err
	}
	if b.Reverted {
		u := a.dev.State().Update
		o := outcome{Outcome: "reverted", Reason: b.Cause, Detail: b.Reason}
		if s := b.Dropped; s != nil {
			o.Image, o.Version, o.SecurityVersion, o.Index = s.Image, s.Version, s.SecurityVersion, s.Index
		}
		if err := a.record(o); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "reverted the update in slot %s: %s\n", u.Slot, b.Reason)
	}
	if b.Trial {
		fmt.Fprintf(e.stdout, "booted slot %s on trial (attempt %d of %d): %s, security version %d\n", b.Slot, b.Attempt, b.MaxAttempts, b.Release.Version, b.Release.SecurityVersion)
		return nil
	}
	fmt.Fprintf(e.stdout, "booted slot %s: %s, security version %d\n", b.Slot, b.Release.Version, b.Release.SecurityVersion)
	return nil
}

func confirm(ctx context.Context, e *env, args []string) error {
	fs, dir := newFlags(e, "confirm", "", "Confirm the firmware booted on trial: its slot becomes the active one, and the\n"+
		"security floor moves to its security version.")
	a, err := parseAndOpen(ctx, e, fs, dir, args)
	if err != nil {
		return err
	}
	defer a.close()
	s, err := a.dev.Confirm(ctx)
	if err != nil {
		return err
	}
	if err := a.record(outcome{Outcome: "confirmed", Image: s.Image, Version: s.Version, SecurityVersion: s.SecurityVersion, Index: s.Index}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "confirmed %s (security version %d); the security floor is %d\n", s.Version, s.SecurityVersion, a.dev.State().SecurityFloor)
	return nil
}

func status(ctx context.Context, e *env, args []string) error {
	fs, dir := newFlags(e, "status", "[--json]", "Show the device's state.")
	asJSON := fs.Bool("json", false, "print the state as JSON")
	a, err := parseAndOpen(ctx, e, fs, dir, args)
	if err != nil {
		return err
	}
	defer a.close()
	st := a.dev.State()
	last, err := a.lastOutcome()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if *asJSON {
		out, err := json.MarshalIndent(struct {
			*state.State
			LastOutcome *outcome `json:"lastOutcome,omitempty"`
		}{st, last}, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", out)
		return nil
	}
	tf := a.dev.Trust()
	fmt.Fprintf(e.stdout, "model %s, channel %s, device key %s\n", st.Model, st.Channel, st.DeviceKey)
	fmt.Fprintf(e.stdout, "trust: version %d of log %s, expires %s\n", st.TrustVersion, tf.Origin, tf.Expires.Format(time.RFC3339))
	fmt.Fprintf(e.stdout, "security floor: %d\ntime floor: %s\n", st.SecurityFloor, st.TimeFloor.Format(time.RFC3339))
	if st.CheckpointSize > 0 {
		fmt.Fprintf(e.stdout, "checkpoint: size %d\n", st.CheckpointSize)
	} else {
		fmt.Fprintf(e.stdout, "checkpoint: none yet\n")
	}
	for _, name := range []string{state.SlotA, state.SlotB} {
		mark := ""
		if name == st.Active {
			mark = " (active)"
		}
		if s := st.Slots[name]; s != nil {
			fmt.Fprintf(e.stdout, "slot %s%s: %s, security version %d, %s, index %d\n", name, mark, s.Version, s.SecurityVersion, s.Image, s.Index)
		} else {
			fmt.Fprintf(e.stdout, "slot %s%s: empty\n", name, mark)
		}
	}
	u := st.Update
	fmt.Fprintf(e.stdout, "update: %s", u.Phase)
	if u.Phase == state.Trial {
		fmt.Fprintf(e.stdout, " in slot %s, %d of %d boots", u.Slot, u.Attempts, u.MaxAttempts)
	}
	if u.Reason != "" {
		fmt.Fprintf(e.stdout, " (%s)", u.Reason)
	}
	fmt.Fprintln(e.stdout)
	if last != nil {
		fmt.Fprintf(e.stdout, "last outcome: %s", last.Outcome)
		if last.Reason != "" {
			fmt.Fprintf(e.stdout, " (%s): %s", last.Reason, last.Detail)
		}
		fmt.Fprintf(e.stdout, " at %s\n", last.Time.Format(time.RFC3339))
	}
	return nil
}

func trustCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "update" {
		if len(args) > 0 && isHelp(args[0]) {
			fmt.Fprint(e.stdout, "Usage: fwdevice trust update --file FILE\n")
			return flag.ErrHelp
		}
		return &usageError{msg: "usage: fwdevice trust update --file FILE"}
	}
	fs, dir := newFlags(e, "trust update", "--file FILE",
		"Take a newer trust file: it must have a higher version and be signed by a threshold of\n"+
			"the current trust file's root keys and of its own, and the running firmware must still\n"+
			"verify under it. An expired trust file is replaced the same way.")
	file := fs.String("file", "", "the signed trust `file`")
	if err := parse(e, fs, args[1:]); err != nil {
		return err
	}
	if *file == "" {
		return &usageError{msg: "--file is required"}
	}
	signed, err := fsys.ReadFile(fsys.OS, *file, trust.MaxSize)
	if err != nil {
		return err
	}
	a, err := openAgent(ctx, *dir)
	if err != nil {
		return err
	}
	defer a.close()
	old := a.dev.Trust().Version
	tf, err := a.dev.UpdateTrust(ctx, signed)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "trust file updated from version %d to %d (expires %s)\n", old, tf.Version, tf.Expires.Format(time.RFC3339))
	return nil
}
