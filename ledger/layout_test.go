package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
	intoto "github.com/in-toto/in-toto-golang/in_toto"
)

// TestLayoutEndToEnd logs a release with its provenance, the vendor's in-toto
// layout and the links of its two steps, in one submission; a device then
// verifies the bundle under a policy that requires the layout.
func TestLayoutEndToEnd(t *testing.T) {
	ctx := context.Background()
	l := fwtest.StartLog(t, fwtest.LogOptions{
		ReleaseKeys: []*keys.PrivateKey{rel1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder}, RequireProvenance: true,
		LayoutKeys: []*keys.PublicKey{fwtest.LayoutKey.Public()},
	})
	lc := newClient(t, l)
	img := fwtest.Image("pipeline image", 3333)
	prov := build(t, img, fwtest.Builder, "https://ci.example.com/runner/v1", nil)
	layout, links := fwtest.NewPipeline(t, img).Signed(t)
	release := func(layout []byte, links ...[]byte) []byte {
		return fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
			r.Provenance = []digest.Digest{sha256.Sum256(prov)}
			d := digest.Digest(sha256.Sum256(layout))
			r.Layout = &d
			for _, lk := range links {
				r.Links = append(r.Links, sha256.Sum256(lk))
			}
		}), rel1)
	}
	var he *logclient.HTTPError

	// Refusals, each leaving nothing behind.
	if _, err := lc.Add(ctx, links[0]); !errors.As(err, &he) || !strings.Contains(he.Message, "only with a release that names it") {
		t.Errorf("a link alone = %v", err)
	}
	otherLayout := fwtest.NewPipeline(t, img)
	otherLayout.LayoutSigner = fwtest.Key("not the vendor")
	strange, _ := otherLayout.Signed(t)
	if _, err := lc.Add(ctx, strange); !errors.As(err, &he) || he.Status != 403 || !strings.Contains(he.Message, "not signed by a layout key") {
		t.Errorf("a layout by an unknown key = %v", err)
	}
	broken := fwtest.NewPipeline(t, img)
	broken.Package.Materials = map[string]intoto.HashObj{"fw.bin": fwtest.HashObj([]byte("tampered"))}
	bLayout, bLinks := broken.Signed(t)
	if _, err := lc.AddAll(ctx, [][]byte{prov, bLayout, bLinks[0], bLinks[1], release(bLayout, bLinks...)}); !errors.As(err, &he) || he.Status != 403 || !strings.Contains(he.Message, "in-toto layout verification failed") {
		t.Errorf("a supply chain whose artifact rules break = %v", err)
	}
	if _, err := lc.AddAll(ctx, [][]byte{prov, release(layout, links...)}); !errors.As(err, &he) || !strings.Contains(he.Message, "in-toto layout") {
		t.Errorf("a release naming a layout that is not logged = %v", err)
	}
	if _, seq, _ := l.Store.Tree(ctx); seq != 0 {
		t.Fatalf("%d entries sequenced after refusals", seq)
	}

	res, err := lc.AddAll(ctx, [][]byte{release(layout, links...), links[1], prov, layout, links[0]})
	if err != nil {
		t.Fatalf("submitting the supply chain: %v", err)
	}
	if res[0].Index != 4 {
		t.Errorf("the release is at %d, want 4 (after everything it names)", res[0].Index)
	}
	l.WaitSize(t, 5)
	b, err := lc.Bundle(ctx, sha256.Sum256(img), -1)
	if err != nil {
		t.Fatal(err)
	}
	layoutPub, _ := fwtest.LayoutKey.Public().Marshal()
	relPub, _ := rel1.Public().Marshal()
	ciPub, _ := fwtest.Builder.Public().Marshal()
	files := map[string][]byte{"layout.pub": layoutPub, "release.pub": relPub, "ci.pub": ciPub}
	pol, err := provenance.ParsePolicy([]byte(`
version: 1
keys:
  vendor: {file: layout.pub}
  release: {file: release.pub}
  ci: {file: ci.pub}
builders:
  - {name: ci, id: "https://ci.example.com/runner/v1", keys: [ci]}
rules:
  - name: all
    models: ["*"]
    release: {keys: [release]}
    provenance: {builders: [ci]}
    layout: {keys: [vendor]}
`), func(n string) ([]byte, error) { return files[n], nil })
	if err != nil {
		t.Fatal(err)
	}
	v, err := client.VerifyBundle(ctx, client.Trust{Log: logVerifier(t), Policy: pol, Model: "acme-x1"}, b, bytes.NewReader(img))
	if err != nil {
		t.Fatalf("VerifyBundle under a layout policy: %v", err)
	}
	if v.Index != 4 {
		t.Errorf("verified index %d", v.Index)
	}
}
