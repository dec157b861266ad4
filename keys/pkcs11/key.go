//go:build cgo

package pkcs11

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"

	p11 "github.com/miekg/pkcs11"
)

// CKA_EC_PARAMS of an Ed25519 key: the DER OID 1.3.101.112, or the
// printable string "edwards25519" that PKCS #11 3.0 also allows.
var (
	ecParamsEd25519OID  = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}
	ecParamsEd25519Name = append([]byte{0x13, 12}, "edwards25519"...)
)

// pairCheck is the message Open signs to check that the public key object
// matches the private key.
var pairCheck = []byte("fwledger: does this PKCS #11 private key match its public key object?")

// A module is a loaded and initialized PKCS #11 module, shared by the
// Keys of a process.
type module struct {
	path string
	ctx  *p11.Ctx
	refs int // guarded by modules.mu
}

var modules = struct {
	mu sync.Mutex
	m  map[string]*module
}{m: map[string]*module{}}

// loadModule loads and initializes the module u names, or takes another
// reference to it.
func loadModule(u *URI) (*module, error) {
	path := u.ModulePath()
	if path == "" {
		if _, ok := u.Query("module-name"); ok {
			return nil, errors.New("module-name is not supported: give module-path, the module's absolute path, in the URI")
		}
		return nil, errors.New("the URI has no module-path: give the PKCS #11 module's absolute path, e.g. module-path=/usr/lib/softhsm/libsofthsm2.so")
	}
	modules.mu.Lock()
	defer modules.mu.Unlock()
	if m, ok := modules.m[path]; ok {
		m.refs++
		return m, nil
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("PKCS #11 module %s does not exist: is it installed, and is module-path its absolute path?", path)
	}
	if err != nil {
		return nil, fmt.Errorf("PKCS #11 module %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("PKCS #11 module %s is not a regular file", path)
	}
	ctx := p11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("couldn't load PKCS #11 module %s: it is not a shared library with C_GetFunctionList", path)
	}
	if err := ctx.Initialize(); err != nil && !isCKR(err, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		ctx.Destroy()
		return nil, fmt.Errorf("couldn't initialize PKCS #11 module %s: %w", path, err)
	}
	m := &module{path: path, ctx: ctx, refs: 1}
	modules.m[path] = m
	return m, nil
}

// release drops a reference to m, and finalizes it after the last.
func (m *module) release() {
	modules.mu.Lock()
	defer modules.mu.Unlock()
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(modules.m, m.path)
	m.ctx.Finalize()
	m.ctx.Destroy()
}

func isCKR(err error, codes ...uint) bool {
	var e p11.Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range codes {
		if uint(e) == c {
			return true
		}
	}
	return false
}

// trim removes the padding of a fixed-length PKCS #11 text field.
func trim(s string) string { return strings.TrimRight(s, " \x00") }

// findSlot returns the one slot whose token matches u's token attributes,
// and the token's label.
func findSlot(m *module, u *URI) (uint, string, error) {
	if err := matchLibrary(m, u); err != nil {
		return 0, "", err
	}
	slots, err := m.ctx.GetSlotList(true)
	if err != nil {
		return 0, "", fmt.Errorf("couldn't list the slots of PKCS #11 module %s: %w", m.path, err)
	}
	var found []uint
	var labels []string
	var label string
	for _, s := range slots {
		ti, err := m.ctx.GetTokenInfo(s)
		if err != nil || ti.Flags&p11.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		labels = append(labels, strconv.Quote(trim(ti.Label)))
		si, err := m.ctx.GetSlotInfo(s)
		if err != nil {
			continue
		}
		have := map[string]string{
			"token": trim(ti.Label), "manufacturer": trim(ti.ManufacturerID), "serial": trim(ti.SerialNumber), "model": trim(ti.Model),
			"slot-id": strconv.FormatUint(uint64(s), 10), "slot-description": trim(si.SlotDescription), "slot-manufacturer": trim(si.ManufacturerID),
		}
		if matches(u, have) {
			found = append(found, s)
			label = trim(ti.Label)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], label, nil
	case len(found) > 1:
		return 0, "", fmt.Errorf("%d tokens match %s in PKCS #11 module %s: name one with token=, serial= or slot-id=", len(found), u.selector(), m.path)
	case len(labels) == 0:
		return 0, "", fmt.Errorf("no token matches %s: PKCS #11 module %s has no initialized token", u.selector(), m.path)
	}
	return 0, "", fmt.Errorf("no token matches %s in PKCS #11 module %s (its tokens: %s)", u.selector(), m.path, strings.Join(labels, ", "))
}

