// Package pkcs11 signs with Ed25519 keys held in a PKCS #11 token (a
// hardware security module, a smart card, or SoftHSM2), named by RFC 7512
// URIs:
//
//	pkcs11:token=fw;object=release-3?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:pin.txt
//
// A [Key] is a crypto.Signer whose private half never leaves the token: it
// signs with the mechanism CKM_EDDSA (pure Ed25519) of PKCS #11 3.0, which
// SoftHSM2 supports from version 2.6. Wrapped in a keys.PrivateKey, it
// signs signed notes (checkpoints), C2SP cosignature/v1 cosignatures and
// DSSE envelopes exactly as a key file's key does, and its public key is
// written as an ordinary public key file.
//
// # Objects
//
// [Generate] makes a key pair with CKM_EC_EDWARDS_KEY_PAIR_GEN on the curve
// given by CKA_EC_PARAMS = the DER encoding of OID 1.3.101.112 (id-Ed25519):
// a private key object (CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not
// CKA_EXTRACTABLE, CKA_SIGN) and a public key object, both with the URI's
// label (CKA_LABEL) and a CKA_ID (the URI's id, or 16 random bytes). [Open]
// finds the private key by label and/or id, and reads the public key
// (CKA_EC_POINT) from the public key object with the same CKA_ID (or, for a
// key without one, the same label); before it returns, it signs a test
// message and checks the signature with that public key, so that a
// mismatched pair is found at start rather than in a signature.
//
// The label is the key's signed-note name: a log's key is labelled with
// its origin (object=example.com%2Ffwlog), a witness's with its name.
//
// # Sessions
//
// A Key keeps one session, logged in as the user, and signs in it one
// message at a time. If the token drops the session (CKR_SESSION_CLOSED,
// CKR_SESSION_HANDLE_INVALID, CKR_USER_NOT_LOGGED_IN, ...), the next
// signature opens a new one, logs in again with the PIN it was given and
// retries once. A module is loaded and initialized once per process and
// finalized when its last Key is closed. PKCS #11 logs a process in per
// token, not per session: while one Key of a token is open, another Key of
// the same token opens without its PIN being checked again.
//
// # Building
//
// This package needs cgo (the module is loaded with dlopen). Built with
// CGO_ENABLED=0, [Open], [Generate] and [Delete] return [ErrNoCgo]; URI
// parsing works either way, and the pure verifier never imports this
// package.
package pkcs11

import "errors"

// ErrNoCgo is returned for every token operation by a binary built
// without cgo.
var ErrNoCgo = errors.New("this binary was built without cgo: PKCS#11 keys are unavailable")
