// Package api defines the wire types, paths and limits of fwlog's HTTP API,
// shared by the server (package ledger) and its client (package logclient).
// The limits are defined here once, or in the format that sets them
// (package tiles, for the size of an entry).
//
// docs/API.md describes every endpoint with its errors and limits. An
// answer to POST /v1/entries, for example:
//
//	[{"index":41,"leaf_hash":"9f2c46e0...b1"},{"index":17,"leaf_hash":"5d0a...e3","duplicate":true}]
package api

import "github.com/fwledger/fwledger/tiles"

// Paths of the JSON API. The C2SP tlog-tiles resources are served at
// "/checkpoint", "/tile/<L>/<N>[.p/<W>]" and "/tile/entries/<N>[.p/<W>]".
const (
	PathLog              = "/v1/log"
	PathEntries          = "/v1/entries"
	PathInclusionProof   = "/v1/proofs/inclusion"
	PathConsistencyProof = "/v1/proofs/consistency"
	PathTLogProof        = "/v1/proofs/tlog/" // + <index>
	PathSubjects         = "/v1/subjects/"    // + sha256:<hex>
	PathBundles          = "/v1/bundles/"     // + sha256:<hex> [?index=&from=]
	PathUpdates          = "/v1/updates"      // ?model=&channel=[&from=]
	PathReleases         = "/v1/releases"     // ?model=&version=
	PathImages           = "/v1/images/"      // + sha256:<hex>
	PathDeltas           = "/v1/deltas/"      // + sha256:<hex of the target image>
	PathRevocations      = "/v1/revocations"  // ?after=
	PathCheckpoint       = "/checkpoint"
)

// Limits.
const (
	// MaxEntrySize is the largest entry (DSSE envelope) the log accepts: the
	// largest a C2SP entry bundle can hold.
	MaxEntrySize = tiles.MaxEntrySize
	// MaxBatch is the most entries one submission may hold.
	MaxBatch = 16
	// MaxSubmissionSize is the largest request body of POST /v1/entries: a
	// JSON array of MaxBatch entries.
	MaxSubmissionSize = MaxBatch*(MaxEntrySize+1) + 2 + MaxLargeEntrySize
	// MaxLargeEntrySize is the largest Sigstore bundle the log takes; over
	// MaxEntrySize, it is stored by digest and a reference is logged.
	MaxLargeEntrySize = 1 << 20
	// MaxLookupResults is the most entries one page of a lookup
	// (/v1/subjects, /v1/releases) reads; "next" continues it.
	MaxLookupResults = 100
)

// LogInfo is the response of GET /v1/log.
type LogInfo struct {
	// Origin is the checkpoint origin line, which is also the key name.
	Origin string `json:"origin"`
	// VerifierKey is the log's C2SP signed-note verifier key.
	VerifierKey string `json:"vkey"`
	// Size is the size of the latest published checkpoint.
	Size uint64 `json:"size"`
	// MaxEntrySize is the largest entry accepted, in bytes.
	MaxEntrySize int `json:"max_entry_size"`
	// Successor is, for a frozen log, the verifier key of the log it
	// handed over to (docs/KEYS.md); it takes no more entries.
	Successor string `json:"successor,omitempty"`
}

// AddResponse is the response of POST /v1/entries: the durable index of the
// entry (the existing one for a duplicate) and its RFC 6962 leaf hash in hex.
type AddResponse struct {
	Index    uint64 `json:"index"`
	LeafHash string `json:"leaf_hash"`
	// Duplicate is true when the entry was logged already, or another
	// logged entry proves everything it does: Index and LeafHash are then
	// that entry's.
	Duplicate bool `json:"duplicate,omitempty"`
}

// Entry is the response of GET /v1/entries/<index>.
type Entry struct {
	Index    uint64 `json:"index"`
	LeafHash string `json:"leaf_hash"`
	// Data is the exact entry bytes (standard base64 in JSON): the leaf.
	Data []byte `json:"data"`
	// Content is, when Data is a reference to an entry stored by digest (a
	// Sigstore bundle larger than a leaf holds), that entry's exact bytes.
	Content []byte `json:"content,omitempty"`
}