// matches reports whether every token attribute of u equals have's.
func matches(u *URI, have map[string]string) bool {
	for name, v := range have {
		if want, ok := u.Path(name); ok {
			if name == "slot-id" {
				n, err := strconv.ParseUint(want, 10, 64)
				if err != nil || strconv.FormatUint(n, 10) != v {
					return false
				}
				continue
			}
			if want != v {
				return false
			}
		}
	}
	return true
}

// matchLibrary checks u's library attributes against the module's.
func matchLibrary(m *module, u *URI) error {
	_, a := u.Path("library-manufacturer")
	_, b := u.Path("library-description")
	_, c := u.Path("library-version")
	if !a && !b && !c {
		return nil
	}
	info, err := m.ctx.GetInfo()
	if err != nil {
		return fmt.Errorf("couldn't read the information of PKCS #11 module %s: %w", m.path, err)
	}
	have := map[string]string{
		"library-manufacturer": trim(info.ManufacturerID),
		"library-description":  trim(info.LibraryDescription),
	}
	for name, v := range have {
		if want, ok := u.Path(name); ok && want != v {
			return fmt.Errorf("PKCS #11 module %s has %s %q, not %q", m.path, name, v, want)
		}
	}
	if want, ok := u.Path("library-version"); ok {
		major, minor, _ := strings.Cut(want, ".")
		mj, _ := strconv.ParseUint(major, 10, 8)
		mn, _ := strconv.ParseUint(minor, 10, 8) // 0 when absent
		if byte(mj) != info.LibraryVersion.Major || byte(mn) != info.LibraryVersion.Minor {
			return fmt.Errorf("PKCS #11 module %s has library-version %d.%d, not %s", m.path, info.LibraryVersion.Major, info.LibraryVersion.Minor, want)
		}
	}
	return nil
}

func checkMechanisms(m *module, slot uint, token string, want ...uint) error {
	list, err := m.ctx.GetMechanismList(slot)
	if err != nil {
		return fmt.Errorf("couldn't list the mechanisms of token %q: %w", token, err)
	}
	have := make([]uint, len(list))
	for i, mech := range list {
		have[i] = mech.Mechanism
	}
	return needMechanisms(token, have, want...)
}

// A Key is an Ed25519 key held in a PKCS #11 token: a crypto.Signer whose
// private half never leaves the token. It is safe for concurrent use;
// signatures are made one at a time. Close it when done.
type Key struct {
	mod   *module
	uri   *URI
	pin   string
	token string // the token's label, for errors
	label string // the private key's CKA_LABEL
	pub   ed25519.PublicKey

	mu      sync.Mutex // guards what follows, and the session's use
	closed  bool
	session p11.SessionHandle
	live    bool // session is open
	priv    p11.ObjectHandle
}

// Open finds the Ed25519 key that u names and opens a session with its
// token, logged in with the PIN that u's pin-source (or
// FWLEDGER_PKCS11_PIN) gives. Its errors name the problem: the module
// missing or not a PKCS #11 module, no such token, a wrong PIN, no such
// key, a key that is not Ed25519, a token without CKM_EDDSA.
func Open(u *URI) (*Key, error) { return open(u, false) }

// Generate makes a new Ed25519 key pair in the token u names, labelled
// with u's object (which it requires) and identified by u's id (or 16
// random bytes), and opens it as Open does. It refuses to make a key whose
// label or id an object of the token already has.
func Generate(u *URI) (*Key, error) { return open(u, true) }

