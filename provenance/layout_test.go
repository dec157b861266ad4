package provenance_test

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	intoto "github.com/in-toto/in-toto-golang/in_toto"
)

type pipeline = fwtest.Pipeline

func newPipeline(t testing.TB, image []byte) *pipeline { return fwtest.NewPipeline(t, image) }

func hashObj(data []byte) intoto.HashObj { return fwtest.HashObj(data) }

func entries(t testing.TB, p *pipeline) (*provenance.Entry, []*provenance.Entry) {
	parse := func(data []byte) *provenance.Entry {
		e, err := provenance.ParseEntry(data)
		if err != nil {
			t.Fatalf("ParseEntry: %v", err)
		}
		return e
	}
	layout, links := p.Signed(t)
	return parse(layout), []*provenance.Entry{parse(links[0]), parse(links[1])}
}

func TestVerifyLayout(t *testing.T) {
	image := fwtest.Image("layout image", 2048)
	d := digest.Digest(sha256.Sum256(image))
	vendor := []*keys.PublicKey{fwtest.LayoutKey.Public()}
	now := time.Now()
	for _, tc := range []struct {
		desc        string
		edit        func(p *pipeline)
		layoutKeys  []*keys.PublicKey
		productStep string
		drop        int // drop link i (1-based; 0 none)
		msg         string
	}{
		{desc: "good", layoutKeys: vendor},
		{desc: "good, explicit product step", layoutKeys: vendor, productStep: "package"},
		{desc: "layout signed by another key", layoutKeys: []*keys.PublicKey{fwtest.Key("someone").Public()}, msg: "layout signature"},
		{desc: "layout expired", layoutKeys: vendor, edit: func(p *pipeline) { p.Layout.Expires = "2020-01-01T00:00:00Z" }, msg: "expired"},
		{desc: "link signed by an unauthorized functionary", layoutKeys: vendor, edit: func(p *pipeline) { p.PackageKey = fwtest.BuildFunc }, msg: "package"},
		{desc: "a step's link missing", layoutKeys: vendor, drop: 1, msg: "build"},
		{desc: "artifact rule broken between steps", layoutKeys: vendor, edit: func(p *pipeline) {
			p.Package.Materials = map[string]intoto.HashObj{"fw.bin": hashObj([]byte("something else"))}
		}, msg: "fw.bin"},
		{desc: "image not among the products", layoutKeys: vendor, edit: func(p *pipeline) {
			p.Package.Products = map[string]intoto.HashObj{"fw.signed.bin": hashObj([]byte("another image"))}
		}, msg: "is not among the products"},
		{desc: "product step unknown", layoutKeys: vendor, productStep: "deploy", msg: `no step "deploy"`},
		{desc: "layout with an inspection", layoutKeys: vendor, edit: func(p *pipeline) {
			p.Layout.Inspect = []intoto.Inspection{{Type: "inspection", Run: []string{"true"}, SupplyChainItem: intoto.SupplyChainItem{Name: "check"}}}
		}, msg: "never runs commands"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p := newPipeline(t, image)
			if tc.edit != nil {
				tc.edit(p)
			}
			layout, links := entries(t, p)
			if layout.Kind != provenance.KindLayout || links[0].Kind != provenance.KindLink {
				t.Fatalf("kinds %s, %s", layout.Kind, links[0].Kind)
			}
			if tc.drop > 0 {
				links = append(links[:tc.drop-1], links[tc.drop:]...)
			}
			err := provenance.VerifyLayout(layout, links, tc.layoutKeys, d, tc.productStep, now)
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("VerifyLayout: %v", err)
				}
				return
			}
			var le *provenance.LayoutError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("VerifyLayout = %v, want a LayoutError containing %q", err, tc.msg)
			}
		})
	}
}

func TestParseMetablockRejects(t *testing.T) {
	p := newPipeline(t, []byte("x"))
	good := fwtest.SignMetablock(t, p.Build, fwtest.BuildFunc)
	var m map[string]any
	json.Unmarshal(good, &m)
	m["extra"] = 1
	extra, _ := json.Marshal(m)
	for desc, data := range map[string][]byte{
		"extra top-level field": extra,
		"unknown _type":         []byte(`{"signed":{"_type":"policy"},"signatures":[{"keyid":"a","sig":"00"}]}`),
		"no signatures":         []byte(`{"signed":{"_type":"link","name":"x"},"signatures":[]}`),
		"unknown link field":    []byte(`{"signed":{"_type":"link","name":"x","colour":1},"signatures":[{"keyid":"a","sig":"00"}]}`),
	} {
		if _, err := provenance.ParseEntry(data); err == nil {
			t.Errorf("ParseEntry(%s) succeeded", desc)
		}
	}
}

// TestPolicyLayoutRule evaluates a rule that requires an in-toto layout.
func TestPolicyLayoutRule(t *testing.T) {
	image := polImage
	p := newPipeline(t, image)
	layout, links := entries(t, p)
	prov := provEntry(t, fwtest.Builder, "https://ci.example.com/runner/v1", nil)
	load := files(t)
	layoutPub, _ := fwtest.LayoutKey.Public().Marshal()
	pol, err := provenance.ParsePolicy([]byte(`
version: 1
keys:
  release-1: {file: keys/release-1.pub}
  ci: {file: keys/ci.pub}
  vendor-layout: {file: keys/layout.pub}
builders:
  - {name: ci, id: "https://ci.example.com/runner/v1", keys: [ci]}
rules:
  - name: pipeline
    models: [acme-x1]
    release: {keys: [release-1]}
    provenance: {builders: [ci]}
    layout: {keys: [vendor-layout], productStep: package}
`), func(n string) ([]byte, error) {
		if n == "keys/layout.pub" {
			return layoutPub, nil
		}
		return load(n)
	})
	if err != nil {
		t.Fatal(err)
	}
	rel := func(layout *provenance.Entry, links ...*provenance.Entry) *provenance.Entry {
		r := fwtest.NewRelease(image, func(r *provenance.Release) {
			r.Provenance = []digest.Digest{prov.Digest}
			if layout != nil {
				r.Layout = &layout.Digest
			}
			for _, l := range links {
				r.Links = append(r.Links, l.Digest)
			}
		})
		e, err := provenance.ParseEntry(fwtest.SignRelease(t, r, fwtest.Release1))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	ev := func(layout *provenance.Entry, links ...*provenance.Entry) []*provenance.Entry {
		return append([]*provenance.Entry{prov, layout}, links...)
	}
	for _, tc := range []struct {
		desc    string
		release *provenance.Entry
		ev      []*provenance.Entry
		msg     string
	}{
		{"layout verified", rel(layout, links...), ev(layout, links...), ""},
		{"release names no layout", rel(nil), ev(layout, links...), "names no in-toto layout"},
		{"layout not available", rel(layout, links...), ev(nil, links...), "is not available"},
		{"a link not available", rel(layout, links...), ev(layout, links[0]), "is not available"},
		{"release names only one link", rel(layout, links[0]), ev(layout, links...), "package"},
	} {
		rep := evaluate(t, pol, "acme-x1", tc.release, tc.ev, provenance.EvalOptions{})
		if tc.msg == "" {
			if !rep.OK() {
				t.Errorf("%s: report fails:\n%s", tc.desc, rep)
			}
			continue
		}
		if rep.OK() || !strings.Contains(rep.String(), tc.msg) {
			t.Errorf("%s: want a failing layout check with %q:\n%s", tc.desc, tc.msg, rep)
		}
	}
}
