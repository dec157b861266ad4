package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/revocation"
	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/transparency-dev/merkle/rfc6962"
)

var witnessKeys = []*keys.PrivateKey{fwtest.WitnessA, fwtest.WitnessB, fwtest.WitnessC}

// deviceTrust is what a stable acme-x1 device trusts: the test log, a
// 2-of-3 witness quorum, rel1 and a day's maximum cosignature age.
func deviceTrust(t *testing.T) client.Trust {
	t.Helper()
	wp, err := tlogpolicy.Parse(fwtest.WitnessPolicy(t, fwtest.LogKey, 2, witnessKeys))
	if err != nil {
		t.Fatal(err)
	}
	tr := trust(t, 1, rel1)
	tr.Witnesses = wp
	tr.Model, tr.Channel = "acme-x1", "stable"
	tr.MaxCosignatureAge = 24 * time.Hour
	return tr
}

// updates is a log of releases of security versions 1 to 4 (one image
// each), with other entries between them.
type updates struct {
	tree   *fwtest.Tree
	images [][]byte
	index  []int // of the release of images[i]
}

func newUpdates(t *testing.T) *updates {
	u := &updates{tree: fwtest.NewTree(fwtest.LogKey, witnessKeys...)}
	for sv := uint64(1); sv <= 4; sv++ {
		img := fwtest.Image(string(rune('0'+sv)), 3000)
		u.tree.Append(fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("other", 10+int(sv)), nil), rel2))
		u.index = append(u.index, int(u.tree.Append(fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
			r.SecurityVersion = sv
		}), rel1))))
		u.images = append(u.images, img)
	}
	return u
}

