//go:build cgo

package pkcs11

import (
	"fmt"

	p11 "github.com/miekg/pkcs11"
)

// DropSession closes k's session behind its back, as a token does when it
// is reset.
func DropSession(k *Key) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.mod.ctx.CloseSession(k.session)
}

// GenerateECDSA makes an ECDSA P-256 key pair in the token u names,
// labelled with u's object: a key of the wrong type.
func GenerateECDSA(u *URI) error {
	return withSession(u, func(k *Key, sh p11.SessionHandle) error {
		p256 := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
		id := []byte("ecdsa-" + u.Object())
		_, _, err := k.mod.ctx.GenerateKeyPair(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_EC_KEY_PAIR_GEN, nil)},
			[]*p11.Attribute{
				p11.NewAttribute(p11.CKA_TOKEN, true), p11.NewAttribute(p11.CKA_VERIFY, true),
				p11.NewAttribute(p11.CKA_EC_PARAMS, p256), p11.NewAttribute(p11.CKA_LABEL, u.Object()), p11.NewAttribute(p11.CKA_ID, id),
			},
			[]*p11.Attribute{
				p11.NewAttribute(p11.CKA_TOKEN, true), p11.NewAttribute(p11.CKA_PRIVATE, true), p11.NewAttribute(p11.CKA_SIGN, true),
				p11.NewAttribute(p11.CKA_LABEL, u.Object()), p11.NewAttribute(p11.CKA_ID, id),
			})
		if err != nil {
			return fmt.Errorf("couldn't make an ECDSA key: %w", err)
		}
		return nil
	})
}

// GenerateExtractable makes an Ed25519 key pair labelled with u's object
// whose private key can be read out of the token: not what fwctl keygen
// makes, and refused by Open.
func GenerateExtractable(u *URI) error {
	return withSession(u, func(k *Key, sh p11.SessionHandle) error {
		id := []byte("extractable-" + u.Object())
		_, _, err := k.mod.ctx.GenerateKeyPair(sh, []*p11.Mechanism{p11.NewMechanism(ckmEdwardsKeyPairGen, nil)},
			[]*p11.Attribute{
				p11.NewAttribute(p11.CKA_TOKEN, true), p11.NewAttribute(p11.CKA_VERIFY, true), p11.NewAttribute(p11.CKA_KEY_TYPE, ckkEdwards),
				p11.NewAttribute(p11.CKA_EC_PARAMS, ecParamsEd25519OID), p11.NewAttribute(p11.CKA_LABEL, u.Object()), p11.NewAttribute(p11.CKA_ID, id),
			},
			[]*p11.Attribute{
				p11.NewAttribute(p11.CKA_TOKEN, true), p11.NewAttribute(p11.CKA_PRIVATE, true), p11.NewAttribute(p11.CKA_SIGN, true),
				p11.NewAttribute(p11.CKA_KEY_TYPE, ckkEdwards), p11.NewAttribute(p11.CKA_SENSITIVE, false), p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
				p11.NewAttribute(p11.CKA_LABEL, u.Object()), p11.NewAttribute(p11.CKA_ID, id),
			})
		if err != nil {
			return fmt.Errorf("couldn't make an extractable key: %w", err)
		}
		return nil
	})
}
