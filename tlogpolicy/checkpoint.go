package tlogpolicy

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"

	flog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// CheckpointError reports a checkpoint that does not verify under the
// trusted log key and origin. When the checkpoint was checked against a
// log key, it carries the evidence: the key expected, and the keys of the
// note's signature lines.
type CheckpointError struct {
	// Expected is the log key the checkpoint must be signed by; zero when
	// the check was not against one log key.
	Expected NoteKey
	// Signatures are the keys named by the note's signature lines, in
	// order (none if the note could not be read).
	Signatures []NoteKey
	Err        error
}

func (e *CheckpointError) Error() string {
	msg := "checkpoint rejected: " + e.Err.Error()
	if e.Expected == (NoteKey{}) || slices.Contains(e.Signatures, e.Expected) {
		return msg
	}
	signed := "it has no signature lines"
	if len(e.Signatures) > 0 {
		names := make([]string, len(e.Signatures))
		for i, k := range e.Signatures {
			names[i] = k.String()
		}
		signed = "signed by " + strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s (%s; expected the log key %s)", msg, signed, e.Expected)
}
func (e *CheckpointError) Unwrap() error { return e.Err }

// A NoteKey names a signed-note key as a signature line does: by its key
// name and its 32-bit key hash (C2SP signed-note).
type NoteKey struct {
	Name string
	Hash uint32
}

// String returns the key as name+hash, the hash in 8 hex digits, as it
// starts a vkey: "example.com/fwlog+3f1d5a7c".
func (k NoteKey) String() string { return fmt.Sprintf("%s+%08x", k.Name, k.Hash) }

// VerifyCheckpoint verifies a signed checkpoint with the log's verifier,
// whose name must be the checkpoint's origin.
// A rejection by the key carries the key expected and the keys that
// signed (see [CheckpointError]).
func VerifyCheckpoint(log note.Verifier, signed []byte) (*flog.Checkpoint, error) {
	cp, ext, _, err := flog.ParseCheckpoint(signed, log.Name(), log)
	if err != nil {
		return nil, &CheckpointError{Expected: NoteKey{log.Name(), log.KeyHash()}, Signatures: signatureKeys(signed), Err: err}
	}
	if err := checkExtensions(ext); err != nil {
		return nil, &CheckpointError{Err: err}
	}
	if len(cp.Hash) != sha256.Size {
		return nil, &CheckpointError{Err: fmt.Errorf("root hash is %d bytes, want %d", len(cp.Hash), sha256.Size)}
	}
	return cp, nil
}

// checkExtensions checks a checkpoint's extension lines (C2SP
// tlog-checkpoint): opaque, but each MUST be non-empty.
func checkExtensions(ext []byte) error {
	if len(ext) > 0 && (ext[0] == '\n' || bytes.Contains(ext, []byte("\n\n"))) {
		return errors.New("the checkpoint has an empty extension line")
	}
	return nil
}

// signatureKeys returns the keys named by the signature lines of a signed
// note, without verifying any; nil if it is not a signed note.
func signatureKeys(signed []byte) []NoteKey {
	_, err := note.Open(signed, note.VerifierList())
	var une *note.UnverifiedNoteError
	if !errors.As(err, &une) {
		return nil
	}
	var out []NoteKey
	for _, s := range une.Note.UnverifiedSigs {
		out = append(out, NoteKey{s.Name, s.Hash})
	}
	return out
}
