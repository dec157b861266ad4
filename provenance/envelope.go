// Package provenance builds, signs, parses and verifies the signed statements
// that fwledger logs: in-toto Statement v1 in DSSE envelopes.
//
// Everything here is pure: no I/O beyond the bytes it is given, no clock, no
// network. The log runs these checks before it appends an entry, and a device
// or auditor runs the same checks on bytes it already holds.
//
// A release statement, the payload of testdata/release.dsse.json, signed by
// the release key fe8d8fca…cddb:
//
//	{"_type":"https://in-toto.io/Statement/v1",
//	 "subject":[{"name":"fw.bin","digest":{"sha256":"205cdeacbdb6ed1e2b21a436cd0e0f8c4c2e3fb77f0fd3e262f5d9670cb34a31"}}],
//	 "predicateType":"https://fwledger.dev/release/v1",
//	 "predicate":{"channel":"stable","created":"2026-11-01T12:00:00Z","hardwareModels":["acme-x1"],
//	              "imageSize":4096,"securityVersion":7,"version":"1.4.0"}}
//
// (on one line in the envelope: the signature covers the exact bytes). A
// release and its provenance are judged together by one function,
// [Policy.Evaluate], under a policy file or the one rule of trusted keys
// ([KeyPolicy]).
//
// # Verification rules for envelopes
//
//   - The envelope is one unambiguous JSON object (no duplicate keys, no
//     unknown fields) of at most [MaxEnvelopeSize] bytes, with payloadType
//     [PayloadType] and at least one signature.
//   - A signature whose keyid names a trusted key must verify over the DSSE
//     pre-authentication encoding (PAE); if it does not, the envelope is
//     rejected with a [*SignatureError], even when other signatures are valid.
//   - A signature whose keyid is empty or names no trusted key counts for
//     the first trusted key it verifies with (the keyid is only a hint, and
//     producers use their own: a KMS key name, an SSH fingerprint); if it
//     verifies with none, it is ignored. Only the first [MaxForeignSignatures]
//     such signatures are tried, each against the trusted keys that have not
//     signed yet, so that an envelope padded with signatures nobody can
//     verify costs a bounded amount of work; the others are ignored.
//   - Each trusted key counts once, and at least the threshold of distinct
//     trusted keys must have signed, or the result is a [*ThresholdError].
//   - An Ed25519 signature verifies exactly when crypto/ed25519 says so (the
//     cofactorless equation, S below the group order, R compared in its
//     canonical encoding); the keys package checks it with precomputed
//     tables of the key under those rules, and never in batches, whose
//     cofactored equation accepts more.
package provenance

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/fwledger/fwledger/internal/strictjson"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/tiles"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// PayloadType is the DSSE payload type of every fwledger statement.
const PayloadType = "application/vnd.in-toto+json"

// MaxEnvelopeSize is the largest envelope that is parsed: the largest entry a
// C2SP tlog-tiles entry bundle can hold.
const MaxEnvelopeSize = tiles.MaxEntrySize

// MaxSignatures is the most signatures one envelope may carry.
const MaxSignatures = 32

// MaxForeignSignatures is the most signatures of one envelope whose keyid
// names no trusted key that are tried against the trusted keys.
const MaxForeignSignatures = 4

// An Envelope is a parsed DSSE envelope together with its decoded payload.
type Envelope struct {
	dsse.Envelope
	// Body is the decoded payload: the exact bytes that were signed.
	Body []byte

	// checked remembers signature checks, so that verifying the same
	// envelope against several key sets (a log's keys, then a policy's)
	// checks each signature with each key once. An Envelope is not for
	// concurrent use.
	checked map[sigCheck]error

	// canonical is the data the envelope was parsed from if parseCanonical
	// found it in the canonical encoding.
	canonical []byte
}

type sigCheck struct {
	sig   int
	keyID string
}

// verify checks signature i with verifier v (whose key ID is id), once.
func (env *Envelope) verify(ctx context.Context, i int, id string, v dsse.Verifier, pae, sig []byte) error {
	k := sigCheck{i, id}
	if err, ok := env.checked[k]; ok {
		return err
	}
	err := v.Verify(ctx, pae, sig)
	if env.checked == nil {
		env.checked = make(map[sigCheck]error)
	}
	env.checked[k] = err
	return err
}

