// Package vectors generates the repository's testdata: deterministic keys,
// a signed release, an offline bundle, mutated bundles that must fail
// verification (with a manifest of the error each must give), and the seed
// corpora of every fuzz target. `make testdata` runs it.
//
// Everything is derived from fixed seeds, so a run reproduces the committed
// files byte for byte, with one exception: signed envelopes are made once and
// then kept (their protojson payload is not stable across builds, and signed
// data is never re-serialized), so Generate reuses any envelope already in
// testdata/.
package vectors

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/delta"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tiles"
)

// Witnesses are the keys of the three witnesses of the test vectors' policy.
// The other keys are fwtest's: LogKey, Release1, Release2 and Builder.
var Witnesses = []*keys.PrivateKey{fwtest.WitnessA, fwtest.WitnessB, fwtest.WitnessC}

// Image is the firmware image of the vectors.
var Image = fwtest.Image("fwledger test vector image", 4096)

// DeltaBase and DeltaTarget are the images of the delta seed corpus, made
// with DeltaOptions: the target has 8 bytes inserted near the start and a
// byte changed, and the delta six blocks.
var (
	DeltaBase    = fwtest.Image("fwledger delta base", 24<<10)
	DeltaTarget  = slices.Concat(DeltaBase[:100], []byte("inserted"), DeltaBase[100:9000], []byte{^DeltaBase[9000]}, DeltaBase[9001:])
	DeltaOptions = &delta.Options{BlockSize: delta.MinBlockSize, Margin: 1024}
)

// A Vector is one bundle verification case in testdata/vectors/manifest.json.
type Vector struct {
	Name string `json:"name"`
	// Bundle and Image are file names in testdata/vectors.
	Bundle string `json:"bundle"`
	Image  string `json:"image"`
	// Want is "ok" or the client error type the verification must return.
	Want string `json:"want"`
}

// must panics on error; Generate recovers and returns it.
func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// files collects the outputs by path relative to the repository root.
type files map[string][]byte

