package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	// bufferSize is the one buffer a download streams through.
	bufferSize = 64 << 10
	// syncEvery is how many bytes a download writes between checkpoints:
	// an fsync of the .part file and a new sidecar naming its length.
	syncEvery = 16 << 20
	// maxSidecar bounds the sidecar file read.
	maxSidecar = 16 << 10
)

// Download streams path to the file dst, which must be size bytes long,
// through one fixed buffer, resuming what an earlier attempt or call left.
//
// Bytes go to dst+".part". Its sidecar dst+".part.meta" records the URL,
// the size, the validator of the response (its ETag if strong, else its
// Last-Modified) and how many bytes of the .part are synced to disk:
//
//	{"url":"https://log.example/v1/images/sha256:9f2c…","size":8388608,"validator":"\"5e1f…\"","synced":4194304}
//
// A download starts from the synced bytes of a .part whose sidecar names
// the same URL and size (from zero otherwise), so it resumes after a
// dropped connection, a stall, a cancelled context, a process restart or a
// power loss. A resumed request sends "Range: bytes=<have>-" and, if there
// is a validator, "If-Range: <validator>". A 206 Partial Content from
// <have> is appended; a 200 OK (the server ignored the range, or the file
// changed) restarts from zero; 416 Range Not Satisfiable when the .part
// already holds size bytes completes it. The .part is synced every 16 MiB
// and when an attempt ends.
//
// A server that declares or sends more than size bytes is cut off with a
// [TooLargeError], one that declares fewer fails with a [SizeError], and
// the .part is deleted: no more than size bytes are ever written. Other
// failures are retried as for [Client.Get]; after Options.MaxAttempts
// requests a download still short of size fails with an [IncompleteError]
// and keeps its .part for the next call. When ctx ends, Download returns
// its cause promptly and keeps the .part too. A .part without a byte is
// not kept.
//
// A complete .part is synced, renamed to dst, and its directory synced; dst
// is replaced if it exists. Options.Progress is told of each write.
func (c *Client) Download(ctx context.Context, path string, dst string, size int64) error {
	if size < 0 {
		return fmt.Errorf("download %s: negative size %d", path, size)
	}
	u, err := c.url(path, nil)
	if err != nil {
		return err
	}
	p, err := openPart(dst, u, size)
	if err != nil {
		return fmt.Errorf("download %s: %w", path, err)
	}
	p.progress = c.opts.Progress
	p.report()
	buf := make([]byte, bufferSize)
	for attempt := 1; ; attempt++ {
		err = c.downloadOnce(ctx, p, buf)
		if err == nil {
			if err := p.finish(dst); err != nil {
				return fmt.Errorf("download %s: %w", path, err)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("download %s: %w", path, p.keep(context.Cause(ctx)))
		}
		var large *TooLargeError
		var short *SizeError
		if errors.As(err, &large) || errors.As(err, &short) {
			return fmt.Errorf("download %s: %w", path, p.discard(err))
		}
		wait, ok := c.backoff(err, attempt)
		if !ok {
			if isTransient(err) {
				err = &IncompleteError{Have: p.have, Size: size, Attempts: attempt, Err: err}
			}
			return fmt.Errorf("download %s: %w", path, p.keep(err))
		}
		if serr := sleep(ctx, wait); serr != nil {
			return fmt.Errorf("download %s: %w", path, p.keep(serr))
		}
	}
}

// downloadOnce makes one request for the rest of p.
func (c *Client) downloadOnce(ctx context.Context, p *part, buf []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.meta.URL, nil)
	if err != nil {
		return err
	}
	if p.have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(p.have, 10)+"-")
		if p.meta.Validator != "" {
			req.Header.Set("If-Range", p.meta.Validator)
		}
	}
	resp, body, err := c.send(ctx, ctx, req)
	if err != nil {
		return err
	}
	defer body.Close()
	size := p.meta.Size
	switch resp.StatusCode {
	case http.StatusOK:
		if err := checkLength(resp.ContentLength, size); err != nil {
			return err
		}
		if err := p.restart(validator(resp.Header)); err != nil {
			return err
		}
	case http.StatusPartialContent:
		first, last, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil {
			return transient(p.truncate(err))
		}
		if err := checkLength(total, size); err != nil {
			return err
		}
		if last >= size {
			return &TooLargeError{Limit: size, Declared: last + 1}
		}
		if first != p.have {
			return transient(p.truncate(fmt.Errorf("asked for bytes from %d, got a range from %d", p.have, first)))
		}
		if v := validator(resp.Header); v != "" && p.meta.Validator != "" && v != p.meta.Validator {
			return transient(p.truncate(fmt.Errorf("the file changed: validator %s, not %s", v, p.meta.Validator)))
		}
	case http.StatusRequestedRangeNotSatisfiable:
		total := int64(-1)
		if cr := resp.Header.Get("Content-Range"); cr != "" {
			if _, _, t, err := parseContentRange(cr); err == nil {
				total = t
			}
		}
		if err := checkLength(total, size); err != nil {
			return err
		}
		if p.have == size {
			return nil
		}
		return transient(p.truncate(fmt.Errorf("asked for bytes from %d, the server answered 416", p.have)))
	default:
		return c.statusError(ctx, ctx, resp, body)
	}
	return p.copyFrom(ctx, body, buf)
}

