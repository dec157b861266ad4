package explorer_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/explorer"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/internal/webui"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/ledger"
	"github.com/fwledger/fwledger/log/sqlite"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/report"
	"github.com/fwledger/fwledger/tlogpolicy"
)

// site is a test log with the explorer in front of its API.
type site struct {
	*fwtest.Log
	URL string
}

func startSite(t testing.TB, o fwtest.LogOptions, edit func(*explorer.Config)) *site {
	t.Helper()
	if o.ReleaseKeys == nil {
		o.ReleaseKeys = []*keys.PrivateKey{fwtest.Release1, fwtest.Release2}
	}
	if o.BuilderKeys == nil {
		o.BuilderKeys = []*keys.PrivateKey{fwtest.Builder, fwtest.Rebuilder}
	}
	if o.RevocationKeys == nil {
		o.RevocationKeys = []*keys.PrivateKey{fwtest.Security1}
	}
	l := fwtest.StartLog(t, o)
	var pubs []*keys.PublicKey
	for _, k := range append(append(append([]*keys.PrivateKey{}, o.ReleaseKeys...), o.BuilderKeys...), o.RevocationKeys...) {
		pubs = append(pubs, k.Public())
	}
	ring, err := keys.NewRing(pubs...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := explorer.Config{Ledger: l.Ledger, Keys: ring, Logger: fwtest.Logger(t)}
	if edit != nil {
		edit(&cfg)
	}
	ex, err := explorer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ex.Handler(ledger.NewHandler(l.Ledger)))
	t.Cleanup(srv.Close)
	return &site{Log: l, URL: srv.URL}
}

// add logs entries and waits until a checkpoint covers them; it returns
// their indices.
func (s *site) add(t testing.TB, entries ...[]byte) []uint64 {
	t.Helper()
	res, err := s.AddAll(context.Background(), entries)
	if err != nil {
		t.Fatal(err)
	}
	var idx []uint64
	var top uint64
	for _, r := range res {
		idx = append(idx, r.Index)
		top = max(top, r.Index+1)
	}
	s.WaitSize(t, top)
	return idx
}

// get fetches a path and returns the response and its body.
func (s *site) get(t testing.TB, path string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(s.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// page fetches a page that must answer 200 with HTML and the security
// headers.
func (s *site) page(t testing.TB, path string) string {
	t.Helper()
	resp, body := s.get(t, path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", path, resp.Status, body)
	}
	checkHeaders(t, path, resp)
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	if _, ok := webui.ParseRenderTiming(resp.Header.Get("Server-Timing")); !ok {
		t.Errorf("GET %s: Server-Timing %q gives no render time", path, resp.Header.Get("Server-Timing"))
	}
	return body
}

func checkHeaders(t testing.TB, path string, resp *http.Response) {
	t.Helper()
	h := resp.Header
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "style-src 'self'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("GET %s: Content-Security-Policy %q lacks %q", path, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") && !strings.Contains(csp, "script-src 'none'") {
		t.Errorf("GET %s: Content-Security-Policy %q allows script", path, csp)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("GET %s: X-Content-Type-Options %q", path, h.Get("X-Content-Type-Options"))
	}
	if h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("GET %s: X-Frame-Options %q", path, h.Get("X-Frame-Options"))
	}
}

// releaseWithProvenance returns provenance for an image by fwtest.Builder
// and a release of it by Release1 that endorses it.
func releaseWithProvenance(t testing.TB, image []byte, edit func(*provenance.Release)) (prov, rel []byte) {
	prov = fwtest.Provenance(t, image, fwtest.Builder)
	r := fwtest.NewRelease(image, edit)
	r.Provenance = []digest.Digest{digest.Sum(prov)}
	return prov, fwtest.SignRelease(t, r, fwtest.Release1)
}