// Generate writes the testdata under root, the repository root.
func Generate(root string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("generating testdata: %v", r)
		}
	}()
	out, err := build(root)
	if err != nil {
		return err
	}
	for p, data := range out {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Paths lists the files Generate writes, relative to root.
func Paths(root string) ([]string, error) {
	out, err := build(root)
	if err != nil {
		return nil, err
	}
	var ps []string
	for p := range out {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps, nil
}

// envelope returns the envelope at testdata/name if it exists and parses, or
// makes one with mk.
func envelope(root, name string, mk func() []byte) []byte {
	if data, err := os.ReadFile(filepath.Join(root, "testdata", name)); err == nil {
		if _, err := provenance.ParseEnvelope(bytes.TrimSuffix(data, []byte("\n"))); err == nil {
			return bytes.TrimSuffix(data, []byte("\n"))
		}
	}
	return mk()
}

func keyFiles(out files, name string, k *keys.PrivateKey) {
	priv, err := k.MarshalPrivate()
	if err != nil {
		panic(err)
	}
	pub, err := k.Public().Marshal()
	if err != nil {
		panic(err)
	}
	out["testdata/keys/"+name+".key"] = priv
	out["testdata/keys/"+name+".pub"] = pub
}

func build(root string) (files, error) {
	out := files{}
	keyFiles(out, "release-1", fwtest.Release1)
	keyFiles(out, "release-2", fwtest.Release2)
	keyFiles(out, "log", fwtest.LogKey)
	keyFiles(out, "builder", fwtest.Builder)
	out["testdata/fw.bin"] = Image

	rel := envelope(root, "release.dsse.json", func() []byte {
		return must(fwtest.MakeRelease(fwtest.NewRelease(Image, nil), fwtest.Release1))
	})
	rel2 := envelope(root, "release-by-release-2.dsse.json", func() []byte {
		return must(fwtest.MakeRelease(fwtest.NewRelease(Image, nil), fwtest.Release2))
	})
	prov := envelope(root, "provenance.dsse.json", func() []byte {
		b := &provenance.Build{
			BuilderID: "https://ci.example.com/runner/v1", BuildType: provenance.BuildTypeMake,
			Source: "git+https://git.example.com/acme/fw", Ref: "refs/tags/v1.4.0",
			Commit: "0123456789abcdef0123456789abcdef01234567", Target: "acme-x1",
			Toolchains: []string{"pkg:generic/gcc@12.2.0"}, InvocationID: "https://ci.example.com/runs/42",
			StartedOn:  time.Date(2026, 11, 1, 11, 0, 0, 0, time.UTC),
			FinishedOn: time.Date(2026, 11, 1, 11, 7, 30, 0, time.UTC),
			Subjects:   []provenance.Artifact{{Name: "fw.bin", SHA256: sha256.Sum256(Image)}},
		}
		stmt, err := b.Statement()
		if err != nil {
			panic(err)
		}
		return must(fwtest.MakeEnvelope(stmt, fwtest.Builder))
	})
	out["testdata/provenance.dsse.json"] = append(bytes.Clone(prov), '\n')
	out["testdata/release.dsse.json"] = append(bytes.Clone(rel), '\n')
	out["testdata/release-by-release-2.dsse.json"] = append(bytes.Clone(rel2), '\n')

	// A tree of five entries with the release at index 3.
	others := [][]byte{[]byte("entry 0"), []byte("entry 1"), []byte("entry 2"), rel, []byte("entry 4")}
	good := must(fwtest.MakeBundle(fwtest.LogKey, others, 3))
	out["testdata/fw.bundle"] = good

	vectors := []Vector{{Name: "good", Bundle: "good.bundle", Image: "fw.bin", Want: "ok"}}
	add := func(name string, b []byte, image string, want string) {
		out["testdata/vectors/"+name+".bundle"] = b
		vectors = append(vectors, Vector{Name: name, Bundle: name + ".bundle", Image: image, Want: want})
	}
	out["testdata/vectors/good.bundle"] = good
	out["testdata/vectors/fw.bin"] = Image
	bad := bytes.Clone(Image)
	bad[0] ^= 1
	out["testdata/vectors/fw-bit-@0.bin"] = bad
	out["testdata/vectors/fw-truncated.bin"] = Image[:len(Image)-1]
	vectors = append(vectors,
		Vector{Name: "image-bit-@0", Bundle: "good.bundle", Image: "fw-bit-@0.bin", Want: "DigestError"},
		Vector{Name: "image-truncated", Bundle: "good.bundle", Image: "fw-truncated.bin", Want: "DigestError"},
	)
	add("modified-proof[0]-bit-@0", editProof(good, func(l []string) []string {
		h, _ := base64.StdEncoding.DecodeString(l[2])
		h[0] ^= 1
		l[2] = base64.StdEncoding.EncodeToString(h)
		return l
	}), "fw.bin", "InclusionError")
	add("wrong-index", editProof(good, func(l []string) []string { l[1] = "index 2"; return l }), "fw.bin", "InclusionError")
	add("proof-missing-hash", editProof(good, func(l []string) []string { return append(l[:2], l[3:]...) }), "fw.bin", "InclusionError")
	add("entry-bit-@100", editEntry(good, func(e []byte) { e[100] ^= 1 }), "fw.bin", "InclusionError")
	add("checkpoint-signature-bit", editProof(good, func(l []string) []string {
		for i, line := range l {
			if strings.HasPrefix(line, "— ") {
				name, sig, _ := strings.Cut(strings.TrimPrefix(line, "— "), " ")
				raw, _ := base64.StdEncoding.DecodeString(sig)
				raw[10] ^= 1
				l[i] = "— " + name + " " + base64.StdEncoding.EncodeToString(raw)
			}
		}
		return l
	}), "fw.bin", "CheckpointError")
	impostor := &keys.PrivateKey{Name: fwtest.LogKey.Name, Key: fwtest.Key("impostor").Key}
	add("checkpoint-by-another-key", must(fwtest.MakeBundle(impostor, others, 3)), "fw.bin", "CheckpointError")
	add("checkpoint-other-origin", must(fwtest.MakeBundle(fwtest.Key("example.com/otherlog"), others, 3)), "fw.bin", "CheckpointError")
	add("release-by-untrusted-key", must(fwtest.MakeBundle(fwtest.LogKey, [][]byte{rel2}, 0)), "fw.bin", "SignatureError")
	add("trailing-garbage", append(bytes.Clone(good), "x"...), "fw.bin", "BundleError")
	add("truncated", good[:len(good)/2], "fw.bin", "BundleError")
	add("wrong-media-type", bytes.Replace(good, []byte("bundle.v1"), []byte("bundle.v9"), 1), "fw.bin", "BundleError")
	manifest, _ := json.MarshalIndent(vectors, "", "  ")
	out["testdata/vectors/manifest.json"] = append(manifest, '\n')

	// Fuzz seed corpora.
	corpus := func(pkg, target, name string, data []byte) {
		out[filepath.Join(pkg, "testdata/fuzz", target, name)] = []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data))
	}
	corpusString := func(pkg, target, name, s string) {
		out[filepath.Join(pkg, "testdata/fuzz", target, name)] = []byte(fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s))
	}
	for _, v := range vectors {
		if v.Bundle == "good.bundle" && v.Name != "good" {
			continue
		}
		b := out["testdata/vectors/"+v.Bundle]
		corpus("bundle", "FuzzParse", v.Name, b)
		corpus("client", "FuzzVerifyBundle", v.Name, b)
		if parsed, err := bundle.Parse(b); err == nil {
			corpus("bundle", "FuzzParseProof", v.Name, parsed.Release.Proof.Marshal())
			corpus("tlogpolicy", "FuzzVerifyCheckpoint", v.Name, parsed.Checkpoint())
		}
	}
	for name, env := range map[string][]byte{"release": rel, "release-2": rel2, "provenance": prov} {
		corpus("provenance", "FuzzParseEnvelope", name, env)
		corpus("provenance", "FuzzParseEntry", name, env)
		corpus("internal/strictjson", "FuzzCheck", name, env)
		corpus("provenance", "FuzzCanonicalize", name, env)
		var indented bytes.Buffer
		json.Indent(&indented, env, "", "  ")
		corpus("provenance", "FuzzCanonicalize", name+"-indented", append(indented.Bytes(), '\n'))
		e, err := provenance.ParseEnvelope(env)
		if err != nil {
			return nil, err
		}
		if name == "provenance" {
			corpus("provenance", "FuzzParseProvenance", name, e.Body)
		} else {
			corpus("provenance", "FuzzParseRelease", name, e.Body)
		}
		corpus("internal/strictjson", "FuzzCheck", name+"-statement", e.Body)
	}
	// A probe, made once and then read back (protojson's output is not
	// stable from one build to the next).
	probeEnv := envelope(root, "probe.dsse.json", func() []byte {
		probe := &provenance.Probe{Origin: fwtest.LogKey.Name, Nonce: digest.Sum([]byte("probe 1")), Created: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
		return must(fwtest.MakeEnvelope(must(probe.Statement()), fwtest.Prober))
	})
	out["testdata/probe.dsse.json"] = append(bytes.Clone(probeEnv), '\n')
	probeParsed, err := provenance.ParseEnvelope(probeEnv)
	if err != nil {
		return nil, err
	}
	corpus("provenance", "FuzzParseEntry", "probe", probeEnv)
	corpus("provenance", "FuzzParseProbe", "probe", probeParsed.Body)
	corpusString("digest", "FuzzParse", "image", digest.Sum(Image).String())
	if err := deltaSeeds(corpus); err != nil {
		return nil, err
	}
	// in-toto metadata: fixed expiry, so that the signed bytes are
	// reproducible.
	for name, data := range inTotoSeeds() {
		corpus("provenance", "FuzzParseEntry", name, data)
	}
	if example, err := os.ReadFile(filepath.Join(root, "docs/policy.example.yaml")); err == nil {
		corpus("provenance", "FuzzParsePolicy", "example", example)
	}
	for _, name := range []string{"release-1", "log"} {
		corpus("keys", "FuzzParsePublic", name, out["testdata/keys/"+name+".pub"])
		corpus("keys", "FuzzParsePrivate", name, out["testdata/keys/"+name+".key"])
	}
	for i, p := range []string{"tile/0/000", "tile/2/x001/x234/067.p/255", "tile/entries/x123/456.p/1", "tile/0/1", "tile/00/000", "tile/0/000.p/0"} {
		corpusString("tiles", "FuzzParsePath", fmt.Sprintf("path-%d", i), p)
	}
	var eb []byte
	for _, e := range others {
		eb, _ = tiles.AppendEntry(eb, e)
	}
	corpus("tiles", "FuzzSplitBundle", "five-entries", eb)
	corpus("tiles", "FuzzExpand", "three-hashes", bytes.Repeat([]byte{7}, 3*tiles.HashSize))

	// Witnesses: a 2-of-3 tlog-policy, and the add-checkpoint requests a
	// log sends (first contact, and an update with a consistency proof).
	st := &seedTB{}
	policy := fwtest.WitnessPolicy(st, fwtest.LogKey, 2, Witnesses,
		"http://127.0.0.1:8181", "http://127.0.0.1:8182", "http://127.0.0.1:8183")
	out["testdata/witness-policy.txt"] = policy
	corpus("tlogpolicy", "FuzzParse", "two-of-three", policy)
	nested := fmt.Sprintf("log %s\nwitness X1 %s\nwitness X2 %s\ngroup X-witnesses 2 X1 X2\nwitness Y1 %s\ngroup Y-witnesses any Y1\ngroup X-and-Y all X-witnesses Y-witnesses\nquorum X-and-Y\n",
		string(must(logVKey())), fwtest.CosignerVKey(st, Witnesses[0]), fwtest.CosignerVKey(st, Witnesses[1]), fwtest.CosignerVKey(st, Witnesses[2]))
	corpus("tlogpolicy", "FuzzParse", "nested", []byte(nested))
	corpus("tlogpolicy", "FuzzPolicyVerifyCheckpoint", "log-signed-only", fwtest.SignCheckpoint(st, fwtest.LogKey, 9, tiles.EmptyRoot()))
	corpus("tlogpolicy", "FuzzParse", "none", []byte("# no witnesses\nquorum none\n"))
	corpus("witness", "FuzzParseLogList", "two-logs", []byte(fmt.Sprintf("# logs this witness follows\nlog %s\n\tlog %s http://127.0.0.1:8080\n",
		string(must(logVKey())), func() string { v, _ := fwtest.Key("example.com/otherlog").Public().VerifierKey(); return v }())))
	for name, body := range witnessRequests(st) {
		corpus("witness", "FuzzParseAddCheckpoint", name, body)
	}
	reportSeeds(st, corpus)
	deviceSeeds(st, corpus)
	return out, nil
}

