package main

import (
	"bytes"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fwledger/fwledger/device/transport"
	"github.com/fwledger/fwledger/fwtest"
)

// TestTransport puts a TLS proxy between the device and the log, to pin
// it, to cut the first image download short (the device resumes), and to
// send more bytes than the release declares (the device refuses, reason
// size). Verification never depends on the transport: the image is hashed
// all the same.
func TestTransport(t *testing.T) {
	v := newVendor(t)
	target, _ := url.Parse(v.log.URL)
	var mode atomic.Value // "cut", "grow" or ""
	mode.Store("")
	var cuts, ranges atomic.Int32
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1 // what is cut short reaches the device
	proxy.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasPrefix(resp.Request.URL.Path, "/v1/images/") || resp.Request.Method != "GET" {
			return nil
		}
		if resp.Request.Header.Get("Range") != "" {
			ranges.Add(1)
		}
		switch mode.Load() {
		case "cut":
			if cuts.Add(1) == 1 {
				// The first answer ends after 1000 bytes.
				body, _ := readN(resp, 1000)
				resp.Body = &cutBody{r: bytes.NewReader(body)}
			}
		case "grow":
			body, _ := readN(resp, 1<<30)
			body = append(body, bytes.Repeat([]byte("x"), 4096)...)
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		}
		return nil
	}
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewUnstartedServer(proxy)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	pin := transport.FormatPin(transport.CertPin(srv.Certificate()))

	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	trustFile := filepath.Join(dir, "trust.json")
	os.WriteFile(trustFile, fwtest.TrustFile{}.Signed(t), 0o644)
	run := func(args ...string) (int, string) {
		t.Helper()
		code, out, errs := fwdevice(t, append(args, "--state", state)...)
		return code, out + errs
	}
	if code, out := run("init", "--trust", trustFile, "--slots", filepath.Join(dir, "slots"), "--model", "acme-x1", "--channel", "stable",
		"--log", srv.URL, "--pin", pin); code != 0 {
		t.Fatal(out)
	}
	v.release(t, fwtest.Image("transport 1", 300000), 1, "1.0.0", nil)

	// A wrong pin (of another key): the device does not talk to the
	// server.
	wrong := transport.FormatPin(bytes.Repeat([]byte{1}, 32))
	if code, out := run("check", "--pin", wrong); code != 1 || !strings.Contains(out, "pin") {
		t.Fatalf("check with a wrong pin = %d: %s", code, out)
	}
	// Cut short, then resumed with a Range request.
	mode.Store("cut")
	if code, out := run("check"); code != 0 || !strings.Contains(out, "update verified: 1.0.0") {
		t.Fatalf("check through a connection cut short = %d: %s", code, out)
	}
	if cuts.Load() < 2 || ranges.Load() < 1 {
		t.Errorf("%d image requests, %d with Range: want a resumed download", cuts.Load(), ranges.Load())
	}
	if code, out := run("install"); code != 0 {
		t.Fatal(out)
	}
	run("boot")
	run("confirm")
	// More bytes than the release says: cut off, refused.
	mode.Store("grow")
	v.release(t, fwtest.Image("transport 2", 300000), 2, "2.0.0", nil)
	if code, out := run("check"); code != 3 || !strings.Contains(out, "REFUSED (size)") {
		t.Fatalf("check of an oversize download = %d: %s", code, out)
	}
	if st := statusOf(t, state); st.SecurityFloor != 1 || st.LastOutcome.Reason != "size" {
		t.Fatalf("after the oversize download: %+v", st)
	}
}

func readN(resp *http.Response, n int64) ([]byte, error) {
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, n))
}

// cutBody ends with an error after its bytes, as a dropped connection.
type cutBody struct{ r *bytes.Reader }

func (c *cutBody) Read(p []byte) (int, error) {
	if c.r.Len() == 0 {
		return 0, errors.New("connection cut (test)")
	}
	return c.r.Read(p)
}
func (c *cutBody) Close() error { return nil }