func open(u *URI, generate bool) (_ *Key, err error) {
	if u.Object() == "" && (generate || !hasID(u)) {
		if generate {
			return nil, errors.New("the URI names no key label: give object=<label> (the key's signed-note name)")
		}
		return nil, errors.New("the URI names no key: give object=<label> or id=<CKA_ID>")
	}
	mod, err := loadModule(u)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			mod.release()
		}
	}()
	slot, token, err := findSlot(mod, u)
	if err != nil {
		return nil, err
	}
	want := []uint{ckmEdDSA}
	if generate {
		want = append(want, ckmEdwardsKeyPairGen)
	}
	if err := checkMechanisms(mod, slot, token, want...); err != nil {
		return nil, err
	}
	pin, err := u.PIN()
	if err != nil {
		return nil, err
	}
	k := &Key{mod: mod, uri: u, pin: pin, token: token}
	if generate {
		if k.uri, err = k.generate(slot); err != nil {
			return nil, err
		}
	}
	if err := k.connect(slot); err != nil {
		return nil, err
	}
	if err := k.checkPair(); err != nil {
		k.disconnect()
		return nil, err
	}
	return k, nil
}

func hasID(u *URI) bool { _, ok := u.ID(); return ok }

// login opens a session on slot, read-write if rw, and logs in as the
// user.
func (k *Key) login(slot uint, rw bool) (p11.SessionHandle, error) {
	flags := uint(p11.CKF_SERIAL_SESSION)
	if rw {
		flags |= p11.CKF_RW_SESSION
	}
	sh, err := k.mod.ctx.OpenSession(slot, flags)
	if err != nil {
		return 0, fmt.Errorf("couldn't open a session with token %q: %w", k.token, err)
	}
	err = k.mod.ctx.Login(sh, p11.CKU_USER, k.pin)
	switch {
	case err == nil || isCKR(err, p11.CKR_USER_ALREADY_LOGGED_IN):
		return sh, nil
	case isCKR(err, p11.CKR_PIN_INCORRECT):
		err = fmt.Errorf("wrong PIN for token %q (%w)", k.token, err)
	case isCKR(err, p11.CKR_PIN_LOCKED):
		err = fmt.Errorf("the user PIN of token %q is locked after too many wrong PINs: its security officer must reset it (%w)", k.token, err)
	case isCKR(err, p11.CKR_PIN_LEN_RANGE):
		err = fmt.Errorf("wrong PIN for token %q: the PIN has a length the token never accepts (%w)", k.token, err)
	default:
		err = fmt.Errorf("couldn't log in to token %q: %w", k.token, err)
	}
	k.mod.ctx.CloseSession(sh)
	return 0, err
}

// findObjects returns the handles of the objects that match template (at
// most 16).
func (k *Key) findObjects(sh p11.SessionHandle, template []*p11.Attribute) ([]p11.ObjectHandle, error) {
	if err := k.mod.ctx.FindObjectsInit(sh, template); err != nil {
		return nil, fmt.Errorf("couldn't search token %q: %w", k.token, err)
	}
	defer k.mod.ctx.FindObjectsFinal(sh)
	objs, _, err := k.mod.ctx.FindObjects(sh, 16)
	if err != nil {
		return nil, fmt.Errorf("couldn't search token %q: %w", k.token, err)
	}
	return objs, nil
}

// keyTemplate is the template of u's key of class, by label and id.
func keyTemplate(u *URI, class uint) []*p11.Attribute {
	t := []*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, class)}
	if l := u.Object(); l != "" {
		t = append(t, p11.NewAttribute(p11.CKA_LABEL, l))
	}
	if id, ok := u.ID(); ok {
		t = append(t, p11.NewAttribute(p11.CKA_ID, id))
	}
	return t
}

