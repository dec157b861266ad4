// Package trust defines a device's trust file: everything a device trusts
// (the log, its witnesses, the release, revocation and builder keys of a
// provenance policy, its models and channels, how old cosignatures may be)
// and the root keys that may sign the next one. It is pure: it reads only
// the bytes it is given.
//
// # Format
//
// A trust file is a DSSE envelope of payload type [PayloadType] whose
// payload is one JSON object (docs/FORMATS.md, "Device trust file"):
//
//	{
//	  "version": 2,
//	  "created": "2026-11-27T00:00:00Z",
//	  "expires": "2027-11-27T00:00:00Z",
//	  "log": {"origin": "example.com/fwlog", "url": "https://log.example.com"},
//	  "witnesses": "log example.com/fwlog+5b9e4f7c+AT…\nwitness w1 w1.example+…\n…\nquorum q\n",
//	  "policy": {"version": 1, "keys": {"release-1": {"vkey": "…"}}, "rules": […], "revocation": {…}},
//	  "models": ["acme-x1"],
//	  "channels": ["stable", "beta"],
//	  "maxCosignatureAge": "168h",
//	  "allowSameSecurityVersion": false,
//	  "root": {"keys": ["vendor-root-1+…+…", "vendor-root-2+…+…"], "threshold": 2}
//	}
//
// "witnesses" is a C2SP tlog-policy that names the log's key for
// "log.origin"; "policy" is a provenance policy (docs/POLICY.md) written
// as JSON, whose keys are inline ("vkey" or "pem", never "file") and which
// has no "trustedRoot": a device verifies key-signed provenance only.
//
// # Rules
//
// A trust file verifies only if a threshold of its own root keys signed it
// (so that a typo in a key cannot lock a fleet out). The device takes its
// first one when it is provisioned; after that, [File.Next] accepts a file
// only if its version is higher and a threshold of the current file's
// root keys signed it too: never an older, an unsigned or a self-signed
// file. An expired file ([File.Expired]) stops new firmware from being
// installed, but the device keeps running what it has and keeps accepting
// newer, properly signed trust files, so expiry never bricks it.
package trust

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/internal/strictjson"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// PayloadType is the DSSE payload type of a trust file.
const PayloadType = "application/vnd.fwledger.trust.v1+json"

// Limits.
const (
	// MaxSize bounds a signed trust file.
	MaxSize = 64 << 10
	// MaxRootKeys bounds the root keys of one file.
	MaxRootKeys = 16
	// MaxNames bounds the models and the channels of one file.
	MaxNames = 64
	// MaxCosignatureAge bounds the maximum cosignature age a file may
	// set: a year.
	MaxCosignatureAge = 366 * 24 * time.Hour
)

// A File is a verified trust file.
type File struct {
	Version          uint64
	Created, Expires time.Time
	// Origin is the log's origin, and URL where it serves, if given.
	Origin, URL string
	// Witnesses is the witness policy, which names the log's key.
	Witnesses *tlogpolicy.Policy
	// Policy is the provenance policy: release, revocation and builder
	// keys, builders and sources.
	Policy                   *provenance.Policy
	Models, Channels         []string
	MaxCosignatureAge        time.Duration
	AllowSameSecurityVersion bool
	// RootKeys sign the next trust file; RootThreshold of them must.
	RootKeys      *keys.Ring
	RootThreshold int
	// Signed is the exact signed file, to store and pass on as it is.
	Signed []byte
	// Signers are the key IDs of the root keys that signed it.
	Signers []string

	// env is the parsed envelope, for Next to check against the
	// previous file's root keys.
	env *provenance.Envelope
}

// An Error reports a trust file that is malformed, not signed as the rules
// require, or not newer than the current one.
type Error struct{ Err error }

