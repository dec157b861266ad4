package transport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/device/transport"
)

// image returns n bytes of a test image, different for each seed.
func image(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed)})
	r.Read(b)
	return b
}

// cutWriter passes on the first left bytes of a response, then drops the
// connection.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (w *cutWriter) Write(p []byte) (int, error) {
	if len(p) <= w.left {
		w.left -= len(p)
		return w.ResponseWriter.Write(p)
	}
	w.ResponseWriter.Write(p[:w.left])
	http.NewResponseController(w.ResponseWriter).Flush()
	panic(http.ErrAbortHandler)
}

// cutFirst serves content with the ETag "v1", dropping the connection
// after k bytes of the body in the first attempts requests.
func cutFirst(content []byte, attempts, k int) func(w http.ResponseWriter, r *http.Request, n int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		cut := -1
		if n <= attempts {
			cut = k
		}
		serve(w, r, content, `"v1"`, cut)
	}
}

// hangFirst serves content with the ETag "v1", but answers the first
// request with k bytes of it and then nothing until the client goes.
func hangFirst(content []byte, k int) func(w http.ResponseWriter, r *http.Request, n int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("ETag", `"v1"`)
		if n > 1 {
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(content))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		w.Write(content[:k])
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}
}

// serve serves content with ServeContent and the ETag etag, which honours
// Range and If-Range; if cut >= 0 it drops the connection after cut bytes
// of the body.
func serve(w http.ResponseWriter, r *http.Request, content []byte, etag string, cut int) {
	w.Header().Set("ETag", etag)
	if cut >= 0 {
		w = &cutWriter{ResponseWriter: w, left: cut}
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(content))
}

// A download is a download under test: the file, the progress reported
// and the requests the server got.
type download struct {
	t        *testing.T
	dst      string
	rec      *recorder
	mu       sync.Mutex
	progress [][2]int64
}

func newDownload(t *testing.T) *download {
	return &download{t: t, dst: filepath.Join(t.TempDir(), "image.bin")}
}

func (d *download) options() transport.Options {
	opts := fastOptions()
	opts.Progress = func(done, total int64) {
		d.mu.Lock()
		d.progress = append(d.progress, [2]int64{done, total})
		d.mu.Unlock()
	}
	return opts
}

// server starts a server whose handler gets the number of the request,
// from 1, and returns its URL.
func (d *download) server(h func(w http.ResponseWriter, r *http.Request, n int)) string {
	u, rec := startServer(d.t, h)
	d.rec = rec
	return u
}

// checkFile checks that dst holds want and that no .part or sidecar is left.
func (d *download) checkFile(want []byte) {
	d.t.Helper()
	got, err := os.ReadFile(d.dst)
	if err != nil {
		d.t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		d.t.Errorf("the downloaded file differs: %d bytes, want %d", len(got), len(want))
	}
	d.checkGone(".part", ".part.meta")
}

// checkGone checks that the files dst+suffix do not exist.
func (d *download) checkGone(suffixes ...string) {
	d.t.Helper()
	for _, suffix := range suffixes {
		if _, err := os.Stat(d.dst + suffix); !errors.Is(err, os.ErrNotExist) {
			d.t.Errorf("%s exists: %v", filepath.Base(d.dst+suffix), err)
		}
	}
}

// checkRanges checks the Range header of each request ("" for none).
func (d *download) checkRanges(want ...string) {
	d.t.Helper()
	if got := d.rec.header("Range"); fmt.Sprint(got) != fmt.Sprint(want) {
		d.t.Errorf("the server got the ranges %q, want %q", got, want)
	}
}

// checkProgress checks that progress grew, for total size, and ended at
// size.
func (d *download) checkProgress(size int64) {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.progress) == 0 {
		d.t.Fatal("no progress reported")
	}
	for i, p := range d.progress {
		if p[1] != size || (i > 0 && p[0] < d.progress[i-1][0]) {
			d.t.Fatalf("progress %v at %d does not grow towards %d", p, i, size)
		}
	}
	if last := d.progress[len(d.progress)-1]; last[0] != size {
		d.t.Errorf("progress ended at %d, want %d", last[0], size)
	}
}

