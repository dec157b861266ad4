package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/fwledger/fwledger/audit/web"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/internal/browsertest"
)

// TestBrowser loads the auditor's pages in headless Chromium (package
// browsertest): the status with its alerts, a click through to an alert,
// its evidence and download link; no console errors, no script, a layout
// that fits a phone.
func TestBrowser(t *testing.T) {
	ctx := context.Background()
	var entries [][]byte
	for i := range 3 {
		entries = append(entries, release(t, fmt.Sprint("untrusted ", i), fmt.Sprintf("1.%d.0", i), fwtest.Release2))
	}
	entries = append(entries, release(t, "a", "2.0.0", fwtest.Release1), release(t, "b", "2.0.0", fwtest.Release1))
	l := startLog(t, entries...)
	a := newAuditor(t, l.URL)
	if _, err := a.Step(ctx); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, a, web.Config{})
	for _, width := range []int{1280, 390} {
		b := browsertest.New(t, width, 900)
		b.Do(t, "status", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("h1")))
		main := browsertest.Text(t, b, "main")
		for _, want := range []string{"equivocation", "release_signature", l.URL} {
			if !strings.Contains(main, want) {
				t.Errorf("%d px: the status page lacks %q:\n%s", width, want, main)
			}
		}
		b.CheckPage(t, fmt.Sprintf("status at %d px", width))
		b.Screenshot(t, fmt.Sprintf("audit-status-%d.png", width))
		b.Do(t, "alert", chromedp.Click(chromedp.CSS(`main a[href^="/alerts/"]`)), chromedp.WaitVisible(chromedp.CSS(`a[href$="/evidence.json"]`)))
		if loc := browsertest.Eval[string](t, b, `location.pathname`); !strings.HasPrefix(loc, "/alerts/") {
			t.Errorf("%d px: the alert link led to %s", width, loc)
		}
		b.CheckPage(t, fmt.Sprintf("alert at %d px", width))
		b.Screenshot(t, fmt.Sprintf("audit-alert-%d.png", width))
	}
}
