package cas

import (
	"crypto/sha256"
	"io"
	"testing"

	"github.com/fwledger/fwledger/digest"
)

// TestReview14SharedDirOpen: on the Trillian backend every fwlog frontend
// opens the same --content-dir (its entries and images stores), and Open
// removes every file in the store's tmp directory as an upload left
// unfinished by a killed process. But they are the uploads in progress of
// the other frontends: whenever one frontend starts (a restart, a
// deployment, a scale-up), every image upload and every large entry being
// written through the others fails. Open should remove only what no live
// process writes (its own files, by a per-process subdirectory or name, or
// files older than any upload may take).
func TestReview14SharedDirOpen(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir) // the first frontend
	if err != nil {
		t.Fatal(err)
	}
	img := make([]byte, 1<<20)
	for i := range img {
		img[i] = byte(i * 7)
	}
	d := digest.Digest(sha256.Sum256(img))
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := a.Put(d, int64(len(img)), pr)
		done <- err
	}()
	if _, err := pw.Write(img[:len(img)/2]); err != nil { // the upload is under way
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil { // another frontend starts
		t.Fatal(err)
	}
	if _, err := pw.Write(img[len(img)/2:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("an upload through one frontend, while another started on the shared content directory: Put = %v", err)
	}
	f, err := a.Open(d)
	if err != nil {
		t.Fatalf("the uploaded image: %v", err)
	}
	f.Close()
}
