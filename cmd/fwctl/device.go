package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fwledger/fwledger/cmd/internal/cli"
	"github.com/fwledger/fwledger/delta"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/fwledger/fwledger/trust"
	"go.yaml.in/yaml/v3"
)

const trustUsage = `Usage: fwctl trust init --witness-policy W --policy P --model M --channel C --root-key K... [flags] --out FILE
       fwctl trust sign --in FILE --key K [--key K...] --out FILE
       fwctl trust show FILE

Device trust files (docs/FORMATS.md, "Device trust file"): init writes one's payload
(or, with --key, signs it), sign signs a payload with root keys or adds their
signatures to a signed file, show verifies a signed file against its own root keys.
`

func trustCmd(ctx context.Context, e *env, args []string) error {
	return group(e, trustUsage, args, map[string]func([]string) error{
		"init": func(a []string) error { return trustInit(ctx, e, a) },
		"sign": func(a []string) error { return trustSign(ctx, e, a) },
		"show": func(a []string) error { return trustShow(ctx, e, a) },
	})
}

func trustInit(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "trust init", "--witness-policy W --policy P --model M --channel C --root-key K... --out FILE",
		"Writes the payload of a device trust file: the log and its witnesses (a C2SP tlog-policy\n"+
			"file), the provenance policy (its key files are written inline), the models and channels,\n"+
			"the maximum age of cosignatures and the root keys that sign the next trust file. With\n"+
			"--key, signs it (a threshold of the root keys must, see fwctl trust sign).")
	wpFile := fs.String("witness-policy", "", "the C2SP tlog-policy `file` naming the log and its witnesses")
	policyFile := fs.String("policy", "", "the provenance policy `file` (docs/POLICY.md)")
	origin := fs.String("origin", "", "the log's `origin` (default: the witness policy's only log)")
	logURL := fs.String("log-url", "", "the log's `URL`, for devices to fetch updates from")
	version := fs.Uint64("version", 1, "the trust file's `version`; each new one must be higher")
	validFor := fs.Duration("valid-for", 365*24*time.Hour, "how long the trust file is valid from now")
	maxAge := fs.Duration("max-cosignature-age", 7*24*time.Hour, "how old the witness quorum's cosignatures may be")
	allowSame := fs.Bool("allow-same-security-version", false, "let devices install a release at the security version they run")
	threshold := fs.Int("root-threshold", 1, "how many root keys must sign the next trust file")
	out := fs.String("out", "", "output `file` (default: stdout)")
	var models, channels, roots, signWith cli.Strings
	fs.Var(&models, "model", "a hardware `model` (repeatable)")
	fs.Var(&channels, "channel", "a release `channel` (repeatable)")
	fs.Var(&roots, "root-key", "a root public key `file` (repeatable)")
	fs.Var(&signWith, "key", "sign with this root private key `file` or PKCS#11 URI (repeatable)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := required(fs, "witness-policy", "policy", "model", "channel", "root-key"); err != nil {
		return err
	}
	wpText, err := os.ReadFile(*wpFile)
	if err != nil {
		return err
	}
	wp, err := tlogpolicy.Parse(wpText)
	if err != nil {
		return fmt.Errorf("%s: %w", *wpFile, err)
	}
	if *origin == "" {
		if len(wp.Logs) != 1 {
			return &usageError{msg: fmt.Sprintf("the witness policy names %d logs: give --origin", len(wp.Logs))}
		}
		*origin = wp.Logs[0].Verifier.Name()
	}
	pol, err := inlinePolicy(*policyFile)
	if err != nil {
		return err
	}
	var rootKeys []string
	for _, f := range roots {
		k, err := keys.LoadPublic(f)
		if err != nil {
			return err
		}
		vk, err := k.VerifierKey()
		if err != nil {
			return fmt.Errorf("%s: a root key needs a signed-note name: %w", f, err)
		}
		rootKeys = append(rootKeys, vk)
	}
	now := time.Now().UTC().Truncate(time.Second)
	logObj := map[string]string{"origin": *origin}
	if *logURL != "" {
		logObj["url"] = *logURL
	}
	payload, err := json.MarshalIndent(map[string]any{
		"version": *version, "created": now, "expires": now.Add(*validFor),
		"log": logObj, "witnesses": string(wpText), "policy": pol,
		"models": models, "channels": channels, "maxCosignatureAge": maxAge.String(),
		"allowSameSecurityVersion": *allowSame,
		"root":                     map[string]any{"keys": rootKeys, "threshold": *threshold},
	}, "", "  ")
	if err != nil {
		return err
	}
	if len(signWith) == 0 {
		return writeOutput(e, *out, append(payload, '\n'), 0o644)
	}
	signers, closeKeys, err := loadSigners(signWith)
	if err != nil {
		return err
	}
	defer closeKeys()
	signed, err := trust.Sign(ctx, payload, signers...)
	if err != nil {
		return err
	}
	if _, err := trust.Parse(ctx, signed); err != nil {
		fmt.Fprintf(e.stderr, "fwctl trust init: note: %v (more root keys must sign: fwctl trust sign)\n", err)
	}
	return writeEnvelope(e, *out, signed)
}

