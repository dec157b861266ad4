package provenance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// Canonical encoding of a DSSE envelope.
//
// DSSE signs the payload, not the JSON around it, so one signed statement has
// many envelope encodings: other whitespace, another base64 alphabet, the
// signatures in another order. A log that took each as a new entry would let
// anyone, with no key, replay logged statements as new entries. fwledger's
// log therefore takes a bare DSSE envelope only in its canonical encoding,
// which is exactly what go-securesystemslib's dsse writes with Go's
// encoding/json, with the signatures sorted:
//
//	{"payloadType":"application/vnd.in-toto+json","payload":"<base64>","signatures":[{"keyid":"<id>","sig":"<base64>"}]}
//
//   - no whitespace outside strings, and nothing after the closing brace;
//   - the members in this order, and no others;
//   - payload and sig in standard base64 with padding (RFC 4648 §4);
//   - strings escaped as encoding/json escapes them;
//   - signatures sorted by keyid, then by sig, and no two identical.
//
// The payload and signature bytes are never changed: canonicalizing an
// envelope (see [Canonicalize]) re-encodes only the JSON around them, so
// every signature still verifies.

// A NonCanonicalError reports an envelope that is not in its canonical
// encoding.
type NonCanonicalError struct {
	// Reason names the first difference found.
	Reason string
}

func (e *NonCanonicalError) Error() string {
	return "the envelope is not in the canonical encoding (docs/FORMATS.md, \"Canonical envelope\"): " + e.Reason +
		"; fwctl submit sends envelopes in it"
}

// CanonicalEnvelope returns the canonical encoding of env. Its payload and
// signatures may be in either base64 alphabet; they are written in standard
// base64. Two identical signatures are written once.
func CanonicalEnvelope(env *dsse.Envelope) ([]byte, error) {
	payload, err := decodeBase64(env.Payload)
	if err != nil {
		return nil, &EnvelopeError{Err: fmt.Errorf("payload is not base64: %w", err)}
	}
	return canonicalEnvelope(env, payload)
}

// canonicalEnvelope is CanonicalEnvelope with the payload already decoded.
func canonicalEnvelope(env *dsse.Envelope, payload []byte) ([]byte, error) {
	out := dsse.Envelope{PayloadType: env.PayloadType, Payload: base64.StdEncoding.EncodeToString(payload)}
	for i, s := range env.Signatures {
		sig, err := decodeBase64(s.Sig)
		if err != nil {
			return nil, &EnvelopeError{Err: fmt.Errorf("signature %d is not base64: %w", i, err)}
		}
		out.Signatures = append(out.Signatures, dsse.Signature{KeyID: s.KeyID, Sig: base64.StdEncoding.EncodeToString(sig)})
	}
	sortSignatures(out.Signatures)
	out.Signatures = slices.Compact(out.Signatures)
	return json.Marshal(out)
}

func sortSignatures(sigs []dsse.Signature) {
	slices.SortFunc(sigs, func(a, b dsse.Signature) int {
		if c := strings.Compare(a.KeyID, b.KeyID); c != 0 {
			return c
		}
		return strings.Compare(a.Sig, b.Sig)
	})
}

// Canonicalize returns the canonical encoding of a DSSE envelope, which may
// be in any encoding the parser accepts.
func Canonicalize(data []byte) ([]byte, error) {
	env, err := ParseEnvelope(bytes.TrimSpace(data))
	if err != nil {
		return nil, err
	}
	return CanonicalEnvelope(&env.Envelope)
}

// CheckCanonical returns a *NonCanonicalError unless data, a parsed DSSE
// envelope env, is in the canonical encoding.
func CheckCanonical(data []byte, env *Envelope) error {
	if env.canonical != nil && bytes.Equal(data, env.canonical) {
		return nil // parseCanonical read it
	}
	canon, err := canonicalEnvelope(&env.Envelope, env.Body)
	if err != nil {
		return err
	}
	if bytes.Equal(data, canon) {
		return nil
	}
	return &NonCanonicalError{Reason: canonicalDifference(data, env, canon)}
}

// canonicalDifference names how data differs from canon, its canonical
// encoding.
func canonicalDifference(data []byte, env *Envelope, canon []byte) string {
	switch {
	case len(bytes.TrimRight(data, " \t\r\n")) < len(data):
		return "it ends with whitespace or a newline after the JSON object"
	case len(bytes.TrimLeft(data, " \t\r\n")) < len(data):
		return "it starts with whitespace before the JSON object"
	case env.Payload != base64.StdEncoding.EncodeToString(env.Body):
		return "payload is not in standard base64 with padding"
	}
	for i, s := range env.Signatures {
		sig, _ := decodeBase64(s.Sig)
		if s.Sig != base64.StdEncoding.EncodeToString(sig) {
			return fmt.Sprintf("signature %d is not in standard base64 with padding", i)
		}
	}
	if !slices.IsSortedFunc(env.Signatures, func(a, b dsse.Signature) int {
		if c := strings.Compare(a.KeyID, b.KeyID); c != 0 {
			return c
		}
		return strings.Compare(a.Sig, b.Sig)
	}) {
		return "the signatures are not sorted by keyid, then sig"
	}
	if len(slices.Compact(slices.Clone(env.Signatures))) < len(env.Signatures) {
		return "a signature appears twice"
	}
	var compact bytes.Buffer
	if json.Compact(&compact, data) == nil && !bytes.Equal(compact.Bytes(), data) {
		return "it has whitespace between JSON tokens"
	}
	for i := range min(len(data), len(canon)) {
		if data[i] != canon[i] {
			return fmt.Sprintf("it differs from the canonical encoding at byte %d (members out of order, or strings escaped differently)", i)
		}
	}
	return "it differs from the canonical encoding in length"
}
