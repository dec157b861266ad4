package device_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/device"
	"github.com/fwledger/fwledger/device/state"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/fwledger/fwledger/trust"
)

var witnessKeys = []*keys.PrivateKey{fwtest.WitnessA, fwtest.WitnessB, fwtest.WitnessC}

// world is a real log on 127.0.0.1 with three real witnesses (a quorum of
// two), release keys Release1 and Release2, builder keys Builder and
// OtherBuilder, and revocation key Security1; and a device that trusts
// Release1, Builder and Security1 (fwtest.TrustFile's defaults).
type world struct {
	log    *fwtest.Log
	lc     *logclient.Client
	dir    string
	cfg    device.Config
	dev    *device.Device
	images map[digest.Digest][]byte
}

func newWorld(t *testing.T) *world {
	t.Helper()
	urls := fwtest.StartWitnesses(t, witnessKeys, fwtest.LogKey)
	policy := fwtest.WitnessPolicy(t, fwtest.LogKey, 2, witnessKeys, urls...)
	l := fwtest.StartLog(t, fwtest.LogOptions{
		ReleaseKeys: []*keys.PrivateKey{fwtest.Release1, fwtest.Release2}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder, fwtest.OtherBuilder},
		RevocationKeys: []*keys.PrivateKey{fwtest.Security1}, Witnesser: fwtest.Collector(t, policy),
	})
	lc, err := logclient.New(l.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{log: l, lc: lc, dir: t.TempDir(), images: map[digest.Digest][]byte{}}
	w.cfg, w.dev = newDevice(t, w.dir, fwtest.TrustFile{})
	return w
}

// newDevice provisions a device in dir with the trust file tf, for
// acme-x1 on stable.
func newDevice(t *testing.T, dir string, tf fwtest.TrustFile) (device.Config, *device.Device) {
	t.Helper()
	cfg := device.Config{
		StateDir: filepath.Join(dir, "state"),
		Slots:    map[string]string{state.SlotA: filepath.Join(dir, "slot-a.img"), state.SlotB: filepath.Join(dir, "slot-b.img")},
		Now:      time.Now,
	}
	d, err := device.Init(context.Background(), cfg, tf.Signed(t), "acme-x1", "stable")
	if err != nil {
		t.Fatal(err)
	}
	return cfg, d
}

// submit logs entries and waits for a cosigned checkpoint that covers
// them.
func (w *world) submit(t *testing.T, entries ...[]byte) uint64 {
	t.Helper()
	var last uint64
	for _, e := range entries {
		r, err := w.lc.Add(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		last = r.Index
	}
	w.log.WaitSize(t, last+1)
	return last
}

// release logs provenance for a new image and a release endorsing it,
// changed by edit, signed by the release keys given (default Release1),
// and returns the image.
func (w *world) release(t *testing.T, seed string, sv uint64, edit func(*provenance.Release), signers ...*keys.PrivateKey) []byte {
	t.Helper()
	img := fwtest.Image(seed, 20000+int(sv))
	prov := fwtest.Provenance(t, img, fwtest.Builder)
	if len(signers) == 0 {
		signers = []*keys.PrivateKey{fwtest.Release1}
	}
	rel := fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
		r.SecurityVersion, r.Version = sv, "1."+string(rune('0'+sv))+".0"
		r.Provenance = []digest.Digest{sha256.Sum256(prov)}
		if edit != nil {
			edit(r)
		}
	}), signers...)
	w.submit(t, prov, rel)
	w.images[sha256.Sum256(img)] = img
	return img
}

// from is the tree size the device stored, for ?from=.
func (w *world) from() int64 {
	if st := w.dev.State(); st.CheckpointSize > 0 {
		return int64(st.CheckpointSize)
	}
	return -1
}

// bundle fetches the bundle of img's release for the device, and writes
// the image to a file.
func (w *world) bundle(t *testing.T, img []byte) ([]byte, string) {
	t.Helper()
	b, err := w.lc.BundleFrom(context.Background(), sha256.Sum256(img), -1, w.from())
	if err != nil {
		t.Fatal(err)
	}
	return b, w.imageFile(t, img)
}

