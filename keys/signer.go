package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"golang.org/x/mod/sumdb/note"
)

// algEd25519CosignatureV1 is the signed-note key type of a C2SP
// tlog-cosignature/v1 Ed25519 key.
const algEd25519CosignatureV1 = 4

// timeNow is the clock of cosignatures' timestamps; tests replace it.
var timeNow = time.Now

// ed25519Public returns k's public key if it is an Ed25519 key, in memory
// or not.
func (k *PrivateKey) ed25519Public() (ed25519.PublicKey, bool) {
	pub, ok := k.Key.Public().(ed25519.PublicKey)
	return pub, ok && len(pub) == ed25519.PublicKeySize
}

// inMemory reports whether k's private half is in this process's memory,
// and so can be written to a file.
func (k *PrivateKey) inMemory() error {
	switch k.Key.(type) {
	case ed25519.PrivateKey, *ecdsa.PrivateKey:
		return nil
	}
	return fmt.Errorf("the private half of this key (%T) is not in memory, so it cannot be exported; only its public key can", k.Key)
}

// Close releases what k's signer holds, such as a session with a PKCS #11
// token, if it is an [io.Closer]; for a key in memory it does nothing.
func (k *PrivateKey) Close() error {
	if c, ok := k.Key.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// noteName checks that k can make signed notes: an Ed25519 key with a
// valid name.
func (k *PrivateKey) noteName() (ed25519.PublicKey, error) {
	pub, ok := k.ed25519Public()
	if !ok {
		return nil, errors.New("only Ed25519 keys can sign notes and cosign checkpoints")
	}
	if k.Name == "" {
		return nil, errors.New("key has no name; a signed-note key needs one")
	}
	if !ValidName(k.Name) {
		return nil, fmt.Errorf("invalid signed-note key name %q: it must be non-empty UTF-8 without spaces or '+'", k.Name)
	}
	return pub, nil
}

// signEd25519 signs msg with key, an Ed25519 crypto.Signer (pure Ed25519:
// the message itself, not a digest of it).
func signEd25519(key crypto.Signer, msg []byte) ([]byte, error) {
	sig, err := key.Sign(rand.Reader, msg, crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("couldn't sign: %w", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("the key made a %d-byte signature, not a %d-byte Ed25519 signature", len(sig), ed25519.SignatureSize)
	}
	return sig, nil
}

// A noteSigner makes C2SP signed-note Ed25519 signatures (key type 0x01)
// with any Ed25519 crypto.Signer: the signature is Ed25519 over the note's
// text, as golang.org/x/mod/sumdb/note makes it.
type noteSigner struct {
	name string
	hash uint32
	key  crypto.Signer
}

func (s *noteSigner) Name() string                    { return s.name }
func (s *noteSigner) KeyHash() uint32                 { return s.hash }
func (s *noteSigner) Sign(msg []byte) ([]byte, error) { return signEd25519(s.key, msg) }

// A cosignatureSigner makes timestamped C2SP tlog-cosignature/v1
// cosignatures with any Ed25519 crypto.Signer. For a timestamp T (seconds
// since the Unix epoch, now), the signed message is
//
//	cosignature/v1
//	time T
//	<the checkpoint's text, every line of it>
//
// and the signature is T as 8 big-endian bytes followed by the 64-byte
// Ed25519 signature of that message. Its key hash is that of the key with
// type 0x04. This is what transparency-dev/formats' cosignature/v1
// verifier checks.
type cosignatureSigner struct {
	name string
	hash uint32
	key  crypto.Signer
	// at, if set, is the timestamp of every cosignature.
	at time.Time
}

func (s *cosignatureSigner) Name() string    { return s.name }
func (s *cosignatureSigner) KeyHash() uint32 { return s.hash }

func (s *cosignatureSigner) Sign(msg []byte) ([]byte, error) {
	// A checkpoint has at least an origin, a size and a root hash line.
	if bytes.Count(msg, []byte("\n")) < 2 {
		return nil, errors.New("cosigned note format invalid: a checkpoint has at least three lines")
	}
	now := timeNow()
	if !s.at.IsZero() {
		now = s.at
	}
	t := uint64(now.Unix())
	m := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", t, msg)
	sig, err := signEd25519(s.key, m)
	if err != nil {
		return nil, err
	}
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(sig)), t), sig...), nil
}

// A dsseSigner signs DSSE envelopes with any Ed25519 crypto.Signer; its
// key ID, public key and verification are those of the public key's
// verifier. go-securesystemslib's Ed25519 signer signs the same bytes (the
// PAE of the envelope) with the same algorithm.
type dsseSigner struct {
	dsse.Verifier
	key crypto.Signer
}

func (s *dsseSigner) Sign(_ context.Context, data []byte) ([]byte, error) {
	return signEd25519(s.key, data)
}

// NoteSigner returns a signed-note signer for k, an Ed25519 key with a
// name.
func (k *PrivateKey) NoteSigner() (note.Signer, error) {
	pub, err := k.noteName()
	if err != nil {
		return nil, err
	}
	return &noteSigner{name: k.Name, hash: noteKeyHash(k.Name, append([]byte{algEd25519}, pub...)), key: k.Key}, nil
}

// CosignatureSigner returns a signer of timestamped C2SP
// tlog-cosignature/v1 cosignatures with k, an Ed25519 key with a name. The
// timestamp is the time of signing.
func (k *PrivateKey) CosignatureSigner() (note.Signer, error) {
	pub, err := k.noteName()
	if err != nil {
		return nil, err
	}
	return &cosignatureSigner{name: k.Name, hash: noteKeyHash(k.Name, append([]byte{algEd25519CosignatureV1}, pub...)), key: k.Key}, nil
}

// CosignatureSignerAt is CosignatureSigner with every cosignature
// timestamped at, not at the time of signing: for tests and tools that
// show what old (or future) cosignatures do to a verifier.
func (k *PrivateKey) CosignatureSignerAt(at time.Time) (note.Signer, error) {
	ns, err := k.CosignatureSigner()
	if err != nil {
		return nil, err
	}
	s := ns.(*cosignatureSigner)
	s.at = at
	return s, nil
}

// DSSESigner returns a DSSE signer for k whose KeyID is k's DSSE key ID.
func (k *PrivateKey) DSSESigner() (dsse.SignerVerifier, error) {
	if _, ok := k.ed25519Public(); ok {
		v, err := k.Public().DSSEVerifier()
		if err != nil {
			return nil, err
		}
		return &dsseSigner{Verifier: v, key: k.Key}, nil
	}
	sk, err := k.SSLib()
	if err != nil {
		return nil, err
	}
	return sslibVerifier(sk)
}
