// Package repocheck holds tests about the repository itself rather than
// about any one package: what may be committed.
package repocheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxTrackedFile is the largest file the repository may track. Built
// binaries and data dumps are far larger; source, docs and test vectors are
// far smaller.
const maxTrackedFile = 1 << 20

// TestNoLargeTrackedFiles fails on any tracked file over 1 MiB: a built
// binary or a data dump was committed. Build outputs go to ignored folders
// (bin/, data/).
func TestNoLargeTrackedFiles(t *testing.T) {
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout (%v): nothing to check", err)
	}
	root := strings.TrimSpace(string(top))
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	n := 0
	for _, name := range bytes.Split(out, []byte{0}) {
		if len(name) == 0 {
			continue
		}
		n++
		fi, err := os.Lstat(filepath.Join(root, string(name)))
		if err != nil {
			continue // deleted in the work tree but not yet in the index
		}
		if fi.Mode().IsRegular() && fi.Size() > maxTrackedFile {
			t.Errorf("%s is tracked and %d bytes, over the limit of %d: a built binary or a data dump does not belong in the repository (git rm --cached it and ignore it)", name, fi.Size(), maxTrackedFile)
		}
	}
	if n == 0 {
		t.Fatal("git ls-files listed no files")
	}
}
