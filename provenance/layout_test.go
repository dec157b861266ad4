package provenance_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/internal/testutil"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	intoto "github.com/in-toto/in-toto-golang/in_toto"
)

var (
	vendorLayoutKey = testutil.Key("vendor.example.com/layout")
	buildFunc       = testutil.Key("build-farm.example.com/f1")
	signFunc        = testutil.Key("signing.example.com/f2")
)

// itKey returns k in in-toto's form, with the private half if private.
func itKey(t testing.TB, k *keys.PrivateKey, private bool) intoto.Key {
	sk, err := k.SSLib()
	if err != nil {
		t.Fatal(err)
	}
	out := intoto.Key{KeyID: sk.KeyID, KeyIDHashAlgorithms: sk.KeyIDHashAlgorithms, KeyType: sk.KeyType, Scheme: sk.Scheme, KeyVal: intoto.KeyVal{Public: sk.KeyVal.Public}}
	if private {
		out.KeyVal.Private = sk.KeyVal.Private
	}
	return out
}

func signMetablock(t testing.TB, signed any, k *keys.PrivateKey) []byte {
	mb := intoto.Metablock{Signed: signed}
	if err := mb.Sign(itKey(t, k, true)); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(mb)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func hashObj(data []byte) intoto.HashObj {
	h := sha256.Sum256(data)
	return intoto.HashObj{"sha256": hex.EncodeToString(h[:])}
}

// A pipeline is a two-step supply chain: "build" turns sources into fw.bin,
// "package" signs fw.bin into fw.signed.bin, the released image.
type pipeline struct {
	layout        intoto.Layout
	build, pack   intoto.Link
	buildKey, pkg *keys.PrivateKey
}

func newPipeline(t testing.TB, image []byte) *pipeline {
	unsigned := []byte("the unsigned firmware")
	p := &pipeline{buildKey: buildFunc, pkg: signFunc}
	bk, sk := itKey(t, buildFunc, false), itKey(t, signFunc, false)
	p.layout = intoto.Layout{
		Type:    "layout",
		Expires: time.Now().Add(365 * 24 * time.Hour).UTC().Format(intoto.ISO8601DateSchema),
		Keys:    map[string]intoto.Key{bk.KeyID: bk, sk.KeyID: sk},
		Steps: []intoto.Step{
			{Type: "step", PubKeys: []string{bk.KeyID}, Threshold: 1, SupplyChainItem: intoto.SupplyChainItem{
				Name:              "build",
				ExpectedMaterials: [][]string{{"ALLOW", "src/*"}, {"DISALLOW", "*"}},
				ExpectedProducts:  [][]string{{"ALLOW", "fw.bin"}, {"DISALLOW", "*"}},
			}},
			{Type: "step", PubKeys: []string{sk.KeyID}, Threshold: 1, SupplyChainItem: intoto.SupplyChainItem{
				Name:              "package",
				ExpectedMaterials: [][]string{{"MATCH", "fw.bin", "WITH", "PRODUCTS", "FROM", "build"}, {"DISALLOW", "*"}},
				ExpectedProducts:  [][]string{{"ALLOW", "fw.signed.bin"}, {"DISALLOW", "*"}},
			}},
		},
		Inspect: []intoto.Inspection{},
	}
	p.build = intoto.Link{Type: "link", Name: "build",
		Materials:  map[string]intoto.HashObj{"src/main.c": hashObj([]byte("int main(){}"))},
		Products:   map[string]intoto.HashObj{"fw.bin": hashObj(unsigned)},
		ByProducts: map[string]interface{}{}, Command: []string{"make"}, Environment: map[string]interface{}{}}
	p.pack = intoto.Link{Type: "link", Name: "package",
		Materials:  map[string]intoto.HashObj{"fw.bin": hashObj(unsigned)},
		Products:   map[string]intoto.HashObj{"fw.signed.bin": hashObj(image)},
		ByProducts: map[string]interface{}{}, Command: []string{"sign"}, Environment: map[string]interface{}{}}
	return p
}

// entries signs the pipeline's metadata and parses it as log entries.
func (p *pipeline) entries(t testing.TB) (*provenance.Entry, []*provenance.Entry) {
	parse := func(data []byte) *provenance.Entry {
		e, err := provenance.ParseEntry(data)
		if err != nil {
			t.Fatalf("ParseEntry: %v", err)
		}
		return e
	}
	layout := parse(signMetablock(t, p.layout, vendorLayoutKey))
	return layout, []*provenance.Entry{parse(signMetablock(t, p.build, p.buildKey)), parse(signMetablock(t, p.pack, p.pkg))}
}

func TestVerifyLayout(t *testing.T) {
	image := testutil.Image("layout image", 2048)
	d := provenance.Digest(sha256.Sum256(image))
	vendor := []*keys.PublicKey{vendorLayoutKey.Public()}
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
		{desc: "layout signed by another key", layoutKeys: []*keys.PublicKey{testutil.Key("someone").Public()}, msg: "layout signature"},
		{desc: "layout expired", layoutKeys: vendor, edit: func(p *pipeline) { p.layout.Expires = "2020-01-01T00:00:00Z" }, msg: "expired"},
		{desc: "link signed by an unauthorized functionary", layoutKeys: vendor, edit: func(p *pipeline) { p.pkg = buildFunc }, msg: "package"},
		{desc: "a step's link missing", layoutKeys: vendor, drop: 1, msg: "build"},
		{desc: "artifact rule broken between steps", layoutKeys: vendor, edit: func(p *pipeline) {
			p.pack.Materials = map[string]intoto.HashObj{"fw.bin": hashObj([]byte("something else"))}
		}, msg: "fw.bin"},
		{desc: "image not among the products", layoutKeys: vendor, edit: func(p *pipeline) {
			p.pack.Products = map[string]intoto.HashObj{"fw.signed.bin": hashObj([]byte("another image"))}
		}, msg: "is not among the products"},
		{desc: "product step unknown", layoutKeys: vendor, productStep: "deploy", msg: `no step "deploy"`},
		{desc: "layout with an inspection", layoutKeys: vendor, edit: func(p *pipeline) {
			p.layout.Inspect = []intoto.Inspection{{Type: "inspection", Run: []string{"true"}, SupplyChainItem: intoto.SupplyChainItem{Name: "check"}}}
		}, msg: "never runs commands"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p := newPipeline(t, image)
			if tc.edit != nil {
				tc.edit(p)
			}
			layout, links := p.entries(t)
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
	good := signMetablock(t, p.build, buildFunc)
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
