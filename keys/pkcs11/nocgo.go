//go:build !cgo

package pkcs11

import (
	"crypto"
	"io"
)

// A Key is an Ed25519 key held in a PKCS #11 token. Without cgo there are
// none: every function that would return one returns ErrNoCgo.
type Key struct{}

// Open returns ErrNoCgo: this binary cannot load PKCS #11 modules.
func Open(u *URI) (*Key, error) { return nil, ErrNoCgo }

// Generate returns ErrNoCgo: this binary cannot load PKCS #11 modules.
func Generate(u *URI) (*Key, error) { return nil, ErrNoCgo }

// Delete returns ErrNoCgo: this binary cannot load PKCS #11 modules.
func Delete(u *URI) error { return ErrNoCgo }

// Public returns nil.
func (k *Key) Public() crypto.PublicKey { return nil }

// Sign returns ErrNoCgo.
func (k *Key) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { return nil, ErrNoCgo }

// Label returns "".
func (k *Key) Label() string { return "" }

// Close does nothing.
func (k *Key) Close() error { return nil }
