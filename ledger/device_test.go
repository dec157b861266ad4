package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/fwledger/fwledger/delta"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/log/sqlite"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
)

// TestUpdates checks GET /v1/updates: the newest eligible release for a
// model on a channel (by security version, then version), with a
// consistency proof from the device's size and the trust files above its
// version.
func TestUpdates(t *testing.T) {
	ctx := context.Background()
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}, RevocationKeys: []*keys.PrivateKey{fwtest.Security1}})
	lc := newClient(t, l)
	add := func(seed string, edit func(*provenance.Release)) []byte {
		img := fwtest.Image(seed, 100)
		if _, err := lc.Add(ctx, fwtest.SignRelease(t, fwtest.NewRelease(img, edit), rel1)); err != nil {
			t.Fatal(err)
		}
		return img
	}
	sv := func(n uint64, v string) func(*provenance.Release) {
		return func(r *provenance.Release) { r.SecurityVersion, r.Version = n, v }
	}
	var status *logclient.HTTPError
	if _, err := lc.Update(ctx, "acme-x1", "stable", -1, -1); !errors.As(err, &status) || status.Status != http.StatusNotFound {
		t.Fatalf("Update of an empty log = %v, want 404", err)
	}
	add("a", sv(3, "1.2.0"))
	newest := add("b", sv(3, "1.10.0")) // semver: 1.10 > 1.9
	add("c", sv(3, "1.9.0"))
	add("d", sv(2, "2.0.0")) // a lower security version
	add("beta", func(r *provenance.Release) { r.SecurityVersion, r.Channel = 9, "beta" })
	add("x2", func(r *provenance.Release) { r.SecurityVersion, r.Models = 9, []string{"acme-x2"} })
	revoked := add("revoked", sv(4, "1.0.0"))
	if _, err := lc.Add(ctx, fwtest.SignRevocation(t, &provenance.Revocation{
		Revokes: provenance.RevokeRelease, Image: sha256.Sum256(revoked), ImageName: "fw.bin", Reason: "bricks", Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
	}, fwtest.Security1)); err != nil {
		t.Fatal(err)
	}
	l.WaitSize(t, 8)

	b, err := lc.Update(ctx, "acme-x1", "stable", 3, -1)
	if err != nil {
		t.Fatal(err)
	}
	bd, r := fwtest.BundleRelease(t, b)
	if r.Image != sha256.Sum256(newest) {
		t.Errorf("Update chose %s %d, want 1.10.0", r.Version, r.SecurityVersion)
	}
	var cp flog.Checkpoint
	if _, err := cp.Unmarshal(bd.Checkpoint()); err != nil {
		t.Fatal(err)
	}
	// The consistency proof from 3 verifies against the root of the
	// first 3 entries.
	tree := testonly.New(rfc6962.DefaultHasher)
	for i := range cp.Size {
		e, err := lc.Entry(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		tree.AppendData(e.Data)
	}
	if bd.Consistency == nil || bd.Consistency.From != 3 {
		t.Fatalf("consistency = %+v, want a proof from 3", bd.Consistency)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, 3, cp.Size, bd.Consistency.Hashes, tree.HashAt(3), cp.Hash); err != nil {
		t.Fatalf("the consistency proof from 3 does not verify: %v", err)
	}
	if len(bd.Trust) != 0 {
		t.Errorf("a bundle without ?trust= carries %d trust files", len(bd.Trust))
	}
	if b, err := lc.Update(ctx, "acme-x1", "beta", -1, -1); err != nil {
		t.Fatal(err)
	} else if _, r := fwtest.BundleRelease(t, b); r.Channel != "beta" {
		t.Errorf("the beta update is on %q", r.Channel)
	}
	// A device whose tree is larger than the published one gets no
	// proof.
	if b, err := lc.Update(ctx, "acme-x1", "stable", 1000, -1); err != nil {
		t.Fatal(err)
	} else if bd, _ := fwtest.BundleRelease(t, b); bd.Consistency != nil {
		t.Errorf("a bundle from beyond the tree carries a consistency proof")
	}
	for _, q := range []string{"model=acme-x1", "channel=stable", "model=acme-x1&channel=stable&from=-1", "model=acme-x1&channel=stable&trust=01"} {
		resp, err := http.Get(l.URL + "/v1/updates?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("/v1/updates?%s = %d, want 400", q, resp.StatusCode)
		}
	}
}