// deltaSeeds adds the seed corpora of package delta: a delta from DeltaBase
// to DeltaTarget, and mutations that Apply must refuse.
func deltaSeeds(corpus func(pkg, target, name string, data []byte)) error {
	var d bytes.Buffer
	if err := delta.Create(&d, bytes.NewReader(DeltaBase), int64(len(DeltaBase)), bytes.NewReader(DeltaTarget), int64(len(DeltaTarget)), DeltaOptions); err != nil {
		return err
	}
	good := d.Bytes()
	corpus("delta", "FuzzParseHeader", "good", good[:delta.HeaderSize])
	for name, data := range map[string][]byte{
		"good":                   good,
		"header-only":            good[:delta.HeaderSize],
		"truncated":              good[:len(good)-10],
		"trailing-garbage":       append(bytes.Clone(good), 'x'),
		"frame-bit-@130":         flipBit(good, 130),
		"window-offset-bit-@107": flipBit(good, delta.HeaderSize+7),
		"target-digest-bit-@60":  flipBit(good, 60),
	} {
		corpus("delta", "FuzzApply", name, data)
	}
	return nil
}

func flipBit(b []byte, at int) []byte {
	b = bytes.Clone(b)
	b[at] ^= 1
	return b
}

func editBundle(b []byte, f func(rel map[string]any)) []byte {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	f(m["release"].(map[string]any))
	out, _ := json.MarshalIndent(m, "", "  ")
	return out
}

