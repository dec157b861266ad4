package explorer_test

// Review 15: proofs of concept against the web explorer. Each test fails
// on the code under review and shows one problem.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/provenance"
)

// TestReview15CollisionHidden: a release key holder logs a second image
// for model acme-x1 version 1.4.0 (a collision the auditor alerts on), then
// eight more releases of that same image and version (other creation
// times). The model page looks for collisions among the 8 newest
// releases of each version only, so it sees one image and drops the red
// "logged with 2 different images" panel, although both images are in
// the very list it shows.
func TestReview15CollisionHidden(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, nil)
	imgA, imgB := fwtest.Image("collision-a", 100), fwtest.Image("collision-b", 100)
	entries := [][]byte{fwtest.SignRelease(t, fwtest.NewRelease(imgA, nil), fwtest.Release1)}
	for i := range 9 {
		r := fwtest.NewRelease(imgB, func(r *provenance.Release) {
			r.Created = r.Created.Add(time.Duration(i+1) * time.Minute)
		})
		entries = append(entries, fwtest.SignRelease(t, r, fwtest.Release1))
	}
	idx := s.add(t, entries...)
	model := s.page(t, "/models/acme-x1")
	if !strings.Contains(model, fmt.Sprintf(`href="/entries/%d"`, idx[0])) {
		t.Fatalf("the model page does not even list the first image's release")
	}
	if !strings.Contains(model, "was logged with 2 different images") {
		t.Errorf("model page lists releases of acme-x1 1.4.0 with two images (entries %d and %d) but shows no collision: it looks at the 8 newest releases of the version only", idx[0], idx[1])
	}
}