func bytesFrom(n int) string { return "bytes=" + strconv.Itoa(n) + "-" }

// TestDownloadResumes drops the connection after k bytes on each of the
// first attempts: each next one asks for the rest, with If-Range.
func TestDownloadResumes(t *testing.T) {
	transport.StubWaits(t)
	const size, k = 200 << 10, 50 << 10
	content := image(size, 1)
	d := newDownload(t)
	u := d.server(cutFirst(content, 3, k))
	c := newClient(t, u, d.options())
	if err := c.Download(context.Background(), "/v1/images/x", d.dst, size); err != nil {
		t.Fatalf("Download = %v", err)
	}
	d.checkFile(content)
	d.checkRanges("", bytesFrom(k), bytesFrom(2*k), bytesFrom(3*k))
	if got := d.rec.header("If-Range"); fmt.Sprint(got) != fmt.Sprint([]string{"", `"v1"`, `"v1"`, `"v1"`}) {
		t.Errorf("If-Range = %q", got)
	}
	d.checkProgress(size)
}

// TestDownloadStall has a server go silent after k bytes: the attempt is
// abandoned after the stall timeout and the next one resumes.
func TestDownloadStall(t *testing.T) {
	transport.StubWaits(t)
	const size, k = 100 << 10, 30 << 10
	content := image(size, 2)
	d := newDownload(t)
	u := d.server(hangFirst(content, k))
	c := newClient(t, u, d.options())
	if err := c.Download(context.Background(), "/img", d.dst, size); err != nil {
		t.Fatalf("Download = %v", err)
	}
	d.checkFile(content)
	d.checkRanges("", bytesFrom(k))
	d.checkProgress(size)
}

// TestDownloadComplete416 has a server send the whole file and then hang:
// the next attempt asks for the bytes after the end, and the 416 completes
// the download.
func TestDownloadComplete416(t *testing.T) {
	transport.StubWaits(t)
	const size = 10 << 10
	content := image(size, 3)
	d := newDownload(t)
	var status statuses
	u := d.server(func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Write(content) // chunked: the body does not end
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
			return
		}
		serve(&statusWriter{ResponseWriter: w, codes: &status}, r, content, `"v1"`, -1)
	})
	c := newClient(t, u, d.options())
	if err := c.Download(context.Background(), "/img", d.dst, size); err != nil {
		t.Fatalf("Download = %v", err)
	}
	d.checkFile(content)
	d.checkRanges("", bytesFrom(size))
	if status.String() != "[416]" {
		t.Errorf("the server answered %v, want [416]", &status)
	}
}

// A statusWriter records the status code of a response before it is sent.
type statusWriter struct {
	http.ResponseWriter
	codes *statuses
}

// statuses records the status codes a handler sent, for the test to read.
type statuses struct {
	mu    sync.Mutex
	codes []int
}

func (s *statuses) add(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes = append(s.codes, code)
}

func (s *statuses) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.codes)
}

func (w *statusWriter) WriteHeader(code int) {
	w.codes.add(code)
	w.ResponseWriter.WriteHeader(code)
}

// TestDownloadRangeIgnored has a server that always answers 200 with the
// whole file: each attempt starts again from zero.
func TestDownloadRangeIgnored(t *testing.T) {
	transport.StubWaits(t)
	const size, k = 100 << 10, 40 << 10
	content := image(size, 4)
	d := newDownload(t)
	u := d.server(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Header().Set("ETag", `"v1"`)
		if n == 1 {
			w.Write(content[:k])
			http.NewResponseController(w).Flush()
			panic(http.ErrAbortHandler)
		}
		w.Write(content)
	})
	c := newClient(t, u, d.options())
	if err := c.Download(context.Background(), "/img", d.dst, size); err != nil {
		t.Fatalf("Download = %v", err)
	}
	d.checkFile(content)
	d.checkRanges("", bytesFrom(k))
}

