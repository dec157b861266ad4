package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/provenance"
)

// TestReviewReferenceReleaseUnaudited (review13, finding 2).
//
// The auditor skips every leaf that parses as an entry reference
// (audit/rules.go judge: "if p.reference { return nil }"): it never
// fetches the referenced bytes and never judges them. A device, however,
// accepts a release whose leaf is a reference and whose bundle carries
// the release as "content" (bundle.Parse allows content on the release;
// client/verify.go only checks that the content hashes to the reference;
// nothing requires the content to be a Sigstore bundle or a provenance).
//
// So a log operator holding the log key, together with a stolen release
// key (DESIGN threat 3 with an insider), logs a malicious release as a
// 100-byte reference leaf: it is in the log, witnesses cosign it, devices
// install it, and the auditor raises nothing. The control case (the same
// release logged as it is) raises the equivocation alert.
func TestReviewReferenceReleaseUnaudited(t *testing.T) {
	ctx := context.Background()
	imgA, imgB := fwtest.Image("genuine 1.0.0", 2000), fwtest.Image("malicious 1.0.0", 2000)
	provA, provB := fwtest.Provenance(t, imgA, fwtest.Builder), fwtest.Provenance(t, imgB, fwtest.Builder)
	rel := func(img, prov []byte) []byte {
		return fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
			r.Version, r.SecurityVersion = "1.0.0", 1
			r.Provenance = []digest.Digest{sha256.Sum256(prov)}
		}), fwtest.Release1)
	}
	relA, relB := rel(imgA, provA), rel(imgB, provB) // relB: a second image for acme-x1 1.0.0

	for _, tc := range []struct {
		name string
		leaf []byte
	}{
		{"control: the malicious release logged as it is", relB},
		{"the malicious release logged as a reference leaf", provenance.ReferenceTo(relB).Marshal()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeLog(t)
			f.add(t, provA, relA, provB, tc.leaf)
			cp := f.publish(t, 4)
			// The log serves the release as the reference's content.
			f.hook = func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/v1/entries/3" {
					return false
				}
				json.NewEncoder(w).Encode(map[string]any{"index": 3, "data": tc.leaf, "content": relB})
				return true
			}
			a := plainAuditor(t, f.srv.URL, nil)
			res, err := a.Step(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("auditor: verified %d entries, alerts %v", res.Size, types(res.Alerts))

			// A device is given the bundle of index 3, with the release as
			// the reference's content.
			b := f.tree.BundleUnder(t, cp, 3, -1, 2)
			if !bytes.Equal(tc.leaf, relB) {
				var m map[string]any
				json.Unmarshal(b, &m)
				m["release"].(map[string]any)["content"] = base64.StdEncoding.EncodeToString(relB)
				b, _ = json.Marshal(m)
			}
			trust := client.Trust{Log: logVerifier(t), ReleaseKeys: fwtest.Ring(t, fwtest.Release1), BuilderKeys: fwtest.Ring(t, fwtest.Builder), RequireProvenance: true, Model: "acme-x1"}
			v, derr := client.VerifyBundle(ctx, trust, b, bytes.NewReader(imgB))
			if derr != nil {
				t.Logf("device refuses the malicious release: %v", derr)
			} else {
				t.Logf("device ACCEPTS the malicious release %s %s", v.Release.Version, v.Release.Image)
			}
			if derr == nil && len(res.Alerts) == 0 {
				t.Errorf("UNAUDITED: a device installs the second image of acme-x1 1.0.0, and the auditor raised no alert")
			}
			if !bytes.Equal(tc.leaf, relB) && (derr == nil || len(res.Alerts) != 1 || res.Alerts[0].Type != audit.TypeUnparseable) {
				t.Errorf("a release behind a reference: device error %v, alerts %v; want it refused, and one unparseable alert", derr, types(res.Alerts))
			}

			if !bytes.Equal(tc.leaf, relB) {
				// The same leaf also makes a third party's "unparseable"
				// alert verify: a reference is not an entry ParseEntry
				// takes, though the log and devices take it.
				pb, err := bundle.Parse(b)
				if err != nil {
					t.Fatal(err)
				}
				var proof [][]byte
				for _, h := range pb.Release.Proof.Hashes {
					proof = append(proof, bytes.Clone(h[:]))
				}
				idx := uint64(3)
				forged := &audit.Alert{Type: audit.TypeUnparseable, Index: &idx, Evidence: audit.Evidence{
					Checkpoints: [][]byte{cp}, Entries: []audit.EvidenceEntry{{Index: 3, Data: tc.leaf, Proof: proof}}}}
				if left, err := audit.VerifyEvidence(forged, logVerifier(t), nil); err == nil {
					t.Errorf("FORGED: verify-evidence accepts an 'unparseable' alert about a well-formed reference leaf (left unchecked: %q)", left)
				}
			}
		})
	}
}
