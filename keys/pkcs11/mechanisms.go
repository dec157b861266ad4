package pkcs11

import "fmt"

// Mechanisms and key types of PKCS #11 3.0 that miekg/pkcs11 (a 2.40
// binding) does not name.
const (
	ckmEdwardsKeyPairGen = 0x1055 // CKM_EC_EDWARDS_KEY_PAIR_GEN
	ckmEdDSA             = 0x1057 // CKM_EDDSA
	ckkEdwards           = 0x40   // CKK_EC_EDWARDS
	ckrCurveNotSupported = 0x140  // CKR_CURVE_NOT_SUPPORTED
)

// mechanismNames names the mechanisms this package needs, for errors.
var mechanismNames = map[uint]string{
	ckmEdDSA:             "CKM_EDDSA (Ed25519 signing)",
	ckmEdwardsKeyPairGen: "CKM_EC_EDWARDS_KEY_PAIR_GEN (Ed25519 key generation)",
}

// needMechanisms returns an error naming the first of want that have
// lacks.
func needMechanisms(token string, have []uint, want ...uint) error {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return fmt.Errorf("token %q does not support the mechanism %s", token, mechanismNames[w])
		}
	}
	return nil
}
