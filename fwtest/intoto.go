package fwtest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/fwledger/fwledger/keys"
	intoto "github.com/in-toto/in-toto-golang/in_toto"
)

// Keys of in-toto test pipelines.
var (
	LayoutKey   = Key("vendor.example.com/layout")
	BuildFunc   = Key("build-farm.example.com/f1")
	PackageFunc = Key("signing.example.com/f2")
)

// InTotoKey returns k in in-toto's key form, with its private half if
// private.
func InTotoKey(t testing.TB, k *keys.PrivateKey, private bool) intoto.Key {
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

// SignMetablock signs in-toto metadata (a Layout or a Link) with k and
// returns its JSON.
func SignMetablock(t testing.TB, signed any, k *keys.PrivateKey) []byte {
	mb := intoto.Metablock{Signed: signed}
	if err := mb.Sign(InTotoKey(t, k, true)); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(mb)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// HashObj is an in-toto artifact hash of data.
func HashObj(data []byte) intoto.HashObj {
	h := sha256.Sum256(data)
	return intoto.HashObj{"sha256": hex.EncodeToString(h[:])}
}

// A Pipeline is a two-step in-toto supply chain: "build" turns sources into
// fw.bin, "package" signs fw.bin into fw.signed.bin, the released image.
type Pipeline struct {
	Layout               intoto.Layout
	Build, Package       intoto.Link
	BuildKey, PackageKey *keys.PrivateKey
	LayoutSigner         *keys.PrivateKey
}

// NewPipeline returns a pipeline whose final product is image.
func NewPipeline(t testing.TB, image []byte) *Pipeline {
	unsigned := []byte("the unsigned firmware")
	p := &Pipeline{BuildKey: BuildFunc, PackageKey: PackageFunc, LayoutSigner: LayoutKey}
	bk, sk := InTotoKey(t, BuildFunc, false), InTotoKey(t, PackageFunc, false)
	p.Layout = intoto.Layout{
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
	p.Build = intoto.Link{Type: "link", Name: "build",
		Materials:  map[string]intoto.HashObj{"src/main.c": HashObj([]byte("int main(){}"))},
		Products:   map[string]intoto.HashObj{"fw.bin": HashObj(unsigned)},
		ByProducts: map[string]interface{}{}, Command: []string{"make"}, Environment: map[string]interface{}{}}
	p.Package = intoto.Link{Type: "link", Name: "package",
		Materials:  map[string]intoto.HashObj{"fw.bin": HashObj(unsigned)},
		Products:   map[string]intoto.HashObj{"fw.signed.bin": HashObj(image)},
		ByProducts: map[string]interface{}{}, Command: []string{"sign"}, Environment: map[string]interface{}{}}
	return p
}

// Signed returns the signed layout and links (build, package) as entry
// bytes.
func (p *Pipeline) Signed(t testing.TB) (layout []byte, links [][]byte) {
	return SignMetablock(t, p.Layout, p.LayoutSigner), [][]byte{SignMetablock(t, p.Build, p.BuildKey), SignMetablock(t, p.Package, p.PackageKey)}
}