func (w *world) imageFile(t *testing.T, img []byte) string {
	p := filepath.Join(w.dir, "download.img")
	if err := os.WriteFile(p, img, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// installConfirm installs img, boots it and confirms it.
func (w *world) installConfirm(t *testing.T, img []byte) {
	t.Helper()
	ctx := context.Background()
	b, p := w.bundle(t, img)
	if _, err := w.dev.Install(ctx, b, p); err != nil {
		t.Fatalf("Install: %v", err)
	}
	boot, err := w.dev.Boot(ctx)
	if err != nil || !boot.Trial {
		t.Fatalf("Boot = %+v, %v; want a trial boot", boot, err)
	}
	if _, err := w.dev.Confirm(ctx); err != nil {
		t.Fatalf("Confirm: %v", err)
	}
}

// snapshot is every byte of the device's state and slots.
func (w *world) snapshot(t *testing.T) map[string][]byte {
	t.Helper()
	return snapshot(t, w.dir, w.cfg.StateDir)
}

func snapshot(t *testing.T, dirs ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, dir := range dirs {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.IsDir() || e.Name() == "download.img" {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Join(dir, e.Name())] = data
		}
	}
	return out
}

func sameSnapshot(t *testing.T, before, after map[string][]byte) {
	t.Helper()
	for name, data := range before {
		if !bytes.Equal(after[name], data) {
			t.Errorf("%s changed", name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s appeared", name)
		}
	}
}

// recosign replaces the witness cosignatures of a bundle's checkpoint
// with ones by the witnesses given, at the time given.
func recosign(t *testing.T, bundleBytes []byte, at time.Time, witnesses ...*keys.PrivateKey) []byte {
	t.Helper()
	b, err := bundle.Parse(bundleBytes)
	if err != nil {
		t.Fatal(err)
	}
	cp := b.Checkpoint()
	text, sigs, _ := bytes.Cut(cp, []byte("\n\n"))
	logSig, _, _ := bytes.Cut(sigs, []byte("\n"))
	signed := fwtest.CosignAt(t, append(append(append(bytes.Clone(text), "\n\n"...), logSig...), '\n'), at, witnesses...)
	for _, e := range b.Entries() {
		e.Proof.Checkpoint = signed
	}
	out, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestInstallBootConfirm(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	v1 := w.release(t, "v1", 1, nil)
	w.installConfirm(t, v1)
	st := w.dev.State()
	if st.Active != state.SlotA || st.SecurityFloor != 1 || st.Update.Phase != state.Confirmed || st.CheckpointSize == 0 {
		t.Fatalf("after the first install: %+v", st)
	}
	v2 := w.release(t, "v2", 2, nil)
	b, p := w.bundle(t, v2)
	if _, err := w.dev.Install(ctx, b, p); err != nil {
		t.Fatal(err)
	}
	// The floor moves only on confirm.
	if st := w.dev.State(); st.SecurityFloor != 1 || st.Update.Phase != state.Trial || st.Update.Slot != state.SlotB {
		t.Fatalf("after install: %+v", st)
	}
	if _, err := w.dev.Confirm(ctx); err == nil {
		t.Fatal("Confirm before booting the trial slot succeeded")
	}
	if _, err := w.dev.Install(ctx, b, p); err == nil {
		t.Fatal("a second install during a trial succeeded")
	}
	boot, err := w.dev.Boot(ctx)
	if err != nil || boot.Slot != state.SlotB || !boot.Trial || boot.Attempt != 1 {
		t.Fatalf("Boot = %+v, %v", boot, err)
	}
	if _, err := w.dev.Confirm(ctx); err != nil {
		t.Fatal(err)
	}
	st = w.dev.State()
	if st.Active != state.SlotB || st.SecurityFloor != 2 || st.Slots[state.SlotA] == nil {
		t.Fatalf("after confirming v2: %+v", st)
	}
	// A restart reads the same state, and boots b.
	d2, err := device.Open(ctx, w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if boot, err := d2.Boot(ctx); err != nil || boot.Slot != state.SlotB || boot.Trial {
		t.Fatalf("Boot after restart = %+v, %v", boot, err)
	}
	// v1 is now a downgrade.
	b, p = w.bundle(t, v1)
	var re *client.RollbackError
	if _, err := d2.Install(ctx, b, p); !errors.As(err, &re) {
		t.Fatalf("Install of v1 = %v, want a *RollbackError", err)
	}
}

func TestRevert(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.installConfirm(t, w.release(t, "v1", 1, nil))
	v2 := w.release(t, "v2", 2, nil)
	b, p := w.bundle(t, v2)
	if _, err := w.dev.Install(ctx, b, p); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= device.DefaultMaxAttempts; i++ {
		boot, err := w.dev.Boot(ctx)
		if err != nil || boot.Slot != state.SlotB || boot.Attempt != i {
			t.Fatalf("boot %d = %+v, %v", i, boot, err)
		}
	}
	boot, err := w.dev.Boot(ctx)
	if err != nil || boot.Slot != state.SlotA || !boot.Reverted {
		t.Fatalf("boot after %d attempts = %+v, %v; want a revert to a", device.DefaultMaxAttempts, boot, err)
	}
	st := w.dev.State()
	if st.Update.Phase != state.Reverted || st.SecurityFloor != 1 || st.Active != state.SlotA || st.Slots[state.SlotB] != nil {
		t.Fatalf("after the revert: %+v", st)
	}
	// A slot damaged at rest fails verification at boot and is reverted
	// at once.
	if _, err := w.dev.Install(ctx, b, p); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(w.cfg.Slots[state.SlotB], os.O_WRONLY, 0)
	f.WriteAt([]byte{0xff}, 100)
	f.Close()
	boot, err = w.dev.Boot(ctx)
	if err != nil || boot.Slot != state.SlotA || !boot.Reverted {
		t.Fatalf("boot of a damaged trial slot = %+v, %v; want a revert", boot, err)
	}
}

// TestAttacks is the device's attack table: one case per threat of
// DESIGN.md that reaches a device. Each is refused with its typed error
// and leaves the state and the slots as they were, byte for byte.
func TestAttacks(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	v1 := w.release(t, "v1", 5, nil)
	w.installConfirm(t, v1)

	// Material for the cases, logged by the real log.
	unknownKey := w.release(t, "unknown key", 6, nil, fwtest.Release2)
	otherModel := w.release(t, "other model", 6, func(r *provenance.Release) { r.Models = []string{"acme-x2"} })
	beta := w.release(t, "beta", 6, func(r *provenance.Release) { r.Channel = "beta" })
	lower := w.release(t, "lower", 4, nil)
	same := w.release(t, "same level", 5, nil)
	untrustedBuilder := func() []byte {
		img := fwtest.Image("untrusted builder", 3000)
		prov := fwtest.Provenance(t, img, fwtest.OtherBuilder)
		w.submit(t, prov, fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
			r.SecurityVersion = 6
			r.Provenance = []digest.Digest{sha256.Sum256(prov)}
		}), fwtest.Release1))
		return img
	}()
	noProvenance := w.release(t, "no provenance", 6, func(r *provenance.Release) { r.Provenance = nil })
	// A release that endorses provenance by the trusted builder, but
	// built from another repository, or about another image.
	withProvenance := func(seed string, edit func(b *provenance.Build)) []byte {
		img := fwtest.Image(seed, 3000)
		prov := fwtest.ProvenanceWith(t, img, fwtest.Builder, edit)
		w.submit(t, prov, fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
			r.SecurityVersion = 6
			r.Provenance = []digest.Digest{sha256.Sum256(prov)}
		}), fwtest.Release1))
		return img
	}
	wrongSource := withProvenance("wrong source", func(b *provenance.Build) { b.Source = "git+https://git.evil.example/acme/fw" })

	good := w.release(t, "good", 6, nil)
	oldBundle, oldPath := w.bundle(t, good) // under today's checkpoint
	revokedImg := w.release(t, "to be revoked", 7, nil)
	w.submit(t, fwtest.SignRevocation(t, &provenance.Revocation{
		Revokes: provenance.RevokeRelease, Image: sha256.Sum256(revokedImg), ImageName: "fw.bin",
		Reason: "bricks boards", Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
	}, fwtest.Security1))
	// Install good, so that the device stores a newer checkpoint than
	// oldBundle's.
	w.installConfirm(t, good)

	// Offline trees signed with the log's and witnesses' keys: what a
	// thief of those keys could show a device.
	st := w.dev.State()
	forked := fwtest.NewTree(fwtest.LogKey, witnessKeys...)
	evil := fwtest.Image("evil", 3000)
	evilProv := fwtest.Provenance(t, evil, fwtest.Builder)
	for i := uint64(0); i < st.CheckpointSize; i++ {
		forked.Append(fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("filler", int(i)+1), nil), fwtest.Release2))
	}
	forked.Append(evilProv, fwtest.SignRelease(t, fwtest.NewRelease(evil, func(r *provenance.Release) {
		r.SecurityVersion = 9
		r.Provenance = []digest.Digest{sha256.Sum256(evilProv)}
	}), fwtest.Release1))
	n := forked.Size()
	from := int64(st.CheckpointSize)
	lone := *forked
	lone.Witnesses = witnessKeys[:1]

	next := w.release(t, "next", 8, nil)
	tampered := append([]byte{}, next...)
	tampered[10] ^= 1
	goodB, _ := w.bundle(t, good)
	tamperedRelease := bytes.Replace(goodB, []byte(`"entry": "eyJ`), []byte(`"entry": "eyK`), 1)

	for _, tc := range []struct {
		desc   string
		bundle func() ([]byte, string)
		want   any
	}{
		{"tampered image", func() ([]byte, string) { b, _ := w.bundle(t, next); return b, w.imageFile(t, tampered) }, new(*client.DigestError)},
		{"tampered release", func() ([]byte, string) { return tamperedRelease, w.imageFile(t, good) }, new(*client.InclusionError)},
		{"release by a key the device does not trust", func() ([]byte, string) { return w.bundle(t, unknownKey) }, new(*client.SignatureError)},
		{"provenance by an unknown builder", func() ([]byte, string) { return w.bundle(t, untrustedBuilder) }, new(*client.ProvenanceError)},
		{"provenance from another source", func() ([]byte, string) { return w.bundle(t, wrongSource) }, new(*client.ProvenanceError)},
		{"no provenance", func() ([]byte, string) { return w.bundle(t, noProvenance) }, new(*client.ProvenanceError)},
		{"another model", func() ([]byte, string) { return w.bundle(t, otherModel) }, new(*client.TargetError)},
		{"another channel", func() ([]byte, string) { return w.bundle(t, beta) }, new(*client.TargetError)},
		{"lower security version", func() ([]byte, string) { return w.bundle(t, lower) }, new(*client.RollbackError)},
		{"same security version", func() ([]byte, string) { return w.bundle(t, same) }, new(*client.RollbackError)},
		{"revoked release", func() ([]byte, string) { return w.bundle(t, revokedImg) }, new(*client.RevokedError)},
		{"smaller checkpoint (an old bundle)", func() ([]byte, string) { return oldBundle, oldPath }, new(*client.RollbackError)},
		{"forked checkpoint signed by the log key", func() ([]byte, string) {
			return forked.Bundle(t, int(n-1), n, from, int(n-2)), w.imageFile(t, evil)
		}, new(*client.SplitViewError)},
		{"too few cosignatures", func() ([]byte, string) { return lone.Bundle(t, int(n-1), n, from, int(n-2)), w.imageFile(t, evil) }, new(*tlogpolicy.QuorumError)},
		{"stale cosignatures (a frozen bundle)", func() ([]byte, string) {
			b, p := w.bundle(t, next)
			return recosign(t, b, time.Unix(0, 0), witnessKeys...), p
		}, new(*client.FreezeError)},
		{"one witness's cosignature", func() ([]byte, string) {
			b, p := w.bundle(t, next)
			return recosign(t, b, time.Now(), witnessKeys[0]), p
		}, new(*tlogpolicy.QuorumError)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			b, p := tc.bundle()
			before := w.snapshot(t)
			_, err := w.dev.Install(ctx, b, p)
			if err == nil || !errors.As(err, tc.want) {
				t.Fatalf("Install = %T %v, want %T", err, err, tc.want)
			}
			if !device.Refused(err) || device.Reason(err) == device.ReasonError {
				t.Errorf("Reason(%v) = %q: not counted as a refusal", err, device.Reason(err))
			}
			sameSnapshot(t, before, w.snapshot(t))
		})
	}

	// A fresh device (no checkpoint stored) shown a tree made with the
	// log's and the witnesses' keys, whose release endorses provenance
	// about another image (which the real log refuses to take).
	t.Run("provenance for another digest", func(t *testing.T) {
		dir := t.TempDir()
		_, fresh := newDevice(t, dir, fwtest.TrustFile{})
		tree := fwtest.NewTree(fwtest.LogKey, witnessKeys...)
		img := fwtest.Image("other digest", 3000)
		prov := fwtest.Provenance(t, fwtest.Image("another image", 3000), fwtest.Builder)
		tree.Append(prov, fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
			r.Provenance = []digest.Digest{sha256.Sum256(prov)}
		}), fwtest.Release1))
		before := snapshot(t, dir, filepath.Join(dir, "state"))
		_, err := fresh.Install(ctx, tree.Bundle(t, 1, 2, -1, 0), w.imageFile(t, img))
		var pe *client.ProvenanceError
		if !errors.As(err, &pe) {
			t.Fatalf("Install = %v, want a *ProvenanceError", err)
		}
		sameSnapshot(t, before, snapshot(t, dir, filepath.Join(dir, "state")))
	})
	// A device whose trust needs two release keys, shown a release one
	// signed.
	t.Run("below the release threshold", func(t *testing.T) {
		dir := t.TempDir()
		_, two := newDevice(t, dir, fwtest.TrustFile{ReleaseKeys: []*keys.PrivateKey{fwtest.Release1, fwtest.Release2}, ReleaseThreshold: 2})
		before := snapshot(t, dir, filepath.Join(dir, "state"))
		b, err := w.lc.Bundle(ctx, sha256.Sum256(next), -1)
		if err != nil {
			t.Fatal(err)
		}
		var se *client.SignatureError
		if _, err := two.Install(ctx, b, w.imageFile(t, next)); !errors.As(err, &se) {
			t.Fatalf("Install = %v, want a *SignatureError", err)
		}
		sameSnapshot(t, before, snapshot(t, dir, filepath.Join(dir, "state")))
	})

	t.Run("older trust file", func(t *testing.T) {
		if _, err := w.dev.UpdateTrust(ctx, fwtest.TrustFile{Version: 3}.Signed(t)); err != nil {
			t.Fatal(err)
		}
		before := w.snapshot(t)
		var te *trust.Error
		for _, f := range [][]byte{
			fwtest.TrustFile{Version: 2}.Signed(t),
			fwtest.TrustFile{Version: 3}.Signed(t),
			fwtest.TrustFile{Version: 4, Roots: []*keys.PrivateKey{fwtest.Key("thief-1"), fwtest.Key("thief-2")}}.Signed(t, fwtest.Key("thief-1"), fwtest.Key("thief-2")),
		} {
			if _, err := w.dev.UpdateTrust(ctx, f); !errors.As(err, &te) {
				t.Errorf("UpdateTrust = %v, want a *trust.Error", err)
			}
		}
		sameSnapshot(t, before, w.snapshot(t))
	})

	// Last, since it stops Release1: the key is found stolen, and
	// revoked from before next's index, which it signed.
	t.Run("revoked key", func(t *testing.T) {
		res, err := w.lc.Subject(ctx, sha256.Sum256(next))
		if err != nil || len(res.Entries) == 0 {
			t.Fatalf("Subject: %+v, %v", res, err)
		}
		w.submit(t, fwtest.SignRevocation(t, &provenance.Revocation{
			Revokes: provenance.RevokeKey, KeyID: fwtest.KeyID(t, fwtest.Release1), FromIndex: res.Entries[0].Index,
			Reason: "stolen", Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
		}, fwtest.Security1))
		b, p := w.bundle(t, next)
		before := w.snapshot(t)
		var re *client.RevokedError
		if _, err := w.dev.Install(ctx, b, p); !errors.As(err, &re) {
			t.Fatalf("Install = %v, want a *RevokedError", err)
		}
		sameSnapshot(t, before, w.snapshot(t))
	})
}

