package fwtest

import (
	"context"
	"testing"

	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/report"
)

// SignReport returns the report envelope of r signed by the device key k.
func SignReport(t testing.TB, k *keys.PrivateKey, r *report.Report) []byte {
	t.Helper()
	env, err := report.Sign(context.Background(), k, r)
	if err != nil {
		t.Fatal(err)
	}
	return env
}