func TestPages(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, nil)
	img := fwtest.Image("pages", 4096)
	prov, rel := releaseWithProvenance(t, img, nil)
	idx := s.add(t, prov, rel)
	provIdx, relIdx := idx[0], idx[1]
	sum := sha256.Sum256(img)
	hexSum := hex.EncodeToString(sum[:])

	home := s.page(t, "/")
	for _, want := range []string{
		`<div class="big" id="tree-size">2</div>`,
		fmt.Sprintf(`href="/entries/%d"`, relIdx),
		`href="/models/acme-x1"`,
		"Recent releases",
		`<svg class="chart"`,
		`<polyline class="line"`, // the growth, from the storage's hourly sizes
	} {
		if !strings.Contains(home, want) {
			t.Errorf("home page lacks %q", want)
		}
	}

	// sha256sum output finds the release and the provenance.
	found := s.page(t, "/search?q="+url.QueryEscape(hexSum+"  fw.bin\n"))
	for _, i := range idx {
		if !strings.Contains(found, fmt.Sprintf(`href="/entries/%d"`, i)) {
			t.Errorf("search by sha256sum output lacks entry %d", i)
		}
	}
	for q, want := range map[string]uint64{
		"sha256:" + hexSum:                relIdx,
		"acme-x1":                         relIdx,
		"acme-x1 1.4.0":                   relIdx,
		"acme-x1@1.4.0":                   relIdx,
		fwtest.BuilderID:                  provIdx,
		"https://git.example.com/acme/fw": provIdx,
		"git.example.com/acme/fw.git":     provIdx,
		fwtest.KeyID(t, fwtest.Release1):  relIdx,
		fwtest.KeyID(t, fwtest.Builder):   provIdx,
		"git+https://git.example.com/acme/fw@0123456789abcdef0123456789abcdef01234567": provIdx,
	} {
		body := s.page(t, "/search?q="+url.QueryEscape(q))
		if !strings.Contains(body, fmt.Sprintf(`href="/entries/%d"`, want)) {
			t.Errorf("search %q does not find entry %d", q, want)
		}
	}
	// A search that finds nothing says so, and finds nothing else.
	none := s.page(t, "/search?q=acme-x9")
	if strings.Contains(none, `href="/entries/`) {
		t.Errorf("search for an unknown model found entries")
	}
	if s.page(t, "/search?q="+url.QueryEscape(fwtest.KeyID(t, fwtest.Release2))) == "" || strings.Contains(s.page(t, "/search?q="+url.QueryEscape(fwtest.KeyID(t, fwtest.Release2))), `href="/entries/`) {
		t.Errorf("search by a key that signed nothing found entries")
	}

	entry := s.page(t, fmt.Sprintf("/entries/%d", relIdx))
	for _, want := range []string{
		"Entry 1: release",
		fwtest.KeyID(t, fwtest.Release1),
		"example.com/release-1",
		`<span class="badge ok">verified</span>`,
		fmt.Sprintf(`href="/entries/%d">entry %d</a>`, provIdx, provIdx),
		`href="/models/acme-x1"`,
		fmt.Sprintf(`href="/entries/%d/raw"`, relIdx),
	} {
		if !strings.Contains(entry, want) {
			t.Errorf("release page lacks %q", want)
		}
	}
	pe := s.page(t, fmt.Sprintf("/entries/%d", provIdx))
	for _, want := range []string{"Build provenance", fwtest.BuilderID, "0123456789abcdef0123456789abcdef01234567", fmt.Sprintf(`href="/entries/%d"`, relIdx)} {
		if !strings.Contains(pe, want) {
			t.Errorf("provenance page lacks %q", want)
		}
	}

	model := s.page(t, "/models/acme-x1")
	if !strings.Contains(model, fmt.Sprintf(`href="/entries/%d"`, relIdx)) {
		t.Errorf("model page lacks the release")
	}
	if strings.Contains(model, "different images") {
		t.Errorf("model page reports a collision where there is none")
	}
	if w := s.page(t, "/witnesses"); !strings.Contains(w, "without witnesses") {
		t.Errorf("witnesses page of a log without witnesses does not say so")
	}
	if r := s.page(t, "/reports"); !strings.Contains(r, "takes no device reports") {
		t.Errorf("reports page of a log without reports does not say so")
	}

	// The raw download is the exact bytes, as an attachment.
	resp, raw := s.get(t, fmt.Sprintf("/entries/%d/raw", relIdx))
	if resp.StatusCode != http.StatusOK || raw != string(rel) {
		t.Errorf("raw download: %s, %d bytes; want the %d bytes logged", resp.Status, len(raw), len(rel))
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("raw download: Content-Disposition %q", cd)
	}
	checkHeaders(t, "raw", resp)

	// The API still answers beside the pages.
	resp, body := s.get(t, "/checkpoint")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, s.Log.Log.Origin()+"\n2\n") {
		t.Errorf("GET /checkpoint: %s %q", resp.Status, body)
	}
}

