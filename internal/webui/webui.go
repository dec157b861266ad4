// Package webui is what fwledger's web pages share: the page layout and
// its stylesheet, embedded in the binary; the security headers every page
// is sent with; a bound on the pages rendered at once; error pages; and
// the template functions that format digests, times and sizes.
//
// # Hostile content
//
// Everything a page shows may come from an entry an attacker wrote. Pages
// are html/template templates, which escape every value for the context it
// lands in (text, attribute, URL). Values that go into a URL path are
// path-escaped first (the "path" function). No page has inline script or
// style: the Content-Security-Policy forbids both, so that markup an
// escaping mistake let through still runs nothing. Downloads are sent as
// attachments with their own content type, never rendered.
package webui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

//go:embed assets templates pages
var files embed.FS

// CSP is the Content-Security-Policy of every page: nothing but the
// stylesheet and images of this server, no script at all, no inline style,
// forms only to this server, and no framing.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// SetHeaders sets the security headers of a page or a download.
func SetHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// AssetsPath is where Handler serves the stylesheet; its name carries a
// hash of its content, so that it can be cached for good.
const AssetsPath = "/assets/"

var styleName = func() string {
	b, err := files.ReadFile("assets/style.css")
	if err != nil {
		panic(err)
	}
	h := sha256.Sum256(b)
	return "style." + hex.EncodeToString(h[:6]) + ".css"
}()

// StylePath is the URL path of the stylesheet.
func StylePath() string { return AssetsPath + styleName }

// FaviconPath is the URL path of the icon.
const FaviconPath = AssetsPath + "favicon.svg"

// AssetHandler serves the embedded stylesheet and icon under AssetsPath.
func AssetHandler() http.Handler {
	css, _ := files.ReadFile("assets/style.css")
	icon, _ := files.ReadFile("assets/favicon.svg")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetHeaders(w.Header())
		var body []byte
		switch r.URL.Path {
		case StylePath():
			body = css
			w.Header().Set("Content-Type", "text/css; charset=utf-8")
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		case FaviconPath:
			body = icon
			w.Header().Set("Content-Type", "image/svg+xml")
			w.Header().Set("Cache-Control", "public, max-age=86400")
		default:
			http.Error(w, "no such asset", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method != http.MethodHead {
			w.Write(body)
		}
	})
}

// A Site is the frame of a set of pages: its name, in the header and the
// titles, and its navigation.
type Site struct {
	Name string
	// Nav are the links of the header, in order.
	Nav []Link
	// Search, when set, is the path of the header's search form (its
	// parameter is q).
	Search string
	// Footer is a line of text at the bottom of each page.
	Footer string
}

// A Link is a navigation link.
type Link struct {
	Path, Label string
}

// Templates are a set of pages, each a template that defines "title" and
// "main" inside the shared layout.
type Templates struct {
	site  Site
	pages map[string]*template.Template
}

