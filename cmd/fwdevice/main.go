// Command fwdevice is fwledger's device update agent: it installs only
// firmware that is signed by the vendor's release keys, built by a trusted
// builder, logged and seen by the witnesses, into the inactive of two
// slots, and survives a power cut at any step. It is pure Go (no cgo).
//
// Run "fwdevice help" for the commands and "fwdevice <command> --help" for
// flags.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/fwledger/fwledger/device"
)

const usage = `fwdevice is a device's firmware update agent.

Usage:
  fwdevice init --trust FILE --model M --channel C [--slots DIR | --slot-a P --slot-b P] [--log URL]
                                   provision the device: trust file, slots, device key
  fwdevice check [--log URL] [--pin PIN]
                                   fetch the newest eligible release's bundle and image, verify them
  fwdevice install [--bundle FILE --image FILE]
                                   verify the update (the one check fetched, or these files) and
                                   write it to the inactive slot for a trial boot
  fwdevice boot                    boot as a bootloader would: the trial slot, or the active one
                                   (reverting after too many boots without a confirm)
  fwdevice confirm                 the new firmware confirms itself; the security floor advances
  fwdevice status [--json]         versions, slots, floors, stored checkpoint, last outcome
  fwdevice trust update --file F   take a newer trust file signed by the current root keys
  fwdevice report [--log URL]      send the signed outcome of the last update to the log
  fwdevice help                    show this help

Every command takes --state DIR (default $FWDEVICE_STATE, else /var/lib/fwdevice).

Exit status: 0 on success, 1 on an error, 2 on a usage error, 3 when an update is
refused (stderr names the reason: rollback, freeze, split_view, signature, revoked,
provenance, target, digest, size, trust, bundle, checkpoint, quorum, inclusion).
`

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitRefused = 3
)

type command struct {
	run  func(ctx context.Context, e *env, args []string) error
	help string
}

var commands = map[string]command{
	"init":    {initCmd, "provision the device"},
	"check":   {check, "fetch and verify the newest eligible release"},
	"install": {install, "install an update for a trial boot"},
	"boot":    {boot, "boot the trial or the active slot"},
	"confirm": {confirm, "confirm the trial slot"},
	"status":  {status, "show the device's state"},
	"trust":   {trustCmd, "manage the trust file"},
	"report":  {reportCmd, "send the last outcome to the log"},
}

// env is what a command talks to.
type env struct {
	stdout, stderr io.Writer
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, &env{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return exitUsage
	}
	if isHelp(args[0]) {
		fmt.Fprint(e.stdout, usage)
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "fwdevice: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	err := cmd.run(ctx, e, args[1:])
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		if ue.msg != "" {
			fmt.Fprintf(e.stderr, "fwdevice %s: %s\n", args[0], ue.msg)
		}
		return exitUsage
	case device.Refused(err):
		fmt.Fprintf(e.stderr, "fwdevice %s: REFUSED (%s): %v\n", args[0], device.Reason(err), err)
		return exitRefused
	}
	fmt.Fprintf(e.stderr, "fwdevice %s: %v\n", args[0], err)
	return exitError
}

func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// newFlags returns a command's flag set, with --state.
func newFlags(e *env, name, synopsis, about string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("fwdevice "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: fwdevice %s %s\n\n%s\n\nFlags:\n", name, synopsis, about)
		fs.PrintDefaults()
	}
	def := os.Getenv("FWDEVICE_STATE")
	if def == "" {
		def = "/var/lib/fwdevice"
	}
	return fs, fs.String("state", def, "the device's state `directory`")
}

// parse parses flags; help goes to stdout, errors to stderr as usage
// errors. Arguments are refused.
func parse(e *env, fs *flag.FlagSet, args []string) error {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(e.stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		e.stdout.Write(buf.Bytes())
		return err
	case err != nil:
		e.stderr.Write(buf.Bytes())
		return &usageError{}
	case fs.NArg() > 0:
		return &usageError{msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
