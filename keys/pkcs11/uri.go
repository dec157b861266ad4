package pkcs11

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// Scheme is the prefix of a PKCS #11 URI (RFC 7512), which is how the
// commands tell one from a key file's path.
const Scheme = "pkcs11:"

// PINEnv is the environment variable that holds the PIN when the URI has
// no pin-source.
const PINEnv = "FWLEDGER_PKCS11_PIN"

// maxURI is the longest URI that is parsed, and maxPIN the largest PIN
// file that is read.
const (
	maxURI = 4096
	maxPIN = 1024
)

// pathAttrs and queryAttrs are the attributes of RFC 7512, Section 2.3.
var (
	pathAttrs = []string{
		"token", "manufacturer", "serial", "model",
		"library-manufacturer", "library-description", "library-version",
		"object", "type", "id",
		"slot-description", "slot-manufacturer", "slot-id",
	}
	queryAttrs = []string{"module-name", "module-path", "pin-source", "pin-value"}
)

// A URI is a parsed PKCS #11 URI (RFC 7512) that names a key:
//
//	pkcs11:token=fw;object=release-3?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:pin.txt
//
// Path attributes, separated by ';', select the token (token, manufacturer,
// serial, model, slot-id, slot-description, slot-manufacturer,
// library-manufacturer, library-description, library-version) and the key
// in it (object, the key's CKA_LABEL; id, its CKA_ID; type, which must be
// "private" if given). Query attributes, separated by '&', say how to reach
// it: module-path, the PKCS #11 module's absolute path, and pin-source,
// file:<path> of a file holding the user PIN (a relative path is relative to
// the working directory). Without pin-source the PIN is read from the
// environment variable FWLEDGER_PKCS11_PIN. A PIN in the URI itself
// (pin-value) is refused: command lines are visible to every user of a
// machine.
//
// Values are percent-decoded (RFC 3986): "object=example.com%2Ffwlog" names
// the label "example.com/fwlog". Each attribute appears at most once.
type URI struct {
	path, query map[string]string
}

var errPINValue = errors.New("pin-value puts the PIN on the command line, where other users can read it: " +
	"use pin-source=file:<path> or the environment variable " + PINEnv)

// ParseURI parses a PKCS #11 URI that names a key; see [URI]. Errors name
// the attribute at fault.
func ParseURI(s string) (*URI, error) {
	if len(s) > maxURI {
		return nil, fmt.Errorf("PKCS #11 URI is longer than %d bytes", maxURI)
	}
	if len(s) < len(Scheme) || !strings.EqualFold(s[:len(Scheme)], Scheme) {
		return nil, errors.New(`a PKCS #11 URI begins with "pkcs11:"`)
	}
	rest := s[len(Scheme):]
	if strings.Contains(rest, "#") {
		return nil, errors.New("a PKCS #11 URI has no fragment: write '#' as %23")
	}
	pathPart, queryPart, hasQuery := strings.Cut(rest, "?")
	u := &URI{path: map[string]string{}, query: map[string]string{}}
	if err := parseAttrs(u.path, pathPart, ";", "path", pathAttrs, isPathChar); err != nil {
		return nil, err
	}
	if hasQuery {
		if err := parseAttrs(u.query, queryPart, "&", "query", queryAttrs, isQueryChar); err != nil {
			return nil, err
		}
	}
	if err := u.check(); err != nil {
		return nil, err
	}
	return u, nil
}

