package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/ledger"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/report"
	reportsqlite "github.com/fwledger/fwledger/report/sqlite"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

var (
	dev1 = fwtest.Device1
	dev2 = fwtest.Device2
)

var reportTime = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// startReportLog starts a log that takes reports from dev1, with opts'
// report store options and metrics in reg (if not nil).
func startReportLog(t *testing.T, dir string, o reportsqlite.Options, reg prometheus.Registerer) (*fwtest.Log, *logclient.Client) {
	l := fwtest.StartLog(t, fwtest.LogOptions{
		Dir: dir, ReleaseKeys: []*keys.PrivateKey{rel1}, Devices: []*keys.PrivateKey{dev1}, ReportOptions: o, Registerer: reg,
	})
	return l, newClient(t, l)
}

// deviceReport returns a report of outcome at the device's time at, with
// checkpoint cp (none if nil).
func deviceReport(outcome report.Outcome, at time.Time, cp []byte) *report.Report {
	r := &report.Report{Model: "acme-x1", Channel: "stable", Outcome: outcome, Image: sha256.Sum256([]byte("image")),
		Version: "1.4.0", SecurityVersion: 7, LogIndex: 0, HasRelease: true, Checkpoint: cp, Time: at}
	switch outcome {
	case report.Refused:
		r.Reason, r.Detail = report.Rollback, "security version 7 is below the floor 8"
	case report.Reverted:
		r.Reason = report.Error
	}
	if outcome != report.Refused {
		r.InstallMillis, r.HasInstallTime = 42000, true
	}
	return r
}

// postReport sends body and returns the status and the decoded answer or
// error message.
func postReport(t *testing.T, l *fwtest.Log, body []byte) (int, api.AddReportResponse, string, http.Header) {
	t.Helper()
	resp, err := http.Post(l.URL+api.PathReports, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var ok api.AddReportResponse
	var e api.Error
	if resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(data, &ok); err != nil {
			t.Fatalf("answer %s: %v", data, err)
		}
	} else {
		json.Unmarshal(data, &e)
	}
	return resp.StatusCode, ok, e.Message, resp.Header
}

func listReports(t *testing.T, lc *logclient.Client, q logclient.ReportQuery) api.DeviceReports {
	t.Helper()
	page, err := lc.Reports(context.Background(), q)
	if err != nil {
		t.Fatalf("Reports: %v", err)
	}
	return page
}

// TestReportAcceptedServedAndReverified sends a registered device's report
// with the log's published checkpoint, and reads it back: the exact
// envelope, which verifies with the device's key, and its fields.
func TestReportAcceptedServedAndReverified(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	l, lc := startReportLog(t, t.TempDir(), reportsqlite.Options{}, reg)
	submitN(t, l, 2)
	l.WaitSize(t, 2)
	cp, _ := l.Log.Checkpoint()
	env := fwtest.SignReport(t, dev1, deviceReport(report.Refused, reportTime, cp))
	res, err := lc.AddReport(ctx, env)
	if err != nil || res.Duplicate {
		t.Fatalf("AddReport = %+v, %v", res, err)
	}
	page := listReports(t, lc, logclient.ReportQuery{})
	if len(page.Reports) != 1 || page.Next != nil {
		t.Fatalf("Reports = %+v, want one report", page)
	}
	got := page.Reports[0]
	if !bytes.Equal(got.Envelope, env) {
		t.Errorf("the served envelope differs from the one sent")
	}
	r, id, err := report.Verify(ctx, got.Envelope, fwtest.Ring(t, dev1))
	if err != nil || id != fwtest.KeyID(t, dev1) {
		t.Fatalf("the served envelope does not verify: %v", err)
	}
	if got.ID != res.ID || got.Fork || got.Device != id || got.Outcome != "refused" || got.Reason != "rollback" || got.Checkpoint != string(cp) ||
		got.LogIndex == nil || *got.LogIndex != r.LogIndex || got.Time != "2026-11-27T10:00:00Z" || got.Image != r.Image.String() {
		t.Errorf("served report = %+v", got)
	}
	if _, err := time.Parse(time.RFC3339, got.Received); err != nil {
		t.Errorf("received = %q: %v", got.Received, err)
	}
	if n := (counter(t, reg, "fwlog_device_reports_total", "refused", "rollback")); n != 1 {
		t.Errorf("fwlog_device_reports_total{refused,rollback} = %v, want 1", n)
	}

	// Filters.
	env2 := fwtest.SignReport(t, dev1, deviceReport(report.Confirmed, reportTime.Add(time.Minute), cp))
	res2, err := lc.AddReport(ctx, env2)
	if err != nil {
		t.Fatal(err)
	}
	if p := listReports(t, lc, logclient.ReportQuery{Outcome: "confirmed"}); len(p.Reports) != 1 || p.Reports[0].ID != res2.ID || *p.Reports[0].InstallMillis != 42000 {
		t.Errorf("confirmed reports = %+v", p)
	}
	if p := listReports(t, lc, logclient.ReportQuery{After: res.ID}); len(p.Reports) != 1 || p.Reports[0].ID != res2.ID {
		t.Errorf("reports after %d = %+v", res.ID, p)
	}
	if p := listReports(t, lc, logclient.ReportQuery{Device: fwtest.KeyID(t, dev2)}); len(p.Reports) != 0 {
		t.Errorf("reports of device 2 = %+v, want none", p)
	}
	for _, q := range []string{"?device=dev1", "?outcome=bricked", "?after=-1"} {
		resp, err := http.Get(l.URL + api.PathReports + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s%s = %d, want 400", api.PathReports, q, resp.StatusCode)
		}
	}
}

