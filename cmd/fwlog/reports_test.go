package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/report"
	reportsqlite "github.com/fwledger/fwledger/report/sqlite"
)

func writeDeviceKeys(t *testing.T, path string, ks ...*keys.PrivateKey) {
	t.Helper()
	text := "# devices of the test fleet\n"
	for _, k := range ks {
		v, err := k.Public().VerifierKey()
		if err != nil {
			t.Fatal(err)
		}
		text += v + "\n"
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sendReport(t *testing.T, lc *logclient.Client, k *keys.PrivateKey) error {
	t.Helper()
	env := fwtest.SignReport(t, k, &report.Report{
		Model: "acme-x1", Channel: "stable", Outcome: report.Refused, Reason: report.Transport,
		Image: sha256.Sum256([]byte("image")), Time: time.Now(),
	})
	_, err := lc.AddReport(context.Background(), env)
	return err
}

func status(err error) int {
	var he *logclient.HTTPError
	if errors.As(err, &he) {
		return he.Status
	}
	return 0
}

// TestDeviceKeys runs fwlog with --device-keys: registered devices'
// reports are taken, others' refused; SIGHUP reads the file again (and a
// broken file changes nothing); the reports stay in their own database in
// the data directory; without the flag the endpoints answer 404.
func TestDeviceKeys(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	devFile := filepath.Join(dir, "devices.txt")

	// A file that does not parse stops fwlog before anything is made.
	if err := os.WriteFile(devFile, []byte("not a key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := start(t, "--data", data, "--origin", origin, "--device-keys", devFile); err == nil {
		p.Stop(syscall.SIGTERM)
		t.Fatal("fwlog started with a device key file that does not parse")
	} else if !strings.Contains(err.Error(), "line 1") {
		t.Errorf("the error does not name the line: %v", err)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("fwlog made %s before refusing its flags", data)
	}

	writeDeviceKeys(t, devFile, fwtest.Device1)
	p, err := start(t, "--data", data, "--origin", origin, "--device-keys", devFile)
	if err != nil {
		t.Fatal(err)
	}
	lc, err := logclient.New(p.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sendReport(t, lc, fwtest.Device1); err != nil {
		t.Fatalf("a registered device's report: %v", err)
	}
	if err := sendReport(t, lc, fwtest.Device2); status(err) != http.StatusForbidden {
		t.Fatalf("an unregistered device's report = %v, want 403", err)
	}

	// A broken file on SIGHUP is logged, and changes nothing.
	os.WriteFile(devFile, []byte("garbage\n"), 0o644)
	p.Cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, p, "couldn't reload the device keys")
	if err := sendReport(t, lc, fwtest.Device1); err != nil {
		t.Fatalf("a registered device's report after a broken reload: %v", err)
	}

	writeDeviceKeys(t, devFile, fwtest.Device1, fwtest.Device2)
	p.Cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, p, "reloaded the device keys")
	if err := sendReport(t, lc, fwtest.Device2); err != nil {
		t.Fatalf("a device registered by SIGHUP: %v", err)
	}
	if err := p.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("fwlog stopped with %v\n%s", err, p.Output())
	}
	if _, err := os.Stat(filepath.Join(data, reportsqlite.DatabaseFile)); err != nil {
		t.Errorf("no report database in the data directory: %v", err)
	}

	p, err = start(t, "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(syscall.SIGTERM)
	lc, _ = logclient.New(p.URL, nil)
	if _, err := lc.Reports(context.Background(), logclient.ReportQuery{}); status(err) != http.StatusNotFound {
		t.Errorf("GET /v1/reports without --device-keys = %v, want 404", err)
	}
}

// waitLog waits until p has logged msg.
func waitLog(t *testing.T, p *proc, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Output(), msg) {
		if time.Now().After(deadline) {
			t.Fatalf("fwlog did not log %q:\n%s", msg, p.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