// Parse parses each page of fsys matched by pattern into the layout.
// Page names are the file names without ".html". Files whose names start
// with "_" are not pages: they define templates every page may use (embed
// them with "//go:embed all:dir", as embed leaves such files out of a
// directory otherwise).
func Parse(site Site, fsys fs.FS, pattern string, funcs template.FuncMap) (*Templates, error) {
	base := template.New("layout").Funcs(Funcs())
	if funcs != nil {
		base = base.Funcs(funcs)
	}
	base, err := base.ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	var pageNames []string
	for _, n := range names {
		if strings.HasPrefix(n[strings.LastIndex(n, "/")+1:], "_") {
			if base, err = base.ParseFS(fsys, n); err != nil {
				return nil, err
			}
			continue
		}
		pageNames = append(pageNames, n)
	}
	names = pageNames
	if len(names) == 0 {
		return nil, fmt.Errorf("webui: no page matches %q", pattern)
	}
	t := &Templates{site: site, pages: map[string]*template.Template{}}
	add := func(fsys fs.FS, n string) error {
		p, err := template.Must(base.Clone()).ParseFS(fsys, n)
		if err != nil {
			return err
		}
		t.pages[strings.TrimSuffix(n[strings.LastIndex(n, "/")+1:], ".html")] = p
		return nil
	}
	if err := add(files, "pages/error.html"); err != nil {
		return nil, err
	}
	for _, n := range names {
		if err := add(fsys, n); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// A View is what a page's template is given: the site, the page's data,
// and the request's path (the navigation marks the current page).
type View struct {
	Site  Site
	Path  string
	Query string
	Data  any
	Style string
	Icon  string
	Now   time.Time
}

// Render renders page with data to w with status code, buffered, so that
// a template error becomes a 500 page rather than half a page. It returns
// only a template's error: one writing to a client that went away is not
// the page's.
func (t *Templates) Render(w http.ResponseWriter, r *http.Request, code int, page string, data any) error {
	body, err := t.page(r, page, data)
	if err != nil {
		return err
	}
	write(w, r, code, body)
	return nil
}

// page renders page with data for r, in memory: what write then sends.
func (t *Templates) page(r *http.Request, page string, data any) ([]byte, error) {
	p, ok := t.pages[page]
	if !ok {
		return nil, fmt.Errorf("webui: no page %q", page)
	}
	var buf bytes.Buffer
	v := View{Site: t.site, Path: r.URL.Path, Query: r.URL.Query().Get("q"), Data: data, Style: StylePath(), Icon: FaviconPath, Now: time.Now()}
	if err := p.ExecuteTemplate(&buf, "layout", v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// write sends a rendered page with status code and the security headers:
// an error page (code 400 and up) is not to be stored, a 503 or 429 says
// to retry after a second, and any other page is revalidated (no-cache)
// unless the caller set Cache-Control. A write to a client that went away
// is dropped.
func write(w http.ResponseWriter, r *http.Request, code int, body []byte) {
	h := w.Header()
	SetHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	switch {
	case code >= 400:
		h.Set("Cache-Control", "no-store")
	case h.Get("Cache-Control") == "":
		h.Set("Cache-Control", "no-cache")
	}
	if code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests {
		h.Set("Retry-After", "1")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// A Recorder holds a response in memory: a handler writes it under a
// Limiter's turn, and Send sends it after the turn is given up, so that a
// client that reads slowly holds no turn.
type Recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{h: http.Header{}} }

func (r *Recorder) Header() http.Header { return r.h }

func (r *Recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *Recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// Send writes the recorded response to w: headers, status and body. A
// write to a client that went away is dropped.
func (r *Recorder) Send(w http.ResponseWriter) {
	for k, v := range r.h {
		w.Header()[k] = v
	}
	if r.code == 0 {
		r.code = http.StatusOK
	}
	w.WriteHeader(r.code)
	w.Write(r.body.Bytes())
}

// An Error is an error page: its status and a message for the reader.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Errorf returns an *Error with the given status.
func Errorf(code int, format string, a ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, a...)}
}

// Fail sends the error page for err (see errorPage).
func (t *Templates) Fail(w http.ResponseWriter, r *http.Request, logger *slog.Logger, status int, err error) {
	code, body := t.errorPage(r, logger, status, err)
	write(w, r, code, body)
}

// errorPage renders the error page for err: an *Error's status and
// message, or status with err's message, or for a 500 "internal error"
// (err is logged, not shown). It returns the status and the page.
func (t *Templates) errorPage(r *http.Request, logger *slog.Logger, status int, err error) (int, []byte) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: status, Msg: err.Error()}
	}
	if e.Code == 0 {
		e.Code = http.StatusInternalServerError
	}
	if e.Code >= 500 && e.Code != http.StatusServiceUnavailable {
		logger.ErrorContext(r.Context(), "page failed", "path", r.URL.Path, "err", err)
		e = &Error{Code: e.Code, Msg: "internal error"}
	}
	body, rerr := t.page(r, "error", e)
	if rerr != nil {
		logger.ErrorContext(r.Context(), "couldn't render the error page", "err", rerr)
		body = []byte("<!DOCTYPE html><title>error</title><p>" + template.HTMLEscapeString(e.Msg) + "</p>\n")
	}
	return e.Code, body
}

// A Limiter bounds the pages rendered at once and the time each may take,
// so that readers cannot crowd out a server's other work: a request waits
// for its turn at most for the wait given, and is then refused (answered
// 503 with Retry-After by the caller).
type Limiter struct {
	sem           chan struct{}
	wait, timeout time.Duration
	refused       prometheus.Counter
	rate          *rate.Limiter // nil: no bound on the rate
}

// SetRate bounds the pages l starts to perSecond on average, in bursts of
// at most burst: with the bound on pages at once, what bounds the share
// of the machine they take. A page that would wait longer than l's wait
// for its turn under the rate is refused at once.
func (l *Limiter) SetRate(perSecond float64, burst int) {
	l.rate = rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))
}

