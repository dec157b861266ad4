package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/fwledger/fwledger/device"
	"github.com/fwledger/fwledger/device/fsys"
	"github.com/fwledger/fwledger/device/transport"
	"github.com/fwledger/fwledger/internal/dirlock"
	"github.com/fwledger/fwledger/internal/strictjson"
)

// config is what init records beside the state (config.json): where the
// slots are, whether the device has a clock, and where its log is. It
// holds nothing that verification depends on.
type config struct {
	Slots map[string]string `json:"slots"`
	// NoClock makes the device's reference time its time floor.
	NoClock bool   `json:"noClock,omitempty"`
	Log     string `json:"log,omitempty"`
	Pin     string `json:"pin,omitempty"`
}

const configFile = "config.json"

// agent is an opened device, with its state directory locked.
type agent struct {
	dir  string
	cfg  config
	dev  *device.Device
	lock *os.File
}

func lockState(dir string) (*os.File, error) {
	l, err := dirlock.Lock(dir, "lock")
	if err != nil {
		return nil, fmt.Errorf("couldn't lock the state directory: %w", err)
	}
	return l, nil
}

func (c config) device(dir string) device.Config {
	dc := device.Config{StateDir: dir, Slots: c.Slots, FS: fsys.OS, Now: time.Now,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if c.NoClock {
		dc.Now = nil
	}
	return dc
}

// openAgent locks the state directory and opens the device.
func openAgent(ctx context.Context, dir string) (*agent, error) {
	lock, err := lockState(dir)
	if err != nil {
		return nil, err
	}
	a := &agent{dir: dir, lock: lock}
	data, err := fsys.ReadFile(fsys.OS, filepath.Join(dir, configFile), 64<<10)
	if err != nil {
		lock.Close()
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s holds no device: run fwdevice init", dir)
		}
		return nil, err
	}
	if err := strictjson.Decode(data, &a.cfg); err != nil {
		lock.Close()
		return nil, fmt.Errorf("%s: %w", configFile, err)
	}
	if a.dev, err = device.Open(ctx, a.cfg.device(dir)); err != nil {
		lock.Close()
		return nil, err
	}
	return a, nil
}

func (a *agent) close() { a.lock.Close() }

// parseAndOpen parses a command's flags and opens the device in the state
// directory they name.
func parseAndOpen(ctx context.Context, e *env, fs *flag.FlagSet, dir *string, args []string) (*agent, error) {
	if err := parse(e, fs, args); err != nil {
		return nil, err
	}
	return openAgent(ctx, *dir)
}

// client returns a transport to the log at logURL (or the one init
// recorded, or the trust file's), printing download progress to w.
func (a *agent) client(logURL, pin string, w io.Writer) (*transport.Client, error) {
	if logURL == "" {
		logURL = a.cfg.Log
	}
	if logURL == "" {
		logURL = a.dev.Trust().URL
	}
	if logURL == "" {
		return nil, &usageError{msg: "no log URL: give --log (or set one at init, or in the trust file)"}
	}
	if pin == "" {
		pin = a.cfg.Pin
	}
	opts := transport.Options{UserAgent: "fwdevice", Progress: progress(w)}
	if pin != "" {
		p, err := transport.ParsePin(pin)
		if err != nil {
			return nil, &usageError{msg: fmt.Sprintf("--pin: %v", err)}
		}
		opts.Pin = p
	}
	return transport.New(logURL, opts)
}

// progress returns a download progress printer: a line at most every
// second, and at the end.
func progress(w io.Writer) func(done, total int64) {
	var last time.Time
	return func(done, total int64) {
		if done != total && time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		pct := 100.0
		if total > 0 {
			pct = 100 * float64(done) / float64(total)
		}
		fmt.Fprintf(w, "download: %s of %s (%.0f%%)\n", mib(done), mib(total), pct)
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// An outcome is the result of the last update, kept in outcome.json for
// status and report (not part of the state: it records, and is not
// trusted).
type outcome struct {
	Time            time.Time `json:"time"`
	Outcome         string    `json:"outcome"` // installed, confirmed, refused, reverted
	Reason          string    `json:"reason,omitempty"`
	Detail          string    `json:"detail,omitempty"`
	Image           string    `json:"image,omitempty"`
	Version         string    `json:"version,omitempty"`
	SecurityVersion uint64    `json:"securityVersion,omitempty"`
	Index           uint64    `json:"index,omitempty"`
	DurationMillis  int64     `json:"durationMillis,omitempty"`
	Sent            bool      `json:"sent,omitempty"`
}

const outcomeFile = "outcome.json"

// record writes the outcome of an update.
func (a *agent) record(o outcome) error {
	if o.Time.IsZero() {
		o.Time = time.Now().UTC().Truncate(time.Second)
	}
	// A report carries at most 512 bytes of detail, in UTF-8 without
	// control characters.
	o.Detail = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, o.Detail)
	if len(o.Detail) > 512 {
		o.Detail = strings.ToValidUTF8(o.Detail[:509], "") + "..."
	}
	data, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return fsys.WriteFile(fsys.OS, filepath.Join(a.dir, outcomeFile), data)
}

func (a *agent) lastOutcome() (*outcome, error) {
	data, err := fsys.ReadFile(fsys.OS, filepath.Join(a.dir, outcomeFile), 16<<10)
	if err != nil {
		return nil, err
	}
	var o outcome
	if err := strictjson.Decode(data, &o); err != nil {
		return nil, fmt.Errorf("%s: %w", outcomeFile, err)
	}
	return &o, nil
}

// refused records a refusal and returns err.
func (a *agent) refused(err error, o outcome) error {
	if device.Refused(err) {
		o.Outcome, o.Reason, o.Detail = "refused", device.Reason(err), err.Error()
		if rerr := a.record(o); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	return err
}