// TestUpdateTrustFiles checks that updates carry the device trust files
// above the device's version, oldest first.
func TestUpdateTrustFiles(t *testing.T) {
	ctx := context.Background()
	v2 := fwtest.TrustFile{Version: 2}.Signed(t)
	v3 := fwtest.TrustFile{Version: 3}.Signed(t)
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}, DeviceTrust: [][]byte{v3, v2}})
	lc := newClient(t, l)
	if _, err := lc.Add(ctx, fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("a", 100), nil), rel1)); err != nil {
		t.Fatal(err)
	}
	l.WaitSize(t, 1)
	for _, tc := range []struct {
		have int64
		want [][]byte
	}{{-1, nil}, {1, [][]byte{v2, v3}}, {2, [][]byte{v3}}, {3, nil}} {
		b, err := lc.Update(ctx, "acme-x1", "stable", -1, tc.have)
		if err != nil {
			t.Fatal(err)
		}
		bd, _ := fwtest.BundleRelease(t, b)
		if len(bd.Trust) != len(tc.want) {
			t.Fatalf("trust=%d: %d trust files, want %d", tc.have, len(bd.Trust), len(tc.want))
		}
		for i := range tc.want {
			if !bytes.Equal(bd.Trust[i], tc.want[i]) {
				t.Errorf("trust=%d: file %d is not the expected one", tc.have, i)
			}
		}
	}
	// A log refuses to start with a trust file its root keys did not
	// sign.
	l.Stop(t)
	store, err := sqlite.Open(ctx, l.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := fwtest.OpenLog(ctx, store, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}, DeviceTrust: [][]byte{fwtest.TrustFile{}.Signed(t, fwtest.Root1)}}); err == nil {
		t.Fatal("a log started with a trust file below its root threshold")
	}
}

