package transport

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
)

// pinPrefix starts the text form of a pin.
const pinPrefix = "sha256/"

// ParsePin parses a pin written as "sha256/" and the standard, padded
// base64 of the 32-byte SHA-256 of a certificate's SubjectPublicKeyInfo,
// the form of HTTP public key pinning (RFC 7469) and of
//
//	openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64
//
// for example "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".
func ParsePin(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, pinPrefix)
	if !ok {
		return nil, fmt.Errorf("invalid pin %q: want %s<base64 of a SHA-256>", s, pinPrefix)
	}
	pin, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("invalid pin %q: %w", s, err)
	}
	if len(pin) != sha256.Size {
		return nil, fmt.Errorf("invalid pin %q: %d bytes, want %d", s, len(pin), sha256.Size)
	}
	return pin, nil
}

// FormatPin returns the text form of pin that [ParsePin] parses.
func FormatPin(pin []byte) string {
	return pinPrefix + base64.StdEncoding.EncodeToString(pin)
}

// CertPin returns the pin of cert: the SHA-256 of its SubjectPublicKeyInfo.
func CertPin(cert *x509.Certificate) []byte {
	h := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return h[:]
}

// tlsConfig returns the TLS configuration for a pin and roots. With a pin
// and no roots the pin alone authenticates the server: its chain, name and
// validity period are not checked, so a self-signed certificate works, and
// so does a device whose clock is wrong. With roots the chain is verified
// as usual, and the pin on top of it if there is one. With neither, the
// system's roots.
func tlsConfig(pin []byte, roots *x509.CertPool) *tls.Config {
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if pin == nil {
		return cfg
	}
	cfg.InsecureSkipVerify = roots == nil
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		e := &PinError{Host: cs.ServerName, Want: pin}
		if len(cs.PeerCertificates) == 0 {
			return e
		}
		e.Got = CertPin(cs.PeerCertificates[0])
		if subtle.ConstantTimeCompare(e.Got, pin) != 1 {
			return e
		}
		return nil
	}
	return cfg
}
