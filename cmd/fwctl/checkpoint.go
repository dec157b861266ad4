package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/fwledger/fwledger/cmd/internal/cli"
	"github.com/fwledger/fwledger/handover"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/revocation"
	"github.com/fwledger/fwledger/tlogpolicy"
	"golang.org/x/mod/sumdb/note"
)

// checkpointCmd fetches (or reads) a checkpoint and verifies it with the
// log key, or under a witness policy.
func checkpointCmd(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "checkpoint", "(--log URL | --file F) (--witness-policy W | --log-key K)",
		"Fetches the log's checkpoint (or reads one from a file), prints it, and verifies it: signed\n"+
			"by the log key, and with --witness-policy cosigned by the policy's quorum of witnesses (C2SP\n"+
			"tlog-policy). Exits 3 when it does not verify.")
	logURL := fs.String("log", "", "log base `URL`")
	file := fs.String("file", "", "read the checkpoint from `file` instead")
	logKey := fs.String("log-key", "", "log public key `file`")
	policyFile := fs.String("witness-policy", "", "C2SP tlog-policy `file`")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if (*logURL == "") == (*file == "") {
		return &usageError{msg: "give one of --log and --file"}
	}
	if *logKey == "" && *policyFile == "" {
		return &usageError{msg: "give --witness-policy or --log-key"}
	}
	var cp []byte
	var err error
	if *file != "" {
		cp, err = os.ReadFile(*file)
	} else {
		var lc *logclient.Client
		if lc, err = newLogClient(*logURL); err != nil {
			return err
		}
		cp, err = lc.Checkpoint(ctx)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s\n", cp)
	var logV note.Verifier // the log key's verifier, with --log-key
	if *logKey != "" {
		k, err := keys.LoadPublic(*logKey)
		if err != nil {
			return err
		}
		v, err := k.NoteVerifier()
		if err != nil {
			return err
		}
		logV = v
		if _, err := tlogpolicy.VerifyCheckpoint(v, cp); err != nil {
			return &rejectedError{err: err}
		}
		fmt.Fprintf(e.stdout, "ok: signed by the log key %s\n", v.Name())
	}
	if *policyFile != "" {
		wp, err := cli.LoadWitnessPolicy(*policyFile)
		if err != nil {
			return err
		}
		wc, err := wp.VerifyCheckpoint(cp)
		if err != nil {
			return &rejectedError{err: err}
		}
		fmt.Fprintf(e.stdout, "ok: size %d, signed by the log and cosigned by %d witnesses, meeting quorum %q\n", wc.Checkpoint.Size, len(wc.Cosignatures), wp.Quorum)
		for _, c := range wc.Cosignatures {
			fmt.Fprintf(e.stdout, "   %s (%s) at %s\n", c.Witness, c.KeyName, c.Time.UTC().Format(time.RFC3339))
		}
	}
	// What the (verified) checkpoint says beyond its tree.
	if c, err := revocation.FromCheckpoint(cp); err == nil {
		fmt.Fprintf(e.stdout, "revocations: the log holds %d below this size (a bundle under it must carry them all)\n", c.Count)
	} else if !errors.Is(err, revocation.ErrNoCommitment) {
		return &rejectedError{err: err}
	}
	if logV != nil {
		if _, next, err := handover.Verify(logV, cp); err == nil {
			fmt.Fprintf(e.stdout, "FROZEN: the log handed over to its successor %s\n", next.Name())
		}
	}
	return nil
}
