package audit

import (
	"fmt"
	"time"
)

// Alert types (docs/AUDIT.md describes each and its evidence).
const (
	// The log's view.
	TypeBadCheckpoint = "bad_checkpoint" // a checkpoint whose signature or witness quorum does not verify
	TypeRollback      = "rollback"       // a checkpoint of a smaller tree than one verified before
	TypeFork          = "fork"           // two checkpoints the log signed that no consistency proof joins
	TypeTreeMismatch  = "tree_mismatch"  // the log's entries do not hash to its checkpoint's root
	TypeBadBundle     = "bad_bundle"     // an entry bundle that is malformed or truncated
	TypeBadTile       = "bad_tile"       // the log's tiles give an inclusion proof that does not verify under its checkpoint
	TypeStale         = "stale"          // the log's checkpoint was last cosigned by the witness quorum too long ago
	TypeStall         = "stall"          // a warning: the log's checkpoint has not grown for too long
	TypeCanary        = "canary"         // a probe the log acknowledged is not in its checkpoint in time, or the log refuses probes
	// TypeRevocationCommitment: a checkpoint's revocation commitment is not
	// of the revocations logged below its size.
	TypeRevocationCommitment = "revocation_commitment"
	// Entries.
	TypeUnparseable       = "unparseable"         // an entry that does not parse
	TypeReleaseSignature  = "release_signature"   // a release not signed by a threshold of the model's keys
	TypeProvenance        = "provenance"          // a release whose provenance is missing or outside the policy
	TypeEquivocation      = "equivocation"        // two images logged for one model and version
	TypeSecurityRegressed = "security_regression" // a release below an earlier security version of its model and channel
	TypeRevokedKey        = "revoked_key"         // a release signed by a key revoked before its index
	TypeReproducibility   = "reproducibility"     // a release the policy wants rebuilt, not rebuilt by enough builders in time
	TypeNewModel          = "new_model"           // a warning: a key signs a release for a model it never signed for before
	TypeKeyWindow         = "key_window"          // a warning: a key of the policy signed an entry outside its validity window
)

// Severities.
const (
	Critical = "critical"
	Warning  = "warning"
)

// An Alert is something the auditor found, with the evidence to prove it.
// Its JSON form is the stable schema of fwctl audit's output (one object
// a line).
type Alert struct {
	ID       int64     `json:"id"`
	Key      string    `json:"key"`
	Type     string    `json:"type"`
	Severity string    `json:"severity"`
	Message  string    `json:"message"`
	Time     time.Time `json:"time"`
	// Index is the log index of the entry the alert is about, if any.
	Index    *uint64  `json:"index,omitempty"`
	Evidence Evidence `json:"evidence"`
}

// Evidence is what proves an alert: signed checkpoints (notes, with their
// cosignatures), and entries with their indices, under Checkpoints[0].
type Evidence struct {
	Checkpoints [][]byte        `json:"checkpoints,omitempty"`
	Entries     []EvidenceEntry `json:"entries,omitempty"`
	// Proof is, for a fork of two sizes, the consistency proof the log's
	// tiles gave between them, which does not verify.
	Proof [][]byte `json:"proof,omitempty"`
	// Probe is, for a canary alert, the probe the auditor submitted (a
	// DSSE envelope of a provenance.Probe).
	Probe []byte `json:"probe,omitempty"`
}

// An EvidenceEntry is a logged entry, with its inclusion proof under
// Evidence.Checkpoints[0].
type EvidenceEntry struct {
	Index uint64   `json:"index"`
	Data  []byte   `json:"data"`
	Proof [][]byte `json:"proof,omitempty"`
	// Content is, for an entry stored by digest (Data is the reference),
	// the content the log served for it.
	Content []byte `json:"content,omitempty"`
}

func entryAlert(typ, severity string, index uint64, cp []byte, msg string, entries ...EvidenceEntry) *Alert {
	i := index
	return &Alert{
		Key: fmt.Sprintf("%s/%d", typ, index), Type: typ, Severity: severity, Message: msg,
		Time: time.Now().UTC(), Index: &i, Evidence: Evidence{Checkpoints: [][]byte{cp}, Entries: entries},
	}
}

// A badTileError reports an inclusion proof from the log's tiles that
// does not verify.
type badTileError struct {
	index uint64
	err   error
}

func (e *badTileError) Error() string {
	return fmt.Sprintf("the log's tiles give a proof (at %d) that does not verify under its checkpoint: %v", e.index, e.err)
}
