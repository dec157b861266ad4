package webui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode"
)

// TestReveal: control and format characters and invalid bytes are written
// out; RevealText keeps line feeds, and only them.
func TestReveal(t *testing.T) {
	for _, tc := range []struct {
		in, reveal, text string
	}{
		{"plain <b>text</b>", "plain <b>text</b>", "plain <b>text</b>"},
		{"abc\u202edef", "abc⟨U+202E⟩def", "abc⟨U+202E⟩def"},
		{"a\nb", "a⟨U+000A⟩b", "a\nb"},
		{"a\r\nb", "a⟨U+000D⟩⟨U+000A⟩b", "a⟨U+000D⟩\nb"},
		{"tab\there", "tab⟨U+0009⟩here", "tab⟨U+0009⟩here"},
		{"zero\u200bwidth\x00", "zero⟨U+200B⟩width⟨U+0000⟩", "zero⟨U+200B⟩width⟨U+0000⟩"},
		{"bad \xff byte", "bad ⟨invalid⟩ byte", "bad ⟨invalid⟩ byte"},
		{"\u2066isolate\u2069", "⟨U+2066⟩isolate⟨U+2069⟩", "⟨U+2066⟩isolate⟨U+2069⟩"},
		{"— em dash, é, 日本", "— em dash, é, 日本", "— em dash, é, 日本"},
	} {
		if got := Reveal(tc.in); got != tc.reveal {
			t.Errorf("Reveal(%q) = %q, want %q", tc.in, got, tc.reveal)
		}
		if got := RevealText(tc.in); got != tc.text {
			t.Errorf("RevealText(%q) = %q, want %q", tc.in, got, tc.text)
		}
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
	if got := Bytes(1 << 20); got != "1.0 MiB (1,048,576 bytes)" {
		t.Errorf("Bytes(1 MiB) = %q", got)
	}
	if got := Clip(3, "äbcdef"); got != "äbc…" {
		t.Errorf("Clip = %q", got)
	}
	if got := Short(strings.Repeat("ab", 32)); got != "abababababab…abab" {
		t.Errorf("Short = %q", got)
	}
	now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	if got := Ago(now, now.Add(-90*time.Second)); got != "1 min ago" {
		t.Errorf("Ago = %q", got)
	}
	if got := Ago(now, now.Add(3*time.Second)); got != "3 s ahead" {
		t.Errorf("Ago of a future time = %q", got)
	}
}

// TestCharts: labels from data are escaped, and an empty chart says so.
func TestCharts(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bar := string(BarChart(`<script>"x"</script>`, []string{"<b>"}, []Bar{{T: t0, Values: []float64{3}}}, time.Hour))
	if strings.Contains(bar, "<script>") || strings.Contains(bar, "<b>") || !strings.Contains(bar, "&lt;b&gt;: 3") {
		t.Errorf("bar chart does not escape its labels: %s", bar)
	}
	if !strings.Contains(bar, `<rect class="s0"`) {
		t.Errorf("bar chart draws no bar: %s", bar)
	}
	if got := string(LineChartIn("empty", nil, t0, t0, 0)); !strings.Contains(got, "no data yet") {
		t.Errorf("empty line chart: %s", got)
	}
	line := string(LineChartIn("rate", []Point{{t0, 50}}, t0, t0.Add(time.Hour), 100))
	if !strings.Contains(line, ">100</text>") || !strings.Contains(line, ">50</text>") {
		t.Errorf("line chart axis is not 0 to 100: %s", line)
	}
}

// TestLimiter: a page waits for its turn for the wait given, and is then
// refused; the context each page gets ends after the timeout.
func TestLimiter(t *testing.T) {
	l := NewLimiter(1, 50*time.Millisecond, time.Second, nil)
	hold, release := make(chan struct{}), make(chan struct{})
	go l.Do(context.Background(), func(context.Context) { close(hold); <-release })
	<-hold
	start := time.Now()
	if l.Do(context.Background(), func(context.Context) { t.Error("ran beyond the limit") }) {
		t.Fatal("a second page ran while the first held the only turn")
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("refused after %v, before the wait", d)
	}
	// A page that arrives while the turn is held gets it when it is freed.
	done := make(chan bool)
	go func() { done <- l.Do(context.Background(), func(context.Context) {}) }()
	time.Sleep(10 * time.Millisecond)
	close(release)
	if !<-done {
		t.Error("a page that waited was refused although the turn came within the wait")
	}
	l = NewLimiter(1, time.Second, 20*time.Millisecond, nil)
	l.Do(context.Background(), func(ctx context.Context) {
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
			t.Error("the page's context did not end after the timeout")
		}
	})
}

