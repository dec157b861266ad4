package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/report"
	"github.com/fwledger/fwledger/revocation"
	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"
)

// scene is a real log on 127.0.0.1 that takes releases by Release1 and
// Release2 and provenance by Builder, with revocations by Security1; the
// auditor trusts Release1 and Builder, and requires provenance.
type scene struct {
	log *fwtest.Log
	lc  *logclient.Client
}

func newScene(t *testing.T) *scene {
	l := fwtest.StartLog(t, fwtest.LogOptions{
		ReleaseKeys: []*keys.PrivateKey{fwtest.Release1, fwtest.Release2}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder},
		RevocationKeys: []*keys.PrivateKey{fwtest.Security1},
	})
	lc, err := logclient.New(l.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &scene{log: l, lc: lc}
}

func (s *scene) add(t *testing.T, entries ...[]byte) uint64 {
	t.Helper()
	res, err := s.lc.AddAll(context.Background(), entries)
	if err != nil {
		t.Fatal(err)
	}
	last := res[len(res)-1].Index
	s.log.WaitSize(t, last+1)
	return last
}

// release logs provenance by Builder and a release endorsing it.
func (s *scene) release(t *testing.T, seed, version string, sv uint64, k *keys.PrivateKey) uint64 {
	t.Helper()
	img := fwtest.Image(seed, 1000)
	prov := fwtest.Provenance(t, img, fwtest.Builder)
	return s.add(t, prov, fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
		r.Version, r.SecurityVersion = version, sv
		r.Provenance = []digest.Digest{sha256.Sum256(prov)}
	}), k))
}