// inlinePolicy reads a provenance policy file and returns it as a JSON
// value with every key file written inline (a trust file names no file).
func inlinePolicy(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// It must be a valid policy where it stands.
	if _, err := provenance.ParsePolicy(data, func(name string) ([]byte, error) {
		return os.ReadFile(filepath.Join(filepath.Dir(path), name))
	}); err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if _, ok := doc["trustedRoot"]; ok {
		return nil, fmt.Errorf("%s: a device trust file's policy has no trustedRoot (devices verify key-signed provenance only)", path)
	}
	ks, _ := doc["keys"].(map[string]any)
	for name, v := range ks {
		ref, ok := v.(map[string]any)
		if !ok {
			continue
		}
		file, ok := ref["file"].(string)
		if !ok {
			continue
		}
		k, err := keys.LoadPublic(filepath.Join(filepath.Dir(path), file))
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", name, err)
		}
		delete(ref, "file")
		if vk, err := k.VerifierKey(); err == nil {
			ref["vkey"] = vk
			continue
		}
		der, err := x509.MarshalPKIXPublicKey(k.Key)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", name, err)
		}
		ref["pem"] = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	return doc, nil
}

func trustSign(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "trust sign", "--in FILE --key K [--key K...] --out FILE",
		"Signs a device trust file payload with root keys, or adds their signatures to a signed\n"+
			"trust file (keeping its payload exactly): root key holders sign one after another. A\n"+
			"new version must be signed by a threshold of the current root keys and of its own.")
	in := fs.String("in", "", "the payload or signed trust `file`")
	out := fs.String("out", "", "output `file` (default: stdout)")
	var signWith cli.Strings
	fs.Var(&signWith, "key", "a root private key `file` or PKCS#11 URI (repeatable)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := required(fs, "in", "key"); err != nil {
		return err
	}
	data, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	data = trimNewline(data)
	signers, closeKeys, err := loadSigners(signWith)
	if err != nil {
		return err
	}
	defer closeKeys()
	var signed []byte
	if _, perr := provenance.ParseTypedEnvelope(data, trust.PayloadType, trust.MaxSize); perr == nil {
		signed = data
		for _, s := range signers {
			if signed, err = trust.AddSignature(ctx, signed, s); err != nil {
				return err
			}
		}
	} else {
		var probe map[string]any
		if json.Unmarshal(data, &probe) != nil || probe["payloadType"] != nil {
			return fmt.Errorf("%s is neither a trust file payload nor a signed trust file: %v", *in, perr)
		}
		if signed, err = trust.Sign(ctx, data, signers...); err != nil {
			return err
		}
	}
	if tf, err := trust.Parse(ctx, signed); err != nil {
		fmt.Fprintf(e.stderr, "fwctl trust sign: note: %v\n", err)
	} else {
		fmt.Fprintf(e.stderr, "trust file version %d: signed by %d of its root keys (threshold %d)\n", tf.Version, len(tf.Signers), tf.RootThreshold)
	}
	return writeEnvelope(e, *out, signed)
}

func trustShow(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "trust show", "FILE", "Verifies a signed trust file against its own root keys and summarizes it.")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &usageError{msg: "give one signed trust file"}
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	tf, err := trust.Parse(ctx, trimNewline(data))
	if err != nil {
		return &rejectedError{err: err}
	}
	fmt.Fprintf(e.stdout, "version %d, created %s, expires %s\nlog %s %s\nwitnesses: %d, quorum %s\nmodels %v, channels %v\nmax cosignature age %s, same security version allowed: %v\nroot keys: %d, threshold %d, signed by %d\n",
		tf.Version, tf.Created.Format(time.RFC3339), tf.Expires.Format(time.RFC3339), tf.Origin, tf.URL,
		len(tf.Witnesses.Witnesses), tf.Witnesses.Quorum, tf.Models, tf.Channels, tf.MaxCosignatureAge, tf.AllowSameSecurityVersion,
		tf.RootKeys.Len(), tf.RootThreshold, len(tf.Signers))
	return nil
}

func deltaCmd(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "delta", "--base F --target F --out FILE",
		"Makes a delta update from the base image to the target image (docs/FORMATS.md, \"Delta\n"+
			"update\"). Sign the target's release with --base-image, then upload the delta with\n"+
			"fwctl submit --delta; devices that run the base fetch it instead of the image.")
	base := fs.String("base", "", "the base image `file`")
	target := fs.String("target", "", "the target image `file`")
	out := fs.String("out", "", "output `file`")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := required(fs, "base", "target", "out"); err != nil {
		return err
	}
	bf, err := os.Open(*base)
	if err != nil {
		return err
	}
	defer bf.Close()
	tf, err := os.Open(*target)
	if err != nil {
		return err
	}
	defer tf.Close()
	bi, err := bf.Stat()
	if err != nil {
		return err
	}
	ti, err := tf.Stat()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := delta.Create(&buf, bf, bi.Size(), tf, ti.Size(), nil); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "delta: %d bytes for a %d-byte image\n", buf.Len(), ti.Size())
	return writeOutput(e, *out, buf.Bytes(), 0o644)
}
