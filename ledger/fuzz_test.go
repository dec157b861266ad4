package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/ledger"
	"github.com/fwledger/fwledger/provenance"
)

// submitPool is the set of entries FuzzSubmit mixes: valid ones, and ones
// that are refused for each of the reasons the log knows.
func submitPool(t testing.TB) [][]byte {
	ctx := context.Background()
	img, prov := ciBuild(t, "fuzzed image", 1500)
	rb := build(t, img, fwtest.Rebuilder, "https://rebuild.example.org/worker", nil)
	layout, links := fwtest.NewPipeline(t, img).Signed(t)
	stray := fwtest.SignMetablock(t, fwtest.NewPipeline(t, img).Build, fwtest.Stranger)
	rel := releaseOf(t, img, prov)
	cosigned, err := provenance.AddSignature(ctx, rel, fwtest.Signer(t, rel2))
	if err != nil {
		t.Fatal(err)
	}
	withLayout := layoutRelease(t, img, prov, layout, links, func(r *provenance.Release) { r.Version = "1.4.2" })
	return [][]byte{
		prov, rb, rel, cosigned, layout, links[0], links[1], withLayout,
		releaseOf(t, img, stray),  // endorses a link as provenance
		releaseOf(t, img, layout), // endorses a layout as provenance
		stray,                     // a link no release names
		fwtest.SignRelease(t, fwtest.NewRelease(img, nil), rel1),     // endorses nothing
		build(t, img, fwtest.Stranger, "https://evil.example/", nil), // unknown builder
		append(bytes.Clone(rel), '\n'),                               // not canonical
	}
}

// FuzzSubmit sends random mixes of valid and invalid entries (from a pool,
// mutated, or raw fuzz bytes) through the whole submission path of a real
// log. It must never panic; a refused submission changes nothing; an
// accepted one logs each entry at the index it was given (or names a
// logged entry of the same statement), and every release it logged has
// its endorsed provenance logged too.
func FuzzSubmit(f *testing.F) {
	l := fwtest.StartLog(f, fwtest.LogOptions{
		ReleaseKeys: []*keys.PrivateKey{rel1, rel2}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder, fwtest.Rebuilder}, RequireProvenance: true,
		LayoutKeys: []*keys.PublicKey{fwtest.LayoutKey.Public()},
	})
	pool := submitPool(f)
	f.Add([]byte{10, 8}, []byte(nil))          // a link and a release endorsing it: once a panic
	f.Add([]byte{0, 2}, []byte(nil))           // provenance and its release
	f.Add([]byte{0, 4, 5, 6, 7}, []byte(nil))  // a supply chain
	f.Add([]byte{0, 2, 3, 3, 13}, []byte(nil)) // co-signed, twice, and a copy in other bytes
	f.Add([]byte{0, 14, 2}, []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"AA=="}]}`))
	f.Add([]byte{15, 2}, []byte{0, 77}) // a mutated entry
	f.Fuzz(func(t *testing.T, sel, raw []byte) {
		ctx := context.Background()
		if len(sel) == 0 || len(sel) > ledger.MaxBatch {
			return
		}
		var entries [][]byte
		for i, b := range sel {
			switch k := int(b) % (len(pool) + 2); {
			case k < len(pool):
				entries = append(entries, pool[k])
			case k == len(pool):
				entries = append(entries, raw)
			default:
				e := bytes.Clone(pool[i%len(pool)])
				if len(raw) >= 2 {
					pos := (int(raw[0])<<8 | int(raw[1])) % len(e)
					e[pos] ^= 1 << (raw[len(raw)-1] % 8)
				}
				entries = append(entries, e)
			}
		}
		_, before, err := l.Store.Tree(ctx)
		if err != nil {
			t.Fatal(err)
		}
		res, err := l.AddAll(ctx, entries)
		_, after, _ := l.Store.Tree(ctx)
		if err != nil {
			if after != before {
				t.Fatalf("a refused submission (%v) sequenced %d entries", err, after-before)
			}
			var ee *ledger.EntryError
			if errors.As(err, &ee) && (ee.Entry < 0 || ee.Entry >= len(entries)) {
				t.Fatalf("the refusal names entry %d of %d", ee.Entry, len(entries))
			}
			return
		}
		for i, r := range res {
			got, err := l.Store.ReadEntry(ctx, r.Index)
			if err != nil {
				t.Fatalf("entry %d's index %d: %v", i, r.Index, err)
			}
			if r.Index < before || bytes.Equal(got, entries[i]) {
				if r.Index >= before && !bytes.Equal(got, entries[i]) {
					t.Fatalf("entry %d is logged at %d with other bytes", i, r.Index)
				}
				continue
			}
			// A duplicate within the submission: the same statement.
			a, _ := provenance.ParseEntry(entries[i])
			b, _ := provenance.ParseEntry(got)
			if a == nil || b == nil || a.Statement != b.Statement {
				t.Fatalf("entry %d was answered with index %d, which holds another statement", i, r.Index)
			}
		}
		for i, e := range entries {
			pe, err := provenance.ParseEntry(e)
			if err != nil || pe.Kind != provenance.KindRelease {
				continue
			}
			for _, d := range pe.Release.Provenance {
				if n, err := l.Store.Lookup(ctx, append([]byte{2}, d[:]...), -1, 1); err != nil || len(n) == 0 {
					t.Fatalf("release %d was logged, but the provenance %s it endorses is not", i, d)
				}
			}
		}
	})
}