// parseAttrs parses part, attributes separated by sep, into m.
func parseAttrs(m map[string]string, part, sep, kind string, known []string, valid func(byte) bool) error {
	if part == "" {
		return nil
	}
	for i, a := range strings.Split(part, sep) {
		if strings.HasPrefix(a, "pin-value") {
			// However it is written, refused before it is quoted: no
			// error quotes a piece of a PIN.
			return errPINValue
		}
		name, raw, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			// Not quoted: an attribute's text may hold a secret.
			return fmt.Errorf("malformed %s attribute (the %s one): want name=value", kind, ordinal(i+1))
		}
		if !slices.Contains(known, name) {
			if slices.Contains(pathAttrs, name) || slices.Contains(queryAttrs, name) {
				return fmt.Errorf("attribute %q belongs in the URI's %s, not its %s", name, otherPart(kind), kind)
			}
			return fmt.Errorf("unsupported %s attribute %q", kind, name)
		}
		if _, dup := m[name]; dup {
			return fmt.Errorf("attribute %q appears twice", name)
		}
		if name == "pin-value" {
			// Refused before its value is looked at, so that no error
			// quotes a piece of it.
			return errPINValue
		}
		v, err := unescape(raw, valid)
		if err != nil {
			return fmt.Errorf("attribute %q: %w", name, err)
		}
		if name != "id" && !utf8.ValidString(v) {
			return fmt.Errorf("attribute %q is not UTF-8 text", name)
		}
		m[name] = v
	}
	return nil
}

func otherPart(kind string) string {
	if kind == "path" {
		return "query (after '?', separated by '&')"
	}
	return "path (before '?', separated by ';')"
}

// check applies the rules of RFC 7512 and of fwledger to the attributes.
func (u *URI) check() error {
	if v, ok := u.path["type"]; ok && v != "private" {
		switch v {
		case "public", "cert", "secret-key", "data":
			return fmt.Errorf("type=%s does not name a signing key: give type=private or no type", v)
		}
		return fmt.Errorf("invalid type %q: want private, public, cert, secret-key or data", v)
	}
	if v, ok := u.path["slot-id"]; ok && !allDigits(v) {
		return fmt.Errorf("invalid slot-id %q: want a decimal number", v)
	}
	if v, ok := u.path["library-version"]; ok {
		major, minor, dot := strings.Cut(v, ".")
		if !allDigits(major) || (dot && !allDigits(minor)) {
			return fmt.Errorf("invalid library-version %q: want M or M.N", v)
		}
	}
	if v, ok := u.query["module-path"]; ok && !filepath.IsAbs(v) {
		return fmt.Errorf("module-path %q is not an absolute path", v)
	}
	return nil
}

func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// unescape percent-decodes s, whose unencoded bytes must satisfy valid.
func unescape(s string, valid func(byte) bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
				return "", fmt.Errorf("invalid percent-encoding at %q", s[i:min(i+3, len(s))])
			}
			b.WriteByte(byte(unhex(s[i+1])<<4 | unhex(s[i+2])))
			i += 2
		case valid(c):
			b.WriteByte(c)
		default:
			return "", fmt.Errorf("character %q must be percent-encoded", c)
		}
	}
	return b.String(), nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// isUnreserved is RFC 3986's unreserved set.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0
}

// isPathChar is RFC 7512's pk11-pchar without pct-encoded: unreserved,
// pk11-res-avail and '&'.
func isPathChar(c byte) bool {
	return isUnreserved(c) || strings.IndexByte(":[]@!$'()*+,=&", c) >= 0
}

// isQueryChar is RFC 7512's pk11-qchar without pct-encoded: unreserved,
// pk11-res-avail, '/', '?' and '|'.
func isQueryChar(c byte) bool {
	return isUnreserved(c) || strings.IndexByte(":[]@!$'()*+,=/?|", c) >= 0
}

// Path returns the value of path attribute name and whether it is there.
func (u *URI) Path(name string) (string, bool) {
	v, ok := u.path[name]
	return v, ok
}

// Query returns the value of query attribute name and whether it is there.
func (u *URI) Query(name string) (string, bool) {
	v, ok := u.query[name]
	return v, ok
}

// Object returns the key's label (the object attribute), "" if the URI
// names none.
func (u *URI) Object() string { return u.path["object"] }

// Token returns the token's label (the token attribute), "" if the URI
// names none.
func (u *URI) Token() string { return u.path["token"] }