func auditor(t *testing.T, logURL, dir string) *audit.Auditor {
	t.Helper()
	v, err := fwtest.LogKey.Public().NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	a, err := audit.New(context.Background(), audit.Config{
		LogURL: logURL, Log: v, StateDir: dir,
		Policy: provenance.KeyPolicy(provenance.KeyTrust{
			ReleaseKeys: fwtest.Ring(t, fwtest.Release1), BuilderKeys: fwtest.Ring(t, fwtest.Builder), RequireProvenance: true,
		}),
		RevocationKeys: fwtest.Ring(t, fwtest.Security1),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// withCheckpoint serves the log at logURL, but for its checkpoint what cp
// returns (the log's own if nil), as a mirror that lies would.
func withCheckpoint(t *testing.T, logURL string, cp func() []byte) *httptest.Server {
	target, _ := url.Parse(logURL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := cp(); c != nil && r.URL.Path == "/checkpoint" {
			w.Write(c)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func logVerifier(t *testing.T) note.Verifier {
	v, err := fwtest.LogKey.Public().NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func types(as []*audit.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Type)
	}
	return out
}

// TestClean: releases with provenance, rebuilds and an unrelated
// revocation raise nothing, and the tree recomputed from the entries is
// the checkpoint's.
func TestClean(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	for i, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		s.release(t, v, v, uint64(i+1), fwtest.Release1)
	}
	s.add(t, fwtest.Provenance(t, fwtest.Image("1.0.0", 1000), fwtest.Builder)) // the same build again: a duplicate
	s.add(t, fwtest.SignRevocation(t, &provenance.Revocation{Revokes: provenance.RevokeRelease, Image: sha256.Sum256([]byte("x")), ImageName: "x",
		Reason: "test", Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}, fwtest.Security1))
	a := auditor(t, s.log.URL, t.TempDir())
	res, err := a.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Alerts) != 0 || res.Size != 7 || res.Read != 7 {
		t.Fatalf("Step = size %d, read %d, alerts %v", res.Size, res.Read, types(res.Alerts))
	}
	// Nothing new: nothing read.
	if res, err := a.Step(ctx); err != nil || res.Read != 0 || len(res.Alerts) != 0 {
		t.Fatalf("a second Step = %+v, %v", res, err)
	}
}

// TestEntryAlerts: one crafted entry per entry rule, each alerted once,
// also after a restart.
func TestEntryAlerts(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	dir := t.TempDir()
	s.release(t, "a", "1.4.0", 5, fwtest.Release1)
	equivocation := s.release(t, "b", "1.4.0", 5, fwtest.Release1) // another image as 1.4.0
	regression := s.release(t, "c", "1.5.0", 3, fwtest.Release1)   // below 5
	unknownKey := s.release(t, "d", "1.6.0", 6, fwtest.Release2)
	img := fwtest.Image("e", 1000)
	noProvenance := s.add(t, fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) { r.Version, r.SecurityVersion = "1.7.0", 7 }), fwtest.Release1))
	stolen := s.release(t, "f", "1.8.0", 8, fwtest.Release1)
	s.add(t, fwtest.SignRevocation(t, &provenance.Revocation{Revokes: provenance.RevokeKey, KeyID: fwtest.KeyID(t, fwtest.Release1), FromIndex: stolen,
		Reason: "stolen", Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}, fwtest.Security1))

	a := auditor(t, s.log.URL, dir)
	res, err := a.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{
		audit.TypeEquivocation: equivocation, audit.TypeSecurityRegressed: regression, audit.TypeReleaseSignature: unknownKey,
		audit.TypeProvenance: noProvenance, audit.TypeRevokedKey: stolen,
	}
	got := map[string]uint64{}
	for _, al := range res.Alerts {
		if _, dup := got[al.Type]; dup {
			t.Errorf("alert %s raised twice", al.Type)
		}
		got[al.Type] = *al.Index
		if len(al.Evidence.Checkpoints) == 0 || len(al.Evidence.Entries) == 0 {
			t.Errorf("alert %s has no evidence", al.Type)
		}
	}
	for _, al := range res.Alerts {
		if left, err := audit.VerifyEvidence(al, logVerifier(t), nil); err != nil {
			t.Errorf("the evidence of %s: %v", al.Type, err)
		} else if al.Type == audit.TypeEquivocation && left != "that both releases pass the policy (fwctl policy check)" {
			t.Errorf("the evidence of %s leaves %q unchecked", al.Type, left)
		}
		// Tampered evidence does not verify.
		bad := *al
		bad.Evidence.Entries = append([]audit.EvidenceEntry{}, al.Evidence.Entries...)
		bad.Evidence.Entries[0].Data = append([]byte{}, al.Evidence.Entries[0].Data...)
		bad.Evidence.Entries[0].Data[20] ^= 1
		if _, err := audit.VerifyEvidence(&bad, logVerifier(t), nil); err == nil {
			t.Errorf("tampered evidence of %s verifies", al.Type)
		}
	}
	for typ, idx := range want {
		if got[typ] != idx {
			t.Errorf("alert %s at %d, want at %d (alerts: %v)", typ, got[typ], idx, types(res.Alerts))
		}
	}
	if len(res.Alerts) != len(want) {
		t.Errorf("alerts %v, want one each of %v", types(res.Alerts), want)
	}
	// A restart raises nothing again.
	a.Close()
	b := auditor(t, s.log.URL, dir)
	if res, err := b.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step after a restart = %+v, %v", res, err)
	}
	all, err := b.Alerts(ctx)
	if err != nil || len(all) != len(want) {
		t.Fatalf("Alerts = %d, %v", len(all), err)
	}
}

