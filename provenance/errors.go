package provenance

import (
	"fmt"
	"strings"
)

// An EnvelopeError reports a malformed DSSE envelope.
type EnvelopeError struct{ Err error }

func (e *EnvelopeError) Error() string { return "malformed envelope: " + e.Err.Error() }
func (e *EnvelopeError) Unwrap() error { return e.Err }

// A PayloadTypeError reports an envelope whose payloadType is not the one
// expected ([PayloadType] for statements).
type PayloadTypeError struct{ Got, Want string }

func (e *PayloadTypeError) Error() string {
	return fmt.Sprintf("wrong payloadType %q: want %q", e.Got, e.Want)
}

// A SignatureError reports a signature by a trusted key that does not verify.
type SignatureError struct {
	KeyID string
	Err   error
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("signature by key %s does not verify: %v", e.KeyID, e.Err)
}
func (e *SignatureError) Unwrap() error { return e.Err }

// A ThresholdError reports too few valid signatures by distinct trusted keys.
type ThresholdError struct {
	Have, Want int
	// Unknown lists the key IDs of signatures by keys that are not trusted
	// ("" for a signature without a key ID).
	Unknown []string
}

func (e *ThresholdError) Error() string {
	msg := fmt.Sprintf("%d valid signature(s) by trusted keys, want at least %d", e.Have, e.Want)
	if len(e.Unknown) > 0 {
		ids := make([]string, len(e.Unknown))
		for i, id := range e.Unknown {
			if id == "" {
				id = "(no keyid)"
			}
			ids[i] = id
		}
		msg += "; signed by unknown key(s): " + strings.Join(ids, ", ")
	}
	return msg
}

// A StatementError reports a payload that is not a valid statement of the
// expected kind.
type StatementError struct{ Err error }

func (e *StatementError) Error() string { return "invalid statement: " + e.Err.Error() }
func (e *StatementError) Unwrap() error { return e.Err }