// TestDeltas checks PUT and GET /v1/deltas: the log stores a delta only
// if it turns the release's base image, which it stores, into the
// release's image.
func TestDeltas(t *testing.T) {
	ctx := context.Background()
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}})
	lc := newClient(t, l)
	base := fwtest.Image("base", 300000)
	target := append(bytes.Clone(base[:1000]), append([]byte("a patch"), base[1000:]...)...)
	other := fwtest.Image("other", 300000)
	bd, td := digest.Sum(base), digest.Sum(target)
	for _, env := range [][]byte{
		fwtest.SignRelease(t, fwtest.NewRelease(base, nil), rel1),
		fwtest.SignRelease(t, fwtest.NewRelease(target, func(r *provenance.Release) { r.BaseImage = &bd; r.SecurityVersion = 8 }), rel1),
		fwtest.SignRelease(t, fwtest.NewRelease(other, func(r *provenance.Release) { r.SecurityVersion = 9 }), rel1),
	} {
		if _, err := lc.Add(ctx, env); err != nil {
			t.Fatal(err)
		}
	}
	l.WaitSize(t, 3)
	mk := func(from, to []byte) []byte {
		var buf bytes.Buffer
		if err := delta.Create(&buf, bytes.NewReader(from), int64(len(from)), bytes.NewReader(to), int64(len(to)), nil); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	good := mk(base, target)
	status := func(err error) int {
		var he *logclient.HTTPError
		if errors.As(err, &he) {
			return he.Status
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	}
	// The base image is not stored yet.
	if got := status(lc.PutDelta(ctx, td, bytes.NewReader(good))); got != http.StatusNotFound {
		t.Fatalf("PUT of a delta before its base = %d, want 404", got)
	}
	if err := lc.PutImage(ctx, bd, bytes.NewReader(base)); err != nil {
		t.Fatal(err)
	}
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-10] ^= 1
	for _, tc := range []struct {
		desc   string
		target digest.Digest
		delta  []byte
		want   int
	}{
		{"corrupt", td, corrupt, http.StatusBadRequest},
		{"from another base", td, mk(other, target), http.StatusBadRequest},
		{"to another image", td, mk(base, other), http.StatusBadRequest},
		{"not a delta", td, []byte("hello"), http.StatusBadRequest},
		{"a release without a base image", digest.Sum(other), mk(base, other), http.StatusBadRequest},
		{"no such release", digest.Sum([]byte("nothing")), good, http.StatusNotFound},
		{"good", td, good, 0},
		{"good again", td, good, 0},
	} {
		if got := status(lc.PutDelta(ctx, tc.target, bytes.NewReader(tc.delta))); got != tc.want {
			t.Errorf("PUT %s delta = %d, want %d", tc.desc, got, tc.want)
		}
	}
	resp, err := http.Get(l.URL + "/v1/deltas/" + td.String())
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got.Bytes(), good) {
		t.Fatalf("GET delta = %d, %d bytes; want the stored delta", resp.StatusCode, got.Len())
	}
	// A resumed download: Range with If-Range of the strong ETag gets the
	// rest; another ETag gets it all.
	for _, tc := range []struct {
		ifRange string
		want    int
	}{{`"delta-` + td.String() + `"`, http.StatusPartialContent}, {`"something else"`, http.StatusOK}} {
		req, _ := http.NewRequest("GET", l.URL+"/v1/deltas/"+td.String(), nil)
		req.Header.Set("Range", "bytes=10-")
		req.Header.Set("If-Range", tc.ifRange)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want || resp.Header.Get("ETag") != `"delta-`+td.String()+`"` {
			t.Errorf("GET with If-Range %s = %d, ETag %q; want %d", tc.ifRange, resp.StatusCode, resp.Header.Get("ETag"), tc.want)
		}
	}
	if len(good) > len(target)/20 {
		t.Errorf("the delta of a 7-byte insertion is %d bytes of %d", len(good), len(target))
	}
}

// TestUpdateSkipsWhatDevicesRefuse: a release by a key the log takes but
// devices do not, of the highest security version, does not hold back
// the fleet whose trust file the log serves: with ?trust=, the newest
// release the device would take is served.
func TestUpdateSkipsWhatDevicesRefuse(t *testing.T) {
	ctx := context.Background()
	v1 := fwtest.TrustFile{}.Signed(t) // trusts Release1 and Builder
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1, rel2}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder}, DeviceTrust: [][]byte{v1}})
	lc := newClient(t, l)
	add := func(seed string, sv uint64, k *keys.PrivateKey) []byte {
		img := fwtest.Image(seed, 100)
		prov := fwtest.Provenance(t, img, fwtest.Builder)
		if _, err := lc.AddAll(ctx, [][]byte{prov, fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
			r.SecurityVersion = sv
			r.Provenance = []digest.Digest{sha256.Sum256(prov)}
		}), k)}); err != nil {
			t.Fatal(err)
		}
		return img
	}
	honest := add("honest", 2, rel1)
	add("by another key", 60, rel2)
	l.WaitSize(t, 4)
	for _, tc := range []struct {
		trust int64
		sv    uint64
	}{{-1, 60}, {1, 2}, {7, 60}} {
		b, err := lc.Update(ctx, "acme-x1", "stable", -1, tc.trust)
		if err != nil {
			t.Fatal(err)
		}
		if _, r := fwtest.BundleRelease(t, b); r.SecurityVersion != tc.sv {
			t.Errorf("trust=%d: served security version %d, want %d", tc.trust, r.SecurityVersion, tc.sv)
		} else if tc.sv == 2 && r.Image != sha256.Sum256(honest) {
			t.Errorf("trust=%d: served another release", tc.trust)
		}
	}
}
