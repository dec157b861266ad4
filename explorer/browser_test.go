package explorer_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fwledger/fwledger/internal/browsertest"
)

// TestBrowser loads every page type in Chromium, follows links from a
// search to an entry to its model, and checks what a reader sees.
func TestBrowser(t *testing.T) {
	s := startRichSite(t)
	b := browsertest.New(t, 1280, 900)

	b.Do(t, "home", chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#tree-size")))
	if got, want := browsertest.Text(t, b, "#tree-size"), fmt.Sprint(s.Log.Log.Published().Size); got != want {
		t.Errorf("home: tree size %q, want %q", got, want)
	}
	if h := browsertest.Text(t, b, "#recent + div table"); !strings.Contains(h, "acme-x1") || !strings.Contains(h, "1.5.0") {
		t.Errorf("home: recent releases %q", h)
	}
	if w := browsertest.Text(t, b, "#wit + div table"); !strings.Contains(w, "w0") || !strings.Contains(w, "yes") {
		t.Errorf("home: witnesses %q", w)
	}
	b.CheckPage(t, "home")
	b.Screenshot(t, "explorer-home.png")

	// Keyboard: the first Tab reaches the skip link, which leads to main.
	b.Do(t, "tab", chromedp.KeyEvent("\t"))
	if f := browsertest.Eval[string](t, b, `document.activeElement.className`); f != "skip" {
		t.Errorf("the first Tab focuses %q, want the skip link", f)
	}

	// Search by the image's sha256sum line, from the header's form.
	sum := fmt.Sprintf("%x  fw.bin", sha256Sum(s.Image))
	b.Do(t, "search",
		chromedp.SendKeys(chromedp.CSS("#q"), sum),
		chromedp.Submit(chromedp.CSS("#q")),
		chromedp.WaitVisible(chromedp.CSS("#s-image")),
	)
	results := browsertest.Text(t, b, "main")
	for _, want := range []string{"Releases of the image", "build provenance", "release", "acme-x1 1.4.0"} {
		if !strings.Contains(results, want) {
			t.Errorf("search results lack %q:\n%s", want, results)
		}
	}
	b.CheckPage(t, "search")

	// Follow the release's link to its entry page.
	b.Do(t, "entry", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#s-image + div a[href="/entries/%d"]`, s.Release))),
		chromedp.WaitVisible(chromedp.CSS("#proof-status")))
	if loc := browsertest.Eval[string](t, b, `location.pathname`); loc != fmt.Sprintf("/entries/%d", s.Release) {
		t.Errorf("the result link led to %s", loc)
	}
	entry := browsertest.Text(t, b, "main")
	for _, want := range []string{"release", "example.com/release-1", "Security version\n7", "verified", "Endorsed build provenance"} {
		if !strings.Contains(entry, want) {
			t.Errorf("entry page lacks %q:\n%s", want, entry)
		}
	}
	b.CheckPage(t, "entry")
	b.Screenshot(t, "explorer-entry.png")

	// Then to the model.
	b.Do(t, "model", chromedp.Click(chromedp.CSS(`section[aria-labelledby=rel] dd a[href="/models/acme-x1"]`)), chromedp.WaitVisible(chromedp.CSS("#rels")))
	model := browsertest.Text(t, b, "main")
	for _, want := range []string{"Model acme-x1", "1.4.0", "1.5.0", "1.5.1-beta.1", "revoked"} {
		if !strings.Contains(model, want) {
			t.Errorf("model page lacks %q:\n%s", want, model)
		}
	}
	b.CheckPage(t, "model")

	for _, p := range []struct{ path, sel, want string }{
		{fmt.Sprintf("/entries/%d", s.Provenance), "#prov", "Rebuilds that agree"},
		{"/witnesses", "#forks", "that is not this log's tree"},
		{"/reports", "#out", "Outcomes"},
		{"/no/such/page", "h1", "404"},
	} {
		b.Do(t, p.path, chromedp.Navigate(s.URL+p.path), chromedp.WaitVisible(chromedp.CSS(p.sel)))
		if got := browsertest.Text(t, b, "main"); !strings.Contains(got, p.want) {
			t.Errorf("%s lacks %q:\n%s", p.path, p.want, got)
		}
		if p.path == "/no/such/page" {
			b.Messages() // the browser logs the 404 itself
			continue
		}
		b.CheckPage(t, p.path)
		if p.path == "/reports" {
			if bars := browsertest.Eval[int](t, b, `document.querySelectorAll('svg.chart rect').length`); bars == 0 {
				t.Errorf("the reports page draws no bars")
			}
		}
		if p.path == "/witnesses" || p.path == "/reports" {
			b.Screenshot(t, "explorer"+strings.ReplaceAll(p.path, "/", "-")+".png")
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
	b := browsertest.New(t, 390, 844) // a phone
	for _, p := range []string{fmt.Sprintf("/entries/%d", s.Hostile), fmt.Sprintf("/entries/%d", s.Hostile-1), "/models/javascript:alert", "/search?q=javascript:alert", "/"} {
		b.Do(t, p, chromedp.Navigate(s.URL+p), chromedp.WaitVisible(chromedp.CSS("h1")))
		b.CheckPage(t, "phone "+p)
		if title := browsertest.Eval[string](t, b, `document.title`); strings.Contains(title, "pwned") {
			t.Errorf("%s: a script ran", p)
		}
	}
	b.Do(t, "hostile entry", chromedp.Navigate(fmt.Sprintf("%s/entries/%d", s.URL, s.Hostile)), chromedp.WaitVisible(chromedp.CSS("h1")))
	main := browsertest.Text(t, b, "main")
	if !strings.Contains(main, "<script>alert(1)</script>") || !strings.Contains(main, "⟨U+202E⟩gnp.exe") {
		t.Errorf("the hostile text is not shown as text:\n%s", main)
	}
	b.Screenshot(t, "explorer-hostile-phone.png")
	b.Messages()

	// Markup slipped into the page runs nothing: the policy refuses inline
	// script, event handlers and javascript: URLs.
	browsertest.Eval[bool](t, b, `(() => {
		document.body.insertAdjacentHTML('beforeend', '<img src="/nope" onerror="document.title=\'pwned-img\'"><a id="jsl" href="javascript:document.title=\'pwned-link\'">x</a>');
		const s = document.createElement('script');
		s.textContent = "document.title = 'pwned-script'";
		document.body.appendChild(s);
		document.getElementById('jsl').click();
		return true;
	})()`)
	time.Sleep(300 * time.Millisecond)
	if title := browsertest.Eval[string](t, b, `document.title`); strings.Contains(title, "pwned") {
		t.Errorf("injected markup ran script: the title is %q", title)
	}
	violations := 0
	for _, m := range b.Messages() {
		if strings.Contains(m.Text, "Content Security Policy") {
			violations++
		}
	}
	if violations < 2 {
		t.Errorf("the browser reported %d Content Security Policy violations, want one each for the inline script and the handler", violations)
	}
}