// InclusionProof is the response of GET /v1/proofs/inclusion.
type InclusionProof struct {
	Index  uint64   `json:"index"`
	Size   uint64   `json:"size"`
	Hashes [][]byte `json:"hashes"`
}

// ConsistencyProof is the response of GET /v1/proofs/consistency.
type ConsistencyProof struct {
	From   uint64   `json:"from"`
	To     uint64   `json:"to"`
	Hashes [][]byte `json:"hashes"`
}

// SubjectEntry is one logged statement about a subject digest.
type SubjectEntry struct {
	Index uint64 `json:"index"`
	// Integrated reports whether the entry is covered by the published
	// checkpoint (and so has proofs).
	Integrated bool `json:"integrated"`
	// Kind is "release" or "provenance".
	Kind string `json:"kind"`
	// Role, for provenance, is "build" when a release of the subject
	// endorses it and "rebuild" otherwise (an independent rebuild).
	Role string `json:"role,omitempty"`
	// EntryDigest is the SHA-256 of the exact entry bytes, as releases
	// name the provenance they endorse.
	EntryDigest string `json:"entry_digest"`
	// Release fields.
	Version         string   `json:"version,omitempty"`
	SecurityVersion *uint64  `json:"security_version,omitempty"`
	Models          []string `json:"models,omitempty"`
	// Provenance fields.
	BuilderID string `json:"builder_id,omitempty"`
	BuildType string `json:"build_type,omitempty"`
	Source    string `json:"source,omitempty"`
	Ref       string `json:"ref,omitempty"`
	Commit    string `json:"commit,omitempty"`
}

// Subject is the response of GET /v1/subjects/sha256:<hex>.
type Subject struct {
	Digest  string         `json:"digest"`
	Entries []SubjectEntry `json:"entries"`
	// Next, when present, is the value of "after" that continues the list.
	Next *uint64 `json:"next,omitempty"`
}

// Release is one release in the response of GET /v1/releases.
type Release struct {
	Index           uint64   `json:"index"`
	Integrated      bool     `json:"integrated"`
	Image           string   `json:"image"`
	ImageSize       uint64   `json:"image_size"`
	Models          []string `json:"models"`
	Version         string   `json:"version"`
	SecurityVersion uint64   `json:"security_version"`
	Channel         string   `json:"channel"`
	Created         string   `json:"created"`
	// Provenance lists the digests of the provenance envelopes the release
	// endorses.
	Provenance []string `json:"provenance"`
}

// Releases is the response of GET /v1/releases.
type Releases struct {
	Releases []Release `json:"releases"`
	// Next, when present, is the value of "after" that continues the list.
	Next *uint64 `json:"next,omitempty"`
}

// Revocation is one logged revocation in the response of GET
// /v1/revocations.
type Revocation struct {
	Index      uint64 `json:"index"`
	Integrated bool   `json:"integrated"`
	// Revokes is "key" or "release".
	Revokes string `json:"revokes"`
	// KeyID and FromIndex are set for a key revocation; Image for a
	// release revocation.
	KeyID     string  `json:"key_id,omitempty"`
	FromIndex *uint64 `json:"from_index,omitempty"`
	Image     string  `json:"image,omitempty"`
	Reason    string  `json:"reason"`
	Created   string  `json:"created"`
	// Entry is the exact logged envelope (standard base64 in JSON).
	Entry []byte `json:"entry"`
}

// Revocations is the response of GET /v1/revocations.
type Revocations struct {
	Revocations []Revocation `json:"revocations"`
	// Next, when present, is the value of "after" that continues the list.
	Next *uint64 `json:"next,omitempty"`
}

// Error is the body of every error response.
type Error struct {
	Message string `json:"error"`
}
