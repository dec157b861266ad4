// Package bundle defines the offline proof bundle a device verifies before it
// installs firmware: the exact logged release envelope and a C2SP tlog-proof
// (https://c2sp.org/tlog-proof) of its inclusion under a signed checkpoint.
//
// # Format
//
// A bundle is one JSON object (docs/FORMATS.md):
//
//	{
//	  "mediaType": "application/vnd.fwledger.bundle.v1+json",
//	  "release": {
//	    "entry": "<standard base64 of the exact logged envelope bytes>",
//	    "proof": "c2sp.org/tlog-proof@v1\nindex 5\n<hashes>\n\n<checkpoint>"
//	  },
//	  "provenance": [
//	    {"entry": "<base64 of a provenance envelope>", "proof": "c2sp.org/tlog-proof@v1\nindex 4\n..."}
//	  ],
//	  "revocations": [
//	    {"entry": "<base64 of a revocation envelope>", "proof": "c2sp.org/tlog-proof@v1\nindex 2\n..."}
//	  ],
//	  "consistency": {"from": 41, "hashes": ["<base64 of a 32-byte hash>", ...]},
//	  "trust": ["<base64 of a signed device trust file>", ...]
//	}
//
// A bundle made for a device that stored a checkpoint of size N (GET
// /v1/bundles/...?from=N) carries "consistency": the RFC 6962 consistency
// proof from size N to the size of the bundle's checkpoint, so that the
// device can check that the log only grew since. It may also carry
// "trust": newer device trust files (package trust), oldest first,
// which the device verifies against the one it holds.
//
// Every proof in a bundle carries the same checkpoint. Revocations are
// every revocation the log holds below the checkpoint's size, in log
// order, so that a verifier can match them to the checkpoint's
// commitment (package revocation). Parsing checks
// structure and limits only; package client verifies.
package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/internal/strictjson"
	"github.com/fwledger/fwledger/tiles"
	"github.com/transparency-dev/formats/proof"
)

// MediaType identifies version 1 of the bundle format.
const MediaType = "application/vnd.fwledger.bundle.v1+json"

// Limits.
const (
	MaxSize = 4 << 20
	// MaxContentSize bounds an entry stored by digest (a Sigstore bundle).
	MaxContentSize = api.MaxLargeEntrySize
	MaxEntrySize   = tiles.MaxEntrySize
	MaxProofSize   = 16 << 10
	// MaxProofHashes bounds the hashes of an inclusion or consistency
	// proof. An inclusion proof in a tree below 2^63 entries needs at
	// most 63; a consistency proof at most about twice the tree's
	// height, so 64 covers trees below 2^32 entries.
	MaxProofHashes = 64
	MaxProvenance  = 8
	MaxLinks       = 16
	// MaxRevocations is the most revocations a log holds: a bundle
	// carries them all, each at most MaxRevocationSize bytes, in about
	// 1.8 MiB at most with their proofs.
	MaxRevocations = 256
	// MaxRevocationSize is the largest revocation entry a log takes.
	MaxRevocationSize = 4096
	// MaxTrustFiles and MaxTrustSize bound the device trust files a
	// bundle carries.
	MaxTrustFiles = 4
	MaxTrustSize  = 64 << 10
)

// A Bundle is a release and the provenance about its image, each with its
// proof of inclusion.
type Bundle struct {
	Release Entry
	// Provenance holds SLSA provenance statements about the released image:
	// those the release endorses and independent rebuilds.
	Provenance []Entry
	// Layout and Links are the in-toto layout and link metadata the release
	// names, if any.
	Layout *Entry
	Links  []Entry
	// Revocations are every revocation logged below the checkpoint's size,
	// in log order.
	Revocations []Entry
	// Consistency, if set, proves the bundle's checkpoint consistent with
	// an earlier size the device stored.
	Consistency *Consistency
	// Trust are signed device trust files for the device to take, oldest
	// first; the bundle vouches for nothing about them.
	Trust [][]byte
}

// A Consistency is an RFC 6962 consistency proof from the tree of size
// From to the tree of the bundle's checkpoint.
type Consistency struct {
	From   uint64
	Hashes [][]byte
}

// Bytes returns the entry itself: Content when the leaf is a reference,
// otherwise Data. Check the content against the reference first
// (provenance.Resolve).
func (e *Entry) Bytes() []byte {
	if e.Content != nil {
		return e.Content
	}
	return e.Data
}

