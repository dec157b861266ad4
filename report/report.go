// Package report is the signed outcome report a device sends its log after
// an update attempt: what it tried to install, what came of it (installed,
// confirmed, refused or reverted, and why), and the signed checkpoint it
// held. A log keeps reports apart from its Merkle tree and serves them, so
// that an auditor can compare the checkpoints devices saw with the ones the
// log published, and a fleet can count why updates fail.
//
// Everything here is pure: no network, no storage, no clock. A device signs
// with [Sign]; a log or an auditor checks with [Parse] and
// [Envelope.Verify], or [Verify] for both.
//
// # Format
//
// A report is a DSSE envelope, in the canonical encoding of fwledger's
// envelopes (docs/FORMATS.md, "Canonical envelope"), with payload type
// [PayloadType] and exactly one signature, by the device's key, whose keyid
// is the key's DSSE key ID. Its payload is one JSON object (here on several
// lines; the checkpoint shortened):
//
//	{"device":"5f3c…64 hex digits…","model":"acme-x1","channel":"stable",
//	 "outcome":"refused","reason":"rollback","detail":"security version 6 is below the floor 7",
//	 "image":"sha256:2e6a…","version":"1.3.9","securityVersion":6,"logIndex":41,
//	 "checkpoint":"example.com/fwlog\n42\npX0p…=\n\n— example.com/fwlog 7Jq…\n",
//	 "time":"2026-11-27T10:00:00Z"}
//
// and a successful install adds its duration, "installMs":93000. The rules
// each field follows are in [Report] and docs/FORMATS.md, "Device report".
// Parsing is strict: duplicate keys, unknown fields, an empty optional
// field, numbers that are not integers, and values beyond a limit are
// refused with a [*FieldError] naming the field.
//
// # Replays
//
// Reports are public, so anyone can send one again. One report has one
// envelope: the encoding is canonical, the one signature is an Ed25519
// signature (deterministic, and not malleable under crypto/ed25519's
// rules) and its keyid is fixed. A log therefore recognises a report sent
// again, in any bytes it accepts, by its payload.
package report

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/internal/strictjson"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"golang.org/x/mod/sumdb/note"
)

// PayloadType is the DSSE payload type of a device report.
const PayloadType = "application/vnd.fwledger.device-report.v1+json"

// Limits.
const (
	// MaxSize is the largest report envelope.
	MaxSize = api.MaxReportSize
	// MaxDetail is the longest detail, in bytes.
	MaxDetail = 512
	// MaxCheckpoint is the longest checkpoint, in bytes, with its
	// signatures and cosignatures.
	MaxCheckpoint = 8 << 10
	// MaxInstallMillis is the longest install duration: a day.
	MaxInstallMillis = 24 * 60 * 60 * 1000
	// MaxInteger is the largest security version and log index (2^53,
	// which every JSON parser reads exactly).
	MaxInteger = 1 << 53
)

// An Outcome is what came of an update attempt.
type Outcome string

// The outcomes.
const (
	// Installed: the image verified and was written to the inactive slot,
	// to boot as a trial.
	Installed Outcome = "installed"
	// Confirmed: the trial boot succeeded and the device confirmed the
	// image (its security floor advanced).
	Confirmed Outcome = "confirmed"
	// Refused: verification failed; nothing was installed.
	Refused Outcome = "refused"
	// Reverted: the installed image failed its trial, and the device went
	// back to the previous one.
	Reverted Outcome = "reverted"
)

// Outcomes lists every outcome.
var Outcomes = []Outcome{Installed, Confirmed, Refused, Reverted}

// Succeeded reports whether o is a successful outcome, installed or
// confirmed, which carries no reason.
func (o Outcome) Succeeded() bool { return o == Installed || o == Confirmed }

// Valid reports whether o is one of Outcomes.
func (o Outcome) Valid() bool {
	switch o {
	case Installed, Confirmed, Refused, Reverted:
		return true
	}
	return false
}

// A Reason is why an update was refused or reverted: a fixed set, so that a
// fleet can count them. Each names the check that failed (DESIGN.md,
// "Device behaviour").
type Reason string

