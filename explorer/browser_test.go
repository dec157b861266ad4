package explorer_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The browser tests drive Debian's headless Chromium (scripts/chromium.sh
// installs it; make test passes its path in FWLEDGER_CHROMIUM) through
// every page type. Without FWLEDGER_CHROMIUM they look for chromium on
// PATH, and skip if there is none; with it set, a browser that does not
// start is a failure.
//
// FWLEDGER_SCREENSHOTS=DIR keeps the screenshots there (make screenshots
// writes the README's into docs/); otherwise they go to a temporary
// directory, so that taking them is tested too.

func chromium(t *testing.T) string {
	if p := os.Getenv("FWLEDGER_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium: run ./scripts/chromium.sh (make test does), or set FWLEDGER_CHROMIUM")
	return ""
}

// browser is one headless Chromium tab, with every console message and
// uncaught exception of its pages recorded.
type browser struct {
	ctx     context.Context
	mu      sync.Mutex
	console []chromedp.ConsoleMessage
	shots   string
}

func newBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // tests may run as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.WindowSize(width, height),
		chromedp.Flag("lang", "en-US"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{ctx: ctx, shots: os.Getenv("FWLEDGER_SCREENSHOTS")}
	if b.shots == "" {
		b.shots = t.TempDir()
	}
	// Start the browser, then record its console.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range chromedp.Console(lctx) {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() { stop(); <-done })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatal(err)
	}
	return b
}

// messages returns the console messages recorded so far, and forgets them.
func (b *browser) messages() []chromedp.ConsoleMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.console
	b.console = nil
	return m
}

func (b *browser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func text(t *testing.T, b *browser, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading the text of %s: %v", sel, err)
	}
	return s
}

// checkPage checks the page shown: no console errors or exceptions, no
// script at all, no horizontal overflow (the layout holds at the
// viewport's width, whatever the entries hold), and every image and
// form control labelled.
func (b *browser) checkPage(t *testing.T, name string) {
	t.Helper()
	// Let the page settle, so that late console messages arrive.
	time.Sleep(100 * time.Millisecond)
	for _, m := range b.messages() {
		if m.Type == chromedp.ConsoleError || m.IsException() || m.Type == chromedp.ConsoleWarning {
			t.Errorf("%s: console %s: %s", name, m.Type, m.Text)
		}
	}
	if n := eval[int](t, b, `document.scripts.length`); n != 0 {
		t.Errorf("%s: the page has %d script elements", name, n)
	}
	if over := eval[int](t, b, `document.documentElement.scrollWidth - window.innerWidth`); over > 1 {
		t.Errorf("%s: the page is %d px wider than the window: the layout breaks", name, over)
	}
	if n := eval[int](t, b, `[...document.querySelectorAll('input:not([type=hidden])')].filter(i => !i.labels.length).length`); n != 0 {
		t.Errorf("%s: %d inputs without a label", name, n)
	}
	if n := eval[int](t, b, `document.querySelectorAll('h1').length`); n != 1 {
		t.Errorf("%s: %d h1 headings, want 1", name, n)
	}
	if lang := eval[string](t, b, `document.documentElement.lang`); lang != "en" {
		t.Errorf("%s: html lang %q", name, lang)
	}
}

