package trust_test

import (
	"context"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/trust"
)

// FuzzParse checks that Parse never panics, and that a file it accepts
// is accepted again as the same version, and as no successor of itself.
func FuzzParse(f *testing.F) {
	f.Add(fwtest.TrustFile{}.Signed(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		tf, err := trust.Parse(ctx, data)
		if err != nil {
			return
		}
		again, err := trust.Parse(ctx, tf.Signed)
		if err != nil || again.Version != tf.Version {
			t.Fatalf("Parse accepted %q once, then: %v", data, err)
		}
		if _, err := tf.Next(ctx, data); err == nil {
			t.Fatalf("a trust file was accepted as its own successor: %q", data)
		}
	})
}