// ParseEnvelope parses a DSSE envelope, enforcing the size limit, strict JSON,
// the payload type and the presence of signatures. It checks no signature.
func ParseEnvelope(data []byte) (*Envelope, error) {
	return parseEnvelope(data, PayloadType, MaxEnvelopeSize)
}

// ParseTypedEnvelope is [ParseEnvelope] for an envelope of another payload
// type than in-toto's (a device trust file, a device report), of at most
// limit bytes. The same rules apply; [VerifySignatures] checks it.
func ParseTypedEnvelope(data []byte, payloadType string, limit int) (*Envelope, error) {
	return parseEnvelope(data, payloadType, limit)
}

func parseEnvelope(data []byte, payloadType string, limit int) (*Envelope, error) {
	if len(data) > limit {
		return nil, &EnvelopeError{Err: fmt.Errorf("envelope is %d bytes, more than the limit of %d", len(data), limit)}
	}
	if env, ok := parseCanonical(data, payloadType); ok {
		return env, nil
	}
	return parseEnvelopeJSON(data, payloadType)
}

// parseEnvelopeJSON parses an envelope in any encoding the rules allow.
func parseEnvelopeJSON(data []byte, payloadType string) (*Envelope, error) {
	if err := strictjson.Check(data); err != nil {
		return nil, &EnvelopeError{Err: err}
	}
	var env dsse.Envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, &EnvelopeError{Err: fmt.Errorf("not a DSSE envelope: %w", err)}
	}
	if env.PayloadType == "" {
		return nil, &EnvelopeError{Err: errors.New("payloadType is missing")}
	}
	if env.PayloadType != payloadType {
		return nil, &PayloadTypeError{Got: env.PayloadType, Want: payloadType}
	}
	if env.Payload == "" {
		return nil, &EnvelopeError{Err: errors.New("payload is missing")}
	}
	body, err := decodeBase64(env.Payload)
	if err != nil {
		return nil, &EnvelopeError{Err: fmt.Errorf("payload is not base64: %w", err)}
	}
	if len(env.Signatures) == 0 {
		return nil, &EnvelopeError{Err: errors.New("envelope has no signatures")}
	}
	if len(env.Signatures) > MaxSignatures {
		return nil, &EnvelopeError{Err: fmt.Errorf("envelope has %d signatures, more than the limit of %d", len(env.Signatures), MaxSignatures)}
	}
	for i, s := range env.Signatures {
		if s.Sig == "" {
			return nil, &EnvelopeError{Err: fmt.Errorf("signature %d is empty", i)}
		}
		if _, err := decodeBase64(s.Sig); err != nil {
			return nil, &EnvelopeError{Err: fmt.Errorf("signature %d is not base64: %w", i, err)}
		}
	}
	return &Envelope{Envelope: env, Body: body}, nil
}

// decodeBase64 decodes a DSSE payload or signature value. The DSSE
// specification says standard base64; some producers (Google Cloud Build) use
// the URL alphabet, which the reference implementation accepts too.
func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	if b, err := base64.URLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// VerifySignatures checks env's signatures against the trusted keys in ring
// under the rules in the package documentation and returns the key IDs of
// the distinct trusted keys that signed, in signature order.
func VerifySignatures(ctx context.Context, env *Envelope, ring *keys.Ring, threshold int) ([]string, error) {
	return verifySignatures(ctx, env, ring, threshold, false)
}

// verifySignatures is VerifySignatures; lenient passes over a signature
// by a trusted key that does not verify instead of rejecting the envelope
// (see VerifyRevocation).
func verifySignatures(ctx context.Context, env *Envelope, ring *keys.Ring, threshold int, lenient bool) ([]string, error) {
	if threshold < 1 {
		threshold = 1
	}
	stop := 0
	if lenient {
		stop = threshold // enough: a lenient check tries no more than it needs
	}
	signers, unknown, err := collectSigners(ctx, env, ring, stop, lenient)
	if err != nil {
		return nil, err
	}
	if len(signers) < threshold {
		return nil, &ThresholdError{Have: len(signers), Want: threshold, Unknown: unknown}
	}
	return signers, nil
}

