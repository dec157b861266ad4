package main

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/handover"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
)

// TestFreeze runs the log key rotation of docs/KEYS.md with the binary:
// fwlog serve --successor freezes the log; its final checkpoint names the
// successor, it takes no more entries, and stays frozen across restarts.
func TestFreeze(t *testing.T) {
	ctx := context.Background()
	dir, data, pub, p := startNew(t)
	lc, _ := logclient.New(p.URL, nil)
	if _, err := lc.Add(ctx, fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("before", 100), nil), relKey)); err != nil {
		t.Fatal(err)
	}
	waitSize(t, lc, 1)
	p.Stop(syscall.SIGTERM)

	next := fwtest.Key("example.com/crashlog-2027")
	if err := keys.Write(filepath.Join(dir, "next"), next); err != nil {
		t.Fatal(err)
	}
	same := fwtest.Key("example.com/crashlog-samename")
	same.Name = origin
	if err := keys.Write(filepath.Join(dir, "same"), same); err != nil {
		t.Fatal(err)
	}
	if _, err := start(t, "--data", data, "--release-keys", pub, "--successor", filepath.Join(dir, "same.pub")); err == nil || !strings.Contains(err.Error(), "new origin") {
		t.Errorf("--successor with the log's own origin: %v", err)
	}
	p, err := start(t, "--data", data, "--release-keys", pub, "--successor", filepath.Join(dir, "next.pub"))
	if err != nil {
		t.Fatal(err)
	}
	lc, _ = logclient.New(p.URL, nil)
	waitSize(t, lc, 2)
	final, err := lc.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp, successor, err := handover.Verify(logVerifier(t, filepath.Join(data, "log.pub")), final)
	if err != nil || cp.Size != 2 || successor.Name() != next.Name {
		t.Fatalf("handover.Verify(final checkpoint) = %+v, %v, %v", cp, successor, err)
	}
	_, err = lc.Add(ctx, fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("after", 100), nil), relKey))
	var he *logclient.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusGone {
		t.Errorf("a submission to the frozen log: %v, want 410", err)
	}
	p.Stop(syscall.SIGTERM)
	// Restarted without the flag, it is still frozen.
	p, err = start(t, "--data", data, "--release-keys", pub)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(syscall.SIGTERM)
	lc, _ = logclient.New(p.URL, nil)
	if info, err := lc.Info(ctx); err != nil || info.Successor == "" || info.Size != 2 {
		t.Errorf("/v1/log after a restart = %+v, %v", info, err)
	}
}