// counter returns the value of counter name with the label values lvs (in
// the order of the labels' names) in reg; 0 if it has none.
func counter(t *testing.T, reg *prometheus.Registry, name string, lvs ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i, lp := range m.GetLabel() {
				if i >= len(lvs) || lp.GetValue() != lvs[i] {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestReportRefusals(t *testing.T) {
	reg := prometheus.NewRegistry()
	l, _ := startReportLog(t, t.TempDir(), reportsqlite.Options{}, reg)
	submitN(t, l, 1)
	l.WaitSize(t, 1)
	good := fwtest.SignReport(t, dev1, deviceReport(report.Installed, reportTime, nil))
	var de dsse.Envelope
	json.Unmarshal(good, &de)
	payload, _ := base64.StdEncoding.DecodeString(de.Payload)
	// byDevice signs payload as dev1 would, whatever it says.
	byDevice := func(p []byte) []byte { return fwtest.SignTyped(t, report.PayloadType, p, dev1) }
	tampered := bytes.Replace(good, []byte(de.Payload),
		[]byte(base64.StdEncoding.EncodeToString(bytes.Replace(payload, []byte(`"installMs":42000`), []byte(`"installMs":1000`), 1))), 1)
	impostor := &keys.PrivateKey{Name: fwtest.LogKey.Name, Key: fwtest.Key("impostor").Key}
	for _, tc := range []struct {
		desc   string
		body   []byte
		status int
		msg    string // a part of the message
	}{
		{"unknown device", fwtest.SignReport(t, dev2, deviceReport(report.Installed, reportTime, nil)), 403, "not registered"},
		{"tampered payload", tampered, 403, "not validly signed"},
		{"oversize", bytes.Repeat([]byte("x"), api.MaxReportSize+1), 413, ""},
		{"not JSON", []byte("report"), 400, "envelope"},
		{"bad model", byDevice(bytes.Replace(payload, []byte(`"acme-x1"`), []byte(`"acme x1"`), 1)), 400, `report field "model"`},
		{"unknown field", byDevice(bytes.Replace(payload, []byte(`{`), []byte(`{"firmware":"x",`), 1)), 400, `report field "firmware"`},
		{"not canonical", append(bytes.Clone(good), '\n'), 400, "canonical"},
		{"checkpoint of another key", fwtest.SignReport(t, dev1, deviceReport(report.Installed, reportTime,
			fwtest.SignCheckpoint(t, impostor, 1, make([]byte, 32)))), 400, `report field "checkpoint"`},
		{"checkpoint of another origin", fwtest.SignReport(t, dev1, deviceReport(report.Installed, reportTime,
			fwtest.SignCheckpoint(t, fwtest.Key("example.com/otherlog"), 1, make([]byte, 32)))), 400, `report field "checkpoint"`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			status, _, msg, _ := postReport(t, l, tc.body)
			if status != tc.status || !strings.Contains(msg, tc.msg) {
				t.Errorf("POST = %d %q, want %d with %q", status, msg, tc.status, tc.msg)
			}
		})
	}
	if got := listReports(t, newClient(t, l), logclient.ReportQuery{}); len(got.Reports) != 0 {
		t.Errorf("refused reports were stored: %+v", got.Reports)
	}
	for reason, want := range map[string]float64{"unknown_device": 1, "bad_signature": 1, "bad_report": 4, "bad_checkpoint": 2} {
		if n := (counter(t, reg, "fwlog_device_reports_refused_total", reason)); n != want {
			t.Errorf("fwlog_device_reports_refused_total{%s} = %v, want %v", reason, n, want)
		}
	}
	// A GET with the wrong method.
	req, _ := http.NewRequest("PUT", l.URL+api.PathReports, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD, POST" {
		t.Errorf("PUT = %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestReportDuplicate: a report sent again gets its ID, 200 instead of
// 201, and nothing new is stored; it does not count against the device's
// rate.
func TestReportDuplicate(t *testing.T) {
	l, lc := startReportLog(t, t.TempDir(), reportsqlite.Options{}, nil)
	env := fwtest.SignReport(t, dev1, deviceReport(report.Installed, reportTime, nil))
	status, first, _, _ := postReport(t, l, env)
	if status != http.StatusCreated {
		t.Fatalf("POST = %d, want 201", status)
	}
	for range ledger.ReportBurst + 2 {
		status, again, msg, _ := postReport(t, l, env)
		if status != http.StatusOK || again.ID != first.ID || !again.Duplicate {
			t.Fatalf("POST again = %d %+v %q, want 200 with ID %d, duplicate", status, again, msg, first.ID)
		}
	}
	if got := listReports(t, lc, logclient.ReportQuery{}); len(got.Reports) != 1 {
		t.Errorf("%d reports stored, want 1", len(got.Reports))
	}
}

// TestReportRateLimit: a device gets ReportBurst reports at once, then
// 429 with Retry-After.
func TestReportRateLimit(t *testing.T) {
	l, _ := startReportLog(t, t.TempDir(), reportsqlite.Options{}, nil)
	for i := range ledger.ReportBurst + 1 {
		status, _, msg, h := postReport(t, l, fwtest.SignReport(t, dev1, deviceReport(report.Installed, reportTime.Add(time.Duration(i)*time.Second), nil)))
		switch {
		case i < ledger.ReportBurst && status != http.StatusCreated:
			t.Fatalf("report %d: POST = %d %q, want 201", i, status, msg)
		case i == ledger.ReportBurst:
			if status != http.StatusTooManyRequests || !strings.Contains(msg, "faster") {
				t.Fatalf("report %d: POST = %d %q, want 429", i, status, msg)
			}
			if n, err := strconv.Atoi(h.Get("Retry-After")); err != nil || n < 1 {
				t.Errorf("Retry-After = %q, want seconds", h.Get("Retry-After"))
			}
		}
	}
}

// TestReportPerDeviceCap keeps the newest reports of a device, by its
// time, and refuses one older than all of them (409): a replay of a report
// the cap removed cannot push out a newer one.
func TestReportPerDeviceCap(t *testing.T) {
	l, lc := startReportLog(t, t.TempDir(), reportsqlite.Options{MaxPerDevice: 3}, nil)
	var ids []uint64
	var envs [][]byte
	for i := range 5 {
		env := fwtest.SignReport(t, dev1, deviceReport(report.Installed, reportTime.Add(time.Duration(i)*time.Minute), nil))
		status, res, msg, _ := postReport(t, l, env)
		if status != http.StatusCreated {
			t.Fatalf("POST %d = %d %q", i, status, msg)
		}
		ids, envs = append(ids, res.ID), append(envs, env)
	}
	got := listReports(t, lc, logclient.ReportQuery{Device: fwtest.KeyID(t, dev1)})
	var gotIDs []uint64
	for _, r := range got.Reports {
		gotIDs = append(gotIDs, r.ID)
	}
	if fmt.Sprint(gotIDs) != fmt.Sprint(ids[2:]) {
		t.Errorf("kept reports %v, want the newest %v", gotIDs, ids[2:])
	}
	if status, _, msg, _ := postReport(t, l, envs[0]); status != http.StatusConflict || !strings.Contains(msg, "older than every one") {
		t.Errorf("POST of a removed report = %d %q, want 409", status, msg)
	}
}

// TestReportFork: a checkpoint signed by the log's key with another root
// for a size the log published is stored, marked as a fork and counted;
// the log's own checkpoints of smaller sizes are no fork.
func TestReportFork(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	l, lc := startReportLog(t, t.TempDir(), reportsqlite.Options{}, reg)
	submitN(t, l, 2)
	l.WaitSize(t, 2)
	old, _ := l.Log.Checkpoint() // size 2
	submitN(t, l, 2)
	l.WaitSize(t, 4)
	other := sha256.Sum256([]byte("another tree"))
	for i, tc := range []struct {
		desc string
		cp   []byte
		fork bool
	}{
		{"the log's older checkpoint", old, false},
		{"another root at a smaller published size", fwtest.SignCheckpoint(t, fwtest.LogKey, 2, other[:]), true},
		{"another root at the published size", fwtest.SignCheckpoint(t, fwtest.LogKey, 4, other[:]), true},
		{"not the empty root at size 0", fwtest.SignCheckpoint(t, fwtest.LogKey, 0, other[:]), true},
		{"beyond the published size", fwtest.SignCheckpoint(t, fwtest.LogKey, 100, other[:]), false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			env := fwtest.SignReport(t, dev1, deviceReport(report.Refused, reportTime.Add(time.Duration(i)*time.Second), tc.cp))
			res, err := lc.AddReport(ctx, env)
			if err != nil {
				t.Fatalf("AddReport: %v", err)
			}
			page := listReports(t, lc, logclient.ReportQuery{After: res.ID - 1})
			if len(page.Reports) == 0 || page.Reports[0].ID != res.ID || page.Reports[0].Fork != tc.fork || !bytes.Equal(page.Reports[0].Envelope, env) {
				t.Fatalf("served %+v, want report %d with fork %v", page.Reports, res.ID, tc.fork)
			}
		})
	}
	if n := (counter(t, reg, "fwlog_device_report_forks_total")); n != 3 {
		t.Errorf("fwlog_device_report_forks_total = %v, want 3", n)
	}
}

// TestReportCounts: the reports the log stores are counted in the hour it
// received them, by outcome and reason; a duplicate is not.
func TestReportCounts(t *testing.T) {
	ctx := context.Background()
	l, lc := startReportLog(t, t.TempDir(), reportsqlite.Options{}, nil)
	if got, err := l.ReportCounts(ctx, time.Time{}); err != nil || len(got) != 0 {
		t.Fatalf("ReportCounts of no report = %+v, %v", got, err)
	}
	before := time.Now()
	for i, outcome := range []report.Outcome{report.Installed, report.Refused, report.Refused} {
		env := fwtest.SignReport(t, dev1, deviceReport(outcome, reportTime.Add(time.Duration(i)*time.Second), nil))
		for range 2 { // the second is a duplicate
			if _, err := lc.AddReport(ctx, env); err != nil {
				t.Fatal(err)
			}
		}
	}
	after := time.Now()
	got, err := l.ReportCounts(ctx, before)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]uint64{}
	for _, c := range got {
		if c.Hour.Before(before.Truncate(time.Hour)) || c.Hour.After(after) || !c.Hour.Equal(c.Hour.Truncate(time.Hour)) {
			t.Errorf("count of hour %v, not an hour from %v to %v", c.Hour, before, after)
		}
		n[string(c.Outcome)+"/"+string(c.Reason)] += c.N
	}
	if want := map[string]uint64{"installed/": 1, "refused/rollback": 2}; fmt.Sprint(n) != fmt.Sprint(want) {
		t.Errorf("ReportCounts = %v, want %v", n, want)
	}
	if got, err := l.ReportCounts(ctx, after.Add(time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("ReportCounts from the next hour = %+v, %v; want none", got, err)
	}
}

func TestReportsDisabled(t *testing.T) {
	l, lc := startLogClient(t)
	status, _, msg, _ := postReport(t, l, fwtest.SignReport(t, dev1, deviceReport(report.Installed, reportTime, nil)))
	if status != http.StatusNotFound || !strings.Contains(msg, "device reports are not enabled") {
		t.Errorf("POST = %d %q, want 404 saying reports are not enabled", status, msg)
	}
	_, err := lc.Reports(context.Background(), logclient.ReportQuery{})
	var he *logclient.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusNotFound {
		t.Errorf("GET = %v, want 404", err)
	}
	if err := l.SetDevices(nil); err == nil {
		t.Error("SetDevices on a log without reports succeeded")
	}
	if _, err := l.ReportCounts(context.Background(), time.Time{}); !errors.Is(err, ledger.ErrReportsDisabled) {
		t.Errorf("ReportCounts = %v, want ErrReportsDisabled", err)
	}
}

// TestReportsKeptAcrossRestart, and the devices replaced while running
// (fwlog on SIGHUP).
func TestReportsKeptAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	l, lc := startReportLog(t, dir, reportsqlite.Options{}, nil)
	env := fwtest.SignReport(t, dev1, deviceReport(report.Confirmed, reportTime, nil))
	res, err := lc.AddReport(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	l.Stop(t)

	l, lc = startReportLog(t, dir, reportsqlite.Options{}, nil)
	got := listReports(t, lc, logclient.ReportQuery{})
	if len(got.Reports) != 1 || got.Reports[0].ID != res.ID || !bytes.Equal(got.Reports[0].Envelope, env) {
		t.Fatalf("after a restart: %+v, want report %d", got.Reports, res.ID)
	}
	if again, err := lc.AddReport(context.Background(), env); err != nil || !again.Duplicate || again.ID != res.ID {
		t.Errorf("AddReport after a restart = %+v, %v; want the duplicate %d", again, err, res.ID)
	}

	env2 := fwtest.SignReport(t, dev2, deviceReport(report.Installed, reportTime, nil))
	if status, _, _, _ := postReport(t, l, env2); status != http.StatusForbidden {
		t.Fatalf("POST of device 2 = %d, want 403", status)
	}
	devices, err := report.NewDevices(dev1.Public(), dev2.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetDevices(devices); err != nil {
		t.Fatal(err)
	}
	if status, _, msg, _ := postReport(t, l, env2); status != http.StatusCreated {
		t.Errorf("POST of device 2 once registered = %d %q, want 201", status, msg)
	}
}

// TestReportConcurrentDuplicates sends one report from several clients at
// once: one is stored, and every answer names it.
func TestReportConcurrentDuplicates(t *testing.T) {
	_, lc := startReportLog(t, t.TempDir(), reportsqlite.Options{}, nil)
	env := fwtest.SignReport(t, dev1, deviceReport(report.Confirmed, reportTime, nil))
	const n = 8
	ids := make(chan uint64, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			res, err := lc.AddReport(context.Background(), env)
			if err != nil {
				t.Errorf("AddReport: %v", err)
				return
			}
			ids <- res.ID
		})
	}
	wg.Wait()
	close(ids)
	first := uint64(0)
	for id := range ids {
		if first == 0 {
			first = id
		}
		if id != first {
			t.Errorf("one report got IDs %d and %d", first, id)
		}
	}
	if got := listReports(t, lc, logclient.ReportQuery{}); len(got.Reports) != 1 {
		t.Errorf("%d reports stored, want 1", len(got.Reports))
	}
}