// Signers returns the key IDs of the distinct keys of ring whose
// signatures on env verify, under the rules of VerifySignatures, passing
// over signatures that do not verify: who signed, to index an entry by,
// not a judgement of the envelope. It returns nil if none verifies.
func Signers(ctx context.Context, env *Envelope, ring *keys.Ring) []string {
	signers, _, err := collectSigners(ctx, env, ring, 0, true)
	if err != nil {
		return nil
	}
	return signers
}

// collectSigners returns the distinct trusted keys that signed env, in
// signature order, and the keyids of signatures by no trusted key; it
// stops once it has stop signers (0: never). A signature by a trusted key
// that does not verify is an error, unless lenient.
func collectSigners(ctx context.Context, env *Envelope, ring *keys.Ring, stop int, lenient bool) (signers, unknown []string, err error) {
	pae := dsse.PAE(env.PayloadType, env.Body)
	foreign := 0
	for i, s := range env.Signatures {
		if stop > 0 && len(signers) >= stop {
			break
		}
		sig, err := decodeBase64(s.Sig)
		if err != nil {
			return nil, nil, &EnvelopeError{Err: fmt.Errorf("signature %d is not base64: %w", i, err)}
		}
		if v, ok := ring.Lookup(s.KeyID); ok && s.KeyID != "" {
			if err := env.verify(ctx, i, s.KeyID, v, pae, sig); err != nil {
				if lenient {
					continue
				}
				return nil, nil, &SignatureError{KeyID: s.KeyID, Err: err}
			}
			if !slices.Contains(signers, s.KeyID) {
				signers = append(signers, s.KeyID)
			}
			continue
		}
		matched := false
		if foreign++; foreign <= MaxForeignSignatures {
			for _, id := range ring.IDs() {
				if slices.Contains(signers, id) {
					continue // each key counts once
				}
				v, _ := ring.Lookup(id)
				if env.verify(ctx, i, id, v, pae, sig) == nil {
					signers = append(signers, id)
					matched = true
					break
				}
			}
		}
		if !matched {
			unknown = append(unknown, s.KeyID)
		}
	}
	return signers, unknown, nil
}

// Sign returns a DSSE envelope over body, signed by every signer, in the
// canonical encoding.
func Sign(ctx context.Context, body []byte, signers ...dsse.SignerVerifier) ([]byte, error) {
	return SignTyped(ctx, PayloadType, body, signers...)
}

// SignTyped is [Sign] for a payload of another type than in-toto's.
func SignTyped(ctx context.Context, payloadType string, body []byte, signers ...dsse.SignerVerifier) ([]byte, error) {
	if len(signers) == 0 {
		return nil, errors.New("no signing key given")
	}
	s := make([]dsse.Signer, len(signers))
	for i := range signers {
		s[i] = signers[i]
	}
	es, err := dsse.NewEnvelopeSigner(s...)
	if err != nil {
		return nil, err
	}
	env, err := es.SignPayload(ctx, payloadType, body)
	if err != nil {
		return nil, fmt.Errorf("couldn't sign: %w", err)
	}
	return CanonicalEnvelope(env)
}

// AddSignature returns envelope with one more signature, by signer, over the
// same payload, in the canonical encoding. The payload bytes are kept
// exactly; a key that already signed is an error.
func AddSignature(ctx context.Context, envelope []byte, signer dsse.SignerVerifier) ([]byte, error) {
	return AddTypedSignature(ctx, envelope, PayloadType, MaxEnvelopeSize, signer)
}

// AddTypedSignature is [AddSignature] for an envelope of another payload
// type, of at most limit bytes (see [ParseTypedEnvelope]).
func AddTypedSignature(ctx context.Context, envelope []byte, payloadType string, limit int, signer dsse.SignerVerifier) ([]byte, error) {
	env, err := ParseTypedEnvelope(envelope, payloadType, limit)
	if err != nil {
		return nil, err
	}
	id, err := signer.KeyID()
	if err != nil {
		return nil, err
	}
	for _, s := range env.Signatures {
		if s.KeyID == id {
			return nil, fmt.Errorf("key %s has already signed this envelope", id)
		}
	}
	sig, err := signer.Sign(ctx, dsse.PAE(env.PayloadType, env.Body))
	if err != nil {
		return nil, fmt.Errorf("couldn't sign: %w", err)
	}
	env.Signatures = append(env.Signatures, dsse.Signature{KeyID: id, Sig: base64.StdEncoding.EncodeToString(sig)})
	return CanonicalEnvelope(&env.Envelope)
}