// Entries returns every entry of the bundle: the release first.
func (b *Bundle) Entries() []*Entry {
	out := []*Entry{&b.Release}
	for i := range b.Provenance {
		out = append(out, &b.Provenance[i])
	}
	if b.Layout != nil {
		out = append(out, b.Layout)
	}
	for i := range b.Links {
		out = append(out, &b.Links[i])
	}
	for i := range b.Revocations {
		out = append(out, &b.Revocations[i])
	}
	return out
}

// An Entry is one logged entry and its tlog-proof.
type Entry struct {
	// Data is the exact logged entry bytes: the leaf.
	Data []byte
	// Content is, when the leaf is a reference to an entry stored by digest
	// (a large Sigstore bundle), the exact bytes of that entry.
	Content []byte
	// Proof is the parsed tlog-proof.
	Proof proof.TLogProof
}

type jsonBundle struct {
	MediaType  string      `json:"mediaType"`
	Release    *jsonEntry  `json:"release"`
	Provenance []jsonEntry `json:"provenance,omitempty"`
	Layout     *jsonEntry  `json:"layout,omitempty"`
	Links      []jsonEntry `json:"links,omitempty"`
	// Revocations is absent when there are none.
	Revocations []jsonEntry      `json:"revocations,omitempty"`
	Consistency *jsonConsistency `json:"consistency,omitempty"`
	Trust       [][]byte         `json:"trust,omitempty"`
}

type jsonConsistency struct {
	From   *uint64  `json:"from"`
	Hashes [][]byte `json:"hashes"`
}

type jsonEntry struct {
	Entry   []byte `json:"entry"`
	Content []byte `json:"content,omitempty"`
	Proof   string `json:"proof"`
}

// Marshal encodes b.
func (b *Bundle) Marshal() ([]byte, error) {
	jb := jsonBundle{
		MediaType: MediaType,
		Release:   &jsonEntry{Entry: b.Release.Data, Proof: string(b.Release.Proof.Marshal())},
	}
	for _, p := range b.Provenance {
		jb.Provenance = append(jb.Provenance, jsonEntry{Entry: p.Data, Content: p.Content, Proof: string(p.Proof.Marshal())})
	}
	if b.Layout != nil {
		jb.Layout = &jsonEntry{Entry: b.Layout.Data, Proof: string(b.Layout.Proof.Marshal())}
	}
	for _, l := range b.Links {
		jb.Links = append(jb.Links, jsonEntry{Entry: l.Data, Proof: string(l.Proof.Marshal())})
	}
	for _, r := range b.Revocations {
		jb.Revocations = append(jb.Revocations, jsonEntry{Entry: r.Data, Proof: string(r.Proof.Marshal())})
	}
	if c := b.Consistency; c != nil {
		jb.Consistency = &jsonConsistency{From: &c.From, Hashes: c.Hashes}
		if c.Hashes == nil {
			jb.Consistency.Hashes = [][]byte{}
		}
	}
	jb.Trust = b.Trust
	return json.MarshalIndent(jb, "", "  ")
}

// Checkpoint returns the checkpoint the bundle's proofs are under.
func (b *Bundle) Checkpoint() []byte { return b.Release.Proof.Checkpoint }

