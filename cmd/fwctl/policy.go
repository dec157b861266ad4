package main

import (
	"context"
	"fmt"
	"os"

	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/cmd/internal/cli"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/provenance/keyless"
	"github.com/fwledger/fwledger/revocation"
)

const policyUsage = `Usage: fwctl policy check --policy P (--bundle B | RELEASE [PROVENANCE...]) [--model M]

Commands:
  check  explain, rule by rule, why a release passes or fails a policy (docs/POLICY.md)

Run "fwctl policy check --help" for its flags.
`

func policyCmd(ctx context.Context, e *env, args []string) error {
	return group(e, policyUsage, args, map[string]func([]string) error{
		"check": func(args []string) error { return policyCheck(ctx, e, args) },
	})
}

func policyCheck(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "policy check", "--policy P (--bundle B | RELEASE [PROVENANCE...]) [--model M]",
		"Explains, rule by rule, why a release passes or fails a policy: release keys and\n"+
			"threshold, builders and their SLSA level, build type, source and ref, external\n"+
			"parameters, reproducibility. The release and provenance come from a proof bundle or\n"+
			"from envelope files. Exits 0 if the release passes for every model checked, 3 if not.\n"+
			"It checks the policy only: fwctl verify also checks the log's proofs and the image.")
	policyFile := fs.String("policy", "", "policy `file`")
	bundleFile := fs.String("bundle", "", "proof bundle `file` (instead of envelope files)")
	model := fs.String("model", "", "hardware `model` to check (default: every model of the release)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := required(fs, "policy"); err != nil {
		return err
	}
	switch {
	case *bundleFile != "" && fs.NArg() > 0:
		return &usageError{msg: "give --bundle or envelope files, not both"}
	case *bundleFile == "" && fs.NArg() == 0:
		return &usageError{msg: "give --bundle or a release envelope file (and provenance files)"}
	}
	pol, err := cli.LoadPolicy(*policyFile)
	if err != nil {
		return err
	}
	var entries [][]byte
	// From a bundle, the entries' log indices (for keys' validity
	// windows) and the revocations signed by the policy's revocation keys.
	index := map[digest.Digest]uint64{}
	revs := &revocation.Set{}
	switch {
	case *bundleFile != "":
		data, err := os.ReadFile(*bundleFile)
		if err != nil {
			return err
		}
		b, err := bundle.Parse(data)
		if err != nil {
			return err
		}
		// Entries lists the revocations last: they are not evidence.
		all := b.Entries()
		for _, be := range all[:len(all)-len(b.Revocations)] {
			content, err := provenance.Resolve(be.Data, be.Content)
			if err != nil {
				return err
			}
			index[digest.Sum(content)] = be.Proof.Index
			entries = append(entries, content)
		}
		for _, r := range b.Revocations {
			re, err := provenance.ParseEntry(r.Data)
			if err != nil || re.Kind != provenance.KindRevocation || pol.RevocationKeys == nil {
				continue
			}
			if lg, err := revocation.Verify(ctx, re, r.Data, r.Proof.Index, pol.RevocationKeys, pol.RevocationThreshold); err == nil {
				revs.Add(lg)
			}
		}
	default:
		if err := noFlagsAfter(fs); err != nil {
			return err
		}
		for _, f := range fs.Args() {
			data, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			entries = append(entries, trimNewline(data))
		}
	}
	var kv provenance.KeylessVerifier
	if pol.TrustedRoot != nil {
		if kv, err = keyless.NewVerifier(pol.TrustedRoot); err != nil {
			return err
		}
	}
	var rel *provenance.Entry
	var pool []*provenance.Entry
	for i, data := range entries {
		pe, err := provenance.ParseEntry(data)
		if err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		if pe.Kind != provenance.KindRelease {
			pool = append(pool, pe)
			continue
		}
		if rel != nil {
			return &usageError{msg: "give one release"}
		}
		rel = pe
	}
	if rel == nil {
		return &usageError{msg: "no release among the entries"}
	}
	opts := provenance.EvalOptions{Keyless: kv}
	indexOf := func(d digest.Digest) (uint64, bool) {
		i, ok := index[d]
		return i, ok
	}
	if *bundleFile != "" {
		opts.IndexOf = indexOf
	}
	if revs.Len() > 0 {
		if by, ok := revs.Release(rel.Release.Image); ok {
			return &rejectedError{err: &revocation.RevokedError{By: by}}
		}
		opts.Revoked = revs.Revoked(indexOf)
		fmt.Fprintf(e.stdout, "%d revocation(s) in the bundle, signed by the policy's revocation keys, apply\n", revs.Len())
	}
	if *model != "" {
		opts.Models = []string{*model}
	}
	res := pol.Evaluate(ctx, rel, pool, opts)
	for _, ev := range res.Evidence.Provenance {
		if ev.KeylessErr != nil {
			fmt.Fprintf(e.stderr, "provenance %s counts for nothing: %v\n", ev.Entry.Digest, ev.KeylessErr)
		}
	}
	for _, rep := range res.Reports {
		fmt.Fprint(e.stdout, rep.String())
	}
	if res.Err() != nil {
		return &rejectedError{err: fmt.Errorf("the release does not pass the policy")}
	}
	return nil
}
