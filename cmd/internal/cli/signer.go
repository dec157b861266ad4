package cli

import (
	"fmt"
	"strings"

	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/keys/pkcs11"
)

// IsPKCS11 reports whether a --key value is a PKCS #11 URI rather than a
// key file's path (write ./pkcs11:… for a file of that name).
func IsPKCS11(ref string) bool {
	return len(ref) >= len(pkcs11.Scheme) && strings.EqualFold(ref[:len(pkcs11.Scheme)], pkcs11.Scheme)
}

// LoadSigner loads a signing key: a private key file, or, for a pkcs11:
// URI (RFC 7512, see package keys/pkcs11), an Ed25519 key held in a
// PKCS #11 token, whose signed-note name is its label. Close the key when
// done with it: that ends a token's session.
func LoadSigner(ref string) (*keys.PrivateKey, error) {
	if !IsPKCS11(ref) {
		return keys.LoadPrivate(ref)
	}
	u, err := pkcs11.ParseURI(ref)
	if err != nil {
		return nil, fmt.Errorf("invalid PKCS #11 URI: %w", err)
	}
	k, err := pkcs11.Open(u)
	if err != nil {
		return nil, err
	}
	return &keys.PrivateKey{Name: k.Label(), Key: k}, nil
}

// LoadSigners loads each of refs with LoadSigner. close closes them all;
// on an error, those loaded are closed already.
func LoadSigners(refs []string) (ks []*keys.PrivateKey, close func(), err error) {
	close = func() {
		for _, k := range ks {
			k.Close()
		}
	}
	for _, ref := range refs {
		k, err := LoadSigner(ref)
		if err != nil {
			close()
			return nil, nil, err
		}
		ks = append(ks, k)
	}
	return ks, close, nil
}