func TestBadRequests(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, nil)
	img := fwtest.Image("bad", 100)
	prov, rel := releaseWithProvenance(t, img, nil)
	s.add(t, prov, rel)
	for _, c := range []struct {
		path string
		code int
		msg  string
	}{
		{"/entries/abc", 400, "not an entry index"},
		{"/entries/007", 400, "not an entry index"},
		{"/entries/-1", 400, "not an entry index"},
		{"/entries/99999", 404, "there is no entry 99999: the published checkpoint has 2 entries"},
		{"/entries/99999/raw", 404, "there is no entry 99999"},
		{"/entries/18446744073709551616", 400, "not an entry index"},
		{"/search?q=" + strings.Repeat("a", explorer.MaxQuery+1), 400, "at most 512"},
		{"/search?q=%ff%fe", 400, "not valid UTF-8"},
		{"/search?q=acme-x1&before=x", 400, "parameter before"},
		{"/search?q=acme-x1&in=nope", 400, "no section"},
		{"/models/" + strings.Repeat("m", provenance.MaxFieldLength+1), 400, "model name"},
		{"/models/acme-x1?before=-3", 400, "parameter before"},
		{"/reports?days=1000", 400, "parameter days"},
		{"/no/such/page", 404, "no page at /no/such/page"},
	} {
		resp, body := s.get(t, c.path)
		if resp.StatusCode != c.code || !strings.Contains(body, c.msg) {
			t.Errorf("GET %s: %s; want %d with %q\n%s", webui.Clip(60, c.path), resp.Status, c.code, c.msg, webui.Clip(300, body))
		}
		checkHeaders(t, c.path, resp)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: error page has Content-Type %q", c.path, ct)
		}
	}
	// Pages take GET and HEAD only.
	for _, p := range []string{"/", "/search?q=x", "/entries/0", "/models/acme-x1", "/witnesses", "/reports"} {
		resp, err := http.Post(s.URL+p, "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "GET") {
			t.Errorf("POST %s: %s, Allow %q", p, resp.Status, resp.Header.Get("Allow"))
		}
		req, _ := http.NewRequest("HEAD", s.URL+p, nil)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("HEAD %s: %s", p, resp.Status)
		}
	}
}

// hostile is text an attacker with a key puts into an entry: markup,
// quotes, a javascript: URL, a direction override and a long run.
const hostile = `<script>alert(1)</script>"'><img src=x onerror=alert(2)> javascript:alert(3) ` + "\u202egnp.exe\u202c"

