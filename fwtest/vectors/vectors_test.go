package vectors

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedTestdataIsGenerated regenerates the testdata into a temporary
// tree (seeded with the committed envelopes, which are signed once and kept)
// and checks that every committed file matches: the testdata is what the
// generator makes, not hand-edited.
func TestCommittedTestdataIsGenerated(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for _, name := range []string{"release.dsse.json", "release-by-release-2.dsse.json", "provenance.dsse.json", "probe.dsse.json"} {
		data, err := os.ReadFile(filepath.Join(repo, "testdata", name))
		if err != nil {
			t.Fatalf("%v (run make testdata)", err)
		}
		os.MkdirAll(filepath.Join(tmp, "testdata"), 0o755)
		os.WriteFile(filepath.Join(tmp, "testdata", name), data, 0o644)
	}
	example, err := os.ReadFile(filepath.Join(repo, "docs/policy.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(tmp, "docs"), 0o755)
	os.WriteFile(filepath.Join(tmp, "docs/policy.example.yaml"), example, 0o644)
	if err := Generate(tmp); err != nil {
		t.Fatal(err)
	}
	paths, err := Paths(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		want, err := os.ReadFile(filepath.Join(tmp, p))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(repo, p))
		if err != nil {
			t.Errorf("%s is missing from the repository (run make testdata)", p)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the generator makes (run make testdata)", p)
		}
	}
}
