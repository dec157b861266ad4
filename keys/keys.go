// Package keys reads, writes and identifies the Ed25519 and ECDSA keys that
// fwledger signs with: log and witness keys (C2SP signed notes) and release and
// builder keys (DSSE envelopes).
//
// # File format
//
// One key file serves both worlds. A private key file (mode 0600) holds the
// C2SP signed-note private key on its first line, followed by the same key as a
// PKCS #8 PEM block:
//
//	PRIVATE+KEY+example.com/release-1+2d1a3c4b+AXk0...
//	-----BEGIN PRIVATE KEY-----
//	MC4CAQAwBQYDK2VwBCIEI...
//	-----END PRIVATE KEY-----
//
// A public key file holds the signed-note verifier key ("vkey") on its first
// line, followed by the PKIX PEM block:
//
//	example.com/release-1+2d1a3c4b+AcB1...
//	-----BEGIN PUBLIC KEY-----
//	MCowBQYDK2VwAyEA...
//	-----END PUBLIC KEY-----
//
// PEM parsers (OpenSSL, Go's encoding/pem, go-securesystemslib) ignore the
// first line as explanatory text (RFC 7468, Section 5.2), and signed-note tools
// read only the first line. Either part alone is also accepted: a bare vkey, a
// bare note private key, or a bare PEM block (which is how keys made by other
// tools, such as a build service's ECDSA P-256 key, arrive). When both parts are
// present they must encode the same key.
//
// # Key IDs
//
// A key has two identifiers, one per world:
//   - the note key hash: the first four bytes of SHA-256(name || "\n" || 0x01 ||
//     public key), as in C2SP signed-note; it appears in signature lines.
//   - the DSSE key ID: the go-securesystemslib key ID, the hex SHA-256 of the
//     canonical JSON of {keytype, scheme, keyid_hash_algorithms, keyval.public}.
//     It is the keyid of DSSE signatures and the key ID of in-toto layouts.
//
// Both depend only on the public key (and, for the note hash, the name), so
// they are stable across files and machines.
//
// # Keys held elsewhere
//
// A [PrivateKey] need not hold its private half: any crypto.Signer with an
// Ed25519 public key signs notes, cosignatures and DSSE envelopes, the same
// bytes a key file's key would sign (Ed25519 is deterministic). Package
// keys/pkcs11 makes such signers from keys held in a PKCS #11 token; only
// their public key file is ever written ([WritePublic]).
package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// MaxFileSize is the largest key file that is read.
const MaxFileSize = 16 << 10

const algEd25519 = 1

// A PrivateKey is a signing key with the name its signed notes carry.
type PrivateKey struct {
	// Name is the signed-note key name; empty for a bare PEM key.
	Name string
	// Key is an ed25519.PrivateKey or an *ecdsa.PrivateKey read from a
	// file, or any other crypto.Signer whose public key is an
	// ed25519.PublicKey and that signs with pure Ed25519 (opts
	// crypto.Hash(0)), such as a key held in a PKCS #11 token. Only a key
	// in memory can be written to a file.
	Key crypto.Signer
}

// A PublicKey is a verification key with the name its signed notes carry.
type PublicKey struct {
	// Name is the signed-note key name; empty for a bare PEM key.
	Name string
	// Key is an ed25519.PublicKey or an *ecdsa.PublicKey.
	Key crypto.PublicKey
}

// Generate returns a new Ed25519 key named name, reading randomness from r
// (crypto/rand when nil).
func Generate(r io.Reader, name string) (*PrivateKey, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("invalid key name %q: it must be non-empty UTF-8 without spaces or '+'", name)
	}
	if r == nil {
		r = rand.Reader
	}
	_, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("couldn't generate Ed25519 key: %w", err)
	}
	return &PrivateKey{Name: name, Key: priv}, nil
}

