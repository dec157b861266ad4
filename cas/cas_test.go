package cas

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"

	"github.com/fwledger/fwledger/digest"
)

func TestPut(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	img := bytes.Repeat([]byte("firmware"), 1000)
	d := digest.Digest(sha256.Sum256(img))
	wrong := [][]byte{img[:len(img)-1], append(bytes.Clone(img), 0), append([]byte{'F'}, img[1:]...)}
	for _, bad := range wrong {
		var de *digest.MismatchError
		if _, err := s.Put(d, int64(len(img)), bytes.NewReader(bad)); !errors.As(err, &de) {
			t.Errorf("Put of wrong content = %v, want a DigestError", err)
		}
		if _, err := s.Open(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after a rejected Put, Open = %v", err)
		}
	}
	if created, err := s.Put(d, int64(len(img)), bytes.NewReader(img)); err != nil || !created {
		t.Fatalf("Put = %v, %v; want a new copy", created, err)
	}
	// An image already stored: the bytes offered are still checked, and
	// not stored again.
	if created, err := s.Put(d, int64(len(img)), bytes.NewReader(img)); err != nil || created {
		t.Errorf("Put of an image already stored = %v, %v; want success without a new copy", created, err)
	}
	for _, bad := range append(wrong, nil) {
		var de *digest.MismatchError
		if created, err := s.Put(d, int64(len(img)), bytes.NewReader(bad)); !errors.As(err, &de) || created {
			t.Errorf("Put of wrong content for an image already stored = %v, %v; want a DigestError", created, err)
		}
	}
	f, err := s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, img) {
		t.Error("stored image differs")
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Errorf("%d temporary files left behind", len(tmp))
	}
	// A source that fails is a ReadError, not a problem of the store.
	var re *ReadError
	other := bytes.Repeat([]byte("other"), 10)
	if _, err := s.Put(sha256.Sum256(other), int64(len(other)), iotest.ErrReader(io.ErrUnexpectedEOF)); !errors.As(err, &re) {
		t.Errorf("Put from a failing source = %v, want a ReadError", err)
	}
}

// TestOpenRemovesUnfinishedUploads: temporary files left by a process
// killed during an upload are removed when the store is opened again, once
// stale; a fresh one may be another process's upload in progress (the
// frontends of a log share the store), and stays.
func TestOpenRemovesUnfinishedUploads(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-StaleUpload - time.Minute)
	for _, name := range []string{"upload-1", "upload-2", "upload-fresh"} {
		p := filepath.Join(dir, "tmp", name)
		if err := os.WriteFile(p, []byte("half an image"), 0o644); err != nil {
			t.Fatal(err)
		}
		if name != "upload-fresh" {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(left) != 1 || left[0].Name() != "upload-fresh" {
		t.Errorf("after Open, tmp holds %v; want only the fresh upload", left)
	}
}

// TestPutStorageFailure: when the store cannot write (here, its temporary
// directory is gone), Put fails with the file system's error, which is
// neither a DigestError nor a ReadError, and stores nothing.
func TestPutStorageFailure(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(dir, "tmp"))
	img := []byte("an image")
	_, err = s.Put(sha256.Sum256(img), int64(len(img)), bytes.NewReader(img))
	var de *digest.MismatchError
	var re *ReadError
	var pe *os.PathError
	if err == nil || errors.As(err, &de) || errors.As(err, &re) || !errors.As(err, &pe) {
		t.Errorf("Put without its temporary directory = %v, want the file system's error", err)
	}
}
