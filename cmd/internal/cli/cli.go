// Package cli holds the flag types and logging set-up the fwledger commands
// share.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fwledger/fwledger/internal/server"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tlogpolicy"
)

// Strings is a flag that may be repeated; each use appends a value.
type Strings []string

func (s *Strings) String() string { return strings.Join(*s, ",") }

// Set appends v.
func (s *Strings) Set(v string) error {
	if v == "" {
		return fmt.Errorf("empty value")
	}
	*s = append(*s, v)
	return nil
}

// newLogger returns a slog logger writing to w at level ("debug", "info",
// "warn", "error") in format ("json" or "text").
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l, ReplaceAttr: readableDuration}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("invalid log format %q: want json or text", format)
}

// readableDuration writes durations as Go writes them ("1.5s"), not as
// slog's JSON handler does (an integer of nanoseconds).
func readableDuration(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// Bytes is a flag holding a size in bytes, written as an integer with an
// optional unit: "65536", "64KiB", "64MiB", "1GiB".
type Bytes int64

func (b *Bytes) String() string {
	n := int64(*b)
	for _, u := range []struct {
		name  string
		shift uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.name)
		}
	}
	return strconv.FormatInt(n, 10)
}

// Set parses s.
func (b *Bytes) Set(s string) error {
	num, shift := s, uint(0)
	for _, u := range []struct {
		name  string
		shift uint
	}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}} {
		if strings.HasSuffix(s, u.name) {
			num, shift = strings.TrimSuffix(s, u.name), u.shift
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64>>shift {
		return fmt.Errorf("invalid size %q: want a number of bytes, optionally followed by KiB, MiB or GiB", s)
	}
	*b = Bytes(n << shift)
	return nil
}

// LoadRing loads public key files into a key ring.
func LoadRing(files []string) (*keys.Ring, error) {
	var pubs []*keys.PublicKey
	for _, f := range files {
		p, err := keys.LoadPublic(f)
		if err != nil {
			return nil, err
		}
		pubs = append(pubs, p)
	}
	return keys.NewRing(pubs...)
}

// LoadPolicy reads a policy file; the files it names are relative to it.
func LoadPolicy(path string) (*provenance.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	return provenance.ParsePolicy(data, func(name string) ([]byte, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		return os.ReadFile(name)
	})
}

// LoadWitnessPolicy reads a C2SP tlog-policy file.
func LoadWitnessPolicy(path string) (*tlogpolicy.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the witness policy: %w", err)
	}
	return tlogpolicy.Parse(data)
}

// A Command runs one subcommand of a program with its arguments, and
// returns the exit status.
type Command func(args []string, stdout, stderr io.Writer) int

// Run runs the subcommand of program name that args[0] names. "help" (or
// -h, --help) prints usage and exits 0; no command, or an unknown one, prints
// usage to stderr and exits 2, the status of a usage error.
func Run(name, usage string, args []string, stdout, stderr io.Writer, cmds map[string]Command) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q\n\n%s", name, args[0], usage)
		return 2
	}
	return cmd(args[1:], stdout, stderr)
}

// ParseFlags parses args into fs, whose output is the command's stderr, and
// refuses arguments left after the flags. If it returns false, the command
// ends with status code: 0 after --help, 2 after a usage error, which fs has
// printed.
func ParseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return 2, false
	}
	return 0, true
}

// ServerFlags are the flags both servers take: where to listen, how long to
// drain at shutdown, how to log, and the connection and body limits of
// package internal/server.
type ServerFlags struct {
	Addr     *string
	Shutdown *time.Duration

	logLevel, logFormat *string
	maxConns            *int
	bodyTimeout         *time.Duration
	bodyBudget          Bytes
	maxBody             int64
}

// ServerDefaults are a server's defaults for its ServerFlags, and the help
// texts that say what its bodies are.
type ServerDefaults struct {
	Addr            string
	Shutdown        time.Duration
	MaxConns        int
	BodyBudget      int64
	BodyTimeoutHelp string
	BodyBudgetHelp  string
	// MaxBody is the largest request body the server takes: the body
	// budget must hold it.
	MaxBody int64
}

// AddServerFlags defines the server flags on fs.
func AddServerFlags(fs *flag.FlagSet, d ServerDefaults) *ServerFlags {
	f := &ServerFlags{
		Addr:        fs.String("addr", d.Addr, "listen `address`"),
		Shutdown:    fs.Duration("shutdown-timeout", d.Shutdown, "how long in-flight requests may take at shutdown"),
		logLevel:    fs.String("log-level", "info", "log level: debug, info, warn or error"),
		logFormat:   fs.String("log-format", "json", "log format: json or text"),
		maxConns:    fs.Int("max-conns", d.MaxConns, "most connections open at once; at the cap a newcomer closes the connection idle the longest, and waits only while every connection has a request in progress"),
		bodyTimeout: fs.Duration("body-timeout", server.DefaultBodyTimeout, d.BodyTimeoutHelp),
		bodyBudget:  Bytes(d.BodyBudget),
		maxBody:     d.MaxBody,
	}
	fs.Var(&f.bodyBudget, "body-budget", d.BodyBudgetHelp)
	return f
}

// Logger returns the logger --log-level and --log-format ask for.
func (f *ServerFlags) Logger(w io.Writer) (*slog.Logger, error) {
	return newLogger(w, *f.logLevel, *f.logFormat)
}

// Limits returns the limits the flags set, or an error naming the flag at
// fault: every limit and duration must be positive, and the body budget
// must hold the largest body.
func (f *ServerFlags) Limits() (server.Limits, error) {
	l := server.Limits{MaxConns: *f.maxConns, BodyBudget: int64(f.bodyBudget), BodyTimeout: *f.bodyTimeout}
	if l.MaxConns <= 0 || l.BodyBudget <= 0 || l.BodyTimeout <= 0 || *f.Shutdown <= 0 {
		return l, errors.New("--max-conns, --body-budget, --body-timeout and --shutdown-timeout must be positive")
	}
	if err := l.Check(f.maxBody); err != nil {
		return l, fmt.Errorf("--body-budget: %w", err)
	}
	return l, nil
}
