package web_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/audit/web"
)

// bigSource is a Source with one alert (ID 1) whose evidence holds n
// entries of size bytes each, as a hostile log can make it: a
// revocation_commitment alert carries every revocation the log holds below
// the checkpoint's size (audit.go), and an unparseable reference carries
// up to maxReferenced bytes of content, so an alert's evidence is as large
// as the log wants.
type bigSource struct {
	al *audit.Alert
}

func newBigSource(n, size int) *bigSource {
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i)
	}
	al := &audit.Alert{ID: 1, Key: "revocation_commitment/x", Type: audit.TypeRevocationCommitment, Severity: audit.Critical,
		Message: "the checkpoint's revocation commitment does not match the logged revocations", Time: time.Now().UTC(),
		Evidence: audit.Evidence{Checkpoints: [][]byte{[]byte("example.com/log\n1\nAAAA\n\n— example.com/log AAAA\n")}}}
	for i := range n {
		al.Evidence.Entries = append(al.Evidence.Entries, audit.EvidenceEntry{Index: uint64(i), Data: data})
	}
	return &bigSource{al: al}
}

func (b *bigSource) Status(context.Context) (*audit.Status, error) {
	return &audit.Status{LogURL: "http://log.example", Alerts: 1, FirstAlert: 1, LastAlert: 1}, nil
}

func (b *bigSource) AlertsBefore(context.Context, int64, int) ([]*audit.Alert, error) {
	return []*audit.Alert{b.al}, nil
}

func (b *bigSource) AlertsAfter(context.Context, int64, int) ([]*audit.Alert, error) { return nil, nil }

func (b *bigSource) Alert(_ context.Context, id int64) (*audit.Alert, error) {
	if id != 1 {
		return nil, audit.ErrNoAlert
	}
	return b.al, nil
}

// TestReview15cSlowReaderHoldsSlot: the pages are written to the client
// inside the Limiter's turn (ServeHTTP runs the mux, and so Write, under
// Do), and the Limiter's timeout is only a context, which a blocked
// w.Write does not see. A network attacker who requests a large answer
// (an alert's page or evidence download) and does not read it keeps the
// turn for as long as the connection lives (fwctl's WriteTimeout: a
// minute; here, forever): MaxInFlight such connections (8) and every page
// is 503, far beyond the "each within 5 s" docs/AUDIT.md promises.
// webui.Bytes exists to render apart from writing, so that the turn is
// given up before a slow client reads the page; audit/web does not use it.
func TestReview15cSlowReaderHoldsSlot(t *testing.T) {
	src := newBigSource(256, 64<<10) // 16 MiB of entries: ~22 MB of JSON
	h, err := web.New(src, web.Config{MaxInFlight: 1, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(c, "GET /alerts/1/evidence.json HTTP/1.1\r\nHost: x\r\n\r\n")
	// Read the status line only, then stop reading.
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, "200") {
		t.Fatalf("the slow download: %q, %v", line, err)
	}
	// Well past the timeout of a page.
	time.Sleep(time.Second)
	resp, err := srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET / while a client does not read its download, %v after the pages' timeout = %s: one unread answer holds the page's turn past its timeout", time.Second, resp.Status)
	}
}

// TestReview15cAlertPageWorkUnbounded: an alert's page lists at most
// maxEntries (500) entries and shows no entry's bytes, but lookup marshals
// the whole alert (MarshalAlert: every entry and content in base64) only
// to print the download's size, for GET and for HEAD alike, and nothing
// of it looks at the request's context. With evidence of a few MB the
// page allocates several times the evidence; a hostile log decides the
// size of the evidence (see bigSource), so 8 readers at once (or a loop
// of HEADs) cost the auditor (the process that watches the log) memory
// and CPU without bound, past the 5 s timeout. The size could come from
// the database (length(alert) + the ID's digits), or the page could say
// "download" without the size.
func TestReview15cAlertPageWorkUnbounded(t *testing.T) {
	const n, size = 200, 32 << 10 // 6.4 MB of entries
	h, err := web.New(newBigSource(n, size), web.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"HEAD", "GET"} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, "/alerts/1", nil))
		runtime.ReadMemStats(&after)
		if w.Code != http.StatusOK {
			t.Fatalf("%s /alerts/1 = %d", method, w.Code)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		// The page: 200 rows of an index, a size and a leaf hash (~60 kB).
		if page := w.Body.Len(); alloc > 1<<20 {
			t.Errorf("%s /alerts/1 (a page of %d bytes) allocated %d bytes, more than the %d bytes of evidence it does not show (want under 1 MiB)", method, page, alloc, n*size)
		}
	}
}