// TestCheckpointAlerts: a fork signed by the log key, a checkpoint that
// goes back, and a checkpoint the log did not sign.
func TestCheckpointAlerts(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	s.release(t, "a", "1.0.0", 1, fwtest.Release1)
	old, err := s.lc.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.release(t, "b", "2.0.0", 2, fwtest.Release1)
	a := auditor(t, s.log.URL, t.TempDir())
	res, err := a.Step(ctx)
	if err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	impostor := fwtest.Key("example.com/impostor")
	impostor.Name = fwtest.LogKey.Name
	for _, tc := range []struct {
		desc string
		cp   []byte
		want string
	}{
		{"an older genuine checkpoint", old, ""},
		{"another root at the verified size", fwtest.SignCheckpoint(t, fwtest.LogKey, res.Size, bytes.Repeat([]byte{1}, 32)), audit.TypeFork},
		{"another root at an older size", fwtest.SignCheckpoint(t, fwtest.LogKey, 1, bytes.Repeat([]byte{3}, 32)), audit.TypeFork},
		{"signed by another key", fwtest.SignCheckpoint(t, impostor, res.Size+1, bytes.Repeat([]byte{2}, 32)), audit.TypeBadCheckpoint},
	} {
		for range 2 {
			r, err := a.Check(ctx, tc.cp)
			if err != nil {
				t.Fatalf("%s: %v", tc.desc, err)
			}
			if len(r.Alerts) > 1 || (len(r.Alerts) == 1 && r.Alerts[0].Type != tc.want) || (tc.want == "" && len(r.Alerts) > 0) {
				t.Errorf("%s: alerts %v, want one %s", tc.desc, types(r.Alerts), tc.want)
			}
		}
	}
	all, _ := a.Alerts(ctx)
	if got := strings.Join(types(all), ","); got != "fork,fork,bad_checkpoint" {
		t.Errorf("alerts %s, want each once", got)
	}
	for _, al := range all {
		if _, err := audit.VerifyEvidence(al, logVerifier(t), nil); err != nil {
			t.Errorf("the evidence of %s: %v", al.Type, err)
		}
	}
}

// TestRollback: a log (or mirror) whose checkpoint goes back is caught.
func TestRollback(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	s.release(t, "a", "1.0.0", 1, fwtest.Release1)
	old, err := s.lc.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.release(t, "b", "2.0.0", 2, fwtest.Release1)
	var stale bool
	srv := withCheckpoint(t, s.log.URL, func() []byte {
		if stale {
			return old
		}
		return nil
	})
	a := auditor(t, srv.URL, t.TempDir())
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	stale = true
	res, err := a.Step(ctx)
	if err != nil || len(res.Alerts) != 1 || res.Alerts[0].Type != audit.TypeRollback {
		t.Fatalf("Step of an older checkpoint = %+v, %v; want a rollback", res, err)
	}
}

// TestBadServer: a mirror that changes a byte of an entry, and one that
// truncates an entry bundle, are caught.
func TestBadServer(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	for i := range 3 {
		s.release(t, string(rune('a'+i)), "1.0."+string(rune('0'+i)), uint64(i+1), fwtest.Release1)
	}
	target, _ := url.Parse(s.log.URL)
	for _, tc := range []struct {
		desc   string
		change func([]byte) []byte
		want   string
	}{
		{"a byte flipped", func(b []byte) []byte { b = bytes.Clone(b); b[len(b)/2] ^= 1; return b }, audit.TypeTreeMismatch},
		{"truncated", func(b []byte) []byte { return b[:len(b)-10] }, audit.TypeBadBundle},
	} {
		proxy := httputil.NewSingleHostReverseProxy(target)
		direct := proxy.Director
		proxy.Director = func(r *http.Request) { direct(r); r.Header.Del("Accept-Encoding") }
		proxy.ModifyResponse = func(resp *http.Response) error {
			if !strings.HasPrefix(resp.Request.URL.Path, "/tile/entries/") {
				return nil
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = tc.change(body)
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header.Del("Content-Length")
			return nil
		}
		srv := httptest.NewServer(proxy)
		a := auditor(t, srv.URL, t.TempDir())
		res, err := a.Step(ctx)
		srv.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.desc, err)
		}
		if len(res.Alerts) == 0 || res.Alerts[len(res.Alerts)-1].Type != tc.want {
			t.Errorf("%s: alerts %v, want %s", tc.desc, types(res.Alerts), tc.want)
		}
	}
}

