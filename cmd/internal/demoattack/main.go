// Command demoattack makes the forged bundles of make demo's attacks, as an
// attacker who holds the keys named on its command line would: the demo
// shows that a device refuses each, and why. It is not for production use.
//
//	demoattack swap-release --bundle B --release R --out F
//	    the bundle with its release replaced by R (signed with a stolen
//	    release key, never logged)
//	demoattack fork --bundle B --release R --log-key K [--witness-key W...] --out F
//	    R put in the place of the bundle's release in a tree of the same
//	    size, the checkpoint signed by the log key (and cosigned by the
//	    witness keys): a fork
//	demoattack freeze --bundle B --log-key K --witness-key W... --age D --out F
//	    the bundle's checkpoint cosigned again as if D ago: a frozen view
package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/cmd/internal/cli"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "demoattack:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: demoattack swap-release|fork|freeze ...")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	bundleFile := fs.String("bundle", "", "the genuine bundle")
	releaseFile := fs.String("release", "", "the attacker's release envelope")
	logKey := fs.String("log-key", "", "the log's private key (stolen)")
	age := fs.Duration("age", 30*24*time.Hour, "how old the cosignatures are to look")
	out := fs.String("out", "", "output file")
	var witnessKeys cli.Strings
	fs.Var(&witnessKeys, "witness-key", "a witness private key (stolen; repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	data, err := os.ReadFile(*bundleFile)
	if err != nil {
		return err
	}
	b, err := bundle.Parse(data)
	if err != nil {
		return err
	}
	var ws []*keys.PrivateKey
	for _, f := range witnessKeys {
		k, err := keys.LoadPrivate(f)
		if err != nil {
			return err
		}
		ws = append(ws, k)
	}
	switch args[0] {
	case "swap-release":
		rel, err := os.ReadFile(*releaseFile)
		if err != nil {
			return err
		}
		b.Release.Data = bytes.TrimSpace(rel)
	case "fork":
		rel, err := os.ReadFile(*releaseFile)
		if err != nil {
			return err
		}
		lk, err := keys.LoadPrivate(*logKey)
		if err != nil {
			return err
		}
		var cp flog.Checkpoint
		if _, err := cp.Unmarshal(b.Checkpoint()); err != nil {
			return err
		}
		// The same tree but for the release's leaf: its inclusion proof
		// gives the root of the forked tree.
		leaf := rfc6962.DefaultHasher.HashLeaf(bytes.TrimSpace(rel))
		hashes := make([][]byte, len(b.Release.Proof.Hashes))
		for i := range hashes {
			hashes[i] = b.Release.Proof.Hashes[i][:]
		}
		root, err := proof.RootFromInclusionProof(rfc6962.DefaultHasher, b.Release.Proof.Index, cp.Size, leaf, hashes)
		if err != nil {
			return err
		}
		text, _, _ := bytes.Cut(b.Checkpoint(), []byte("\n\n"))
		lines := bytes.SplitN(append(text, '\n'), []byte("\n"), 4)
		forked := fmt.Appendf(nil, "%s\n%d\n%s\n%s", lines[0], cp.Size, base64.StdEncoding.EncodeToString(root), lines[3])
		s, err := lk.NoteSigner()
		if err != nil {
			return err
		}
		signed, err := note.Sign(&note.Note{Text: string(forked)}, s)
		if err != nil {
			return err
		}
		if signed, err = fwtest.AppendCosignatures(signed, time.Now(), ws...); err != nil {
			return err
		}
		b.Release.Data = bytes.TrimSpace(rel)
		b.Release.Proof.Checkpoint = signed
		// Nothing else of the genuine bundle is in the forked tree.
		b.Provenance, b.Layout, b.Links, b.Revocations, b.Consistency = nil, nil, nil, nil, nil
	case "freeze":
		text, sigs, _ := bytes.Cut(b.Checkpoint(), []byte("\n\n"))
		logSig, _, _ := bytes.Cut(sigs, []byte("\n"))
		signed := append(append(append(bytes.Clone(text), "\n\n"...), logSig...), '\n')
		if signed, err = fwtest.AppendCosignatures(signed, time.Now().Add(-*age), ws...); err != nil {
			return err
		}
		for _, e := range b.Entries() {
			e.Proof.Checkpoint = signed
		}
	default:
		return fmt.Errorf("unknown attack %q", args[0])
	}
	forged, err := b.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(*out, forged, 0o644)
}
