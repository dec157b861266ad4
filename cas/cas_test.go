package cas

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/fwledger/fwledger/provenance"
)

func TestPut(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	img := bytes.Repeat([]byte("firmware"), 1000)
	d := provenance.Digest(sha256.Sum256(img))
	for _, bad := range [][]byte{img[:len(img)-1], append(bytes.Clone(img), 0), append([]byte{'F'}, img[1:]...)} {
		var de *provenance.DigestError
		if err := s.Put(d, int64(len(img)), bytes.NewReader(bad)); !errors.As(err, &de) {
			t.Errorf("Put of wrong content = %v, want a DigestError", err)
		}
		if _, err := s.Open(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after a rejected Put, Open = %v", err)
		}
	}
	if err := s.Put(d, int64(len(img)), bytes.NewReader(img)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(d, int64(len(img)), bytes.NewReader(nil)); err != nil {
		t.Errorf("Put of an image already stored = %v, want nil", err)
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
}