func TestHostileContent(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, nil)
	img := fwtest.Image("hostile", 512)
	long := strings.Repeat("W", 1000)
	prov := fwtest.ProvenanceWith(t, img, fwtest.Builder, func(b *provenance.Build) {
		b.BuilderID = "javascript:alert(document.domain)//" + hostile
		b.Source = "javascript:alert(4)"
		b.Ref = hostile
		b.InvocationID = long
		b.Subjects[0].Name = hostile
	})
	r := fwtest.NewRelease(img, func(r *provenance.Release) {
		r.ImageName = hostile + long[:900]
		r.Models = []string{"javascript:alert", "a/../../v1/log@x+1"}
		r.Channel = "stable"
	})
	r.Provenance = []digest.Digest{digest.Sum(prov)}
	rel := fwtest.SignRelease(t, r, fwtest.Release1)
	rev := fwtest.SignRevocation(t, &provenance.Revocation{
		Revokes: provenance.RevokeRelease, Image: sha256.Sum256(img), ImageName: "fw.bin",
		Reason: hostile, Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
	}, fwtest.Security1)
	idx := append(s.add(t, prov, rel), s.add(t, rev)...)

	pages := []string{"/", "/witnesses", "/search?q=" + url.QueryEscape("javascript:alert"), "/search?q=" + url.QueryEscape(hex.EncodeToString(r.Image[:])),
		"/models/javascript:alert", "/models/" + url.PathEscape("a/../../v1/log@x+1")}
	for _, i := range idx {
		pages = append(pages, fmt.Sprintf("/entries/%d", i))
	}
	rawTag := regexp.MustCompile(`(?i)<(script|img|iframe|object)\b`)
	jsHref := regexp.MustCompile(`(?i)(href|src|action)\s*=\s*"\s*javascript:`)
	for _, p := range pages {
		body := s.page(t, p)
		if m := rawTag.FindString(body); m != "" {
			t.Errorf("GET %s: the page holds raw markup %q from an entry", p, m)
		}
		if m := jsHref.FindString(body); m != "" {
			t.Errorf("GET %s: the page links to a javascript: URL: %q", p, m)
		}
		if strings.ContainsRune(body, '\u202e') {
			t.Errorf("GET %s: the page holds a raw right-to-left override", p)
		}
	}
	entry := s.page(t, fmt.Sprintf("/entries/%d", idx[1]))
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "⟨U&#43;202E⟩gnp.exe⟨U&#43;202C⟩", `href="/models/a%2F..%2F..%2Fv1%2Flog@x&#43;1"`} {
		if !strings.Contains(entry, want) {
			t.Errorf("release page lacks %q", want)
		}
	}
	// The model with a slash in its name has its own page, not the API's.
	if m := s.page(t, "/models/"+url.PathEscape("a/../../v1/log@x+1")); !strings.Contains(m, fmt.Sprintf(`href="/entries/%d"`, idx[1])) {
		t.Errorf("the model page of a model named with a path lacks its release")
	}
	// The revoked release is shown as revoked, with the hostile reason escaped.
	if m := s.page(t, "/models/javascript:alert"); !strings.Contains(m, `<span class="badge bad">revoked</span>`) {
		t.Errorf("model page does not mark the revoked release")
	}
	pe := s.page(t, fmt.Sprintf("/entries/%d", idx[0]))
	if !regexp.MustCompile(`href="/search\?q=javascript%3[aA]alert%284%29&amp;in=source"`).MatchString(pe) {
		t.Errorf("provenance page does not link its hostile source as a query: %s", regexp.MustCompile(`href="/search\?q=java[^"]*"`).FindAllString(pe, -1))
	}
}

func TestCollisionsAndRebuilds(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, nil)
	imgA, imgB := fwtest.Image("a", 100), fwtest.Image("b", 100)
	provA, relA := releaseWithProvenance(t, imgA, nil)
	provB, relB := releaseWithProvenance(t, imgB, nil) // the same version, another image
	rebuild := fwtest.ProvenanceWith(t, imgA, fwtest.Rebuilder, func(b *provenance.Build) {
		b.BuilderID = "https://rebuilder.example.org/r1"
	})
	idx := s.add(t, provA, relA, provB, relB, rebuild)
	model := s.page(t, "/models/acme-x1")
	if !strings.Contains(model, "was logged with different images") || !strings.Contains(model, fmt.Sprintf(`first logged at <a href="/entries/%d">`, idx[1])) {
		t.Errorf("model page does not show the two images of version 1.4.0")
	}
	pa := s.page(t, fmt.Sprintf("/entries/%d", idx[0]))
	agree := pa[strings.Index(pa, "Rebuilds that agree"):strings.Index(pa, "Rebuilds that disagree")]
	if !strings.Contains(agree, fmt.Sprintf(`href="/entries/%d"`, idx[4])) {
		t.Errorf("provenance page does not list the agreeing rebuild")
	}
	disagree := pa[strings.Index(pa, "Rebuilds that disagree"):]
	if !strings.Contains(disagree, fmt.Sprintf(`href="/entries/%d"`, idx[2])) || !strings.Contains(disagree, "not reproducible") {
		t.Errorf("provenance page does not list the build of the same commit with another image as disagreeing")
	}
}