// generate makes the key pair, in a read-write session of its own, and
// returns u with the key's id.
func (k *Key) generate(slot uint) (*URI, error) {
	sh, err := k.login(slot, true)
	if err != nil {
		return nil, err
	}
	defer k.mod.ctx.CloseSession(sh)
	label := k.uri.Object()
	id, haveID := k.uri.ID()
	existing := []struct {
		attr *p11.Attribute
		what string
	}{{p11.NewAttribute(p11.CKA_LABEL, label), fmt.Sprintf("labelled %q", label)}}
	if haveID {
		existing = append(existing, struct {
			attr *p11.Attribute
			what string
		}{p11.NewAttribute(p11.CKA_ID, id), fmt.Sprintf("with id %x", id)})
	}
	for _, e := range existing {
		objs, err := k.findObjects(sh, []*p11.Attribute{e.attr})
		if err != nil {
			return nil, err
		}
		if len(objs) > 0 {
			return nil, fmt.Errorf("token %q already holds an object %s: refusing to make another key beside it", k.token, e.what)
		}
	}
	if !haveID {
		id = make([]byte, 16)
		if _, err := rand.Read(id); err != nil {
			return nil, err
		}
	}
	public := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, ckkEdwards),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, false),
		p11.NewAttribute(p11.CKA_VERIFY, true),
		p11.NewAttribute(p11.CKA_EC_PARAMS, ecParamsEd25519OID),
		p11.NewAttribute(p11.CKA_LABEL, label),
		p11.NewAttribute(p11.CKA_ID, id),
	}
	private := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, ckkEdwards),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_SIGN, true),
		p11.NewAttribute(p11.CKA_LABEL, label),
		p11.NewAttribute(p11.CKA_ID, id),
	}
	mech := []*p11.Mechanism{p11.NewMechanism(ckmEdwardsKeyPairGen, nil)}
	if _, _, err := k.mod.ctx.GenerateKeyPair(sh, mech, public, private); err != nil {
		if isCKR(err, ckrCurveNotSupported, p11.CKR_ATTRIBUTE_VALUE_INVALID, p11.CKR_DOMAIN_PARAMS_INVALID) {
			return nil, fmt.Errorf("token %q cannot make Ed25519 keys (%w)", k.token, err)
		}
		return nil, fmt.Errorf("couldn't generate an Ed25519 key in token %q: %w", k.token, err)
	}
	u := *k.uri
	u.path = map[string]string{}
	for n, v := range k.uri.path {
		u.path[n] = v
	}
	u.path["id"] = string(id)
	return &u, nil
}

// connect opens the Key's session, finds its private key and, the first
// time, its public key. k.mu is held, or k is not yet shared.
func (k *Key) connect(slot uint) error {
	sh, err := k.login(slot, false)
	if err != nil {
		return err
	}
	priv, label, pub, err := k.findKey(sh)
	if err != nil {
		k.mod.ctx.CloseSession(sh)
		return err
	}
	if k.pub != nil && !k.pub.Equal(pub) {
		k.mod.ctx.CloseSession(sh)
		return fmt.Errorf("the key %s in token %q has changed since it was opened", k.uri.selector(), k.token)
	}
	k.session, k.live, k.priv, k.label, k.pub = sh, true, priv, label, pub
	return nil
}

// disconnect closes the session. It does not log out: PKCS #11 logs a
// process in per token, so that would log out the other Keys of the token.
func (k *Key) disconnect() {
	if k.live {
		k.mod.ctx.CloseSession(k.session)
		k.live = false
	}
}