// NewLimiter returns a Limiter of n pages at once, each of which may wait
// for its turn for wait and then take timeout. refused, if not nil, counts
// the requests refused.
func NewLimiter(n int, wait, timeout time.Duration, refused prometheus.Counter) *Limiter {
	return &Limiter{sem: make(chan struct{}, max(n, 1)), wait: wait, timeout: timeout, refused: refused}
}

// Do runs f under the limit with a context that ends after the timeout,
// and reports false without running it if no turn came within the wait
// (or ctx ended first).
func (l *Limiter) Do(ctx context.Context, f func(context.Context)) bool {
	if l.rate != nil {
		res := l.rate.Reserve()
		if d := res.Delay(); d > l.wait {
			res.Cancel()
			l.refuse()
			return false
		} else if d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				res.Cancel()
				l.refuse()
				return false
			}
		}
	}
	select {
	case l.sem <- struct{}{}:
	default:
		t := time.NewTimer(l.wait)
		defer t.Stop()
		select {
		case l.sem <- struct{}{}:
		case <-t.C:
			l.refuse()
			return false
		case <-ctx.Done():
			l.refuse()
			return false
		}
	}
	defer func() { <-l.sem }()
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	f(ctx)
	return true
}

// Serve serves r with h under the limit, on a Recorder, and sends what h
// wrote once the turn is given up, so that a client that reads slowly
// holds no turn; a request that gets no turn is answered by busy. The
// response says how long h took, in a Server-Timing header
// ("render;dur=" and milliseconds).
func (l *Limiter) Serve(w http.ResponseWriter, r *http.Request, h http.Handler, busy http.HandlerFunc) {
	rec := NewRecorder()
	var took time.Duration
	if !l.Do(r.Context(), func(ctx context.Context) {
		start := time.Now()
		h.ServeHTTP(rec, r.WithContext(ctx))
		took = time.Since(start)
	}) {
		busy(w, r)
		return
	}
	rec.Header().Set("Server-Timing", RenderTiming(took))
	rec.Send(w)
}

// RenderTiming is the Server-Timing header value of a page rendered in d.
func RenderTiming(d time.Duration) string {
	return "render;dur=" + strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64)
}

// ParseRenderTiming returns the render time a Server-Timing header value
// made by RenderTiming says, if it says one.
func ParseRenderTiming(v string) (time.Duration, bool) {
	ms, ok := strings.CutPrefix(v, "render;dur=")
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(ms, 64)
	if err != nil || !(f >= 0 && f <= 1e9) {
		return 0, false
	}
	return time.Duration(f * float64(time.Millisecond)), true
}

func (l *Limiter) refuse() {
	if l.refused != nil {
		l.refused.Inc()
	}
}

// Attachment sends data as a download named name: never rendered by the
// browser.
func Attachment(w http.ResponseWriter, r *http.Request, name, contentType string, data []byte) {
	h := w.Header()
	SetHeaders(h)
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	h.Set("Content-Length", strconv.Itoa(len(data)))
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}

