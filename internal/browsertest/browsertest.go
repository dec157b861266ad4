// Package browsertest drives Debian's headless Chromium from Go tests, for
// the web pages of fwlog's explorer and of the auditor: every console
// message and uncaught exception is recorded, and CheckPage asserts what
// every page must hold (no script, no console errors, a layout that fits
// the window, labelled inputs, one h1).
//
// The browser tests drive Debian's headless Chromium (scripts/chromium.sh
// installs it; make test passes its path in FWLEDGER_CHROMIUM) through
// every page type. Without FWLEDGER_CHROMIUM they look for chromium on
// PATH, and skip if there is none; with it set, a browser that does not
// start is a failure.
//
// FWLEDGER_SCREENSHOTS=DIR keeps the screenshots there (make screenshots
// writes the README's into docs/); otherwise they go to a temporary
// directory, so that taking them is tested too.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium returns the browser to run, or skips the test.
func chromium(t testing.TB) string {
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

// A Browser is one headless Chromium tab, with every console message and
// uncaught exception of its pages recorded.
type Browser struct {
	ctx     context.Context
	mu      sync.Mutex
	console []chromedp.ConsoleMessage
	shots   string
}

func New(t *testing.T, width, height int) *Browser {
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
	b := &Browser{ctx: ctx, shots: os.Getenv("FWLEDGER_SCREENSHOTS")}
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

// Messages returns the console messages recorded so far, and forgets them.
func (b *Browser) Messages() []chromedp.ConsoleMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.console
	b.console = nil
	return m
}

// Do runs the steps, failing the test after 20 s or at an error.
func (b *Browser) Do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Eval evaluates a JavaScript expression in the page.
func Eval[T any](t *testing.T, b *Browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// Text returns the visible text of the first element sel matches.
func Text(t *testing.T, b *Browser, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading the text of %s: %v", sel, err)
	}
	return s
}

// CheckPage checks the page shown: no console errors or exceptions, no
// script at all, no horizontal overflow (the layout holds at the
// viewport's width, whatever the entries hold), and every image and
// form control labelled.
func (b *Browser) CheckPage(t *testing.T, name string) {
	t.Helper()
	// Let the page settle, so that late console messages arrive.
	time.Sleep(100 * time.Millisecond)
	for _, m := range b.Messages() {
		if m.Type == chromedp.ConsoleError || m.IsException() || m.Type == chromedp.ConsoleWarning {
			t.Errorf("%s: console %s: %s", name, m.Type, m.Text)
		}
	}
	if n := Eval[int](t, b, `document.scripts.length`); n != 0 {
		t.Errorf("%s: the page has %d script elements", name, n)
	}
	if over := Eval[int](t, b, `document.documentElement.scrollWidth - window.innerWidth`); over > 1 {
		t.Errorf("%s: the page is %d px wider than the window: the layout breaks", name, over)
	}
	if n := Eval[int](t, b, `[...document.querySelectorAll('input:not([type=hidden])')].filter(i => !i.labels.length).length`); n != 0 {
		t.Errorf("%s: %d inputs without a label", name, n)
	}
	if n := Eval[int](t, b, `document.querySelectorAll('h1').length`); n != 1 {
		t.Errorf("%s: %d h1 headings, want 1", name, n)
	}
	if lang := Eval[string](t, b, `document.documentElement.lang`); lang != "en" {
		t.Errorf("%s: html lang %q", name, lang)
	}
}

// Screenshot saves a PNG of the whole page as name, in
// FWLEDGER_SCREENSHOTS or a temporary directory.
func (b *Browser) Screenshot(t *testing.T, name string) {
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