func TestPaging(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, nil)
	var entries [][]byte
	for i := range explorer.PageSize + 5 {
		img := fwtest.Image(fmt.Sprint("page", i), 64)
		r := fwtest.NewRelease(img, func(r *provenance.Release) { r.Version = fmt.Sprintf("1.%d.0", i) })
		entries = append(entries, fwtest.SignRelease(t, r, fwtest.Release1))
	}
	idx := append(s.add(t, entries[:15]...), s.add(t, entries[15:]...)...)
	first := s.page(t, "/models/acme-x1")
	links := regexp.MustCompile(`<td class="num"><a href="/entries/(\d+)">`).FindAllStringSubmatch(first, -1)
	if len(links) != explorer.PageSize {
		t.Fatalf("first page has %d releases, want %d", len(links), explorer.PageSize)
	}
	if links[0][1] != fmt.Sprint(idx[len(idx)-1]) {
		t.Errorf("first page starts at entry %s, want the newest, %d", links[0][1], idx[len(idx)-1])
	}
	next := regexp.MustCompile(`href="(/models/acme-x1\?before=\d+)"`).FindStringSubmatch(first)
	if next == nil {
		t.Fatal("first page has no link to older releases")
	}
	second := s.page(t, strings.ReplaceAll(next[1], "&amp;", "&"))
	more := regexp.MustCompile(`<td class="num"><a href="/entries/(\d+)">`).FindAllStringSubmatch(second, -1)
	if len(more) != 5 || more[len(more)-1][1] != "0" {
		t.Errorf("second page has %d releases ending at %v, want 5 ending at 0", len(more), more)
	}
}

// richSite is a log with witnesses (two up, one down), devices and their
// reports, releases of two versions with provenance and a rebuild, a
// release full of hostile text, and a revocation: every page has
// something to show.
type richSite struct {
	*site
	// Release, Provenance and Hostile are entry indices.
	Release, Provenance, Hostile uint64
	Image                        []byte
}