// Parse decodes a bundle, checking its structure and limits.
func Parse(data []byte) (*Bundle, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("bundle is %d bytes, more than the limit of %d", len(data), MaxSize)
	}
	if err := strictjson.Check(data); err != nil {
		return nil, err
	}
	var jb jsonBundle
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&jb); err != nil {
		return nil, fmt.Errorf("not a bundle: %w", err)
	}
	if jb.MediaType != MediaType {
		return nil, fmt.Errorf("bundle mediaType is %q, want %q", jb.MediaType, MediaType)
	}
	if jb.Release == nil {
		return nil, errors.New("bundle has no release")
	}
	rel, err := parseEntry(jb.Release)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	b := &Bundle{Release: *rel}
	if len(jb.Provenance) > MaxProvenance {
		return nil, fmt.Errorf("bundle holds %d provenance entries, more than the limit of %d", len(jb.Provenance), MaxProvenance)
	}
	if len(jb.Links) > MaxLinks {
		return nil, fmt.Errorf("bundle holds %d links, more than the limit of %d", len(jb.Links), MaxLinks)
	}
	if len(jb.Revocations) > MaxRevocations {
		return nil, fmt.Errorf("bundle holds %d revocations, more than the limit of %d", len(jb.Revocations), MaxRevocations)
	}
	same := func(what string, je *jsonEntry) (*Entry, error) {
		e, err := parseEntry(je)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if !bytes.Equal(e.Proof.Checkpoint, rel.Proof.Checkpoint) {
			return nil, fmt.Errorf("%s is proven under another checkpoint than the release", what)
		}
		return e, nil
	}
	for i := range jb.Provenance {
		e, err := same(fmt.Sprintf("provenance[%d]", i), &jb.Provenance[i])
		if err != nil {
			return nil, err
		}
		b.Provenance = append(b.Provenance, *e)
	}
	if jb.Layout != nil {
		if b.Layout, err = same("layout", jb.Layout); err != nil {
			return nil, err
		}
	}
	for i := range jb.Links {
		e, err := same(fmt.Sprintf("links[%d]", i), &jb.Links[i])
		if err != nil {
			return nil, err
		}
		b.Links = append(b.Links, *e)
	}
	for i := range jb.Revocations {
		e, err := same(fmt.Sprintf("revocations[%d]", i), &jb.Revocations[i])
		if err != nil {
			return nil, err
		}
		if e.Content != nil {
			return nil, fmt.Errorf("revocations[%d] comes with content: a revocation is a DSSE envelope logged as it is", i)
		}
		if len(e.Data) > MaxRevocationSize {
			return nil, fmt.Errorf("revocations[%d] is %d bytes, more than the limit of %d", i, len(e.Data), MaxRevocationSize)
		}
		if i > 0 && e.Proof.Index <= b.Revocations[i-1].Proof.Index {
			return nil, fmt.Errorf("revocations[%d] is not after revocations[%d] in the log: revocations are in log order", i, i-1)
		}
		b.Revocations = append(b.Revocations, *e)
	}
	if jc := jb.Consistency; jc != nil {
		if jc.From == nil || jc.Hashes == nil {
			return nil, errors.New("consistency needs both from and hashes")
		}
		if *jc.From >= 1<<63 {
			return nil, fmt.Errorf("consistency from %d is not below 2^63", *jc.From)
		}
		if len(jc.Hashes) > MaxProofHashes {
			return nil, fmt.Errorf("consistency proof has %d hashes, more than %d", len(jc.Hashes), MaxProofHashes)
		}
		for i, h := range jc.Hashes {
			if len(h) != sha256.Size {
				return nil, fmt.Errorf("consistency hash %d is %d bytes, want %d", i, len(h), sha256.Size)
			}
		}
		b.Consistency = &Consistency{From: *jc.From, Hashes: jc.Hashes}
	}
	if len(jb.Trust) > MaxTrustFiles {
		return nil, fmt.Errorf("bundle holds %d trust files, more than the limit of %d", len(jb.Trust), MaxTrustFiles)
	}
	for i, t := range jb.Trust {
		if len(t) == 0 || len(t) > MaxTrustSize {
			return nil, fmt.Errorf("trust[%d] is %d bytes, want 1 to %d", i, len(t), MaxTrustSize)
		}
	}
	b.Trust = jb.Trust
	return b, nil
}

func parseEntry(je *jsonEntry) (*Entry, error) {
	if len(je.Entry) == 0 {
		return nil, errors.New("entry is missing")
	}
	if len(je.Entry) > MaxEntrySize {
		return nil, fmt.Errorf("entry is %d bytes, more than the limit of %d", len(je.Entry), MaxEntrySize)
	}
	p, err := ParseProof([]byte(je.Proof))
	if err != nil {
		return nil, err
	}
	if len(je.Content) > MaxContentSize {
		return nil, fmt.Errorf("content is %d bytes, more than the limit of %d", len(je.Content), MaxContentSize)
	}
	return &Entry{Data: je.Entry, Content: je.Content, Proof: *p}, nil
}

// ParseProof parses a C2SP tlog-proof, accepting only its canonical
// encoding: the bytes must be exactly what marshalling the result gives.
func ParseProof(data []byte) (*proof.TLogProof, error) {
	if len(data) > MaxProofSize {
		return nil, fmt.Errorf("tlog-proof is %d bytes, more than the limit of %d", len(data), MaxProofSize)
	}
	var p proof.TLogProof
	if err := p.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("malformed tlog-proof: %w", err)
	}
	if len(p.Hashes) > MaxProofHashes {
		return nil, fmt.Errorf("tlog-proof has %d hashes, more than %d", len(p.Hashes), MaxProofHashes)
	}
	if len(p.Checkpoint) == 0 {
		return nil, errors.New("malformed tlog-proof: no checkpoint")
	}
	if !bytes.Equal(p.Marshal(), data) {
		return nil, errors.New("malformed tlog-proof: not in canonical form (check line endings, blank lines and base64)")
	}
	return &p, nil
}