// The reasons.
const (
	Rollback   Reason = "rollback"   // security version below the floor, or a smaller checkpoint than the one held
	Freeze     Reason = "freeze"     // cosignatures older than the device's time floor or its policy allows
	SplitView  Reason = "split_view" // a checkpoint inconsistent with the one held (another root at one size)
	Signature  Reason = "signature"  // a release signature missing, invalid, or below the threshold
	Revoked    Reason = "revoked"    // a revoked key or release
	Provenance Reason = "provenance" // provenance missing, or builder, source or subject outside policy
	Target     Reason = "target"     // a release for another hardware model or channel
	Digest     Reason = "digest"     // the image's digest is not the release's
	Size       Reason = "size"       // the image's size is not the release's
	Trust      Reason = "trust"      // the device's trust configuration is missing or invalid
	Bundle     Reason = "bundle"     // the proof bundle is malformed
	Checkpoint Reason = "checkpoint" // the checkpoint's signature by the log does not verify
	Quorum     Reason = "quorum"     // too few witness cosignatures
	Inclusion  Reason = "inclusion"  // an inclusion proof does not verify
	Transport  Reason = "transport"  // the bundle or image could not be fetched
	// Unconfirmed: the new firmware booted as often as allowed without
	// confirming itself, and the device reverted it.
	Unconfirmed Reason = "unconfirmed"
	Error       Reason = "error" // anything else (the detail says what)
)

// Reasons lists every reason.
var Reasons = []Reason{Rollback, Freeze, SplitView, Signature, Revoked, Provenance, Target, Digest, Size, Trust, Bundle, Checkpoint, Quorum, Inclusion, Transport, Unconfirmed, Error}

// Valid reports whether r is one of Reasons.
func (r Reason) Valid() bool {
	for _, v := range Reasons {
		if r == v {
			return true
		}
	}
	return false
}

// A Report is a device's account of one update attempt.
type Report struct {
	// Device is the DSSE key ID of the device's key (keys.PublicKey.KeyID),
	// 64 lowercase hex digits: the key that signs the report.
	Device string
	// Model and Channel are the device's hardware model and update
	// channel, as a release names them (provenance.ValidName).
	Model, Channel string
	Outcome        Outcome
	// Reason is why, for Refused and Reverted (required); empty for
	// Installed and Confirmed.
	Reason Reason
	// Detail is optional, for people: at most MaxDetail bytes of UTF-8
	// without control characters.
	Detail string
	// Image is the SHA-256 digest of the image the attempt was about.
	Image digest.Digest
	// Version, SecurityVersion and LogIndex are the release's version,
	// security version and index in the log. Installed and Confirmed
	// require them; Refused and Reverted give them if the device knows
	// them (HasRelease).
	Version         string
	SecurityVersion uint64
	LogIndex        uint64
	// HasRelease reports whether Version, SecurityVersion and LogIndex
	// are given.
	HasRelease bool
	// Checkpoint is the signed checkpoint the device holds (its note text
	// and every signature line), at most MaxCheckpoint bytes; empty for a
	// device that holds none yet.
	Checkpoint []byte
	// Time is the device's time of the report.
	Time time.Time
	// InstallMillis is how long the install took, in milliseconds (at
	// most MaxInstallMillis), if HasInstallTime; never for Refused.
	InstallMillis  uint64
	HasInstallTime bool
}

// A FieldError reports a report field that is missing, malformed or beyond
// its limit.
type FieldError struct {
	// Field is the field's JSON name ("outcome"), "payload" for the
	// payload as a whole, "signatures" for the envelope's signatures, or
	// "envelope" for an envelope not in the canonical encoding.
	Field string
	Err   error
}

func (e *FieldError) Error() string { return fmt.Sprintf("report field %q: %v", e.Field, e.Err) }
func (e *FieldError) Unwrap() error { return e.Err }

// A SizeError reports an envelope larger than MaxSize.
type SizeError struct{ Size int }

func (e *SizeError) Error() string {
	return fmt.Sprintf("the report is %d bytes, more than the limit of %d", e.Size, MaxSize)
}

// A SignatureError reports a report whose signature is not a valid one by
// the key it names, or names a key the verifier does not have.
type SignatureError struct {
	// Device is the key ID the report names.
	Device string
	// Err is provenance's *SignatureError (a signature that does not
	// verify) or *ThresholdError (no signature by a known key).
	Err error
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("the report of device %s is not validly signed by that device's key: %v", e.Device, e.Err)
}
func (e *SignatureError) Unwrap() error { return e.Err }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, a...)}
}