func startRichSite(t testing.TB) *richSite {
	t.Helper()
	wkeys := []*keys.PrivateKey{fwtest.WitnessA, fwtest.WitnessB, fwtest.WitnessC}
	urls := fwtest.StartWitnesses(t, wkeys[:2], fwtest.LogKey)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead.Close() // nothing listens there now
	urls = append(urls, "http://"+dead.Addr().String())
	policyText := fwtest.WitnessPolicy(t, fwtest.LogKey, 2, wkeys, urls...)
	policy, err := tlogpolicy.Parse(policyText)
	if err != nil {
		t.Fatal(err)
	}
	col := fwtest.Collector(t, policyText)
	s := startSite(t, fwtest.LogOptions{
		Witnesser: col, WitnessTimeout: 2 * time.Second,
		Devices: []*keys.PrivateKey{fwtest.Device1, fwtest.Device2},
	}, func(c *explorer.Config) {
		c.Witnesses, c.WitnessStatus = policy, col.Status
	})
	rs := &richSite{site: s}
	rs.Image = fwtest.Image("rich", 1<<20)
	prov, rel := releaseWithProvenance(t, rs.Image, nil)
	idx := s.add(t, prov, rel)
	rs.Provenance, rs.Release = idx[0], idx[1]
	rebuild := fwtest.ProvenanceWith(t, rs.Image, fwtest.Rebuilder, func(b *provenance.Build) {
		b.BuilderID = "https://rebuilder.example.org/r1"
	})
	next := fwtest.Image("rich-1.5", 1<<20)
	prov2, rel2 := releaseWithProvenance(t, next, func(r *provenance.Release) { r.Version, r.SecurityVersion = "1.5.0", 8 })
	s.add(t, rebuild, prov2, rel2)
	img3 := fwtest.Image("hostile", 2048)
	prov3 := fwtest.ProvenanceWith(t, img3, fwtest.Builder, func(b *provenance.Build) {
		b.BuilderID = "javascript:alert(document.domain)//" + hostile
		b.Source = "javascript:alert(4)"
		b.Ref = hostile
		b.InvocationID = strings.Repeat("W", 900)
		b.Subjects[0].Name = hostile
	})
	r3 := fwtest.NewRelease(img3, func(r *provenance.Release) {
		r.ImageName = hostile + strings.Repeat("X", 600)
		r.Models = []string{"acme-x1", "javascript:alert"}
		r.Version, r.SecurityVersion, r.Channel = "1.5.1-beta.1", 8, "beta"
	})
	r3.Provenance = []digest.Digest{digest.Sum(prov3)}
	idx = s.add(t, prov3, fwtest.SignRelease(t, r3, fwtest.Release1))
	rs.Hostile = idx[1]
	s.add(t, fwtest.SignRevocation(t, &provenance.Revocation{
		Revokes: provenance.RevokeRelease, Image: r3.Image, ImageName: "fw.bin",
		Reason: hostile, Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
	}, fwtest.Security1))

	// Device reports: installs, a refusal, a revert, and one fork.
	ctx := context.Background()
	cp, _ := s.Log.Log.Checkpoint()
	now := time.Now().Add(-time.Minute)
	other := sha256.Sum256([]byte("another tree"))
	for i, r := range []*report.Report{
		{Outcome: report.Installed, InstallMillis: 42000, HasInstallTime: true},
		{Outcome: report.Confirmed, InstallMillis: 42000, HasInstallTime: true},
		{Outcome: report.Refused, Reason: report.Rollback, Detail: hostile},
		{Outcome: report.Reverted, Reason: report.Error, InstallMillis: 1000, HasInstallTime: true},
		{Outcome: report.Refused, Reason: report.SplitView, Checkpoint: fwtest.SignCheckpoint(t, fwtest.LogKey, 2, other[:])},
	} {
		r.Model, r.Channel, r.Image = "acme-x1", "stable", sha256.Sum256(rs.Image)
		r.Version, r.SecurityVersion, r.LogIndex, r.HasRelease = "1.4.0", 7, rs.Release, true
		if r.Checkpoint == nil {
			r.Checkpoint = cp
		}
		r.Time = now.Add(time.Duration(i) * time.Second)
		dev := fwtest.Device1
		if i%2 == 1 {
			dev = fwtest.Device2
		}
		if _, err := s.AddReport(ctx, fwtest.SignReport(t, dev, r)); err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
	}
	return rs
}

