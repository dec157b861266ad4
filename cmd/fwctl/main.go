// Command fwctl makes keys and releases, submits them to a log, fetches
// offline proof bundles and verifies them.
//
// Run "fwctl help" for the commands and "fwctl <command> --help" for flags.
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
)

const usage = `fwctl manages fwledger keys, releases and proofs.

Usage:
  fwctl keygen   --name NAME --out PREFIX         generate an Ed25519 key pair (PREFIX.key, PREFIX.pub)
  fwctl keygen   --pkcs11 URI --out PREFIX        generate it in a PKCS#11 token instead (writes PREFIX.pub only)
  fwctl release  --key K --model M --version V --svn N --image F --out FILE
                                                  sign a release statement (DSSE envelope)
  fwctl attest   --key K --builder-id URI --source git+URL@REF --commit SHA --image F --out FILE
                                                  sign SLSA v1 provenance for a built image (builder key)
  fwctl sign     --key K --in FILE --out FILE     add a release signature to an envelope
  fwctl revoke key --key-id ID --from-index N --reason R --key K --out FILE
  fwctl revoke release (--image F | --image-digest D) --reason R --key K --out FILE
                                                  sign a revocation with revocation keys
  fwctl submit   --log URL [--image F] [--delta F] FILE...
                                                  submit envelopes to a log (stderr names the release's index),
                                                  then upload the image and a delta update to it
  fwctl bundle   --log URL --image F [--index N] --out FILE
                                                  wait until a checkpoint covers a release, fetch its proof bundle
  fwctl verify   (--log-key K | --witness-policy W) (--release-keys K --builder-keys K [--threshold N] | --policy P)
                 [--model M] --image F --bundle FILE
                                                  verify a bundle and an image offline
  fwctl checkpoint (--log URL | --file F) (--witness-policy W | --log-key K)
                                                  fetch a checkpoint, verify its signature and witness quorum
  fwctl provenance show [--log URL --image F] [FILE...]
                                                  summarize provenance: builder, source, commit, times, reproducibility
  fwctl policy check --policy P (--bundle B | RELEASE [PROVENANCE...]) [--model M]
                                                  explain, rule by rule, why a release passes or fails a policy
  fwctl trust init --witness-policy W --policy P --model M --channel C --root-key K [--key K] --out FILE
                                                  write (and sign) a device trust file
  fwctl trust sign --in FILE --key K --out FILE   sign a trust file with root keys (or add signatures)
  fwctl trust show FILE                           verify a signed trust file and summarize it
  fwctl delta --base F --target F --out FILE      make a delta update from one image to another
  fwctl audit --log URL (--log-key K | --witness-policy W) (--release-keys K | --policy P) --state DIR [--once]
                                                  follow a log as an auditor; alerts as JSON lines
  fwctl audit alerts --state DIR [--json]         list the alerts raised
  fwctl help                                      show this help

Run "fwctl <command> --help" for a command's flags. Every --key K is a private key file
or a PKCS#11 URI (pkcs11:token=…;object=…?module-path=…&pin-source=file:…).

Exit status: 0 on success, 1 on an error, 2 on a usage error,
3 when verification fails (the image or bundle must not be trusted).
`

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitRejected = 3
)

type command struct {
	run  func(ctx context.Context, env *env, args []string) error
	help string
}

var commands = map[string]command{
	"keygen":     {keygen, "generate a key pair"},
	"release":    {release, "sign a release statement"},
	"attest":     {attest, "sign SLSA provenance for a build"},
	"provenance": {provenanceCmd, "show provenance"},
	"policy":     {policyCmd, "check a release against a policy"},
	"sign":       {sign, "add a signature to an envelope"},
	"revoke":     {revokeCmd, "sign a revocation of a key or a release"},
	"submit":     {submit, "submit envelopes to a log"},
	"bundle":     {fetchBundle, "fetch a proof bundle"},
	"verify":     {verify, "verify a bundle and image"},
	"checkpoint": {checkpointCmd, "fetch and verify a log's checkpoint"},
	"trust":      {trustCmd, "make and sign device trust files"},
	"delta":      {deltaCmd, "make a delta update"},
	"audit":      {auditCmd, "follow a log as an auditor"},
}

// env is what a command talks to.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
}

// usageError marks an error in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// rejectedError marks a verification failure.
type rejectedError struct{ err error }

func (e *rejectedError) Error() string { return e.err.Error() }
func (e *rejectedError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, &env{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin}, os.Args[1:])
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
		fmt.Fprintf(e.stderr, "fwctl: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	err := cmd.run(ctx, e, args[1:])
	var ue *usageError
	var re *rejectedError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		if ue.msg != "" {
			fmt.Fprintf(e.stderr, "fwctl %s: %s\n", args[0], ue.msg)
		}
		return exitUsage
	case errors.As(err, &re):
		fmt.Fprintf(e.stderr, "fwctl %s: REJECTED: %v\n", args[0], re.err)
		return exitRejected
	}
	fmt.Fprintf(e.stderr, "fwctl %s: %v\n", args[0], err)
	return exitError
}

// newFlags returns a flag set for a command with a usage message.
func newFlags(e *env, name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet("fwctl "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: fwctl %s %s\n\n%s\n\nFlags:\n", name, synopsis, about)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags, turning parse errors into usage errors. The help
// asked for with -h or --help goes to stdout; the usage printed for a
// parse error goes to stderr.
func parse(e *env, fs *flag.FlagSet, args []string) error {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(e.stderr)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		e.stdout.Write(buf.Bytes())
		return err
	}
	e.stderr.Write(buf.Bytes())
	return &usageError{}
}

// noFlagsAfter returns a usage error if a flag follows the first
// argument (the flag package stops at the first argument, so the flag
// would be taken for a file).
func noFlagsAfter(fs *flag.FlagSet) error {
	for _, a := range fs.Args() {
		if len(a) > 1 && a[0] == '-' {
			return &usageError{msg: fmt.Sprintf("%s comes after the files: flags go before them", a)}
		}
	}
	return nil
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// group runs a command that has subcommands (fwctl provenance show): with
// no subcommand or an unknown one, it prints usage and fails with a usage
// error; asked for help, it prints usage and succeeds.
func group(e *env, usage string, args []string, subs map[string]func([]string) error) error {
	if len(args) > 0 {
		if run, ok := subs[args[0]]; ok {
			return run(args[1:])
		}
		if isHelp(args[0]) {
			fmt.Fprint(e.stdout, usage)
			return flag.ErrHelp
		}
		fmt.Fprintf(e.stderr, "unknown subcommand %q\n\n", args[0])
	}
	fmt.Fprint(e.stderr, usage)
	return &usageError{}
}

func required(fs *flag.FlagSet, names ...string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, n := range names {
		if !set[n] {
			return &usageError{msg: fmt.Sprintf("--%s is required (see --help)", n)}
		}
	}
	return nil
}

// writeOutput writes data to path, or to stdout for "" or "-".
func writeOutput(e *env, path string, data []byte, mode os.FileMode) error {
	if path == "" || path == "-" {
		_, err := e.stdout.Write(data)
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