// TestDownloadChanged changes the file (and its ETag) after the first
// attempt dropped: If-Range makes the server send the new file whole.
func TestDownloadChanged(t *testing.T) {
	transport.StubWaits(t)
	const size, k = 100 << 10, 40 << 10
	v1, v2 := image(size, 5), image(size, 6)
	d := newDownload(t)
	var status statuses
	u := d.server(func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			serve(w, r, v1, `"v1"`, k)
			return
		}
		serve(&statusWriter{ResponseWriter: w, codes: &status}, r, v2, `"v2"`, -1)
	})
	c := newClient(t, u, d.options())
	if err := c.Download(context.Background(), "/img", d.dst, size); err != nil {
		t.Fatalf("Download = %v", err)
	}
	d.checkFile(v2)
	d.checkRanges("", bytesFrom(k))
	if got := d.rec.header("If-Range"); fmt.Sprint(got) != fmt.Sprint([]string{"", `"v1"`}) {
		t.Errorf("If-Range = %q", got)
	}
	if status.String() != "[200]" {
		t.Errorf("the server answered %v, want [200]", &status)
	}
}

// TestDownloadLastModified resumes with Last-Modified as the validator
// when there is no strong ETag.
func TestDownloadLastModified(t *testing.T) {
	transport.StubWaits(t)
	const size, k = 50 << 10, 20 << 10
	content := image(size, 7)
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d := newDownload(t)
	u := d.server(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("ETag", `W/"weak"`)
		var rw http.ResponseWriter = w
		if n == 1 {
			rw = &cutWriter{ResponseWriter: w, left: k}
		}
		http.ServeContent(rw, r, "", mod, bytes.NewReader(content))
	})
	c := newClient(t, u, d.options())
	if err := c.Download(context.Background(), "/img", d.dst, size); err != nil {
		t.Fatalf("Download = %v", err)
	}
	d.checkFile(content)
	d.checkRanges("", bytesFrom(k))
	if got := d.rec.header("If-Range"); fmt.Sprint(got) != fmt.Sprint([]string{"", mod.Format(http.TimeFormat)}) {
		t.Errorf("If-Range = %q", got)
	}
}

// TestDownloadTooLarge has servers send or declare more than the size: the
// download fails with a TooLargeError, and never more than size bytes are
// on disk.
func TestDownloadTooLarge(t *testing.T) {
	const size = 20 << 10
	content := image(size+100, 8)
	for _, tc := range []struct {
		desc     string
		handler  func(w http.ResponseWriter, r *http.Request, n int)
		declared int64
	}{
		{
			desc: "chunked",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				for i := 0; i < len(content); i += 1000 {
					w.Write(content[i:min(i+1000, len(content))])
					http.NewResponseController(w).Flush()
				}
			},
			declared: -1,
		},
		{
			desc: "chunked, exactly one byte too many",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Write(content[:size])
				http.NewResponseController(w).Flush()
				w.Write(content[size : size+1])
			},
			declared: -1,
		},
		{
			desc: "Content-Length",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				serve(w, r, content, `"v1"`, -1)
			},
			declared: size + 100,
		},
		{
			desc: "Content-Range of a resumed download",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					serve(w, r, content[:size], `"v1"`, 1000)
					return
				}
				serve(w, r, content, `"v1"`, -1)
			},
			declared: size + 100,
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			transport.StubWaits(t)
			d := newDownload(t)
			u := d.server(tc.handler)
			opts := d.options()
			opts.Progress = func(done, total int64) {
				if fi, err := os.Stat(d.dst + ".part"); err == nil && fi.Size() > size {
					t.Errorf("the .part holds %d bytes, more than %d", fi.Size(), size)
				}
			}
			c := newClient(t, u, opts)
			err := c.Download(context.Background(), "/img", d.dst, size)
			if !isTooLarge(size, tc.declared)(err) {
				t.Fatalf("Download = %v, want a TooLargeError of %d declared", err, tc.declared)
			}
			d.checkGone("", ".part", ".part.meta")
		})
	}
}