// TestCatchUpResumes: when an entry bundle cannot be fetched, a catch-up
// keeps what it read before (and reports the alerts it raised there), and
// the next step reads only the rest, raising nothing twice.
func TestCatchUpResumes(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	var batch [][]byte
	for i := range 300 { // 600 entries: bundles 0 and 1 full, 2 partial
		img := fwtest.Image(fmt.Sprint("image ", i), 100)
		prov := fwtest.Provenance(t, img, fwtest.Builder)
		version := fmt.Sprintf("1.%d.0", i)
		if i == 10 {
			version = "1.9.0" // a second image of 1.9.0, in bundle 0
		}
		batch = append(batch, prov, fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
			r.Version, r.SecurityVersion = version, 1
			r.Provenance = []digest.Digest{sha256.Sum256(prov)}
		}), fwtest.Release1))
		if len(batch) == 16 || i == 299 {
			s.add(t, batch...)
			batch = nil
		}
	}
	var failing atomic.Bool
	failing.Store(true)
	target, _ := url.Parse(s.log.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() && strings.HasPrefix(r.URL.Path, "/tile/entries/002") {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	a := auditor(t, srv.URL, t.TempDir())
	res, err := a.Step(ctx)
	if err == nil || res == nil || res.Read != 512 || !slices.Equal(types(res.Alerts), []string{audit.TypeEquivocation}) {
		t.Fatalf("Step with bundle 2 failing = %+v (alerts %v), %v; want 512 entries read, an equivocation, and an error", res, types(res.Alerts), err)
	}
	failing.Store(false)
	res, err = a.Step(ctx)
	if err != nil || res.Read != 600-512 || res.Size != 600 || len(res.Alerts) != 0 {
		t.Fatalf("Step again = %+v (alerts %v), %v; want the other 88 entries read, and no alert", res, types(res.Alerts), err)
	}
}

// TestOtherViews: the checkpoints a witness holds and a device reported
// are checked against the auditor's; a forked one is a fork alert.
func TestOtherViews(t *testing.T) {
	ctx := context.Background()
	wks := []*keys.PrivateKey{fwtest.WitnessA, fwtest.WitnessB}
	urls := fwtest.StartWitnesses(t, wks, fwtest.LogKey)
	// A third "witness" that was shown a forked checkpoint of size 1.
	forked := fwtest.SignCheckpoint(t, fwtest.LogKey, 1, bytes.Repeat([]byte{9}, 32))
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/checkpoint/") {
			w.Write(forked)
			return
		}
		http.NotFound(w, r)
	}))
	defer liar.Close()
	policy := fwtest.WitnessPolicy(t, fwtest.LogKey, 2, append(wks, fwtest.WitnessC), append(urls, liar.URL)...)
	l := fwtest.StartLog(t, fwtest.LogOptions{
		ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder},
		Witnesser: fwtest.Collector(t, fwtest.WitnessPolicy(t, fwtest.LogKey, 2, wks, urls...)), Devices: []*keys.PrivateKey{fwtest.Device1},
	})
	lc, _ := logclient.New(l.URL, nil)
	s := &scene{log: l, lc: lc}
	s.release(t, "a", "1.0.0", 1, fwtest.Release1)
	s.release(t, "b", "2.0.0", 2, fwtest.Release1)
	wp, err := tlogpolicy.Parse(policy)
	if err != nil {
		t.Fatal(err)
	}
	a, err := audit.New(ctx, audit.Config{
		LogURL: l.URL, Witnesses: wp, StateDir: t.TempDir(),
		Policy: provenance.KeyPolicy(provenance.KeyTrust{ReleaseKeys: fwtest.Ring(t, fwtest.Release1), BuilderKeys: fwtest.Ring(t, fwtest.Builder), RequireProvenance: true}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	res, err := a.Witnessed(ctx)
	if err != nil || len(res.Alerts) != 1 || res.Alerts[0].Type != audit.TypeFork {
		t.Fatalf("Witnessed = %v, %v; want one fork (from the lying witness only)", types(res.Alerts), err)
	}
	if _, err := audit.VerifyEvidence(res.Alerts[0], nil, wp); err != nil {
		t.Errorf("the fork's evidence: %v", err)
	}
	// A device that was shown another fork reports it.
	other := fwtest.SignCheckpoint(t, fwtest.LogKey, 2, bytes.Repeat([]byte{8}, 32))
	genuine, _ := lc.Checkpoint(ctx)
	for _, cp := range [][]byte{genuine, other} {
		if _, err := lc.AddReport(ctx, fwtest.SignReport(t, fwtest.Device1, &report.Report{
			Device: fwtest.KeyID(t, fwtest.Device1), Model: "acme-x1", Channel: "stable", Outcome: report.Refused, Reason: report.SplitView,
			Image: sha256.Sum256(cp), Checkpoint: cp, Time: time.Now().UTC().Truncate(time.Second),
		})); err != nil {
			t.Fatal(err)
		}
	}
	res, err = a.Reported(ctx)
	if err != nil || len(res.Alerts) != 1 || res.Alerts[0].Type != audit.TypeFork {
		t.Fatalf("Reported = %v, %v; want one fork", types(res.Alerts), err)
	}
	if res, err := a.Reported(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Reported again = %v, %v", types(res.Alerts), err)
	}

	// An auditor that wants the quorum to have cosigned within a
	// nanosecond finds the checkpoint stale, once.
	strict, err := audit.New(ctx, audit.Config{
		LogURL: l.URL, Witnesses: wp, StateDir: t.TempDir(), MaxCosignatureAge: time.Nanosecond,
		Policy: provenance.KeyPolicy(provenance.KeyTrust{ReleaseKeys: fwtest.Ring(t, fwtest.Release1), BuilderKeys: fwtest.Ring(t, fwtest.Builder), RequireProvenance: true}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	for i := range 2 {
		res, err := strict.Step(ctx)
		if err != nil || (i == 0) != (len(res.Alerts) == 1) || (i == 0 && res.Alerts[0].Type != audit.TypeStale) {
			t.Fatalf("Step %d with a nanosecond's cosignature age = %v, %v", i, types(res.Alerts), err)
		}
	}
}

// TestWebhook: a webhook that is down, then comes back, receives every
// alert exactly once, in order.
func TestWebhook(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	s.release(t, "a", "1.4.0", 5, fwtest.Release1)
	s.release(t, "b", "1.4.0", 5, fwtest.Release1) // equivocation
	s.release(t, "c", "1.5.0", 3, fwtest.Release1) // regression
	a := auditor(t, s.log.URL, t.TempDir())
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 2 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	var up bool
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		got = append(got, r.Header.Get("Fwledger-Alert-Key"))
	}))
	defer hook.Close()
	if n, err := a.Deliver(ctx, hook.URL); err == nil || n != 0 {
		t.Fatalf("Deliver to a webhook that is down = %d, %v", n, err)
	}
	up = true
	if n, err := a.DeliverRetrying(ctx, hook.URL, time.Millisecond, 10*time.Millisecond); err != nil || n != 2 {
		t.Fatalf("DeliverRetrying = %d, %v", n, err)
	}
	if n, err := a.Deliver(ctx, hook.URL); err != nil || n != 0 {
		t.Fatalf("Deliver again = %d, %v", n, err)
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "equivocation/") || !strings.HasPrefix(got[1], "security_regression/") {
		t.Fatalf("the webhook received %v", got)
	}
}

// TestRevocationCommitment: a checkpoint signed by the log key whose
// revocation commitment leaves out a logged revocation is caught.
func TestRevocationCommitment(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	s.release(t, "a", "1.0.0", 1, fwtest.Release1)
	s.add(t, fwtest.SignRevocation(t, &provenance.Revocation{Revokes: provenance.RevokeRelease, Image: sha256.Sum256([]byte("x")), ImageName: "x",
		Reason: "test", Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}, fwtest.Security1))
	genuine, err := s.lc.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	none, _ := revocation.Commit(nil)
	var size uint64
	var root []byte
	lines := strings.Split(string(genuine), "\n")
	fmt.Sscan(lines[1], &size)
	root, _ = base64.StdEncoding.DecodeString(lines[2])
	hiding := fwtest.SignCheckpoint(t, fwtest.LogKey, size, root, none.Line())
	srv := withCheckpoint(t, s.log.URL, func() []byte { return hiding })
	a := auditor(t, srv.URL, t.TempDir())
	res, err := a.Step(ctx)
	if err != nil || len(res.Alerts) != 1 || res.Alerts[0].Type != audit.TypeRevocationCommitment || len(res.Alerts[0].Evidence.Entries) != 1 {
		t.Fatalf("Step = %v, %v; want one revocation_commitment alert with the revocation", types(res.Alerts), err)
	}
	if _, err := audit.VerifyEvidence(res.Alerts[0], logVerifier(t), nil); err != nil {
		t.Errorf("the evidence: %v", err)
	}
}

// TestReproducibility: a release whose policy rule wants two builders is
// alerted once its rebuild is due and missing, not before, and not when a
// second builder rebuilt it.
func TestReproducibility(t *testing.T) {
	ctx := context.Background()
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder, fwtest.Rebuilder}})
	lc, _ := logclient.New(l.URL, nil)
	s := &scene{log: l, lc: lc}
	rebuilt := s.release(t, "rebuilt", "1.0.0", 1, fwtest.Release1)
	lonely := s.release(t, "lonely", "1.1.0", 2, fwtest.Release1)
	s.add(t, fwtest.ProvenanceWith(t, fwtest.Image("rebuilt", 1000), fwtest.Rebuilder, func(b *provenance.Build) { b.BuilderID = "https://rebuild.example.org/r1" }))
	_ = rebuilt
	policy := fwtest.Policy(t, `version: 1
keys:
  rel: {file: rel.pub}
  ci: {file: ci.pub}
  rb: {file: rb.pub}
builders:
  - {name: ci, id: `+fwtest.BuilderID+`, keys: [ci], slsaLevel: 2}
  - {name: rebuilder, id: https://rebuild.example.org/r1, keys: [rb], slsaLevel: 2}
rules:
  - name: all
    models: ["*"]
    release: {keys: [rel], threshold: 1}
    provenance: {builders: [ci, rebuilder], reproducible: 2}
`, fwtest.PubFiles(t, map[string]*keys.PrivateKey{"rel.pub": fwtest.Release1, "ci.pub": fwtest.Builder, "rb.pub": fwtest.Rebuilder}))
	created := fwtest.NewRelease(nil, nil).Created
	now := created.Add(24 * time.Hour)
	a, err := audit.New(ctx, audit.Config{LogURL: l.URL, Log: logVerifier(t), StateDir: t.TempDir(), Policy: policy,
		ReproducibleWithin: 72 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step before the rebuilds are due = %v, %v", types(res.Alerts), err)
	}
	now = created.Add(96 * time.Hour)
	res, err := a.Step(ctx)
	if err != nil || len(res.Alerts) != 1 || res.Alerts[0].Type != audit.TypeReproducibility || *res.Alerts[0].Index != lonely {
		t.Fatalf("Step when the rebuilds are due = %v, %v; want one reproducibility alert for %d", types(res.Alerts), err, lonely)
	}
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step again = %v, %v", types(res.Alerts), err)
	}
}