// Validate checks r's fields against the rules of the format.
func (r *Report) Validate() error {
	if !validKeyID(r.Device) {
		return fieldErr("device", "%q is not a DSSE key ID: want 64 lowercase hex digits", trunc(r.Device))
	}
	if !provenance.ValidName(r.Model) {
		return fieldErr("model", "%q is not a hardware model name: want letters, digits and ._:/@+- (at most %d bytes)", trunc(r.Model), provenance.MaxFieldLength)
	}
	if !provenance.ValidName(r.Channel) {
		return fieldErr("channel", "%q is not a channel name: want letters, digits and ._:/@+- (at most %d bytes)", trunc(r.Channel), provenance.MaxFieldLength)
	}
	if !r.Outcome.Valid() {
		return fieldErr("outcome", "%q is not an outcome: want installed, confirmed, refused or reverted", trunc(string(r.Outcome)))
	}
	switch {
	case r.Outcome.Succeeded() && r.Reason != "":
		return fieldErr("reason", "an outcome of %s has no reason", r.Outcome)
	case !r.Outcome.Succeeded() && r.Reason == "":
		return fieldErr("reason", "an outcome of %s needs a reason", r.Outcome)
	case r.Reason != "" && !r.Reason.Valid():
		return fieldErr("reason", "%q is not a reason (docs/FORMATS.md, \"Device report\", lists them)", trunc(string(r.Reason)))
	}
	if err := checkDetail(r.Detail); err != nil {
		return &FieldError{Field: "detail", Err: err}
	}
	if r.Outcome.Succeeded() && !r.HasRelease {
		return fieldErr("version", "an outcome of %s needs the release's version, securityVersion and logIndex", r.Outcome)
	}
	if r.HasRelease {
		if !provenance.ValidVersion(r.Version) {
			return fieldErr("version", "%q is not a semantic version such as 1.4.0", trunc(r.Version))
		}
		if r.SecurityVersion > MaxInteger {
			return fieldErr("securityVersion", "%d is more than 2^53", r.SecurityVersion)
		}
		if r.LogIndex > MaxInteger {
			return fieldErr("logIndex", "%d is more than 2^53", r.LogIndex)
		}
	}
	if err := checkCheckpoint(r.Checkpoint); err != nil {
		return &FieldError{Field: "checkpoint", Err: err}
	}
	if r.Time.IsZero() {
		return fieldErr("time", "the time of the report is required")
	}
	if y := r.Time.Year(); y < 0 || y > 9999 {
		return fieldErr("time", "year %d cannot be written in RFC 3339", y)
	}
	if r.HasInstallTime {
		if r.Outcome == Refused {
			return fieldErr("installMs", "a refused update installed nothing")
		}
		if r.InstallMillis > MaxInstallMillis {
			return fieldErr("installMs", "%d is more than a day (%d)", r.InstallMillis, MaxInstallMillis)
		}
	}
	return nil
}