// ID returns the key's CKA_ID (the id attribute), and whether the URI
// gives one.
func (u *URI) ID() ([]byte, bool) {
	v, ok := u.path["id"]
	return []byte(v), ok
}

// ModulePath returns the module-path attribute, "" if the URI has none.
func (u *URI) ModulePath() string { return u.query["module-path"] }

// String returns u in a canonical form: attributes in the order of RFC
// 7512, every byte outside the unreserved set percent-encoded in the path
// (and all of id's bytes), and the query as permissive as the RFC allows,
// so that a module path reads as a path. It never holds a PIN.
func (u *URI) String() string {
	var b strings.Builder
	b.WriteString(Scheme)
	sep := ""
	for _, name := range pathAttrs {
		if v, ok := u.path[name]; ok {
			b.WriteString(sep + name + "=")
			b.WriteString(escape(v, name == "id", isUnreserved))
			sep = ";"
		}
	}
	sep = "?"
	for _, name := range queryAttrs {
		if v, ok := u.query[name]; ok {
			b.WriteString(sep + name + "=")
			b.WriteString(escape(v, false, func(c byte) bool { return isQueryChar(c) && c != '%' }))
			sep = "&"
		}
	}
	return b.String()
}

func escape(s string, all bool, keep func(byte) bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !all && keep(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// getenv reads the environment; tests replace it.
var getenv = os.Getenv

// PIN returns the user PIN for u's token: read from the file that
// pin-source names (file:<path>, file:///<absolute path>; a relative path
// is relative to the working directory; one final newline is dropped), or
// else from the environment variable FWLEDGER_PKCS11_PIN. A PIN file that
// every user of the machine may read is refused.
func (u *URI) PIN() (string, error) {
	src, ok := u.query["pin-source"]
	if !ok {
		pin := getenv(PINEnv)
		if pin == "" {
			return "", fmt.Errorf("no PIN for the token: give pin-source=file:<path> in the URI or set %s", PINEnv)
		}
		return pin, nil
	}
	rest, ok := strings.CutPrefix(src, "file:")
	if !ok {
		return "", fmt.Errorf("unsupported pin-source %q: want file:<path>", src)
	}
	path := rest
	if after, ok := strings.CutPrefix(rest, "//"); ok {
		host, p, _ := strings.Cut(after, "/")
		if host != "" && host != "localhost" {
			return "", fmt.Errorf("pin-source %q names host %q: only local files hold PINs", src, host)
		}
		path = "/" + p
	}
	if path == "" {
		return "", fmt.Errorf("pin-source %q names no file", src)
	}
	return readPIN(path)
}

func readPIN(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("couldn't read the PIN file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("couldn't read the PIN file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("PIN file %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("PIN file %s has mode %04o: it must not be accessible by group or others (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPIN+1))
	if err != nil {
		return "", fmt.Errorf("couldn't read the PIN file: %w", err)
	}
	if len(data) > maxPIN {
		return "", fmt.Errorf("PIN file %s is larger than %d bytes", path, maxPIN)
	}
	pin := string(data)
	pin = strings.TrimSuffix(pin, "\n")
	pin = strings.TrimSuffix(pin, "\r")
	if pin == "" {
		return "", fmt.Errorf("PIN file %s is empty", path)
	}
	return pin, nil
}

// selector returns the path part of u, which says which token and key it
// names, for error messages.
func (u *URI) selector() string {
	s, _, _ := strings.Cut(u.String(), "?")
	return s
}

// ordinal names a position: 1st, 2nd, 3rd, 4th...
func ordinal(n int) string {
	switch {
	case n%100 >= 11 && n%100 <= 13:
		return fmt.Sprintf("%dth", n)
	case n%10 == 1:
		return fmt.Sprintf("%dst", n)
	case n%10 == 2:
		return fmt.Sprintf("%dnd", n)
	case n%10 == 3:
		return fmt.Sprintf("%drd", n)
	}
	return fmt.Sprintf("%dth", n)
}