// TestNewModel: a key that signed for one model signing for another is a
// warning, once.
func TestNewModel(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	model := func(m string) func(*provenance.Release) {
		return func(r *provenance.Release) { r.Models = []string{m} }
	}
	add := func(seed, version string, edit func(*provenance.Release)) uint64 {
		img := fwtest.Image(seed, 1000)
		prov := fwtest.Provenance(t, img, fwtest.Builder)
		return s.add(t, prov, fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
			r.Version = version
			r.Provenance = []digest.Digest{sha256.Sum256(prov)}
			edit(r)
		}), fwtest.Release1))
	}
	add("x1", "1.0.0", model("acme-x1"))
	first := add("x2", "1.0.0", model("acme-x2"))
	add("x2b", "1.1.0", model("acme-x2"))
	a := auditor(t, s.log.URL, t.TempDir())
	res, err := a.Step(ctx)
	if err != nil || len(res.Alerts) != 1 || res.Alerts[0].Type != audit.TypeNewModel || res.Alerts[0].Severity != audit.Warning || *res.Alerts[0].Index != first {
		t.Fatalf("Step = %v, %v; want one new_model warning at %d", types(res.Alerts), err, first)
	}
	if _, err := audit.VerifyEvidence(res.Alerts[0], logVerifier(t), nil); err != nil {
		t.Errorf("the evidence: %v", err)
	}
}