func TestPages(t *testing.T) {
	fsys := fstest.MapFS{
		"p/_parts.html": {Data: []byte(`{{define "part"}}[{{.}}]{{end}}`)},
		"p/one.html":    {Data: []byte(`{{define "title"}}One{{end}}{{define "main"}}{{template "part" .Data}} <a href="/m/{{path .Data}}">x</a>{{end}}`)},
	}
	tp, err := Parse(Site{Name: "site", Search: "/search"}, fsys, "p/*.html", nil)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/one?q=%22%3E", nil)
	if err := tp.Render(w, r, 200, "one", `a/b?"<`); err != nil {
		t.Fatal(err)
	}
	body := w.Body.String()
	for _, want := range []string{`[a/b?&#34;&lt;]`, `href="/m/a%2Fb%3F%22%3C"`, `value="&#34;&gt;"`, "<title>One · site</title>"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if w.Header().Get("Content-Security-Policy") != CSP || w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers %v", w.Header())
	}
	if _, ok := tp.pages["_parts"]; ok {
		t.Error("a file starting with _ became a page")
	}
	w = httptest.NewRecorder()
	tp.Fail(w, r, nil, http.StatusBadRequest, Errorf(http.StatusBadRequest, "bad <thing>"))
	if w.Code != 400 || !strings.Contains(w.Body.String(), "bad &lt;thing&gt;") {
		t.Errorf("error page: %d %s", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	Attachment(w, httptest.NewRequest("GET", "/x", nil), "x.json", "application/octet-stream", []byte("<html>"))
	if cd := w.Header().Get("Content-Disposition"); cd != `attachment; filename="x.json"` || w.Body.String() != "<html>" {
		t.Errorf("attachment: %q %q", cd, w.Body.String())
	}
}

// TestLimiterRate: with a rate, a page waits for its token if that comes
// within the wait, and is refused at once otherwise.
func TestLimiterRate(t *testing.T) {
	l := NewLimiter(4, 500*time.Millisecond, time.Second, nil)
	l.SetRate(10, 1) // a token every 100 ms
	ran := 0
	f := func(context.Context) { ran++ }
	start := time.Now()
	if !l.Do(context.Background(), f) || !l.Do(context.Background(), f) {
		t.Fatal("a page within the rate was refused")
	}
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Errorf("the second page ran after %v, before its token", d)
	}
	l = NewLimiter(4, 10*time.Millisecond, time.Second, nil)
	l.SetRate(1, 1)
	l.Do(context.Background(), f)
	start = time.Now()
	if l.Do(context.Background(), f) {
		t.Error("a page whose token is a second away ran although it may wait 10 ms")
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("the refusal took %v: it should not wait for a token it cannot get", d)
	}
	if ran != 3 {
		t.Errorf("%d pages ran, want 3", ran)
	}
}

// TestServerTiming: a page served under a Limiter says how long it took
// to render, at least as long as its handler ran, and the value parses
// back; other values do not.
func TestServerTiming(t *testing.T) {
	l := NewLimiter(1, time.Second, time.Second, nil)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(15 * time.Millisecond)
		w.Write([]byte("page"))
	})
	w := httptest.NewRecorder()
	l.Serve(w, httptest.NewRequest("GET", "/", nil), h, func(http.ResponseWriter, *http.Request) { t.Error("refused") })
	v := w.Header().Get("Server-Timing")
	d, ok := ParseRenderTiming(v)
	if !ok || d < 15*time.Millisecond {
		t.Errorf("Server-Timing %q: %v, %v; want at least 15ms", v, d, ok)
	}
	if w.Body.String() != "page" {
		t.Errorf("body %q", w.Body.String())
	}
	if got, _ := ParseRenderTiming(RenderTiming(1234567 * time.Microsecond)); got != 1234567*time.Microsecond {
		t.Errorf("round trip: %v", got)
	}
	for _, bad := range []string{"", "render", "render;dur=", "render;dur=-1", "render;dur=NaN", "db;dur=1", "render;dur=1e99"} {
		if d, ok := ParseRenderTiming(bad); ok {
			t.Errorf("ParseRenderTiming(%q) = %v", bad, d)
		}
	}
}

// TestRevealASCII: Reveal decides printable ASCII at once, as shown; the
// Unicode tables agree (none of it is a mark, control, format character,
// other blank or unassigned), and marks stacked after it still count from
// zero.
func TestRevealASCII(t *testing.T) {
	for r := rune(' '); r <= '~'; r++ {
		if unicode.In(r, unicode.Mn, unicode.Me, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp,
			unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector) ||
			(r != ' ' && unicode.Is(unicode.Zs, r)) || !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z) {
			t.Errorf("%q would be revealed by the Unicode tables", r)
		}
	}
	marks := strings.Repeat("\u0301", maxMarks)
	if got := Reveal("e" + marks + "a" + marks); got != "e"+marks+"a"+marks {
		t.Errorf("marks after ASCII: %q", got)
	}
	if got := Reveal("a" + marks + "\u0301"); !strings.Contains(got, "⟨U+0301⟩") {
		t.Errorf("one mark too many after ASCII: %q", got)
	}
}