// checkLength checks a length the server declared (-1 for none) against
// the size expected.
func checkLength(declared, size int64) error {
	switch {
	case declared > size:
		return &TooLargeError{Limit: size, Declared: declared}
	case declared >= 0 && declared < size:
		return &SizeError{Size: size, Declared: declared}
	}
	return nil
}

// validator returns the validator of a response to send back in If-Range:
// its ETag if strong (RFC 9110, Section 13.1.5 forbids a weak one there),
// else its Last-Modified, else "".
func validator(h http.Header) string {
	if etag := h.Get("ETag"); etag != "" && !strings.HasPrefix(etag, "W/") {
		return etag
	}
	return h.Get("Last-Modified")
}

// parseContentRange parses the Content-Range of a 206 or 416 response
// (RFC 9110, Section 14.4): "bytes <first>-<last>/<total>", total "*" if
// unknown (returned as -1), or "bytes */<total>" (first and last returned
// as -1).
func parseContentRange(s string) (first, last, total int64, err error) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, 0, fmt.Errorf("malformed Content-Range %q", s)
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, fmt.Errorf("malformed Content-Range %q", s)
	}
	total = -1
	if tot != "*" {
		if total, err = parseLength(tot); err != nil {
			return 0, 0, 0, fmt.Errorf("malformed Content-Range %q", s)
		}
	}
	if rng == "*" {
		if total < 0 {
			return 0, 0, 0, fmt.Errorf("malformed Content-Range %q", s)
		}
		return -1, -1, total, nil
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, fmt.Errorf("malformed Content-Range %q", s)
	}
	first, err1 := parseLength(a)
	last, err2 := parseLength(b)
	if err1 != nil || err2 != nil || last < first || (total >= 0 && last >= total) {
		return 0, 0, 0, fmt.Errorf("malformed Content-Range %q", s)
	}
	return first, last, total, nil
}

// parseLength parses a non-negative decimal of at most 18 digits, without
// sign or leading spaces.
func parseLength(s string) (int64, error) {
	if s == "" || len(s) > 18 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("malformed length %q", s)
	}
	return strconv.ParseInt(s, 10, 64)
}

// A part is the .part file of a download and its sidecar.
type part struct {
	f        *os.File
	path     string
	sidecar  string
	meta     sidecar
	have     int64 // bytes in f
	unsynced int64 // bytes written since the last checkpoint
	progress func(done, total int64)
}

// A sidecar is what dst+".part.meta" holds.
type sidecar struct {
	URL       string `json:"url"`
	Size      int64  `json:"size"`
	Validator string `json:"validator,omitempty"`
	Synced    int64  `json:"synced"`
}

// openPart opens the .part of dst, keeping the synced bytes its sidecar
// names if the sidecar is for the same URL and size, and nothing otherwise.
func openPart(dst, u string, size int64) (*part, error) {
	p := &part{path: dst + ".part", sidecar: dst + ".part.meta", meta: sidecar{URL: u, Size: size}}
	f, err := os.OpenFile(p.path, os.O_RDWR|os.O_CREATE|oNoFollow, 0o600)
	if err != nil {
		return nil, err
	}
	p.f = f
	if m, ok := readSidecar(p.sidecar); ok && m.URL == u && m.Size == size && m.Synced >= 0 && m.Synced <= size {
		p.meta = m
		if fi, err := f.Stat(); err == nil {
			p.have = min(fi.Size(), m.Synced)
		}
	}
	if err := f.Truncate(p.have); err != nil {
		f.Close()
		return nil, err
	}
	return p, nil
}