// TestDownloadShort has a server declare fewer bytes than the size.
func TestDownloadShort(t *testing.T) {
	transport.StubWaits(t)
	d := newDownload(t)
	u := d.server(func(w http.ResponseWriter, r *http.Request, n int) {
		serve(w, r, image(1000, 9), `"v1"`, -1)
	})
	c := newClient(t, u, d.options())
	var se *transport.SizeError
	if err := c.Download(context.Background(), "/img", d.dst, 2000); !errors.As(err, &se) || se.Declared != 1000 || se.Size != 2000 {
		t.Fatalf("Download = %v, want a SizeError of 1000 bytes for 2000", err)
	}
	if d.rec.count() != 1 {
		t.Errorf("the server got %d requests, want 1", d.rec.count())
	}
}

// TestDownloadAcrossRestarts fails a download after its attempts, then
// resumes its .part with a new Client, as after a restart of the agent.
func TestDownloadAcrossRestarts(t *testing.T) {
	transport.StubWaits(t)
	const size, k = 100 << 10, 30 << 10
	content := image(size, 10)
	d := newDownload(t)
	u := d.server(cutFirst(content, 2, k))
	opts := d.options()
	opts.MaxAttempts = 2
	err := newClient(t, u, opts).Download(context.Background(), "/img", d.dst, size)
	var ie *transport.IncompleteError
	if !errors.As(err, &ie) || ie.Have != 2*k || ie.Size != size || ie.Attempts != 2 {
		t.Fatalf("Download = %v, want an IncompleteError at %d after 2 attempts", err, 2*k)
	}
	if fi, err := os.Stat(d.dst + ".part"); err != nil || fi.Size() != 2*k {
		t.Fatalf("the .part after an incomplete download: %v, %v; want %d bytes", fi, err, 2*k)
	}

	if err := newClient(t, u, d.options()).Download(context.Background(), "/img", d.dst, size); err != nil {
		t.Fatalf("Download after a restart = %v", err)
	}
	d.checkFile(content)
	d.checkRanges("", bytesFrom(k), bytesFrom(2*k))
	d.checkProgress(size)
}

// TestDownloadOtherFile leaves a .part for one URL and downloads another
// to the same file: the .part is not reused.
func TestDownloadOtherFile(t *testing.T) {
	transport.StubWaits(t)
	const size, k = 50 << 10, 10 << 10
	a, b := image(size, 11), image(size, 12)
	d := newDownload(t)
	u := d.server(func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path == "/a" {
			serve(w, r, a, `"v1"`, k)
			return
		}
		serve(w, r, b, `"v1"`, -1)
	})
	opts := d.options()
	opts.MaxAttempts = 1
	c := newClient(t, u, opts)
	var ie *transport.IncompleteError
	if err := c.Download(context.Background(), "/a", d.dst, size); !errors.As(err, &ie) {
		t.Fatalf("Download(/a) = %v, want an IncompleteError", err)
	}
	if err := c.Download(context.Background(), "/b", d.dst, size); err != nil {
		t.Fatalf("Download(/b) = %v", err)
	}
	d.checkFile(b)
	d.checkRanges("", "")
}

