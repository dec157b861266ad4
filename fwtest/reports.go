package fwtest

import (
	"context"
	"testing"

	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
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

// SignReportPayload returns payload, whatever it says, signed by k as a
// report envelope would be: for reports that report.Sign refuses to make.
func SignReportPayload(t testing.TB, k *keys.PrivateKey, payload []byte) []byte {
	t.Helper()
	s, err := k.DSSESigner()
	if err != nil {
		t.Fatal(err)
	}
	env, err := provenance.SignTyped(context.Background(), report.PayloadType, payload, s)
	if err != nil {
		t.Fatal(err)
	}
	return env
}