// ValidName reports whether name is a valid signed-note key name.
func ValidName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// Public returns the public half of k.
func (k *PrivateKey) Public() *PublicKey {
	return &PublicKey{Name: k.Name, Key: k.Key.Public()}
}

// MarshalPrivate returns the private key file contents for k.
func (k *PrivateKey) MarshalPrivate() ([]byte, error) {
	if err := k.inMemory(); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	if err != nil {
		return nil, fmt.Errorf("couldn't encode private key: %w", err)
	}
	var b bytes.Buffer
	if priv, ok := k.Key.(ed25519.PrivateKey); ok && k.Name != "" {
		b.WriteString(noteSignerKey(k.Name, priv))
		b.WriteByte('\n')
	}
	if err := pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Marshal returns the public key file contents for p.
func (p *PublicKey) Marshal() ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(p.Key)
	if err != nil {
		return nil, fmt.Errorf("couldn't encode public key: %w", err)
	}
	var b bytes.Buffer
	if vkey, err := p.VerifierKey(); err == nil {
		b.WriteString(vkey)
		b.WriteByte('\n')
	}
	if err := pem.Encode(&b, &pem.Block{Type: "PUBLIC KEY", Bytes: der}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// VerifierKey returns the C2SP signed-note verifier key ("vkey") for p. It
// needs a name and an Ed25519 key.
func (p *PublicKey) VerifierKey() (string, error) {
	pub, ok := p.Key.(ed25519.PublicKey)
	if !ok {
		return "", errors.New("only Ed25519 keys have a signed-note verifier key")
	}
	if p.Name == "" {
		return "", errors.New("key has no name, so it has no signed-note verifier key")
	}
	return note.NewEd25519VerifierKey(p.Name, pub)
}

// NoteVerifier returns a signed-note verifier for p.
func (p *PublicKey) NoteVerifier() (note.Verifier, error) {
	vkey, err := p.VerifierKey()
	if err != nil {
		return nil, err
	}
	return note.NewVerifier(vkey)
}

// CosignatureVerifierKey returns p's C2SP tlog-cosignature/v1 verifier key
// (an Ed25519 vkey of type 0x04), as a witness line of a tlog-policy names
// it.
func (p *PublicKey) CosignatureVerifierKey() (string, error) {
	vkey, err := p.VerifierKey()
	if err != nil {
		return "", err
	}
	return fnote.VKeyToCosignatureV1(vkey)
}

// KeyID returns the DSSE key ID of p (see the package documentation).
func (p *PublicKey) KeyID() (string, error) {
	k, err := p.SSLib()
	if err != nil {
		return "", err
	}
	return k.KeyID, nil
}

// SSLib returns p as a go-securesystemslib key, whose KeyID field holds the
// securesystemslib key ID (also the key ID in-toto layouts use).
func (p *PublicKey) SSLib() (*signerverifier.SSLibKey, error) {
	der, err := x509.MarshalPKIXPublicKey(p.Key)
	if err != nil {
		return nil, fmt.Errorf("couldn't encode public key: %w", err)
	}
	return signerverifier.LoadKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// DSSEVerifier returns a DSSE verifier for p whose KeyID is p's DSSE key ID.
func (p *PublicKey) DSSEVerifier() (dsse.Verifier, error) {
	k, err := p.SSLib()
	if err != nil {
		return nil, err
	}
	v, err := sslibVerifier(k)
	if err != nil {
		return nil, err
	}
	if pub, ok := p.Key.(ed25519.PublicKey); ok {
		return newEd25519Verifier(v, pub), nil
	}
	return v, nil
}

// SSLib returns k as a go-securesystemslib private key (for in-toto
// tooling); its KeyID is the securesystemslib key ID.
func (k *PrivateKey) SSLib() (*signerverifier.SSLibKey, error) {
	if err := k.inMemory(); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	if err != nil {
		return nil, fmt.Errorf("couldn't encode private key: %w", err)
	}
	return signerverifier.LoadKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func sslibVerifier(k *signerverifier.SSLibKey) (dsse.SignerVerifier, error) {
	switch k.KeyType {
	case signerverifier.ED25519KeyType:
		return signerverifier.NewED25519SignerVerifierFromSSLibKey(k)
	case signerverifier.ECDSAKeyType:
		return signerverifier.NewECDSASignerVerifierFromSSLibKey(k)
	case signerverifier.RSAKeyType:
		return signerverifier.NewRSAPSSSignerVerifierFromSSLibKey(k)
	}
	return nil, fmt.Errorf("unsupported key type %q", k.KeyType)
}

// noteSignerKey encodes priv as a C2SP signed-note private key.
func noteSignerKey(name string, priv ed25519.PrivateKey) string {
	pub := append([]byte{algEd25519}, priv.Public().(ed25519.PublicKey)...)
	seed := append([]byte{algEd25519}, priv.Seed()...)
	return fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, noteKeyHash(name, pub), base64.StdEncoding.EncodeToString(seed))
}

func noteKeyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// ErrPublicKey is returned when a public key is given where a private key
// is needed.
var ErrPublicKey = errors.New("this is a public key; give the private key (.key) file")

// ErrPrivateKey is returned when a private key is given where a public key
// is needed.
var ErrPrivateKey = errors.New("this is a private key; give the public key (.pub) file")

// splitKeyFile splits a key file into its signed-note line, if its first
// line is one (isNote), and its PEM block, if any; there must be one or the
// other, and nothing after them. what names the key, noteWhat and pemType
// its two forms, in errors.
func splitKeyFile(data []byte, isNote func(first string) bool, what, noteWhat, pemType string) (line string, block *pem.Block, err error) {
	first, rest := splitFirstLine(data)
	if isNote(first) {
		line, data = first, rest
	}
	block, trailing := pem.Decode(data)
	if block == nil {
		if line == "" {
			return "", nil, fmt.Errorf("no %s found: want a signed-note %s line or a PEM %q block", what, noteWhat, pemType)
		}
		if len(bytes.TrimSpace(data)) != 0 {
			return "", nil, fmt.Errorf("unexpected text after the signed-note %s", noteWhat)
		}
		return line, nil, nil
	}
	if len(bytes.TrimSpace(trailing)) != 0 {
		return "", nil, errors.New("unexpected data after the PEM block")
	}
	return line, block, nil
}

// checkKeyType accepts Ed25519 keys and ECDSA keys on curves of at least
// 256 bits: pub is the key's public half, key the key as parsed (named in
// errors), kind "private" or "public".
func checkKeyType(pub crypto.PublicKey, kind string, key any) error {
	switch k := pub.(type) {
	case ed25519.PublicKey:
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < 256 {
			return fmt.Errorf("ECDSA curve %s is too small", k.Curve.Params().Name)
		}
	default:
		return fmt.Errorf("unsupported %s key type %T (want Ed25519 or ECDSA)", kind, key)
	}
	return nil
}

// ParsePrivate parses a private key file (see the package documentation).
// It returns [ErrPublicKey] for a public key file.
func ParsePrivate(data []byte) (*PrivateKey, error) {
	if _, err := ParsePublic(data); err == nil {
		return nil, ErrPublicKey
	}
	line, block, err := splitKeyFile(data, func(first string) bool { return strings.HasPrefix(first, "PRIVATE+KEY+") }, "private key", "private key", "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	var fromNote *PrivateKey
	if line != "" {
		if fromNote, err = parseNoteSignerKey(line); err != nil {
			return nil, err
		}
	}
	if block == nil {
		return fromNote, nil
	}
	var key crypto.Signer
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("couldn't parse PKCS #8 private key: %w", err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", k)
		}
		key = s
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("couldn't parse EC private key: %w", err)
		}
		key = k
	default:
		return nil, fmt.Errorf("unsupported PEM block type %q (want \"PRIVATE KEY\")", block.Type)
	}
	if err := checkKeyType(key.Public(), "private", key); err != nil {
		return nil, err
	}
	pk := &PrivateKey{Key: key}
	if fromNote != nil {
		if !fromNote.Key.(ed25519.PrivateKey).Equal(key) {
			return nil, errors.New("the signed-note key and the PEM key in the file differ")
		}
		pk.Name = fromNote.Name
	}
	return pk, nil
}

func parseNoteSignerKey(skey string) (*PrivateKey, error) {
	if _, err := note.NewSigner(skey); err != nil {
		return nil, fmt.Errorf("invalid signed-note private key: %w", err)
	}
	// NewSigner validated the structure, name, algorithm and hash.
	parts := strings.SplitN(skey, "+", 5)
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != algEd25519 {
		return nil, errors.New("invalid signed-note private key encoding")
	}
	return &PrivateKey{Name: parts[2], Key: ed25519.NewKeyFromSeed(raw[1:])}, nil
}

// ParsePublic parses a public key file (see the package documentation).
// It returns [ErrPrivateKey] for a private key file.
func ParsePublic(data []byte) (*PublicKey, error) {
	line, block, err := splitKeyFile(data, func(first string) bool { return first != "" && !strings.HasPrefix(first, "-----BEGIN") }, "public key", "verifier key", "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	var fromNote *PublicKey
	if line != "" {
		if strings.HasPrefix(line, "PRIVATE+KEY+") {
			return nil, ErrPrivateKey
		}
		if fromNote, err = parseVerifierKey(line); err != nil {
			return nil, err
		}
	}
	if block == nil {
		return fromNote, nil
	}
	if block.Type != "PUBLIC KEY" {
		if strings.Contains(block.Type, "PRIVATE") {
			return nil, ErrPrivateKey
		}
		return nil, fmt.Errorf("unsupported PEM block type %q (want \"PUBLIC KEY\")", block.Type)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse PKIX public key: %w", err)
	}
	if err := checkKeyType(key, "public", key); err != nil {
		return nil, err
	}
	pk := &PublicKey{Key: key}
	if fromNote != nil {
		if !fromNote.Key.(ed25519.PublicKey).Equal(key) {
			return nil, errors.New("the signed-note verifier key and the PEM key in the file differ")
		}
		pk.Name = fromNote.Name
	}
	return pk, nil
}

func parseVerifierKey(vkey string) (*PublicKey, error) {
	if _, err := note.NewVerifier(vkey); err != nil {
		return nil, fmt.Errorf("invalid signed-note verifier key: %w", err)
	}
	// NewVerifier validated the structure, name, algorithm and hash.
	parts := strings.SplitN(vkey, "+", 3)
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != algEd25519 {
		return nil, errors.New("invalid signed-note verifier key encoding")
	}
	return &PublicKey{Name: parts[0], Key: ed25519.PublicKey(raw[1:])}, nil
}

// splitFirstLine returns the first line of data without surrounding space, and
// everything after it.
func splitFirstLine(data []byte) (string, []byte) {
	data = bytes.TrimLeft(data, " \t\r\n")
	line, rest, _ := bytes.Cut(data, []byte("\n"))
	return string(bytes.TrimSpace(line)), rest
}

// LoadPrivate reads a private key file. It refuses a file that other users
// can read or write, and returns an error wrapping [ErrPublicKey] for a
// public key file (before looking at its permissions, which are those of a
// public key).
func LoadPrivate(path string) (*PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	if _, err := ParsePublic(data); err == nil {
		return nil, fmt.Errorf("%s: %w", path, ErrPublicKey)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("private key %s has mode %04o: it must not be accessible by group or others (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	k, err := ParsePrivate(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// LoadPublic reads a public key file.
func LoadPublic(path string) (*PublicKey, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePublic(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a key file", path, MaxFileSize)
	}
	return data, nil
}

// Write writes k to prefix+".key" (mode 0600) and its public key to
// prefix+".pub" (mode 0644). It refuses to overwrite existing files.
func Write(prefix string, k *PrivateKey) error {
	priv, err := k.MarshalPrivate()
	if err != nil {
		return err
	}
	pub, err := k.Public().Marshal()
	if err != nil {
		return err
	}
	for _, p := range []string{prefix + ".key", prefix + ".pub"} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists; refusing to overwrite it", p)
		}
	}
	if err := writeNew(prefix+".key", priv, 0o600); err != nil {
		return err
	}
	return writeNew(prefix+".pub", pub, 0o644)
}

// WritePublic writes p's public key file to path (mode 0644). It refuses
// to overwrite an existing file.
func WritePublic(path string, p *PublicKey) error {
	pub, err := p.Marshal()
	if err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s already exists; refusing to overwrite it", path)
	}
	return writeNew(path, pub, 0o644)
}

// writeNew creates path with mode and contents, durably, failing if it exists.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// A Ring is a set of DSSE verification keys indexed by DSSE key ID.
type Ring struct {
	byID  map[string]dsse.Verifier
	ids   []string
	names map[string]string // the keys' names, where they have one
}

// NewRing returns a Ring holding pubs. Duplicate keys are an error.
func NewRing(pubs ...*PublicKey) (*Ring, error) {
	r := &Ring{byID: make(map[string]dsse.Verifier)}
	for _, p := range pubs {
		v, err := p.DSSEVerifier()
		if err != nil {
			return nil, err
		}
		id, _ := v.KeyID()
		if _, dup := r.byID[id]; dup {
			return nil, fmt.Errorf("key %s is given twice", id)
		}
		r.byID[id] = v
		r.ids = append(r.ids, id)
		if p.Name != "" {
			if r.names == nil {
				r.names = map[string]string{}
			}
			r.names[id] = p.Name
		}
	}
	return r, nil
}

// Name returns the name of the key with DSSE key ID id (its signed-note
// key name), or "" if r has no such key or it has no name.
func (r *Ring) Name(id string) string {
	if r == nil {
		return ""
	}
	return r.names[id]
}

// Lookup returns the verifier with DSSE key ID id.
func (r *Ring) Lookup(id string) (dsse.Verifier, bool) {
	if r == nil {
		return nil, false
	}
	v, ok := r.byID[id]
	return v, ok
}

// IDs returns the key IDs in r, in the order they were given.
func (r *Ring) IDs() []string {
	if r == nil {
		return nil
	}
	return append([]string(nil), r.ids...)
}

// Len returns the number of keys in r.
func (r *Ring) Len() int {
	if r == nil {
		return 0
	}
	return len(r.ids)
}

// Merge returns a ring holding the keys of every ring given, each once.
func Merge(rings ...*Ring) *Ring {
	out := &Ring{byID: make(map[string]dsse.Verifier)}
	for _, r := range rings {
		for _, id := range r.IDs() {
			if _, dup := out.byID[id]; dup {
				continue
			}
			v, _ := r.Lookup(id)
			out.byID[id] = v
			out.ids = append(out.ids, id)
			if n := r.Name(id); n != "" {
				if out.names == nil {
					out.names = map[string]string{}
				}
				out.names[id] = n
			}
		}
	}
	return out
}

// Without returns a ring of the keys of r that drop does not name, in the
// same order; r itself when drop is nil or names none.
func (r *Ring) Without(drop func(id string) bool) *Ring {
	if drop == nil || !slices.ContainsFunc(r.IDs(), drop) {
		return r
	}
	out := &Ring{byID: make(map[string]dsse.Verifier), names: r.names}
	for _, id := range r.ids {
		if !drop(id) {
			out.byID[id] = r.byID[id]
			out.ids = append(out.ids, id)
		}
	}
	return out
}
