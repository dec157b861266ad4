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
//	  }
//	}
//
// Every proof in a bundle carries the same checkpoint. Parsing checks
// structure and limits only; package client verifies.
package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fwledger/fwledger/internal/strictjson"
	"github.com/transparency-dev/formats/proof"
)

// MediaType identifies version 1 of the bundle format.
const MediaType = "application/vnd.fwledger.bundle.v1+json"

// Limits.
const (
	MaxSize      = 1 << 20
	MaxEntrySize = 65535
	MaxProofSize = 16 << 10
)

// A Bundle is a release with its proof of inclusion.
type Bundle struct {
	Release Entry
}

// An Entry is one logged entry and its tlog-proof.
type Entry struct {
	// Data is the exact logged entry bytes.
	Data []byte
	// Proof is the parsed tlog-proof.
	Proof proof.TLogProof
}

type jsonBundle struct {
	MediaType string     `json:"mediaType"`
	Release   *jsonEntry `json:"release"`
}

type jsonEntry struct {
	Entry []byte `json:"entry"`
	Proof string `json:"proof"`
}

// Marshal encodes b.
func (b *Bundle) Marshal() ([]byte, error) {
	return json.MarshalIndent(jsonBundle{
		MediaType: MediaType,
		Release:   &jsonEntry{Entry: b.Release.Data, Proof: string(b.Release.Proof.Marshal())},
	}, "", "  ")
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
	return &Bundle{Release: *rel}, nil
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
	return &Entry{Data: je.Entry, Proof: *p}, nil
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
	if len(p.Hashes) > 64 {
		return nil, fmt.Errorf("tlog-proof has %d hashes, more than 64", len(p.Hashes))
	}
	if len(p.Checkpoint) == 0 {
		return nil, errors.New("malformed tlog-proof: no checkpoint")
	}
	if !bytes.Equal(p.Marshal(), data) {
		return nil, errors.New("malformed tlog-proof: not in canonical form (check line endings, blank lines and base64)")
	}
	return &p, nil
}