// TestExpiredTrust: an expired trust file stops new installs, but the
// device keeps booting what it runs, and takes a newer trust file.
func TestExpiredTrust(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	now := time.Now()
	clock := now
	cfg := device.Config{
		StateDir: filepath.Join(t.TempDir(), "state"),
		Slots:    map[string]string{state.SlotA: filepath.Join(w.dir, "x-a.img"), state.SlotB: filepath.Join(w.dir, "x-b.img")},
		Now:      func() time.Time { return clock },
	}
	expiring := fwtest.TrustFile{Created: now.Add(-time.Hour), Expires: now.Add(time.Hour)}
	d, err := device.Init(ctx, cfg, expiring.Signed(t), "acme-x1", "stable")
	if err != nil {
		t.Fatal(err)
	}
	install := func(img []byte) error {
		b, err := w.lc.BundleFrom(ctx, sha256.Sum256(img), -1, int64(d.State().CheckpointSize))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Install(ctx, b, w.imageFile(t, img)); err != nil {
			return err
		}
		if _, err := d.Boot(ctx); err != nil {
			t.Fatal(err)
		}
		_, err = d.Confirm(ctx)
		return err
	}
	if err := install(w.release(t, "v1", 1, nil)); err != nil {
		t.Fatal(err)
	}
	v2 := w.release(t, "v2", 2, nil)
	clock = now.Add(2 * time.Hour)
	var ee *device.ExpiredError
	if err := install(v2); !errors.As(err, &ee) || device.Reason(err) != device.ReasonTrust {
		t.Fatalf("install under an expired trust file = %v, want an *ExpiredError", err)
	}
	if boot, err := d.Boot(ctx); err != nil || boot.Release.SecurityVersion != 1 {
		t.Fatalf("boot under an expired trust file = %+v, %v", boot, err)
	}
	renewed := fwtest.TrustFile{Version: 2, Created: now, Expires: now.AddDate(1, 0, 0)}
	if _, err := d.UpdateTrust(ctx, renewed.Signed(t)); err != nil {
		t.Fatalf("a newer trust file under an expired one: %v", err)
	}
	if err := install(v2); err != nil {
		t.Fatalf("install under the renewed trust file: %v", err)
	}
}