// TestKeyWindow: release-1 is valid below index 4 and release-2 from it
// on. A signature outside a key's window is a warning (key_window), also
// when other signatures meet the threshold; a release with no signature
// inside a window is also a release_signature alert.
func TestKeyWindow(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	pol := fwtest.Policy(t, `
version: 1
keys:
  release-1: {file: release-1, validity: {untilIndex: 4}}
  release-2: {file: release-2, validity: {fromIndex: 4}}
  ci: {file: ci}
builders:
  - {name: ci, id: "https://ci.example.com/runner/v1", keys: [ci]}
rules:
  - name: acme
    models: ["*"]
    release: {keys: [release-1, release-2]}
    provenance: {builders: [ci]}
`, fwtest.PubFiles(t, map[string]*keys.PrivateKey{"release-1": fwtest.Release1, "release-2": fwtest.Release2, "ci": fwtest.Builder}))
	add := func(seed string, ks ...*keys.PrivateKey) uint64 {
		img := fwtest.Image(seed, 1000)
		prov := fwtest.Provenance(t, img, fwtest.Builder)
		return s.add(t, prov, fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
			r.Version = seed
			r.Provenance = []digest.Digest{sha256.Sum256(prov)}
		}), ks...))
	}
	add("1.0.0", fwtest.Release1)
	both := add("1.1.0", fwtest.Release1, fwtest.Release2) // release-2 before its window
	late := add("1.2.0", fwtest.Release1)                  // release-1 after its window
	a, err := audit.New(ctx, audit.Config{LogURL: s.log.URL, Log: logVerifier(t), StateDir: t.TempDir(), Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	res, err := a.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("key_window/%d/%s", both, fwtest.KeyID(t, fwtest.Release2)), fmt.Sprintf("release_signature/%d", late), fmt.Sprintf("key_window/%d/%s", late, fwtest.KeyID(t, fwtest.Release1))}
	var got []string
	for _, al := range res.Alerts {
		got = append(got, al.Key)
		if al.Type == audit.TypeKeyWindow && al.Severity != audit.Warning {
			t.Errorf("%s is %s, want a warning", al.Key, al.Severity)
		}
		if _, err := audit.VerifyEvidence(al, logVerifier(t), nil); err != nil {
			t.Errorf("the evidence of %s: %v", al.Key, err)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("alerts %q, want %q", got, want)
	}
}

// TestMetrics: alerts and entries are counted.
func TestMetrics(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	s.release(t, "a", "1.4.0", 5, fwtest.Release1)
	s.release(t, "b", "1.4.0", 5, fwtest.Release1)
	reg := prometheus.NewRegistry()
	a, err := audit.New(ctx, audit.Config{LogURL: s.log.URL, Log: logVerifier(t), StateDir: t.TempDir(), Registerer: reg,
		Policy: provenance.KeyPolicy(provenance.KeyTrust{ReleaseKeys: fwtest.Ring(t, fwtest.Release1), BuilderKeys: fwtest.Ring(t, fwtest.Builder), RequireProvenance: true})})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if got := counterSum(t, reg, "fwaudit_alerts_total"); got != 1 {
		t.Errorf("fwaudit_alerts_total = %v, want 1", got)
	}
	families, _ := reg.Gather()
	for _, f := range families {
		switch f.GetName() {
		case "fwaudit_entries_read_total":
			if v := f.GetMetric()[0].GetCounter().GetValue(); v != 4 {
				t.Errorf("entries read = %v, want 4", v)
			}
		case "fwaudit_verified_size":
			if v := f.GetMetric()[0].GetGauge().GetValue(); v != 4 {
				t.Errorf("verified size = %v, want 4", v)
			}
		}
	}
}

// counterSum returns the sum over the labels of a gathered counter.
func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestStatus: Status says what was verified and read, also after a
// restart (but for the last poll, which is the process's); the alerts read
// by page and by ID are those Alerts returns.
func TestStatus(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	s.release(t, "a", "1.4.0", 5, fwtest.Release1)
	s.release(t, "b", "1.4.0", 5, fwtest.Release1) // an equivocation
	s.release(t, "c", "1.5.0", 6, fwtest.Release2) // an unknown key
	dir := t.TempDir()
	a := auditor(t, s.log.URL, dir)
	if st, err := a.Status(ctx); err != nil || st.Checkpoint != nil || st.Alerts != 0 || !st.Polled.IsZero() || st.LogURL != s.log.URL {
		t.Fatalf("Status before a step = %+v, %v", st, err)
	}
	before := time.Now()
	if _, err := a.Step(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := a.Alerts(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("Alerts = %v, %v; want 2", types(all), err)
	}
	st, err := a.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signed, size := s.log.Log.Checkpoint()
	if !bytes.Equal(st.Checkpoint, signed) || st.Size != size || st.Read != size || st.Origin != fwtest.LogKey.Name || len(st.Root) != 32 ||
		st.VerifiedAt.Before(before.Add(-time.Second)) || st.Polled.IsZero() || st.PollError != "" ||
		st.Alerts != 2 || st.FirstAlert != all[0].ID || st.LastAlert != all[1].ID {
		t.Errorf("Status = %+v", st)
	}
	if got, err := a.AlertsBefore(ctx, 0, 1); err != nil || len(got) != 1 || got[0].ID != all[1].ID {
		t.Errorf("AlertsBefore(0, 1) = %v, %v; want the newest", got, err)
	}
	if got, err := a.AlertsBefore(ctx, all[1].ID, 10); err != nil || len(got) != 1 || got[0].ID != all[0].ID {
		t.Errorf("AlertsBefore(%d, 10) = %v, %v; want the oldest", all[1].ID, got, err)
	}
	if got, err := a.AlertsAfter(ctx, 0, 10); err != nil || len(got) != 2 || got[0].ID != all[0].ID || got[1].ID != all[1].ID {
		t.Errorf("AlertsAfter(0, 10) = %v, %v; want both, oldest first", got, err)
	}
	if got, err := a.Alert(ctx, all[0].ID); err != nil || got.Key != all[0].Key || !bytes.Equal(got.Evidence.Entries[0].Data, all[0].Evidence.Entries[0].Data) {
		t.Errorf("Alert(%d) = %+v, %v", all[0].ID, got, err)
	}
	if _, err := a.Alert(ctx, all[1].ID+1); !errors.Is(err, audit.ErrNoAlert) {
		t.Errorf("Alert(%d) = %v, want ErrNoAlert", all[1].ID+1, err)
	}
	// Failed polls are said so.
	down := withCheckpoint(t, s.log.URL, func() []byte { return nil })
	down.Close()
	a.Close()
	b := auditor(t, down.URL, dir)
	after, err := b.Status(ctx)
	if err != nil || !after.VerifiedAt.Equal(st.VerifiedAt) || after.Size != st.Size || after.Alerts != 2 || !after.Polled.IsZero() {
		t.Errorf("Status after a restart = %+v, %v", after, err)
	}
	if _, err := b.Step(ctx); err == nil {
		t.Fatal("Step of a log that is down succeeded")
	}
	if after, err := b.Status(ctx); err != nil || after.Polled.IsZero() || after.PollError == "" {
		t.Errorf("Status after a failed poll = %+v, %v", after, err)
	}
}
