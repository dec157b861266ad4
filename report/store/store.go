// Package store is what every device report store has in common: the
// Store interface the ledger keeps reports in, the stored Report, the
// Query that lists them, the Options that bound them, and the errors of a
// report refused by those bounds. The stores are report/sqlite (one log
// in one data directory) and report/mysql (several frontends sharing one
// MySQL or MariaDB database); report/reporttest is the conformance suite
// both pass.
//
// # Semantics
//
// Every store keeps each report's exact envelope bytes as received, under
// an ID that increases with each report stored and is never reused, so
// that listing "after" the last ID seen never misses a report. One report
// (one device, one payload: package report, "Replays") is stored once:
// adding it again returns its ID as a duplicate. A store keeps the newest
// MaxPerDevice reports of each device, by the device's time, and refuses
// a report older than all of them with a *StaleError; it keeps reports of
// at most MaxDevices devices, and refuses a further device's report with
// a *DevicesFullError. These limits hold however many goroutines (and, for
// a shared store, processes) add reports at once.
//
// # Counts
//
// Beside the reports, a store counts the reports it stored in each hour
// (of Received, the log's clock), by outcome and reason, in the
// transaction that stores each one: a duplicate or a refused report is
// not counted, and a report removed to keep MaxPerDevice stays counted.
// Counts reads those counts alone, never the reports, so that charts of
// reports over time cost the same whatever the number of reports kept.
package store

import (
	"context"
	"fmt"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/report"
)

// A Store keeps device reports. Its methods are safe for concurrent use.
type Store interface {
	// Add stores r (its ID is ignored) and returns its ID, or, if the
	// device's report with the same payload is stored, that one's ID
	// with dup set. When the device has MaxPerDevice reports, its oldest
	// (by the device's time, then ID) is removed; a report older than all
	// of them is refused with a *StaleError. A report of a device beyond
	// MaxDevices is refused with a *DevicesFullError.
	Add(ctx context.Context, r *Report) (id uint64, dup bool, err error)
	// Find returns the ID of the stored report of e's device with e's
	// payload, if there is one.
	Find(ctx context.Context, e *report.Envelope) (id uint64, ok bool, err error)
	// List returns the reports q selects, in ID order, and whether there
	// are more.
	List(ctx context.Context, q Query) (out []Report, more bool, err error)
	// Devices returns how many devices have reports kept.
	Devices(ctx context.Context) (int, error)
	// Counts returns the counts of the reports stored (received) in each
	// hour from since's hour on (see "Counts" in the package doc), in
	// order of hour, outcome and reason: at most MaxCountRows of them.
	// Where the hours from since's on have more, it returns those of
	// the newest hours that fit whole, so that the first hour returned
	// may be after since's. It reads the counts only, never the reports.
	Counts(ctx context.Context, since time.Time) ([]Count, error)
	// Close releases the store (what it was given, such as a database
	// handle, stays its owner's to close).
	Close() error
}

// Default limits.
const (
	// DefaultMaxPerDevice is how many reports of one device are kept.
	DefaultMaxPerDevice = api.ReportsPerDevice
	// DefaultMaxDevices is how many devices' reports are kept.
	DefaultMaxDevices = report.MaxDevices
)

// Options are a store's limits.
type Options struct {
	// MaxPerDevice is how many reports of one device are kept, the newest
	// by the device's time (default DefaultMaxPerDevice).
	MaxPerDevice int
	// MaxDevices is how many devices' reports are kept (default
	// DefaultMaxDevices); the reports of a further device are refused.
	MaxDevices int
}

// WithDefaults returns o with the defaults in place of the limits not set
// (zero or negative).
func (o Options) WithDefaults() Options {
	if o.MaxPerDevice <= 0 {
		o.MaxPerDevice = DefaultMaxPerDevice
	}
	if o.MaxDevices <= 0 {
		o.MaxDevices = DefaultMaxDevices
	}
	return o
}

// A Report is a report to store, or one stored.
type Report struct {
	// ID is the report's number, given when stored: increasing, never
	// reused.
	ID uint64
	// Envelope is the parsed report: its exact bytes as received (Data),
	// its payload and what it says.
	*report.Envelope
	// Received is when the log stored it (to the millisecond).
	Received time.Time
	// Fork is set when the report's checkpoint is signed by the log with
	// a root hash other than the log's tree of that size.
	Fork bool
}

// A Query selects reports: those after ID After, of Device and with
// Outcome when not empty, only forks (Report.Fork) when Fork is set, at
// most Limit of them (at least 1), in ID order.
type Query struct {
	After   uint64
	Device  string
	Outcome report.Outcome
	Fork    bool
	Limit   int
}

// MaxCountRows is the most counts Store.Counts returns. An hour has one
// count for each outcome and reason of its reports (36 pairs at most, 2
// outcomes without a reason and 2 with one of 17), and a year has 8,760
// hours.
const MaxCountRows = 50_000

// A Count is how many reports of one outcome and reason a store stored
// in one hour.
type Count struct {
	// Hour is the hour's start, in UTC: the reports' Received, truncated
	// to the hour.
	Hour    time.Time
	Outcome report.Outcome
	// Reason is empty for the outcomes that succeeded.
	Reason report.Reason
	N      uint64
}

// A StaleError reports a report of a device whose MaxPerDevice reports
// kept are all newer, by the device's time: it would be the first to go.
type StaleError struct {
	Device string
	// Time is the report's; Oldest the oldest kept report's.
	Time, Oldest time.Time
	Max          int
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("the report (of %s) is older than every one of the %d reports kept for device %s (the oldest is of %s)",
		e.Time.UTC().Format(time.RFC3339), e.Max, e.Device, e.Oldest.UTC().Format(time.RFC3339))
}

// A DevicesFullError reports a report of a new device when the store holds
// reports of MaxDevices devices.
type DevicesFullError struct{ Max int }

func (e *DevicesFullError) Error() string {
	return fmt.Sprintf("the log holds reports of %d devices, the most it keeps", e.Max)
}
