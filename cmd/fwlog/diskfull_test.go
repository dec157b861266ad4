package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/logclient"
	"golang.org/x/sys/unix"
)

// TestDiskFull runs fwlog, then takes its disk away (RLIMIT_FSIZE on the
// process: every write that would grow a file fails with EFBIG, as on a
// full disk). Submissions and image uploads get a 503 with Retry-After and
// a message naming the storage, the failures are counted, nothing is
// acknowledged that is not stored, and once there is room again the log
// goes on with every entry it acknowledged.
func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	pub := setup(t, dir)
	p, err := start(t, "--data", filepath.Join(dir, "data"), "--origin", origin, "--release-keys", pub, "--log-format", "json")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(syscall.SIGKILL)
	ctx := context.Background()
	lc, err := logclient.New(p.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	release := func(i int) ([]byte, []byte) {
		img := fwtest.Image(fmt.Sprint("disk full ", i), 100000)
		return img, fwtest.SignRelease(t, fwtest.NewRelease(img, nil), relKey)
	}
	var acked []uint64
	for i := 0; i < 5; i++ {
		_, env := release(i)
		r, err := lc.Add(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, r.Index)
	}
	pid := p.Cmd.Process.Pid
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: 1, Max: unix.RLIM_INFINITY}, &old); err != nil {
		t.Skipf("cannot limit the file size of fwlog: %v", err)
	}
	var he *logclient.HTTPError
	img5, env5 := release(5)
	for attempt := 0; attempt < 3; attempt++ {
		_, err := lc.Add(ctx, env5)
		if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable || !strings.Contains(he.Message, "the log's storage failed to store the entries (disk full)") {
			t.Fatalf("Add on a full disk = %v; want a 503 naming the full disk", err)
		}
	}
	// An image upload of a logged release: its bytes cannot be stored.
	img0, _ := release(0)
	resp := put(t, p.URL+"/v1/images/"+digest.Digest(sha256.Sum256(img0)).String(), img0)
	if resp.code != http.StatusServiceUnavailable || resp.retryAfter == "" || !strings.Contains(resp.body, "the log's storage failed to store the image (disk full)") {
		t.Errorf("PUT image on a full disk = %d %q (Retry-After %q); want a 503 naming the full disk", resp.code, resp.body, resp.retryAfter)
	}
	if n := metric(t, p.URL, `fwlog_storage_errors_total{kind="disk full"}`); n < 4 {
		t.Errorf("fwlog_storage_errors_total{kind=\"disk full\"} = %v, want at least 4", n)
	}

	// Room again: the refused release is logged now, after everything
	// acknowledged before.
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &old, nil); err != nil {
		t.Fatal(err)
	}
	r, err := lc.Add(ctx, env5)
	if err != nil {
		t.Fatalf("Add after the disk has room again: %v", err)
	}
	if r.Index != uint64(len(acked)) {
		t.Errorf("the release refused on the full disk got index %d, want %d", r.Index, len(acked))
	}
	b, err := waitBundle(ctx, lc, sha256.Sum256(img5))
	if err != nil {
		t.Fatalf("bundle after the disk has room again: %v", err)
	}
	if _, err := client.VerifyBundle(ctx, client.Trust{Log: logVerifier(t, filepath.Join(dir, "data", "log.pub")), ReleaseKeys: fwtest.Ring(t, relKey)}, b, bytes.NewReader(img5)); err != nil {
		t.Errorf("VerifyBundle after the disk had room again: %v", err)
	}
	for _, i := range acked {
		if _, err := lc.Entry(ctx, i); err != nil {
			t.Errorf("acknowledged entry %d: %v", i, err)
		}
	}
	if resp := put(t, p.URL+"/v1/images/"+digest.Digest(sha256.Sum256(img0)).String(), img0); resp.code != http.StatusCreated {
		t.Errorf("PUT image after the disk had room again = %d %q", resp.code, resp.body)
	}
}

type putResult struct {
	code       int
	body       string
	retryAfter string
}

func put(t *testing.T, url string, body []byte) putResult {
	req, _ := http.NewRequest("PUT", url, bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return putResult{resp.StatusCode, string(b), resp.Header.Get("Retry-After")}
}

// metric returns the value of one sample of the server's /metrics.
func metric(t *testing.T, base, sample string) float64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// waitBundle fetches the bundle of image d, waiting while it is pending.
func waitBundle(ctx context.Context, lc *logclient.Client, d digest.Digest) ([]byte, error) {
	for i := 0; ; i++ {
		b, err := lc.Bundle(ctx, d, -1)
		var he *logclient.HTTPError
		if err == nil || !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable || i > 500 {
			return b, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}