func validKeyID(s string) bool {
	if len(s) != 64 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func checkDetail(s string) error {
	if len(s) > MaxDetail {
		return fmt.Errorf("%d bytes, more than the limit of %d", len(s), MaxDetail)
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return errors.New("it holds a control character (a newline, say): write one line")
	}
	return nil
}

// checkCheckpoint checks that cp, if not empty, is a signed note (C2SP
// signed-note) of at most MaxCheckpoint bytes. Whose signatures it
// carries, and what it says, is for the log to judge.
func checkCheckpoint(cp []byte) error {
	if len(cp) == 0 {
		return nil
	}
	if len(cp) > MaxCheckpoint {
		return fmt.Errorf("%d bytes, more than the limit of %d", len(cp), MaxCheckpoint)
	}
	_, err := note.Open(cp, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		return fmt.Errorf("not a signed note: %v", err)
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// payload is the JSON form of a report. Optional fields are pointers, so
// that a field given empty is told from one left out (and refused).
type payload struct {
	Device          string  `json:"device"`
	Model           string  `json:"model"`
	Channel         string  `json:"channel"`
	Outcome         string  `json:"outcome"`
	Reason          *string `json:"reason,omitempty"`
	Detail          *string `json:"detail,omitempty"`
	Image           string  `json:"image"`
	Version         *string `json:"version,omitempty"`
	SecurityVersion *uint64 `json:"securityVersion,omitempty"`
	LogIndex        *uint64 `json:"logIndex,omitempty"`
	Checkpoint      *string `json:"checkpoint,omitempty"`
	Time            string  `json:"time"`
	InstallMillis   *uint64 `json:"installMs,omitempty"`
}

// payloadFields are the JSON names of payload's fields.
var payloadFields = []string{"device", "model", "channel", "outcome", "reason", "detail", "image", "version", "securityVersion", "logIndex", "checkpoint", "time", "installMs"}

// Marshal returns the payload of r: the bytes a device signs.
func (r *Report) Marshal() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	p := payload{
		Device: r.Device, Model: r.Model, Channel: r.Channel, Outcome: string(r.Outcome),
		Image: r.Image.String(), Time: r.Time.UTC().Format(time.RFC3339Nano),
	}
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	p.Reason, p.Detail, p.Checkpoint = str(string(r.Reason)), str(r.Detail), str(string(r.Checkpoint))
	if r.HasRelease {
		sv, li := r.SecurityVersion, r.LogIndex
		p.Version, p.SecurityVersion, p.LogIndex = &r.Version, &sv, &li
	}
	if r.HasInstallTime {
		ms := r.InstallMillis
		p.InstallMillis = &ms
	}
	return json.Marshal(p)
}

// ParsePayload parses and validates a report payload (not its envelope).
func ParsePayload(data []byte) (*Report, error) {
	if err := strictjson.Check(data); err != nil {
		return nil, &FieldError{Field: "payload", Err: err}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return nil, fieldErr("payload", "not a JSON object")
	}
	names := slices.Sorted(maps.Keys(fields))
	for _, k := range names {
		if !slices.Contains(payloadFields, k) {
			return nil, fieldErr(k, "unknown field (a report has %s)", strings.Join(payloadFields, ", "))
		}
		if string(fields[k]) == "null" {
			return nil, fieldErr(k, "null is not a value: leave an optional field out")
		}
	}
	var p payload
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, fieldErr(te.Field, "want %s, not a JSON %s", goToJSON(te.Type.String()), te.Value)
		}
		return nil, &FieldError{Field: "payload", Err: err}
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"reason", p.Reason}, {"detail", p.Detail}, {"version", p.Version}, {"checkpoint", p.Checkpoint}} {
		if f.v != nil && *f.v == "" {
			return nil, fieldErr(f.name, "it is empty: leave an optional field out instead")
		}
	}
	for _, f := range []struct{ name, v string }{{"device", p.Device}, {"model", p.Model}, {"channel", p.Channel}, {"outcome", p.Outcome}, {"image", p.Image}, {"time", p.Time}} {
		if f.v == "" {
			return nil, fieldErr(f.name, "it is required")
		}
	}
	r := &Report{Device: p.Device, Model: p.Model, Channel: p.Channel, Outcome: Outcome(p.Outcome)}
	if p.Reason != nil {
		r.Reason = Reason(*p.Reason)
	}
	if p.Detail != nil {
		r.Detail = *p.Detail
	}
	var err error
	if r.Image, err = digest.Parse(p.Image); err != nil {
		return nil, &FieldError{Field: "image", Err: err}
	}
	switch n := countSet(p.Version != nil, p.SecurityVersion != nil, p.LogIndex != nil); n {
	case 3:
		r.HasRelease = true
		r.Version, r.SecurityVersion, r.LogIndex = *p.Version, *p.SecurityVersion, *p.LogIndex
	case 0:
	default:
		return nil, fieldErr("version", "version, securityVersion and logIndex go together: give all three or none")
	}
	if p.Checkpoint != nil {
		r.Checkpoint = []byte(*p.Checkpoint)
	}
	if r.Time, err = time.Parse(time.RFC3339, p.Time); err != nil {
		return nil, fieldErr("time", "%q is not an RFC 3339 time", trunc(p.Time))
	}
	if p.InstallMillis != nil {
		r.HasInstallTime, r.InstallMillis = true, *p.InstallMillis
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

func countSet(b ...bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}

// goToJSON names a Go type of the payload as the JSON value it wants.
func goToJSON(t string) string {
	switch t {
	case "uint64", "*uint64":
		return "a non-negative integer"
	case "string", "*string":
		return "a string"
	}
	return t
}

// An Envelope is a parsed report envelope, not yet verified.
type Envelope struct {
	// Data is the envelope's exact bytes.
	Data []byte
	// Payload is the signed payload, and Report what it says.
	Payload []byte
	Report  *Report
	// KeyID is the keyid of the one signature: the report's Device.
	KeyID string

	env *provenance.Envelope
}

// Parse parses a report envelope: at most MaxSize bytes, a DSSE envelope
// in the canonical encoding with PayloadType and one signature, whose keyid
// is the report's device, over a valid report. It checks no signature.
// Errors are a *SizeError, a *FieldError (naming "envelope" for one not in
// the canonical encoding), or provenance's *EnvelopeError and
// *PayloadTypeError.
func Parse(data []byte) (*Envelope, error) {
	if len(data) > MaxSize {
		return nil, &SizeError{Size: len(data)}
	}
	env, err := provenance.ParseTypedEnvelope(data, PayloadType, MaxSize)
	if err != nil {
		return nil, err
	}
	if err := provenance.CheckCanonical(data, env); err != nil {
		var nc *provenance.NonCanonicalError
		if errors.As(err, &nc) {
			return nil, fieldErr("envelope", "not in the canonical encoding (docs/FORMATS.md, \"Canonical envelope\"): %s; report.Sign writes it", nc.Reason)
		}
		return nil, err
	}
	if n := len(env.Signatures); n != 1 {
		return nil, fieldErr("signatures", "a report carries one signature, by its device, not %d", n)
	}
	r, err := ParsePayload(env.Body)
	if err != nil {
		return nil, err
	}
	if id := env.Signatures[0].KeyID; id != r.Device {
		return nil, fieldErr("signatures", "the signature's keyid %q is not the report's device %s", trunc(id), r.Device)
	}
	return &Envelope{Data: data, Payload: env.Body, Report: r, KeyID: r.Device, env: env}, nil
}

// Verify checks that e is signed by the key its report names, which ring
// must hold, and returns the report and that key's ID. The error is a
// *SignatureError.
func (e *Envelope) Verify(ctx context.Context, ring *keys.Ring) (*Report, string, error) {
	signers, err := provenance.VerifySignatures(ctx, e.env, ring, 1)
	if err != nil {
		return nil, "", &SignatureError{Device: e.KeyID, Err: err}
	}
	if signers[0] != e.Report.Device {
		// The keyid names no key of the ring, and the signature verified
		// under another one.
		return nil, "", &SignatureError{Device: e.KeyID, Err: fmt.Errorf("it is signed by key %s", signers[0])}
	}
	return e.Report, signers[0], nil
}

// Verify parses a report envelope and checks its signature, by the key the
// report names, which ring must hold (see Parse and Envelope.Verify).
func Verify(ctx context.Context, data []byte, ring *keys.Ring) (*Report, string, error) {
	e, err := Parse(data)
	if err != nil {
		return nil, "", err
	}
	return e.Verify(ctx, ring)
}

// Sign returns the report envelope of r signed by key, in the canonical
// encoding. r.Device must be key's DSSE key ID; if empty, the ID is used.
func Sign(ctx context.Context, key *keys.PrivateKey, r *Report) ([]byte, error) {
	id, err := key.Public().KeyID()
	if err != nil {
		return nil, err
	}
	rr := *r
	if rr.Device == "" {
		rr.Device = id
	}
	if rr.Device != id {
		return nil, fmt.Errorf("the report names device %s, but the key is %s", rr.Device, id)
	}
	body, err := rr.Marshal()
	if err != nil {
		return nil, err
	}
	s, err := key.DSSESigner()
	if err != nil {
		return nil, err
	}
	env, err := provenance.SignTyped(ctx, PayloadType, body, s)
	if err != nil {
		return nil, err
	}
	if len(env) > MaxSize {
		return nil, &SizeError{Size: len(env)}
	}
	return env, nil
}