func TestWitnessesAndReports(t *testing.T) {
	s := startRichSite(t)
	home := s.page(t, "/")
	for _, want := range []string{"quorum <code>quorum-group</code>", "<td><bdi>w0</bdi></td>\n<td><span class=\"badge ok\">yes</span>", "<td><bdi>w2</bdi></td>\n<td><span class=\"badge warn\">no</span>"} {
		if !strings.Contains(home, want) {
			t.Errorf("home page lacks %q", want)
		}
	}
	// The dead witness's failure shows once the collector has tried it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		w := s.page(t, "/witnesses")
		if strings.Contains(w, "connection refused") {
			if !strings.Contains(w, `role="alert"><p><strong>Device`) {
				t.Errorf("witnesses page does not show the device's fork report")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("witnesses page never shows the dead witness's failure:\n%s", w)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rep := s.page(t, "/reports?days=2")
	for _, want := range []string{`<svg class="chart"`, "<rect class=\"s0\"", "rollback", "split_view", "Report 5: device", "(5 reports)"} {
		if !strings.Contains(rep, want) {
			t.Errorf("reports page lacks %q", want)
		}
	}
	// One success in four ended attempts (all in one hour, unless the
	// reports straddle an hour's end).
	if !strings.Contains(rep, "<td class=\"num\">25.0 %</td>") && !regexp.MustCompile(`<td class="num">\d+\.\d %</td>`).MatchString(rep) {
		t.Errorf("reports page shows no success rate")
	}
	if strings.Contains(rep, "<script") || strings.Contains(rep, "\u202e") {
		t.Errorf("reports page holds raw hostile text")
	}
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// TestSearchBySigner: an entry is found by the key that signed it, as
// verified, even when its signature names another key's ID (a stolen key's
// holder hiding what it signed), and never by the key it names falsely. (A
// signature that names a trusted key's ID must verify under that key: the
// log refuses the entry otherwise.)
func TestSearchBySigner(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, nil)
	id1, id2 := fwtest.KeyID(t, fwtest.Release1), fwtest.KeyID(t, fwtest.Stranger)
	honest := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("honest", 64), nil), fwtest.Release1)
	lying := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("lying", 64), nil), fwtest.Release1)
	lying = []byte(strings.Replace(string(lying), `"keyid":"`+id1+`"`, `"keyid":"`+id2+`"`, 1))
	if !strings.Contains(string(lying), id2) {
		t.Fatal("the envelope does not name the other key")
	}
	idx := s.add(t, honest, lying)
	by1 := s.page(t, "/search?q="+id1+"&in=signer")
	for _, i := range idx {
		if !strings.Contains(by1, fmt.Sprintf(`href="/entries/%d"`, i)) {
			t.Errorf("entry %d, signed by release-1, is not found by its key", i)
		}
	}
	if by2 := s.page(t, "/search?q="+id2+"&in=signer"); strings.Contains(by2, `href="/entries/`) {
		t.Errorf("an entry that only names a stranger's key ID is found as signed by it")
	}
	// The entry page names the key that verified.
	if e := s.page(t, fmt.Sprintf("/entries/%d", idx[1])); !strings.Contains(e, "<code>"+id1+"</code> <bdi>example.com/release-1</bdi>") {
		t.Errorf("the entry page does not name its verified signer")
	}
}

// TestSearchBySignerAfterReindex: a log indexed by an older fwlog, without
// signer keys, is reindexed at start-up with them, the verified signers
// included.
func TestSearchBySignerAfterReindex(t *testing.T) {
	fwtest.RequireSQLite(t, "rewrites the SQLite file as an old version left it")
	s := startSite(t, fwtest.LogOptions{}, nil)
	id1 := fwtest.KeyID(t, fwtest.Release1)
	lying := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("lying", 64), nil), fwtest.Release1)
	lying = []byte(strings.Replace(string(lying), id1, fwtest.KeyID(t, fwtest.Stranger), 1))
	idx := s.add(t, lying)
	dir := s.Dir
	s.Stop(t)
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, sqlite.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	// What index version 3 had: no signer, builder, source or release-list keys.
	if _, err := db.Exec(`DELETE FROM lookup WHERE substr(key, 1, 1) >= x'0c'; UPDATE meta SET value = '3' WHERE key = 'index_version'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = startSite(t, fwtest.LogOptions{Dir: dir}, nil)
	if by1 := s.page(t, "/search?q="+id1+"&in=signer"); !strings.Contains(by1, fmt.Sprintf(`href="/entries/%d"`, idx[0])) {
		t.Errorf("after reindexing, the entry is not found by the key that signed it")
	}
	if home := s.page(t, "/"); !strings.Contains(home, fmt.Sprintf(`href="/entries/%d"`, idx[0])) {
		t.Errorf("after reindexing, the home page does not list the release")
	}
}

// TestTimeout: a page that runs out of its time is answered 503 with
// Retry-After, never half a page or a 500; the API beside it is not
// bound by the explorer's limits.
func TestTimeout(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, func(c *explorer.Config) { c.Timeout = time.Nanosecond })
	prov, rel := releaseWithProvenance(t, fwtest.Image("timeout", 64), nil)
	s.add(t, prov, rel)
	for _, p := range []string{"/search?q=acme-x1", "/entries/1", "/models/acme-x1"} {
		resp, body := s.get(t, p)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "</html>") {
			t.Errorf("GET %s with no time to render: %s, Retry-After %q", p, resp.Status, resp.Header.Get("Retry-After"))
		}
	}
	if resp, _ := s.get(t, "/v1/entries/1"); resp.StatusCode != http.StatusOK {
		t.Errorf("the API answers %s beside a busy explorer", resp.Status)
	}
}