// findKey finds the private key u names and its public key.
func (k *Key) findKey(sh p11.SessionHandle) (p11.ObjectHandle, string, ed25519.PublicKey, error) {
	u := k.uri
	objs, err := k.findObjects(sh, keyTemplate(u, p11.CKO_PRIVATE_KEY))
	if err != nil {
		return 0, "", nil, err
	}
	switch {
	case len(objs) == 0:
		return 0, "", nil, fmt.Errorf("no private key in token %q matches %s", k.token, u.selector())
	case len(objs) > 1:
		return 0, "", nil, fmt.Errorf("%d private keys match %s in token %q: name one with id=", len(objs), u.selector(), k.token)
	}
	priv := objs[0]
	attrs, err := k.mod.ctx.GetAttributeValue(sh, priv, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_KEY_TYPE, nil),
		p11.NewAttribute(p11.CKA_LABEL, nil),
		p11.NewAttribute(p11.CKA_ID, nil),
		p11.NewAttribute(p11.CKA_SIGN, nil),
		p11.NewAttribute(p11.CKA_SENSITIVE, nil),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, nil),
	})
	if err != nil {
		return 0, "", nil, fmt.Errorf("couldn't read the private key %s in token %q: %w", u.selector(), k.token, err)
	}
	keyType, label, id, sign := ulong(attrs[0].Value), string(attrs[1].Value), attrs[2].Value, attrs[3].Value
	if keyType != ckkEdwards {
		return 0, "", nil, fmt.Errorf("the key %s in token %q is not an Ed25519 key: its key type is %s", u.selector(), k.token, keyTypeName(keyType))
	}
	if len(sign) != 1 || sign[0] == 0 {
		return 0, "", nil, fmt.Errorf("the key %s in token %q may not sign (its CKA_SIGN is false)", u.selector(), k.token)
	}
	// A key that can leave the token is not what a key in an HSM
	// promises: one made by another tool, or imported, is refused.
	if sensitive, extractable := attrs[4].Value, attrs[5].Value; len(sensitive) != 1 || sensitive[0] == 0 || len(extractable) != 1 || extractable[0] != 0 {
		return 0, "", nil, fmt.Errorf("the private key %s in token %q can be read out of the token (it is not CKA_SENSITIVE, or it is CKA_EXTRACTABLE): refusing it; make a key that cannot with fwctl keygen --pkcs11", u.selector(), k.token)
	}
	// The public key object is the one with the same id, or, for a key
	// without one, the same label.
	tmpl := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, ckkEdwards),
	}
	if len(id) > 0 {
		tmpl = append(tmpl, p11.NewAttribute(p11.CKA_ID, id))
	} else {
		tmpl = append(tmpl, p11.NewAttribute(p11.CKA_LABEL, label))
	}
	pubs, err := k.findObjects(sh, tmpl)
	if err != nil {
		return 0, "", nil, err
	}
	if len(pubs) != 1 {
		return 0, "", nil, fmt.Errorf("the private key %s in token %q has %d public key objects beside it (same CKA_ID, or same label without one), not 1: the public key is read from it", u.selector(), k.token, len(pubs))
	}
	attrs, err = k.mod.ctx.GetAttributeValue(sh, pubs[0], []*p11.Attribute{
		p11.NewAttribute(p11.CKA_EC_PARAMS, nil),
		p11.NewAttribute(p11.CKA_EC_POINT, nil),
	})
	if err != nil {
		return 0, "", nil, fmt.Errorf("couldn't read the public key of %s in token %q: %w", u.selector(), k.token, err)
	}
	if p := attrs[0].Value; !bytes.Equal(p, ecParamsEd25519OID) && !bytes.Equal(p, ecParamsEd25519Name) {
		return 0, "", nil, fmt.Errorf("the key %s in token %q is an Edwards-curve key but not Ed25519 (CKA_EC_PARAMS %x)", u.selector(), k.token, p)
	}
	pub, err := ecPoint(attrs[1].Value)
	if err != nil {
		return 0, "", nil, fmt.Errorf("the public key of %s in token %q: %w", u.selector(), k.token, err)
	}
	return priv, label, pub, nil
}

// ecPoint decodes CKA_EC_POINT of an Ed25519 key: the 32-byte public key,
// as a DER OCTET STRING (as PKCS #11 3.0 says and SoftHSM2 writes it) or
// bare.
func ecPoint(v []byte) (ed25519.PublicKey, error) {
	switch {
	case len(v) == 2+ed25519.PublicKeySize && v[0] == 0x04 && v[1] == ed25519.PublicKeySize:
		return ed25519.PublicKey(bytes.Clone(v[2:])), nil
	case len(v) == ed25519.PublicKeySize:
		return ed25519.PublicKey(bytes.Clone(v)), nil
	}
	return nil, fmt.Errorf("CKA_EC_POINT is %d bytes, not an Ed25519 public key", len(v))
}

// ulong decodes a CK_ULONG attribute value.
func ulong(v []byte) uint {
	switch len(v) {
	case 8:
		return uint(binary.NativeEndian.Uint64(v))
	case 4:
		return uint(binary.NativeEndian.Uint32(v))
	}
	return ^uint(0)
}

func keyTypeName(t uint) string {
	switch t {
	case p11.CKK_RSA:
		return "CKK_RSA"
	case p11.CKK_EC:
		return "CKK_EC (ECDSA)"
	case ckkEdwards:
		return "CKK_EC_EDWARDS"
	}
	return fmt.Sprintf("0x%x", t)
}

// checkPair signs a test message and verifies it with the public key.
func (k *Key) checkPair() error {
	sig, err := k.signLocked(pairCheck)
	if err != nil {
		return fmt.Errorf("the key %s in token %q cannot sign: %w", k.uri.selector(), k.token, err)
	}
	if !ed25519.Verify(k.pub, pairCheck, sig) {
		return fmt.Errorf("the private key %s in token %q does not match its public key object", k.uri.selector(), k.token)
	}
	return nil
}

// Public returns the key's ed25519.PublicKey.
func (k *Key) Public() crypto.PublicKey { return k.pub }

// Label returns the private key's label (CKA_LABEL).
func (k *Key) Label() string { return k.label }

