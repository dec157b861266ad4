package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/fwledger/fwledger/ledger"
	"github.com/fwledger/fwledger/report"
)

// loadDevices reads a device key file (report.ParseDevices).
func loadDevices(path string) (*report.Devices, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, report.MaxDevicesFileSize+1))
	if err != nil {
		return nil, err
	}
	d, err := report.ParseDevices(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// reloadDevices reads the device key file path again on every SIGHUP until
// ctx is done, and gives the devices to led. A file that does not load
// leaves the devices as they were, and is logged.
func reloadDevices(ctx context.Context, path string, led *ledger.Ledger, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			d, err := loadDevices(path)
			if err == nil {
				err = led.SetDevices(d)
			}
			if err != nil {
				logger.Error("couldn't reload the device keys; the devices stay as they were", "file", path, "err", err)
				continue
			}
			logger.Info("reloaded the device keys", "file", path, "devices", d.Len())
		}
	}()
}
