package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/device"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/report"
)

func reportCmd(ctx context.Context, e *env, args []string) error {
	fs, dir := newFlags(e, "report", "[--log URL] [--pin PIN]",
		"Send the outcome of the last update (installed, confirmed, refused with its reason, or\n"+
			"reverted) to the log, signed by the device's key, with the checkpoint the device holds.\n"+
			"The log takes reports only from devices its operator registered (fwlog --device-keys\n"+
			"with this device's device.pub); reports never enter the Merkle log.")
	logURL := fs.String("log", "", "the log's `URL` (default: the one init recorded, or the trust file's)")
	pin := fs.String("pin", "", "the log server's TLS key `pin`")
	a, err := parseAndOpen(ctx, e, fs, dir, args)
	if err != nil {
		return err
	}
	defer a.close()
	o, err := a.lastOutcome()
	if errors.Is(err, os.ErrNotExist) {
		return errors.New("no update has happened yet: nothing to report")
	}
	if err != nil {
		return err
	}
	k, err := keys.LoadPrivate(filepath.Join(*dir, device.KeyFile))
	if err != nil {
		return err
	}
	st := a.dev.State()
	r := &report.Report{
		Device: st.DeviceKey, Model: st.Model, Channel: st.Channel,
		Outcome: report.Outcome(o.Outcome), Reason: report.Reason(o.Reason), Detail: o.Detail,
		Checkpoint: st.Checkpoint, Time: time.Now().UTC().Truncate(time.Second),
	}
	if o.Image != "" {
		if r.Image, err = digest.Parse(o.Image); err != nil {
			return fmt.Errorf("%s: %w", outcomeFile, err)
		}
	}
	if o.Version != "" && o.Index > 0 || r.Outcome.Succeeded() {
		r.Version, r.SecurityVersion, r.LogIndex, r.HasRelease = o.Version, o.SecurityVersion, o.Index, true
	}
	if o.DurationMillis > 0 && r.Outcome != report.Refused {
		r.InstallMillis, r.HasInstallTime = uint64(o.DurationMillis), true
	}
	env, err := report.Sign(ctx, k, r)
	if err != nil {
		return err
	}
	tc, err := a.client(*logURL, *pin, e.stderr)
	if err != nil {
		return err
	}
	resp, err := tc.Post(ctx, api.PathReports, "application/json", env, 4<<10)
	if err != nil {
		return fmt.Errorf("couldn't send the report: %w", err)
	}
	o.Sent = true
	if err := a.record(*o); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "reported %s to the log: %s\n", o.Outcome, resp)
	return nil
}