func TestVerifyUpdate(t *testing.T) {
	ctx := context.Background()
	u := newUpdates(t)
	tr := deviceTrust(t)
	now := time.Now()
	// The device stored the checkpoint of size 4 (releases 1 and 2),
	// runs release 2 at security version 2.
	stored := u.tree.Checkpoint(t, 4)
	st := client.State{Checkpoint: stored, SecurityFloor: 2, Installed: sha256.Sum256(u.images[1]), TimeFloor: now.Add(-time.Hour)}
	size := u.tree.Size()

	// A fork: the same first entries but another at index 5, signed by
	// the log key and cosigned (witnesses that were lied to, or a
	// quorum of stolen witness keys).
	fork := fwtest.NewTree(fwtest.LogKey, witnessKeys...)
	for i := uint64(0); i < size; i++ {
		e := u.tree.Entry(i)
		if i == 5 {
			e = fwtest.SignRelease(t, fwtest.NewRelease(u.images[2], func(r *provenance.Release) { r.SecurityVersion = 3; r.Version = "9.9.9" }), rel1)
		}
		fork.Append(e)
	}
	stale := *u.tree
	stale.CosignTime = time.Unix(1, 0)
	oneWitness := *u.tree
	oneWitness.Witnesses = witnessKeys[:1]
	beta := fwtest.NewTree(fwtest.LogKey, witnessKeys...)
	betaImg := fwtest.Image("beta", 100)
	beta.Append(fwtest.SignRelease(t, fwtest.NewRelease(betaImg, func(r *provenance.Release) { r.Channel = "beta"; r.SecurityVersion = 9 }), rel1))
	otherModel := fwtest.NewTree(fwtest.LogKey, witnessKeys...)
	otherImg := fwtest.Image("x2", 100)
	otherModel.Append(fwtest.SignRelease(t, fwtest.NewRelease(otherImg, func(r *provenance.Release) { r.Models = []string{"acme-x2"}; r.SecurityVersion = 9 }), rel1))
	fresh := client.State{TimeFloor: now.Add(-time.Hour)}

	noClock := tr
	noClock.Now = time.Time{}
	withClock := tr
	withClock.Now = now
	allowSame := withClock
	allowSame.AllowSameSecurityVersion = true

	for _, tc := range []struct {
		desc   string
		trust  client.Trust
		st     client.State
		bundle []byte
		image  []byte
		want   any
	}{
		{"upgrade to 4", withClock, st, u.tree.Bundle(t, u.index[3], size, 4), u.images[3], nil},
		{"upgrade to 3 under the stored checkpoint's size", withClock, st, u.tree.Bundle(t, u.index[2], size, 4), u.images[2], nil},
		{"no clock: the time floor is the reference", noClock, st, u.tree.Bundle(t, u.index[3], size, 4), u.images[3], nil},
		{"fresh device", withClock, fresh, u.tree.Bundle(t, u.index[0], size, -1), u.images[0], nil},
		{"same size, same root", withClock, client.State{Checkpoint: u.tree.Checkpoint(t, size), SecurityFloor: 2, Installed: st.Installed}, u.tree.Bundle(t, u.index[3], size, -1), u.images[3], nil},

		{"downgrade below the floor", withClock, st, u.tree.Bundle(t, u.index[0], size, 4), u.images[0], new(*client.RollbackError)},
		{"reinstall of the same level", withClock, st, u.tree.Bundle(t, u.index[1], size, 4), u.images[1], new(*client.RollbackError)},
		{"smaller tree", withClock, client.State{Checkpoint: u.tree.Checkpoint(t, size), SecurityFloor: 2}, u.tree.Bundle(t, u.index[1], 4, -1), u.images[1], new(*client.RollbackError)},
		{"forked: another root at a stored size", withClock, client.State{Checkpoint: u.tree.Checkpoint(t, size), SecurityFloor: 2}, fork.Bundle(t, u.index[3], size, -1), u.images[3], new(*client.SplitViewError)},
		{"forked: inconsistent with the stored tree", withClock, client.State{Checkpoint: u.tree.Checkpoint(t, 6), SecurityFloor: 2}, fork.Bundle(t, u.index[3], size, 6), u.images[3], new(*client.SplitViewError)},
		{"no consistency proof", withClock, st, u.tree.Bundle(t, u.index[3], size, -1), u.images[3], new(*client.BundleError)},
		{"consistency proof from another size", withClock, st, u.tree.Bundle(t, u.index[3], size, 3), u.images[3], new(*client.BundleError)},
		{"cosigned in 1970", withClock, st, stale.Bundle(t, u.index[3], size, 4), u.images[3], new(*client.FreezeError)},
		{"stale against the time floor, without a clock", noClock, client.State{Checkpoint: stored, SecurityFloor: 2, TimeFloor: now.Add(48 * time.Hour)}, u.tree.Bundle(t, u.index[3], size, 4), u.images[3], new(*client.FreezeError)},
		{"one witness of a quorum of two", withClock, st, oneWitness.Bundle(t, u.index[3], size, 4), u.images[3], new(*tlogpolicy.QuorumError)},
		{"beta release on a stable device", withClock, fresh, beta.Bundle(t, 0, 1, -1), betaImg, new(*client.TargetError)},
		{"other model", withClock, fresh, otherModel.Bundle(t, 0, 1, -1), otherImg, new(*client.TargetError)},
		{"tampered image", withClock, st, u.tree.Bundle(t, u.index[3], size, 4), append(bytes.Clone(u.images[3][:100]), u.images[2][100:]...), new(*client.DigestError)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			v, err := client.VerifyUpdate(ctx, tc.trust, tc.st, tc.bundle, bytes.NewReader(tc.image))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("VerifyUpdate: %v", err)
				}
				if v.QuorumTime.IsZero() {
					t.Errorf("QuorumTime is zero")
				}
				return
			}
			if err == nil {
				t.Fatalf("VerifyUpdate succeeded, want %T", tc.want)
			}
			if !errors.As(err, tc.want) {
				t.Fatalf("VerifyUpdate: %T %v, want %T", err, err, tc.want)
			}
		})
	}
	t.Run("reinstall allowed", func(t *testing.T) {
		if _, err := client.VerifyUpdate(ctx, allowSame, st, u.tree.Bundle(t, u.index[1], size, 4), bytes.NewReader(u.images[1])); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("split view evidence", func(t *testing.T) {
		mine := u.tree.Checkpoint(t, size)
		theirs := fork.Bundle(t, u.index[3], size, -1)
		_, err := client.VerifyUpdate(ctx, withClock, client.State{Checkpoint: mine}, theirs, bytes.NewReader(u.images[3]))
		var sv *client.SplitViewError
		if !errors.As(err, &sv) || !bytes.Equal(sv.Stored, mine) || len(sv.Got) == 0 || bytes.Equal(sv.Got, mine) {
			t.Fatalf("VerifyUpdate: %v; want a SplitViewError with both checkpoints", err)
		}
	})
}

// TestQuorumTime checks that the time floor a device moves to is when the
// quorum had cosigned, which one witness alone cannot move forward.
func TestQuorumTime(t *testing.T) {
	ctx := context.Background()
	u := newUpdates(t)
	size := u.tree.Size()
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	cp := fwtest.SignCheckpoint(t, fwtest.LogKey, size, u.tree.Root(size))
	cp = fwtest.CosignAt(t, cp, base.Add(100*24*time.Hour), fwtest.WitnessA) // far ahead
	cp = fwtest.CosignAt(t, cp, base.Add(2*time.Hour), fwtest.WitnessB)
	cp = fwtest.CosignAt(t, cp, base.Add(time.Hour), fwtest.WitnessC)
	tr := deviceTrust(t)
	tr.Now = base.Add(3 * time.Hour)
	v, err := client.VerifyUpdate(ctx, tr, client.State{}, u.tree.BundleUnder(t, cp, u.index[0], -1), bytes.NewReader(u.images[0]))
	if err != nil {
		t.Fatal(err)
	}
	if want := base.Add(2 * time.Hour); !v.QuorumTime.Equal(want) {
		t.Errorf("QuorumTime = %v, want %v (the second newest of a quorum of two)", v.QuorumTime, want)
	}
}

// TestFutureCosignatures: a quorum that cosigned far after a device's
// clock is refused (it would move the time floor past every honest
// checkpoint); a device without a clock takes it.
func TestFutureCosignatures(t *testing.T) {
	ctx := context.Background()
	u := newUpdates(t)
	size := u.tree.Size()
	now := time.Now()
	future := *u.tree
	future.CosignTime = now.Add(100 * 365 * 24 * time.Hour)
	b := future.Bundle(t, u.index[3], size, -1)
	tr := deviceTrust(t)
	tr.Now = now
	st := client.State{TimeFloor: now.Add(-time.Hour)}
	var fe *client.FreezeError
	if _, err := client.VerifyUpdate(ctx, tr, st, b, bytes.NewReader(u.images[3])); !errors.As(err, &fe) || !fe.Future {
		t.Fatalf("VerifyUpdate with cosignatures a century ahead = %v, want a *FreezeError from the future", err)
	}
	// Within the skew: taken.
	near := *u.tree
	near.CosignTime = now.Add(client.MaxClockSkew / 2)
	if _, err := client.VerifyUpdate(ctx, tr, st, near.Bundle(t, u.index[3], size, -1), bytes.NewReader(u.images[3])); err != nil {
		t.Fatalf("VerifyUpdate with cosignatures a little ahead: %v", err)
	}
	tr.Now = time.Time{}
	if v, err := client.VerifyUpdate(ctx, tr, st, b, bytes.NewReader(u.images[3])); err != nil || !v.QuorumTime.Equal(future.CosignTime.Truncate(time.Second)) {
		t.Fatalf("VerifyUpdate without a clock = %+v, %v", v, err)
	}
}

// TestRevocationsKept: the log's key alone cannot drop a revocation a
// device has seen committed to, nor sign another text for a tree the
// device stored.
func TestRevocationsKept(t *testing.T) {
	ctx := context.Background()
	u := newUpdates(t)
	size := u.tree.Size()
	rev := fwtest.SignRevocation(t, &provenance.Revocation{
		Revokes: provenance.RevokeRelease, Image: sha256.Sum256([]byte("some other image")), ImageName: "x.bin",
		Reason: "test", Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
	}, fwtest.Security1)
	one, err := revocation.Commit([][]byte{rfc6962.DefaultHasher.HashLeaf(rev)})
	if err != nil {
		t.Fatal(err)
	}
	// The device stored a checkpoint of 4 entries that committed to one
	// revocation; the log now shows the tree of all entries with none.
	withRev := *u.tree
	withRev.Extensions = []string{one.Line()}
	st := client.State{Checkpoint: withRev.Checkpoint(t, 4), SecurityFloor: 2, Installed: sha256.Sum256(u.images[1]), TimeFloor: time.Now().Add(-time.Hour)}
	tr := deviceTrust(t)
	tr.Now = time.Now()
	var re *client.RevocationError
	if _, err := client.VerifyUpdate(ctx, tr, st, u.tree.Bundle(t, u.index[3], size, 4), bytes.NewReader(u.images[3])); !errors.As(err, &re) {
		t.Fatalf("VerifyUpdate of a checkpoint that dropped a revocation = %v, want a *RevocationError", err)
	}
	// The same tree as the stored one, with another text.
	var sv *client.SplitViewError
	st.Checkpoint = withRev.Checkpoint(t, size)
	if _, err := client.VerifyUpdate(ctx, tr, st, u.tree.Bundle(t, u.index[3], size, -1), bytes.NewReader(u.images[3])); !errors.As(err, &sv) {
		t.Fatalf("VerifyUpdate of another text for the stored tree = %v, want a *SplitViewError", err)
	}
}