// TestDownloadCancel cancels the context while bytes arrive: Download
// returns at once and keeps the .part, which the next download resumes.
func TestDownloadCancel(t *testing.T) {
	transport.StubWaits(t)
	const size, k = 100 << 10, 30 << 10
	content := image(size, 13)
	d := newDownload(t)
	u := d.server(hangFirst(content, k))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := d.options()
	opts.StallTimeout = time.Minute // only the cancel can end the first attempt
	opts.Progress = func(done, total int64) {
		if done >= k {
			cancel()
		}
	}
	if err := newClient(t, u, opts).Download(ctx, "/img", d.dst, size); !errors.Is(err, context.Canceled) {
		t.Fatalf("Download = %v, want context.Canceled", err)
	}
	if fi, err := os.Stat(d.dst + ".part"); err != nil || fi.Size() != k {
		t.Fatalf("the .part after a cancel: %v, %v; want %d bytes", fi, err, k)
	}
	if d.rec.count() != 1 {
		t.Errorf("the server got %d requests, want 1", d.rec.count())
	}

	if err := newClient(t, u, d.options()).Download(context.Background(), "/img", d.dst, size); err != nil {
		t.Fatalf("Download after a cancel = %v", err)
	}
	d.checkFile(content)
	d.checkRanges("", bytesFrom(k))
}

// TestDownloadNotFound keeps no .part for a file the server does not have,
// and does not retry.
func TestDownloadNotFound(t *testing.T) {
	transport.StubWaits(t)
	d := newDownload(t)
	u := d.server(func(w http.ResponseWriter, r *http.Request, n int) {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":"no such image"}`))
	})
	err := newClient(t, u, d.options()).Download(context.Background(), "/img", d.dst, 100)
	if !isStatus(404, "no such image", 0)(err) {
		t.Fatalf("Download = %v, want a 404 StatusError", err)
	}
	if d.rec.count() != 1 {
		t.Errorf("the server got %d requests, want 1", d.rec.count())
	}
	d.checkGone("", ".part", ".part.meta")
}

// TestDownloadEmpty downloads a file of no bytes.
func TestDownloadEmpty(t *testing.T) {
	transport.StubWaits(t)
	d := newDownload(t)
	u := d.server(func(w http.ResponseWriter, r *http.Request, n int) { serve(w, r, nil, `"v1"`, -1) })
	if err := newClient(t, u, d.options()).Download(context.Background(), "/img", d.dst, 0); err != nil {
		t.Fatalf("Download = %v", err)
	}
	d.checkFile(nil)
}

// TestDownloadAfterCrash resumes .part files as a crash can leave them:
// with bytes past the length the sidecar says were synced (they may never
// have reached the disk, and are fetched again), or with no sidecar (the
// download starts over).
func TestDownloadAfterCrash(t *testing.T) {
	const size, k = 100 << 10, 30 << 10
	content := image(size, 14)
	for _, tc := range []struct {
		desc  string
		crash func(dst string) error
		want  string // the Range of the request after the crash
	}{
		{"unsynced bytes", func(dst string) error {
			f, err := os.OpenFile(dst+".part", os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			f.Write(make([]byte, 5000)) // zeros, as after a power loss
			return f.Close()
		}, bytesFrom(k)},
		{"no sidecar", func(dst string) error { return os.Remove(dst + ".part.meta") }, ""},
		{"malformed sidecar", func(dst string) error { return os.WriteFile(dst+".part.meta", []byte(`{"url":`), 0o666) }, ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			transport.StubWaits(t)
			d := newDownload(t)
			u := d.server(cutFirst(content, 1, k))
			opts := d.options()
			opts.MaxAttempts = 1
			var ie *transport.IncompleteError
			if err := newClient(t, u, opts).Download(context.Background(), "/img", d.dst, size); !errors.As(err, &ie) {
				t.Fatalf("Download = %v, want an IncompleteError", err)
			}
			if err := tc.crash(d.dst); err != nil {
				t.Fatal(err)
			}
			if err := newClient(t, u, d.options()).Download(context.Background(), "/img", d.dst, size); err != nil {
				t.Fatalf("Download after a crash = %v", err)
			}
			d.checkFile(content)
			d.checkRanges("", tc.want)
		})
	}
}