func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if len(png) < 1000 {
		t.Fatalf("screenshot %s: %d bytes", name, len(png))
	}
	if err := os.WriteFile(filepath.Join(b.shots, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowser loads every page type in Chromium, follows links from a
// search to an entry to its model, and checks what a reader sees.
func TestBrowser(t *testing.T) {
	s := startRichSite(t)
	b := newBrowser(t, 1280, 900)

	b.do(t, "home", chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#tree-size")))
	if got, want := text(t, b, "#tree-size"), fmt.Sprint(s.Log.Log.Published().Size); got != want {
		t.Errorf("home: tree size %q, want %q", got, want)
	}
	if h := text(t, b, "#recent + div table"); !strings.Contains(h, "acme-x1") || !strings.Contains(h, "1.5.0") {
		t.Errorf("home: recent releases %q", h)
	}
	if w := text(t, b, "#wit + div table"); !strings.Contains(w, "w0") || !strings.Contains(w, "yes") {
		t.Errorf("home: witnesses %q", w)
	}
	b.checkPage(t, "home")
	b.screenshot(t, "explorer-home.png")

	// Keyboard: the first Tab reaches the skip link, which leads to main.
	b.do(t, "tab", chromedp.KeyEvent("\t"))
	if f := eval[string](t, b, `document.activeElement.className`); f != "skip" {
		t.Errorf("the first Tab focuses %q, want the skip link", f)
	}

	// Search by the image's sha256sum line, from the header's form.
	sum := fmt.Sprintf("%x  fw.bin", sha256Sum(s.Image))
	b.do(t, "search",
		chromedp.SendKeys(chromedp.CSS("#q"), sum),
		chromedp.Submit(chromedp.CSS("#q")),
		chromedp.WaitVisible(chromedp.CSS("#s-image")),
	)
	results := text(t, b, "main")
	for _, want := range []string{"Releases of the image", "build provenance", "release", "acme-x1 1.4.0"} {
		if !strings.Contains(results, want) {
			t.Errorf("search results lack %q:\n%s", want, results)
		}
	}
	b.checkPage(t, "search")

	// Follow the release's link to its entry page.
	b.do(t, "entry", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#s-image + div a[href="/entries/%d"]`, s.Release))),
		chromedp.WaitVisible(chromedp.CSS("#proof-status")))
	if loc := eval[string](t, b, `location.pathname`); loc != fmt.Sprintf("/entries/%d", s.Release) {
		t.Errorf("the result link led to %s", loc)
	}
	entry := text(t, b, "main")
	for _, want := range []string{"release", "example.com/release-1", "Security version\n7", "verified", "Endorsed build provenance"} {
		if !strings.Contains(entry, want) {
			t.Errorf("entry page lacks %q:\n%s", want, entry)
		}
	}
	b.checkPage(t, "entry")
	b.screenshot(t, "explorer-entry.png")

	// Then to the model.
	b.do(t, "model", chromedp.Click(chromedp.CSS(`section[aria-labelledby=rel] dd a[href="/models/acme-x1"]`)), chromedp.WaitVisible(chromedp.CSS("#rels")))
	model := text(t, b, "main")
	for _, want := range []string{"Model acme-x1", "1.4.0", "1.5.0", "1.5.1-beta.1", "revoked"} {
		if !strings.Contains(model, want) {
			t.Errorf("model page lacks %q:\n%s", want, model)
		}
	}
	b.checkPage(t, "model")

	for _, p := range []struct{ path, sel, want string }{
		{fmt.Sprintf("/entries/%d", s.Provenance), "#prov", "Rebuilds that agree"},
		{"/witnesses", "#forks", "that is not this log's tree"},
		{"/reports", "#out", "Outcomes"},
		{"/no/such/page", "h1", "404"},
	} {
		b.do(t, p.path, chromedp.Navigate(s.URL+p.path), chromedp.WaitVisible(chromedp.CSS(p.sel)))
		if got := text(t, b, "main"); !strings.Contains(got, p.want) {
			t.Errorf("%s lacks %q:\n%s", p.path, p.want, got)
		}
		if p.path == "/no/such/page" {
			b.messages() // the browser logs the 404 itself
			continue
		}
		b.checkPage(t, p.path)
		if p.path == "/reports" {
			if bars := eval[int](t, b, `document.querySelectorAll('svg.chart rect').length`); bars == 0 {
				t.Errorf("the reports page draws no bars")
			}
		}
		if p.path == "/witnesses" || p.path == "/reports" {
			b.screenshot(t, "explorer"+strings.ReplaceAll(p.path, "/", "-")+".png")
		}
	}
}

// TestBrowserHostile shows a release full of hostile text in Chromium:
// nothing runs, the direction override is shown rather than obeyed, the
// layout holds on a phone's width, and when markup is put into the page
// behind the server's back (as an escaping mistake would), the
// Content-Security-Policy blocks its script and the browser reports it.
func TestBrowserHostile(t *testing.T) {
	s := startRichSite(t)
	b := newBrowser(t, 390, 844) // a phone
	for _, p := range []string{fmt.Sprintf("/entries/%d", s.Hostile), fmt.Sprintf("/entries/%d", s.Hostile-1), "/models/javascript:alert", "/search?q=javascript:alert", "/"} {
		b.do(t, p, chromedp.Navigate(s.URL+p), chromedp.WaitVisible(chromedp.CSS("h1")))
		b.checkPage(t, "phone "+p)
		if title := eval[string](t, b, `document.title`); strings.Contains(title, "pwned") {
			t.Errorf("%s: a script ran", p)
		}
	}
	b.do(t, "hostile entry", chromedp.Navigate(fmt.Sprintf("%s/entries/%d", s.URL, s.Hostile)), chromedp.WaitVisible(chromedp.CSS("h1")))
	main := text(t, b, "main")
	if !strings.Contains(main, "<script>alert(1)</script>") || !strings.Contains(main, "⟨U+202E⟩gnp.exe") {
		t.Errorf("the hostile text is not shown as text:\n%s", main)
	}
	b.screenshot(t, "explorer-hostile-phone.png")
	b.messages()

	// Markup slipped into the page runs nothing: the policy refuses inline
	// script, event handlers and javascript: URLs.
	eval[bool](t, b, `(() => {
		document.body.insertAdjacentHTML('beforeend', '<img src="/nope" onerror="document.title=\'pwned-img\'"><a id="jsl" href="javascript:document.title=\'pwned-link\'">x</a>');
		const s = document.createElement('script');
		s.textContent = "document.title = 'pwned-script'";
		document.body.appendChild(s);
		document.getElementById('jsl').click();
		return true;
	})()`)
	time.Sleep(300 * time.Millisecond)
	if title := eval[string](t, b, `document.title`); strings.Contains(title, "pwned") {
		t.Errorf("injected markup ran script: the title is %q", title)
	}
	violations := 0
	for _, m := range b.messages() {
		if strings.Contains(m.Text, "Content Security Policy") {
			violations++
		}
	}
	if violations < 2 {
		t.Errorf("the browser reported %d Content Security Policy violations, want one each for the inline script and the handler", violations)
	}
}
