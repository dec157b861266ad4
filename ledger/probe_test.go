package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/ledger"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
)

func probe(t *testing.T, origin string, created time.Time, n int, ks ...*keys.PrivateKey) []byte {
	return fwtest.SignProbe(t, &provenance.Probe{Origin: origin, Nonce: sha256.Sum256(fmt.Append(nil, n)), Created: created}, ks...)
}

// TestProbes: a log takes an auditor's probe, signed by a probe key and
// for its own origin, on its own; it logs it as it is, and it is not a
// release anyone sees. Anything else is refused with a status and a
// message that names the problem, and changes nothing.
func TestProbes(t *testing.T) {
	ctx := context.Background()
	origin := fwtest.LogKey.Name
	now := time.Now().UTC().Truncate(time.Second)
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}, ProbeKeys: []*keys.PrivateKey{fwtest.Prober}})
	lc := newClient(t, l)

	p := probe(t, origin, now, 1, fwtest.Prober)
	res, err := lc.Add(ctx, p)
	if err != nil {
		t.Fatalf("Add(probe): %v", err)
	}
	again, err := lc.Add(ctx, p)
	if err != nil || again.Index != res.Index || !again.Duplicate {
		t.Fatalf("Add(the probe again) = %+v, %v; want a duplicate at %d", again, err, res.Index)
	}
	l.WaitSize(t, res.Index+1)
	e, err := lc.Entry(ctx, res.Index)
	if err != nil || !bytes.Equal(e.Data, p) {
		t.Fatalf("Entry(%d) = %q, %v; want the probe's bytes", res.Index, e.Data, err)
	}
	// No lookup shows it: it is no release, and names no image.
	sub, err := lc.Subject(ctx, sha256.Sum256(fmt.Append(nil, 1)))
	if err != nil || len(sub.Entries) != 0 {
		t.Errorf("Subject(the probe's nonce) = %+v, %v; want nothing", sub, err)
	}

	_, rel := release(t, 1)
	for _, tc := range []struct {
		name    string
		entries [][]byte
		status  int
		msg     string
	}{
		{"unknown key", [][]byte{probe(t, origin, now, 2, fwtest.Stranger)}, http.StatusForbidden, "key"},
		{"release key", [][]byte{probe(t, origin, now, 3, rel1)}, http.StatusForbidden, "key"},
		{"other log", [][]byte{probe(t, "example.com/otherlog", now, 4, fwtest.Prober)}, http.StatusBadRequest, `"example.com/otherlog"`},
		{"future", [][]byte{probe(t, origin, now.Add(time.Hour), 5, fwtest.Prober)}, http.StatusBadRequest, "in the future"},
		{"stale", [][]byte{probe(t, origin, now.Add(-2*time.Hour), 8, fwtest.Prober)}, http.StatusBadRequest, "more than 1h0m0s before the log's clock"},
		{"with a release", [][]byte{rel, probe(t, origin, now, 6, fwtest.Prober)}, http.StatusBadRequest, "on its own"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, sz := l.Log.Checkpoint()
			_, err := lc.AddAll(ctx, tc.entries)
			var he *logclient.HTTPError
			status := 0
			if errors.As(err, &he) {
				status = he.Status
			}
			if status != tc.status || err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("AddAll = %v (status %d); want status %d naming %q", err, status, tc.status, tc.msg)
			}
			if _, seq, _ := l.Store.Tree(ctx); seq != sz {
				t.Errorf("a refused probe changed the log: %d entries sequenced, want %d", seq, sz)
			}
		})
	}

	// A probe key sends at most ProbeBurst probes at once (two were
	// taken above: the probe, and again): then 429 with Retry-After.
	for i := range ledger.ProbeBurst - 2 {
		if _, err := lc.Add(ctx, probe(t, origin, now, 100+i, fwtest.Prober)); err != nil {
			t.Fatalf("probe %d of the burst: %v", i, err)
		}
	}
	status, err := addStatus(t, lc, probe(t, origin, now, 200, fwtest.Prober))
	if status != http.StatusTooManyRequests || !strings.Contains(err.Error(), "faster than one every 10s") {
		t.Errorf("a probe past the burst: %v (status %d), want 429", err, status)
	}

	// A log without probe keys takes none.
	plain, plc := startLogClient(t)
	status, err = addStatus(t, plc, probe(t, origin, now, 7, fwtest.Prober))
	if status != http.StatusForbidden || !strings.Contains(err.Error(), "accepts no probes") {
		t.Errorf("a probe to a log without probe keys: %v (status %d), want 403 saying it accepts no probes", err, status)
	}
	if _, seq, _ := plain.Store.Tree(ctx); seq != 0 {
		t.Errorf("the refused probe was sequenced")
	}
}