func (e *Error) Error() string { return "trust file rejected: " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// A VersionError reports a trust file that is not newer than the current
// one.
type VersionError struct{ Have, Got uint64 }

func (e *VersionError) Error() string {
	return fmt.Sprintf("version %d is not newer than the device's %d", e.Got, e.Have)
}

type fileJSON struct {
	Version                  *uint64         `json:"version"`
	Created                  time.Time       `json:"created"`
	Expires                  time.Time       `json:"expires"`
	Log                      *logJSON        `json:"log"`
	Witnesses                string          `json:"witnesses"`
	Policy                   json.RawMessage `json:"policy"`
	Models                   []string        `json:"models"`
	Channels                 []string        `json:"channels"`
	MaxCosignatureAge        string          `json:"maxCosignatureAge"`
	AllowSameSecurityVersion bool            `json:"allowSameSecurityVersion"`
	Root                     *rootJSON       `json:"root"`
}

type logJSON struct {
	Origin string `json:"origin"`
	URL    string `json:"url,omitempty"`
}

type rootJSON struct {
	Keys      []string `json:"keys"`
	Threshold int      `json:"threshold"`
}

// Parse parses a signed trust file and checks that a threshold of its own
// root keys signed it.
// The root keys are read and the signatures checked before the rest is
// parsed, so that a file its root keys did not sign costs little.
func Parse(ctx context.Context, signed []byte) (*File, error) {
	f, err := parse(ctx, signed)
	if err != nil {
		return nil, &Error{Err: err}
	}
	return f, nil
}

// Next verifies signed as the trust file that follows f: it must verify
// ([Parse]), have a higher version, and be signed by a threshold of f's
// root keys.
func (f *File) Next(ctx context.Context, signed []byte) (*File, error) {
	next, err := Parse(ctx, signed)
	if err != nil {
		return nil, err
	}
	if next.Version <= f.Version {
		return nil, &Error{Err: &VersionError{Have: f.Version, Got: next.Version}}
	}
	if _, err := provenance.VerifySignatures(ctx, next.env, f.RootKeys, f.RootThreshold); err != nil {
		return nil, &Error{Err: fmt.Errorf("version %d is not signed by a threshold of version %d's root keys: %w", next.Version, f.Version, err)}
	}
	return next, nil
}

// Expired reports whether the file has expired at t.
func (f *File) Expired(t time.Time) bool { return !t.Before(f.Expires) }

// A TargetError reports a model or channel the trust file does not name.
type TargetError struct{ What, Name string }

func (e *TargetError) Error() string {
	return fmt.Sprintf("the trust file names no %s %q", e.What, e.Name)
}

// ClientTrust returns what a device of the model on the channel trusts,
// for client.VerifyUpdate, with now as its clock (zero for none).
func (f *File) ClientTrust(model, channel string, now time.Time) (client.Trust, error) {
	if !slices.Contains(f.Models, model) {
		return client.Trust{}, &TargetError{What: "model", Name: model}
	}
	if !slices.Contains(f.Channels, channel) {
		return client.Trust{}, &TargetError{What: "channel", Name: channel}
	}
	return client.Trust{
		Witnesses:                f.Witnesses,
		Policy:                   f.Policy,
		Model:                    model,
		Channel:                  channel,
		MaxCosignatureAge:        f.MaxCosignatureAge,
		AllowSameSecurityVersion: f.AllowSameSecurityVersion,
		Now:                      now,
	}, nil
}

func parse(ctx context.Context, signed []byte) (*File, error) {
	env, err := provenance.ParseTypedEnvelope(signed, PayloadType, MaxSize)
	if err != nil {
		return nil, err
	}
	var fj fileJSON
	if err := strictjson.Decode(env.Body, &fj); err != nil {
		return nil, fmt.Errorf("not a trust file: %w", err)
	}
	f := &File{Signed: signed, env: env, Created: fj.Created, Expires: fj.Expires, Models: fj.Models, Channels: fj.Channels, AllowSameSecurityVersion: fj.AllowSameSecurityVersion}
	switch {
	case fj.Version == nil || *fj.Version == 0:
		return nil, errors.New("version is missing (it starts at 1)")
	case fj.Created.IsZero() || fj.Expires.IsZero():
		return nil, errors.New("created and expires are required")
	case !fj.Created.Before(fj.Expires):
		return nil, errors.New("expires is not after created")
	case fj.Log == nil || fj.Log.Origin == "":
		return nil, errors.New("log.origin is missing")
	case fj.Root == nil:
		return nil, errors.New("root is missing")
	}
	f.Version, f.Origin, f.URL = *fj.Version, fj.Log.Origin, fj.Log.URL
	if n := len(fj.Root.Keys); n == 0 || n > MaxRootKeys {
		return nil, fmt.Errorf("root: %d keys, want 1 to %d", n, MaxRootKeys)
	}
	var pubs []*keys.PublicKey
	for i, vk := range fj.Root.Keys {
		p, err := keys.ParsePublic([]byte(vk))
		if err != nil {
			return nil, fmt.Errorf("root key %d: %w", i, err)
		}
		pubs = append(pubs, p)
	}
	if f.RootKeys, err = keys.NewRing(pubs...); err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	if fj.Root.Threshold < 1 || fj.Root.Threshold > len(pubs) {
		return nil, fmt.Errorf("root threshold %d is not between 1 and the %d keys", fj.Root.Threshold, len(pubs))
	}
	f.RootThreshold = fj.Root.Threshold
	if f.Signers, err = provenance.VerifySignatures(ctx, env, f.RootKeys, f.RootThreshold); err != nil {
		return nil, fmt.Errorf("not signed by a threshold of its own root keys: %w", err)
	}
	if err := names("models", fj.Models); err != nil {
		return nil, err
	}
	if err := names("channels", fj.Channels); err != nil {
		return nil, err
	}
	if f.MaxCosignatureAge, err = time.ParseDuration(fj.MaxCosignatureAge); err != nil {
		return nil, fmt.Errorf("maxCosignatureAge: %w", err)
	}
	if f.MaxCosignatureAge <= 0 || f.MaxCosignatureAge > MaxCosignatureAge {
		return nil, fmt.Errorf("maxCosignatureAge %s is not between 0 and %s", f.MaxCosignatureAge, MaxCosignatureAge)
	}
	if f.Witnesses, err = tlogpolicy.Parse([]byte(fj.Witnesses)); err != nil {
		return nil, fmt.Errorf("witnesses: %w", err)
	}
	if len(f.Witnesses.LogKeys(f.Origin)) == 0 {
		return nil, fmt.Errorf("witnesses: the policy names no key for the log %q", f.Origin)
	}
	if len(f.Witnesses.Witnesses) == 0 {
		return nil, errors.New("witnesses: the policy names no witness; a device needs a witness quorum")
	}
	if len(fj.Policy) == 0 {
		return nil, errors.New("policy is missing")
	}
	f.Policy, err = provenance.ParsePolicy(fj.Policy, func(name string) ([]byte, error) {
		return nil, fmt.Errorf("a trust file's policy cannot name a file (%q): write the key inline", name)
	})
	if err != nil {
		return nil, err
	}
	if f.Policy.TrustedRoot != nil {
		return nil, errors.New("policy: a trust file's policy has no trustedRoot (a device verifies key-signed provenance only)")
	}
	for _, m := range f.Models {
		if f.Policy.RuleFor(m) == nil {
			return nil, fmt.Errorf("policy: no rule applies to model %q", m)
		}
	}
	return f, nil
}

func names(what string, ns []string) error {
	if len(ns) == 0 || len(ns) > MaxNames {
		return fmt.Errorf("%s: %d names, want 1 to %d", what, len(ns), MaxNames)
	}
	for i, n := range ns {
		if n == "" || len(n) > 256 {
			return fmt.Errorf("%s[%d] is empty or longer than 256 bytes", what, i)
		}
		if slices.Contains(ns[:i], n) {
			return fmt.Errorf("%s: %q is listed twice", what, n)
		}
	}
	return nil
}

// Sign returns the trust file payload signed by the root keys given, in
// the canonical DSSE encoding. The payload is signed as it is.
func Sign(ctx context.Context, payload []byte, signers ...dsse.SignerVerifier) ([]byte, error) {
	return provenance.SignTyped(ctx, PayloadType, payload, signers...)
}

// AddSignature returns the signed trust file with one more signature, by
// signer, over the same payload: root key holders sign one after another.
func AddSignature(ctx context.Context, signed []byte, signer dsse.SignerVerifier) ([]byte, error) {
	return provenance.AddTypedSignature(ctx, signed, PayloadType, MaxSize, signer)
}