func editProof(b []byte, f func([]string) []string) []byte {
	return editBundle(b, func(rel map[string]any) {
		lines := strings.Split(rel["proof"].(string), "\n")
		rel["proof"] = strings.Join(f(lines), "\n")
	})
}

func editEntry(b []byte, f func([]byte)) []byte {
	return editBundle(b, func(rel map[string]any) {
		e, _ := base64.StdEncoding.DecodeString(rel["entry"].(string))
		f(e)
		rel["entry"] = base64.StdEncoding.EncodeToString(e)
	})
}

// witnessRequests returns add-checkpoint request bodies for the test log:
// a first contact (old 0) and an update from size 3 to 5 with its
// consistency proof.
func witnessRequests(t *seedTB) map[string][]byte {
	leaves := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d"), []byte("e")}
	root3, root5, proof := fwtest.TreeConsistency(leaves, 3)
	first := append([]byte("old 0\n\n"), fwtest.SignCheckpoint(t, fwtest.LogKey, 3, root3)...)
	update := []byte("old 3\n")
	for _, h := range proof {
		update = append(update, base64.StdEncoding.EncodeToString(h)+"\n"...)
	}
	update = append(update, '\n')
	update = append(update, fwtest.SignCheckpoint(t, fwtest.LogKey, 5, root5)...)
	return map[string][]byte{"first-contact": first, "update": update}
}

// inTotoSeeds returns a signed in-toto layout and link, made reproducibly
// (Ed25519 signatures are deterministic and the layout's expiry is fixed).
func inTotoSeeds() map[string][]byte {
	t := &seedTB{}
	p := fwtest.NewPipeline(t, Image)
	p.Layout.Expires = "2036-01-01T00:00:00Z"
	layout, links := p.Signed(t)
	return map[string][]byte{"intoto-layout": layout, "intoto-link": links[0]}
}

// seedTB is enough of a testing.TB for the testutil helpers the generator
// uses; a failure panics and Generate returns it.
type seedTB struct{ testing.TB }

func (*seedTB) Helper()           {}
func (*seedTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

func logVKey() ([]byte, error) {
	v, err := fwtest.LogKey.Public().VerifierKey()
	return []byte(v), err
}