// Funcs are the template functions every page has.
func Funcs() template.FuncMap {
	return template.FuncMap{
		"path":       url.PathEscape,
		"hex":        func(b []byte) string { return hex.EncodeToString(b) },
		"short":      Short,
		"clip":       Clip,
		"time":       FormatTime,
		"ago":        Ago,
		"count":      Count,
		"bytes":      Bytes,
		"add":        func(a, b int) int { return a + b },
		"statusText": http.StatusText,
		"reveal":     Reveal,
		"revealText": RevealText,
	}
}

// Reveal returns s with every character that is invisible or changes how
// text around it shows written out as ⟨U+XXXX⟩, and every invalid byte
// as ⟨invalid⟩, so that text from an entry cannot reorder, hide or draw
// over what a page shows around it, nor make one value look like another:
// control and format characters (Unicode categories Cc and Cf: direction
// overrides and isolates, zero-width characters, NUL, newlines), private
// use, surrogates, line and paragraph separators, every space but U+0020
// and the blank braille pattern, default-ignorable characters (the
// combining grapheme joiner, Hangul fillers, variation selectors),
// unassigned code points, and combining marks beyond two in a row.
func Reveal(s string) string { return reveal(s, false) }

// RevealText is Reveal for multi-line text shown preformatted (a signed
// note, a checkpoint): it keeps line feeds, and writes out every other
// control and format character, carriage returns included.
func RevealText(s string) string { return reveal(s, true) }

func reveal(s string, lines bool) string {
	marks := 0 // combining marks in a row so far
	hidden := func(r rune) bool {
		if ' ' <= r && r <= '~' {
			marks = 0 // printable ASCII: what most of a page is, decided at once
			return false
		}
		if unicode.In(r, unicode.Mn, unicode.Me) {
			marks++
		} else {
			marks = 0
		}
		switch {
		case lines && r == '\n':
			return false
		case r == utf8.RuneError:
			return true
		case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp,
			unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector):
			return true
		case r != ' ' && unicode.Is(unicode.Zs, r), r == '\u2800':
			return true // blanks that read as a space, or as nothing
		case !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z):
			return true // unassigned
		}
		return marks > maxMarks
	}
	clean := true
	for _, r := range s {
		if hidden(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	marks = 0
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteString("⟨invalid⟩")
			marks = 0
		case hidden(r):
			fmt.Fprintf(&b, "⟨U+%04X⟩", r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// maxMarks is the most combining marks in a row Reveal leaves as they are:
// more are written out, so that stacked marks cannot draw over the text
// around them.
const maxMarks = 2

// Short shortens a long identifier (a hex digest) to its first 12 and last
// 4 characters, for lists; pages show the whole of it where it matters.
func Short(s string) string {
	if len(s) <= 20 {
		return s
	}
	return s[:12] + "…" + s[len(s)-4:]
}

// Clip cuts s to at most n runes, with an ellipsis, so that a very long
// field cannot stretch a list.
func Clip(n int, s string) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// FormatTime formats t in UTC, to the second; "—" for the zero time.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// Ago says how long before now t was, roughly ("3 min ago"), or how far
// ahead ("in 2 s").
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	suffix := " ago"
	if d < 0 {
		d, suffix = -d, " ahead"
	}
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s%s", int(d.Seconds()), suffix)
	case d < time.Hour:
		return fmt.Sprintf("%d min%s", int(d.Minutes()), suffix)
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h%s", int(d.Hours()), suffix)
	}
	return fmt.Sprintf("%d days%s", int(d.Hours()/24), suffix)
}

// Count formats n with thousands separators.
func Count(n any) string {
	var s string
	switch v := n.(type) {
	case int:
		s = strconv.Itoa(v)
	case int64:
		s = strconv.FormatInt(v, 10)
	case uint64:
		s = strconv.FormatUint(v, 10)
	default:
		return fmt.Sprint(n)
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Bytes formats a size in bytes, in the largest binary unit that keeps it
// at least 1.
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB (%s bytes)", float64(n)/float64(div), "KMGTPE"[exp], Count(n))
}