// readSidecar reads a sidecar; false if there is none or it is malformed.
func readSidecar(path string) (sidecar, bool) {
	f, err := os.OpenFile(path, os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		return sidecar{}, false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSidecar))
	var m sidecar
	if err != nil || json.Unmarshal(data, &m) != nil {
		return sidecar{}, false
	}
	return m, true
}

// writeSidecar replaces the sidecar with p.meta, durably.
func (p *part) writeSidecar() error {
	data, err := json.Marshal(p.meta)
	if err != nil {
		return err
	}
	tmp := p.sidecar + ".tmp"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p.sidecar)
	}
	if err == nil {
		err = syncDir(filepath.Dir(p.sidecar))
	}
	if err != nil {
		return fmt.Errorf("couldn't write %s: %w", p.sidecar, err)
	}
	return nil
}

// restart empties the .part for a response with validator v, and records v
// before any of its bytes are written.
func (p *part) restart(v string) error {
	if err := p.f.Truncate(0); err != nil {
		return err
	}
	p.have, p.unsynced = 0, 0
	p.meta.Validator, p.meta.Synced = v, 0
	p.report()
	return p.writeSidecar()
}

// truncate empties the .part after a response that cannot be appended,
// so that the next attempt asks for the whole file; it returns why.
func (p *part) truncate(why error) error {
	if err := p.f.Truncate(0); err != nil {
		return errors.Join(why, err)
	}
	p.have, p.unsynced = 0, 0
	p.report()
	return why
}

// checkpoint syncs the .part and records its length in the sidecar.
func (p *part) checkpoint() error {
	if err := p.f.Sync(); err != nil {
		return fmt.Errorf("couldn't sync %s: %w", p.path, err)
	}
	p.meta.Synced, p.unsynced = p.have, 0
	return p.writeSidecar()
}

func (p *part) report() {
	if p.progress != nil {
		p.progress(p.have, p.meta.Size)
	}
}

// copyFrom appends body to the .part until it ends, writing at most up to
// the size.
func (p *part) copyFrom(ctx context.Context, body io.Reader, buf []byte) error {
	size := p.meta.Size
	for {
		// One byte past the size, to tell a body that goes on.
		n, err := body.Read(buf[:min(int64(len(buf)), size-p.have+1)])
		if n > 0 {
			if int64(n) > size-p.have {
				return &TooLargeError{Limit: size, Declared: -1}
			}
			if _, werr := p.f.WriteAt(buf[:n], p.have); werr != nil {
				return fmt.Errorf("couldn't write %s: %w", p.path, werr)
			}
			p.have += int64(n)
			p.unsynced += int64(n)
			p.report()
			if p.unsynced >= syncEvery {
				if cerr := p.checkpoint(); cerr != nil {
					return cerr
				}
			}
		}
		switch {
		case err == io.EOF && p.have == size:
			return nil
		case err == io.EOF:
			return transient(fmt.Errorf("the response ended at %d of %d bytes", p.have, size))
		case err != nil:
			return readError(ctx, ctx, err)
		}
	}
}

// keep checkpoints the .part for a later call and closes it, or deletes it
// if it is empty; it returns why the download stopped, joined with any
// error of the checkpoint.
func (p *part) keep(why error) error {
	if p.have == 0 {
		return p.discard(why)
	}
	err := p.checkpoint()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	return errors.Join(why, err)
}

// discard deletes the .part and its sidecar; it returns why, joined with
// any error deleting them.
func (p *part) discard(why error) error {
	p.f.Close()
	err := os.Remove(p.path)
	if rerr := os.Remove(p.sidecar); !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return errors.Join(why, err)
}

// finish syncs the complete .part, renames it to dst, removes the sidecar
// and syncs the directory.
func (p *part) finish(dst string) error {
	err := p.f.Sync()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("couldn't sync %s: %w", p.path, err)
	}
	if err := os.Rename(p.path, dst); err != nil {
		return err
	}
	if err := os.Remove(p.sidecar); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// syncDir syncs a directory, so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