// String names the key by its URI's path (never a PIN).
func (k *Key) String() string { return k.uri.selector() }

// Sign signs msg with pure Ed25519 (CKM_EDDSA) in the token; opts must be
// crypto.Hash(0) (or an *ed25519.Options with no hash and no context). If
// the token has dropped the session, Sign logs in again in a new one and
// tries once more.
func (k *Key) Sign(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != 0 {
		return nil, errors.New("a PKCS #11 Ed25519 key signs messages, not digests: Ed25519ph is not supported")
	}
	if o, ok := opts.(*ed25519.Options); ok && o.Context != "" {
		return nil, errors.New("Ed25519 with a context (Ed25519ctx) is not supported")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, fmt.Errorf("the PKCS #11 key %s is closed", k.uri.selector())
	}
	sig, err := k.signLocked(msg)
	if err == nil || !sessionLost(err) {
		return sig, err
	}
	// The token dropped the session (or the login): start again.
	k.disconnect()
	slot, _, ferr := findSlot(k.mod, k.uri)
	if ferr == nil {
		ferr = k.connect(slot)
	}
	if ferr != nil {
		return nil, fmt.Errorf("%w; then couldn't open a new session: %w", err, ferr)
	}
	return k.signLocked(msg)
}

func (k *Key) signLocked(msg []byte) ([]byte, error) {
	if !k.live {
		return nil, fmt.Errorf("no session with token %q", k.token)
	}
	ctx := k.mod.ctx
	if err := ctx.SignInit(k.session, []*p11.Mechanism{p11.NewMechanism(ckmEdDSA, nil)}, k.priv); err != nil {
		return nil, fmt.Errorf("couldn't start a CKM_EDDSA signature in token %q: %w", k.token, err)
	}
	sig, err := ctx.Sign(k.session, msg)
	if err != nil {
		return nil, fmt.Errorf("couldn't sign with CKM_EDDSA in token %q: %w", k.token, err)
	}
	return sig, nil
}

// sessionLost reports whether err says the session or its login is gone.
func sessionLost(err error) bool {
	return isCKR(err, p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED, p11.CKR_USER_NOT_LOGGED_IN,
		p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_KEY_HANDLE_INVALID, p11.CKR_DEVICE_REMOVED, p11.CKR_TOKEN_NOT_PRESENT)
}

// Close closes the key's session, and finalizes the module if no other
// Key uses it. A closed Key signs nothing.
func (k *Key) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	k.closed = true
	k.disconnect()
	k.mod.release()
	return nil
}

// Delete destroys the key pair u names (its private and public key
// objects) in the token: to retire a key, and for tests. It needs an
// object or id, so that it never destroys more than one key's objects by
// accident.
func Delete(u *URI) error {
	if u.Object() == "" && !hasID(u) {
		return errors.New("the URI names no key: give object=<label> or id=<CKA_ID>")
	}
	return withSession(u, func(k *Key, sh p11.SessionHandle) error {
		var objs []p11.ObjectHandle
		for _, class := range []uint{p11.CKO_PRIVATE_KEY, p11.CKO_PUBLIC_KEY} {
			o, err := k.findObjects(sh, keyTemplate(u, class))
			if err != nil {
				return err
			}
			objs = append(objs, o...)
		}
		if len(objs) == 0 {
			return fmt.Errorf("no key in token %q matches %s", k.token, u.selector())
		}
		for _, o := range objs {
			if err := k.mod.ctx.DestroyObject(sh, o); err != nil {
				return fmt.Errorf("couldn't destroy an object of %s in token %q: %w", u.selector(), k.token, err)
			}
		}
		return nil
	})
}

// withSession runs f with a logged-in read-write session on the token u
// names, for one operation, and closes the session after it.
func withSession(u *URI, f func(k *Key, sh p11.SessionHandle) error) error {
	mod, err := loadModule(u)
	if err != nil {
		return err
	}
	defer mod.release()
	slot, token, err := findSlot(mod, u)
	if err != nil {
		return err
	}
	pin, err := u.PIN()
	if err != nil {
		return err
	}
	k := &Key{mod: mod, uri: u, pin: pin, token: token}
	sh, err := k.login(slot, true)
	if err != nil {
		return err
	}
	defer mod.ctx.CloseSession(sh)
	return f(k, sh)
}
