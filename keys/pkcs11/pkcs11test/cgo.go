//go:build cgo

package pkcs11test

const cgoEnabled = true
