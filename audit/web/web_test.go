package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/audit/web"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/internal/webui"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// startLog starts a real log on 127.0.0.1 that takes releases by Release1
// and Release2, and logs entries in it.
func startLog(t *testing.T, entries ...[]byte) *fwtest.Log {
	t.Helper()
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{fwtest.Release1, fwtest.Release2}})
	if len(entries) > 0 {
		lc, err := logclient.New(l.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		for len(entries) > 0 {
			n := min(len(entries), 16) // the log's limit for a submission
			res, err := lc.AddAll(context.Background(), entries[:n])
			if err != nil {
				t.Fatal(err)
			}
			l.WaitSize(t, res[n-1].Index+1)
			entries = entries[n:]
		}
	}
	return l
}

func release(t *testing.T, seed, version string, k *keys.PrivateKey) []byte {
	return fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image(seed, 100), func(r *provenance.Release) { r.Version = version }), k)
}

func logVerifier(t *testing.T) note.Verifier {
	v, err := fwtest.LogKey.Public().NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// newAuditor returns an auditor of the log at url that trusts Release1's
// releases only.
func newAuditor(t *testing.T, url string) *audit.Auditor {
	t.Helper()
	a, err := audit.New(context.Background(), audit.Config{
		LogURL: url, Log: logVerifier(t), StateDir: t.TempDir(),
		Policy: provenance.KeyPolicy(provenance.KeyTrust{ReleaseKeys: fwtest.Ring(t, fwtest.Release1)}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// serve serves the pages of src on 127.0.0.1.
func serve(t *testing.T, src web.Source, cfg web.Config) *httptest.Server {
	t.Helper()
	h, err := web.New(src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// fetch requests path and checks the security headers every answer has.
func fetch(t *testing.T, srv *httptest.Server, method, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	h := resp.Header
	if got := h.Get("Content-Security-Policy"); got != webui.CSP || !strings.Contains(got, "frame-ancestors 'none'") || !strings.Contains(got, "default-src 'none'") {
		t.Errorf("%s %s: Content-Security-Policy %q, want %q", method, path, got, webui.CSP)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s %s: X-Content-Type-Options %q, want nosniff", method, path, got)
	}
	if got := h.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("%s %s: X-Frame-Options %q, want DENY", method, path, got)
	}
	if ct := h.Get("Content-Type"); strings.HasPrefix(ct, "text/html") && method != http.MethodHead {
		checkPage(t, method+" "+path, string(body))
	}
	return resp, string(body)
}

// checkPage checks what every page must be: no script, no inline style,
// nothing from elsewhere, and a heading.
func checkPage(t *testing.T, what, body string) {
	t.Helper()
	lower := strings.ToLower(body)
	for _, bad := range []string{"<script", "<style", "<iframe", "<object", "<embed"} {
		if strings.Contains(lower, bad) {
			t.Errorf("%s: the page has %q", what, bad)
		}
	}
	for _, re := range []string{
		`<[^>]*\sstyle=`,                     // inline style
		`<[^>]*\son[a-z]+=`,                  // event handlers
		`(href|src|action)="\s*javascript:`,  // script URLs
		`(href|src|action)="\s*(https?:)?//`, // anything from elsewhere
	} {
		if m := regexp.MustCompile(re).FindString(lower); m != "" {
			t.Errorf("%s: the page has %q", what, m)
		}
	}
	if !strings.Contains(body, "<h1>") || !strings.Contains(body, `<html lang="en">`) {
		t.Errorf("%s: no <h1> or no language", what)
	}
}

// rowIDs returns the alert IDs a status page lists, in order.
func rowIDs(t *testing.T, body string) []int64 {
	var ids []int64
	for _, m := range regexp.MustCompile(`<td class="num" data-label="ID"><a href="/alerts/(\d+)"`).FindAllStringSubmatch(body, -1) {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		ids = append(ids, id)
	}
	return ids
}

// link returns the href of the pager link labelled label ("" if none).
func link(body, label string) string {
	m := regexp.MustCompile(`<a href="([^"]*)"[^>]*>` + regexp.QuoteMeta(label) + `</a>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

// TestPages: over a real log whose releases raise 111 alerts, the status
// page lists them newest first, 50 a page, and pages through them both
// ways; each alert has a page and a download that verifies as fwctl audit
// verify-evidence verifies it; unknown alerts and pages are 404, other
// methods 405.
func TestPages(t *testing.T) {
	ctx := context.Background()
	var entries [][]byte
	for i := range 110 {
		// Signed by a key the auditor does not trust: a release_signature
		// alert each.
		entries = append(entries, release(t, fmt.Sprint("untrusted ", i), fmt.Sprintf("1.%d.0", i), fwtest.Release2))
	}
	// Two images as 2.0.0: an equivocation, with two entries.
	entries = append(entries, release(t, "a", "2.0.0", fwtest.Release1), release(t, "b", "2.0.0", fwtest.Release1))
	l := startLog(t, entries...)
	a := newAuditor(t, l.URL)
	if _, err := a.Step(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := a.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 111 {
		t.Fatalf("%d alerts raised, want 111: %v", len(all), all)
	}
	srv := serve(t, a, web.Config{})

	t.Run("status", func(t *testing.T) {
		resp, body := fetch(t, srv, "GET", "/")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("GET / = %s %s", resp.Status, resp.Header.Get("Content-Type"))
		}
		st, err := a.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"Auditor status", l.URL, fwtest.LogKey.Name, hex.EncodeToString(st.Root), ">112<", ">111<",
			`<th scope="col">Severity</th>`, `<span class="badge bad">critical</span>`, "release_signature", "equivocation",
			`<span class="badge ok">ok</span>`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("GET / does not show %q:\n%s", want, body)
			}
		}
		if st.Size != 112 || st.Read != 112 || st.Alerts != 111 || st.VerifiedAt.IsZero() || st.Polled.IsZero() || st.PollError != "" {
			t.Errorf("Status = %+v", st)
		}
		if strings.Contains(body, "No alerts") {
			t.Errorf("GET / says there are no alerts")
		}
	})

	t.Run("pagination", func(t *testing.T) {
		var want []int64
		for _, al := range slices.Backward(all) {
			want = append(want, al.ID)
		}
		var got []int64
		var pages []string
		for path := "/"; path != ""; {
			resp, body := fetch(t, srv, "GET", path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %s", path, resp.Status)
			}
			ids := rowIDs(t, body)
			if len(ids) == 0 || len(ids) > web.PageSize {
				t.Fatalf("GET %s lists %d alerts, want 1 to %d", path, len(ids), web.PageSize)
			}
			got = append(got, ids...)
			pages = append(pages, path)
			if older := link(body, "Older →"); older != "" {
				path = "/" + strings.TrimSuffix(strings.TrimPrefix(older, "/"), "#alerts")
			} else {
				path = ""
			}
		}
		if !slices.Equal(got, want) || len(pages) != 3 {
			t.Fatalf("the pages %v list %v, want %v", pages, got, want)
		}
		// And back: the newer page of the last is the second.
		_, last := fetch(t, srv, "GET", pages[2])
		newer := strings.TrimSuffix(link(last, "← Newer"), "#alerts")
		_, second := fetch(t, srv, "GET", newer)
		if ids := rowIDs(t, second); !slices.Equal(ids, want[50:100]) {
			t.Errorf("GET %s (newer of %s) lists %v, want %v", newer, pages[2], ids, want[50:100])
		}
		_, first := fetch(t, srv, "GET", strings.TrimSuffix(link(second, "← Newer"), "#alerts"))
		if ids := rowIDs(t, first); !slices.Equal(ids, want[:50]) || link(first, "← Newer") != "" {
			t.Errorf("the newer page of the second lists %v, want %v and no newer link", ids, want[:50])
		}
		// Beyond the oldest: an empty page, not an error.
		resp, body := fetch(t, srv, "GET", fmt.Sprintf("/?before=%d", all[0].ID))
		if resp.StatusCode != http.StatusOK || len(rowIDs(t, body)) != 0 || !strings.Contains(body, "No alerts on this page") {
			t.Errorf("GET /?before=%d = %s:\n%s", all[0].ID, resp.Status, body)
		}
		for _, q := range []string{"?before=x", "?before=0", "?before=-1", "?after=01", "?before=1&after=2", "?before=99999999999999999999"} {
			if resp, body := fetch(t, srv, "GET", "/"+q); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "400 Bad Request") {
				t.Errorf("GET /%s = %s, want 400", q, resp.Status)
			}
		}
	})

	t.Run("alert", func(t *testing.T) {
		var eq *audit.Alert
		for _, al := range all {
			if al.Type == audit.TypeEquivocation {
				eq = al
			}
		}
		if eq == nil {
			t.Fatal("no equivocation alert")
		}
		path := fmt.Sprintf("/alerts/%d", eq.ID)
		resp, body := fetch(t, srv, "GET", path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %s", path, resp.Status)
		}
		want := []string{
			fmt.Sprintf("<h1>Alert %d: <bdi>equivocation</bdi></h1>", eq.ID), "critical", eq.Key,
			fmt.Sprintf(`<a class="button" href="%s/evidence.json" download="alert-%d.json">`, path, eq.ID),
			fmt.Sprintf("<dt>Entry</dt><dd>%d</dd>", *eq.Index),
			"<pre><bdi>" + strings.SplitN(string(eq.Evidence.Checkpoints[0]), "\n", 2)[0],
		}
		for _, e := range eq.Evidence.Entries {
			want = append(want, fmt.Sprintf(`<td class="num" data-label="Index">%d</td>`, e.Index), hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(e.Data)),
				fmt.Sprintf("<summary>%d hash", len(e.Proof)), hex.EncodeToString(e.Proof[0]))
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s does not show %q:\n%s", path, w, body)
			}
		}
		if len(eq.Evidence.Entries) != 2 {
			t.Errorf("the equivocation has %d entries, want 2", len(eq.Evidence.Entries))
		}
		// HEAD: the headers, no body.
		if resp, body := fetch(t, srv, "HEAD", path); resp.StatusCode != http.StatusOK || body != "" {
			t.Errorf("HEAD %s = %s, %d bytes", path, resp.Status, len(body))
		}
	})

	t.Run("evidence", func(t *testing.T) {
		for _, al := range []*audit.Alert{all[0], all[len(all)-1]} {
			path := fmt.Sprintf("/alerts/%d/evidence.json", al.ID)
			resp, body := fetch(t, srv, "GET", path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %s", path, resp.Status)
			}
			if cd := resp.Header.Get("Content-Disposition"); cd != fmt.Sprintf(`attachment; filename="alert-%d.json"`, al.ID) {
				t.Errorf("GET %s: Content-Disposition %q", path, cd)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("GET %s: Content-Type %q", path, ct)
			}
			// Byte for byte what fwctl audit alerts --json prints for it.
			var line bytes.Buffer
			json.NewEncoder(&line).Encode(al)
			if body != line.String() {
				t.Errorf("GET %s =\n%s\nwant the line of fwctl audit alerts --json:\n%s", path, body, line.String())
			}
			// As fwctl audit verify-evidence reads it.
			var got audit.Alert
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if _, err := audit.VerifyEvidence(&got, logVerifier(t), nil); err != nil {
				t.Errorf("the evidence of %s does not verify: %v", path, err)
			}
			// Tampered, it does not.
			got.Evidence.Entries[0].Data[20] ^= 1
			if _, err := audit.VerifyEvidence(&got, logVerifier(t), nil); err == nil {
				t.Errorf("the tampered evidence of %s verifies", path)
			}
		}
	})

	t.Run("not found", func(t *testing.T) {
		for _, tc := range []struct{ path, msg string }{
			{"/alerts/999999", "there is no alert 999999"},
			{"/alerts/999999/evidence.json", "there is no alert 999999"},
			{"/alerts/0", "there is no alert 0"},
			{"/alerts/01", "there is no alert 01"},
			{"/alerts/x", "there is no alert x"},
			{"/alerts/", "there is no page at this address"},
			{"/alerts/1/other", "there is no page at this address"},
			{"/nope", "there is no page at this address"},
			{"/assets/style.css", "no such asset"},
		} {
			resp, body := fetch(t, srv, "GET", tc.path)
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, tc.msg) {
				t.Errorf("GET %s = %s, want 404 saying %q:\n%s", tc.path, resp.Status, tc.msg, body)
			}
			if resp.Header.Get("Content-Disposition") != "" {
				t.Errorf("GET %s is an attachment", tc.path)
			}
		}
	})

	t.Run("methods", func(t *testing.T) {
		for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
			for _, path := range []string{"/", "/alerts/1", "/alerts/1/evidence.json"} {
				resp, body := fetch(t, srv, m, path)
				if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
					t.Errorf("%s %s = %s, Allow %q; want 405, GET, HEAD", m, path, resp.Status, resp.Header.Get("Allow"))
				}
				if !strings.Contains(body, "read-only") {
					t.Errorf("%s %s says:\n%s", m, path, body)
				}
			}
		}
	})

	t.Run("stylesheet", func(t *testing.T) {
		resp, body := fetch(t, srv, "GET", webui.StylePath())
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || !strings.Contains(body, ".badge") {
			t.Errorf("GET %s = %s %s", webui.StylePath(), resp.Status, resp.Header.Get("Content-Type"))
		}
	})
}

// hostile is a checkpoint someone was shown, in the bytes of a hostile
// log: markup, quotes, a javascript: URL and a right-to-left override, in
// its text and in the name of its signature line.
const hostileText = `<script>alert(1)</script> "double" 'single' <a href="javascript:alert(1)">x</a> ` + "\u202e" + `fdp.exe`

func hostileCheckpoint() []byte {
	sig := base64.StdEncoding.EncodeToString(append([]byte{1, 2, 3, 4}, make([]byte, 64)...))
	name := `<script>alert(1)</script>"'javascript:alert(1)` + "\u202e"
	return []byte(hostileText + "\n7\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n\n— " + name + " " + sig + "\n")
}

// TestNoAlertsAndHostile: the status page before the first checkpoint and
// with no alerts says so; then an alert raised for a hostile checkpoint
// (fwctl audit --checkpoint), whose message and evidence carry markup,
// quotes, a javascript: URL and U+202E, shows all of it escaped and
// revealed, on the status page and the alert's.
func TestNoAlertsAndHostile(t *testing.T) {
	ctx := context.Background()
	l := startLog(t, release(t, "ok", "1.0.0", fwtest.Release1))
	a := newAuditor(t, l.URL)
	srv := serve(t, a, web.Config{})

	_, body := fetch(t, srv, "GET", "/")
	for _, want := range []string{"has not verified a checkpoint of the log yet", "no checkpoint verified yet", "No alerts.", "none yet by this process"} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / before a step does not say %q:\n%s", want, body)
		}
	}
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	_, body = fetch(t, srv, "GET", "/")
	for _, want := range []string{"No alerts.", "<dd>1 entries</dd>", fwtest.LogKey.Name, `<span class="badge ok">ok</span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / with no alerts does not show %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<table") {
		t.Errorf("GET / with no alerts has a table")
	}

	res, err := a.Check(ctx, hostileCheckpoint())
	if err != nil || len(res.Alerts) != 1 || res.Alerts[0].Type != audit.TypeBadCheckpoint {
		t.Fatalf("Check(hostile) = %+v, %v", res, err)
	}
	al := res.Alerts[0]
	if !strings.Contains(al.Message, "<script>alert(1)</script>") || !strings.Contains(al.Message, "\u202e") {
		t.Fatalf("the alert's message carries none of the hostile name: %q", al.Message)
	}
	for _, path := range []string{"/", fmt.Sprintf("/alerts/%d", al.ID)} {
		_, body := fetch(t, srv, "GET", path)
		if strings.Contains(body, "\u202e") || strings.Contains(strings.ToLower(body), "<script") || strings.Contains(body, `href="javascript`) {
			t.Errorf("GET %s shows hostile content raw:\n%s", path, body)
		}
		for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;&#39;javascript:alert(1)"} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s does not show %q:\n%s", path, want, body)
			}
		}
		// What a reader sees, the entities decoded.
		if text := html.UnescapeString(body); !strings.Contains(text, `<script>alert(1)</script>"'javascript:alert(1)⟨U+202E⟩`) {
			t.Errorf("GET %s does not show the override as ⟨U+202E⟩:\n%s", path, text)
		}
		if path != "/" {
			// The checkpoint, preformatted, with its lines.
			if !strings.Contains(body, "<pre><bdi>&lt;script&gt;alert(1)&lt;/script&gt; &#34;double&#34; &#39;single&#39; &lt;a href=&#34;javascript:alert(1)&#34;&gt;x&lt;/a&gt; ⟨U&#43;202E⟩fdp.exe\n7\n") {
				t.Errorf("GET %s does not show the checkpoint as preformatted text:\n%s", path, body)
			}
		}
	}
	// The download is the bytes of the alert, markup and all, for
	// verify-evidence (JSON escapes it; it is never rendered).
	resp, body := fetch(t, srv, "GET", fmt.Sprintf("/alerts/%d/evidence.json", al.ID))
	if !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("the download is not an attachment: %q", resp.Header.Get("Content-Disposition"))
	}
	var got audit.Alert
	if err := json.Unmarshal([]byte(body), &got); err != nil || !bytes.Equal(got.Evidence.Checkpoints[0], hostileCheckpoint()) || got.Message != al.Message {
		t.Fatalf("the download: %v\n%s", err, body)
	}
	if _, err := audit.VerifyEvidence(&got, logVerifier(t), nil); err != nil {
		t.Errorf("the evidence of the bad checkpoint does not verify: %v", err)
	}
}

// blocking is a Source whose Status waits until release is closed or its
// context ends, and says when it is entered.
type blocking struct {
	web.Source
	entered chan struct{}
	release chan struct{}
}

func (b *blocking) Status(ctx context.Context) (*audit.Status, error) {
	b.entered <- struct{}{}
	select {
	case <-b.release:
		return &audit.Status{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *blocking) AlertsBefore(context.Context, int64, int) ([]*audit.Alert, error) { return nil, nil }

// failing is a Source whose every read fails.
type failing struct{ web.Source }

func (failing) Status(context.Context) (*audit.Status, error) {
	return nil, errors.New("secret detail: disk on fire")
}

func (failing) Alert(context.Context, int64) (*audit.Alert, error) {
	return nil, errors.New("secret detail: disk on fire")
}

// TestLimits: requests beyond the limit are answered 503 with Retry-After
// at once; one that takes longer than the timeout is 503; a failed read is
// a 500 that tells nothing of the error.
func TestLimits(t *testing.T) {
	b := &blocking{entered: make(chan struct{}, 1), release: make(chan struct{})}
	srv := serve(t, b, web.Config{MaxInFlight: 1, Timeout: 10 * time.Second})
	done := make(chan int)
	go func() {
		resp, err := srv.Client().Get(srv.URL + "/")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-b.entered
	resp, body := fetch(t, srv, "GET", "/")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "too many pages at once") {
		t.Errorf("GET / beyond the limit = %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	close(b.release)
	if code := <-done; code != http.StatusOK {
		t.Errorf("GET / within the limit = %d", code)
	}

	slow := &blocking{entered: make(chan struct{}, 1), release: make(chan struct{})}
	srv = serve(t, slow, web.Config{Timeout: 50 * time.Millisecond})
	if resp, body := fetch(t, srv, "GET", "/"); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "took too long") {
		t.Errorf("GET / past the timeout = %s:\n%s", resp.Status, body)
	}

	srv = serve(t, failing{}, web.Config{})
	for _, path := range []string{"/", "/alerts/1", "/alerts/1/evidence.json"} {
		resp, body := fetch(t, srv, "GET", path)
		if resp.StatusCode != http.StatusInternalServerError || strings.Contains(body, "secret") || !strings.Contains(body, "internal error") {
			t.Errorf("GET %s with a failing source = %s:\n%s", path, resp.Status, body)
		}
	}
}
