package audit_test

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/provenance"
)

// TestReviewInvalidReleaseSquatsIndexes (review13, finding 15).
//
// The equivocation and security-version indexes take every parseable
// release, also one the auditor's policy rejects (a release_signature
// alert). Whoever can log a release the auditor does not trust (another
// tenant of a shared log, a key the log takes and the vendor's policy
// does not, or the log operator) logs one release for the vendor's model
// at security version 2^53 and version 2.0.0: from then on every genuine
// release of the model is a critical security_regression, and the
// vendor's real 2.0.0 an equivocation, and verify-evidence accepts the
// regression with nothing left unchecked (it does not ask whether the
// earlier release is valid). The genuine regressions a stolen key would
// cause are lost in that noise.
func TestReviewInvalidReleaseSquatsIndexes(t *testing.T) {
	ctx := context.Background()
	s := newScene(t) // the log takes Release1 and Release2; the auditor trusts Release1 only
	img := fwtest.Image("squat", 1000)
	prov := fwtest.Provenance(t, img, fwtest.Builder)
	s.add(t, prov, fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
		r.Version, r.SecurityVersion = "2.0.0", 1<<53
		r.Provenance = []digest.Digest{sha256.Sum256(prov)}
	}), fwtest.Release2))
	s.release(t, "genuine 1.5.0", "1.5.0", 6, fwtest.Release1)
	s.release(t, "genuine 1.6.0", "1.6.0", 7, fwtest.Release1)
	s.release(t, "genuine 2.0.0", "2.0.0", 8, fwtest.Release1)
	a := auditor(t, s.log.URL, t.TempDir())
	res, err := a.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, al := range res.Alerts {
		left, verr := audit.VerifyEvidence(al, logVerifier(t), nil)
		t.Logf("%s at %d; verify-evidence err=%v left=%q", al.Type, *al.Index, verr, left)
		if al.Type == audit.TypeSecurityRegressed || al.Type == audit.TypeEquivocation {
			t.Errorf("FALSE %s on a genuine release (at %d), caused by a release the policy rejects", al.Type, *al.Index)
		}
	}
}
