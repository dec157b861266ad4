package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/cmd/internal/cli"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/keys/pkcs11"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/provenance/keyless"
	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"golang.org/x/mod/sumdb/note"
)

func keygen(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "keygen", "--name NAME --out PREFIX | --pkcs11 URI --out PREFIX",
		"Generates an Ed25519 key and writes PREFIX.key (mode 0600) and PREFIX.pub.\n"+
			"Each file holds the C2SP signed-note form on its first line and the PEM form after it.\n"+
			"The name is the signed-note key name: for a log, its origin; for a witness, its name.\n"+
			"It prints the key ID, the vkey, and the cosignature/v1 vkey a witness key has in a\n"+
			"tlog-policy's witness line.\n\n"+
			"With --pkcs11, the key is made in a PKCS #11 token (RFC 7512 URI, e.g.\n"+
			"'pkcs11:token=fw;object=release-3?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:pin.txt')\n"+
			"and never leaves it: only PREFIX.pub is written. Its label (object=) is its name. The PIN\n"+
			"comes from pin-source=file:<path> or the environment variable FWLEDGER_PKCS11_PIN.\n"+
			"Give the same URI to --key of release, sign, attest and revoke, fwlog serve or fwwitness serve.")
	name := fs.String("name", "", "key `name`, e.g. example.com/release-1")
	token := fs.String("pkcs11", "", "make the key in the PKCS #11 token this `URI` names, labelled with its object=")
	out := fs.String("out", "", "output path `prefix`")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if *token != "" {
		if err := required(fs, "out"); err != nil {
			return err
		}
		return keygenPKCS11(e, *token, *name, *out)
	}
	if err := required(fs, "name", "out"); err != nil {
		return err
	}
	k, err := keys.Generate(nil, *name)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	if err := mkdirFor(*out); err != nil {
		return err
	}
	if err := keys.Write(*out, k); err != nil {
		return err
	}
	return printKey(e, k.Public(), map[string]string{"private_key": *out + ".key", "public_key": *out + ".pub"})
}

// keygenPKCS11 makes a key in the token that uri names and writes
// out.pub.
func keygenPKCS11(e *env, uri, name, out string) error {
	u, err := pkcs11.ParseURI(uri)
	if err != nil {
		return &usageError{msg: fmt.Sprintf("--pkcs11: %v", err)}
	}
	label := u.Object()
	switch {
	case label == "":
		return &usageError{msg: "--pkcs11: the URI needs object=<label>: the key's label, which is also its signed-note name"}
	case !keys.ValidName(label):
		return &usageError{msg: fmt.Sprintf("--pkcs11: the label %q is not a valid signed-note key name (no spaces or '+')", label)}
	case name != "" && name != label:
		return &usageError{msg: fmt.Sprintf("--name %q differs from the URI's object=%q: a key in a token is named by its label", name, label)}
	}
	pubFile := out + ".pub"
	if _, err := os.Lstat(pubFile); err == nil {
		return fmt.Errorf("%s already exists; refusing to overwrite it", pubFile)
	}
	if err := mkdirFor(out); err != nil {
		return err
	}
	hk, err := pkcs11.Generate(u)
	if err != nil {
		return err
	}
	defer hk.Close()
	pub := &keys.PublicKey{Name: hk.Label(), Key: hk.Public()}
	if err := keys.WritePublic(pubFile, pub); err != nil {
		return fmt.Errorf("the key was made in the token, but its public key file was not written (write it with the public key below): %w", err)
	}
	return printKey(e, pub, map[string]string{"pkcs11": u.String(), "public_key": pubFile})
}

// printKey prints what keygen made: where, and the key's identifiers.
func printKey(e *env, pub *keys.PublicKey, where map[string]string) error {
	id, _ := pub.KeyID()
	vkey, _ := pub.VerifierKey()
	cosigner, _ := pub.CosignatureVerifierKey()
	where["key_id"], where["vkey"], where["cosigner_vkey"] = id, vkey, cosigner
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false) // a URI's '&' stays '&'
	return enc.Encode(where)
}

func mkdirFor(prefix string) error {
	if dir := filepath.Dir(prefix); dir != "" {
		return os.MkdirAll(dir, 0o755)
	}
	return nil
}

// loadSigners loads the keys of --key flags, files or PKCS #11 URIs, as
// DSSE signers; close closes them (ending tokens' sessions).
func loadSigners(refs []string) (signers []dsse.SignerVerifier, close func(), err error) {
	ks, close, err := cli.LoadSigners(refs)
	if err != nil {
		return nil, nil, err
	}
	for i, k := range ks {
		s, err := k.DSSESigner()
		if err != nil {
			close()
			return nil, nil, fmt.Errorf("%s: %w", refs[i], err)
		}
		signers = append(signers, s)
	}
	return signers, close, nil
}

// hashFile returns the SHA-256 digest and size of a file, read as a stream.
func hashFile(path string) (digest.Digest, uint64, error) {
	d, _, n, err := hashImage(path)
	return d, n, err
}

// hashImage returns the SHA-256 and SHA-512 digests and the size of a file,
// read as a stream in one pass.
func hashImage(path string) (digest.Digest, []byte, uint64, error) {
	var d digest.Digest
	f, err := os.Open(path)
	if err != nil {
		return d, nil, 0, err
	}
	defer f.Close()
	h256, h512 := sha256.New(), sha512.New()
	n, err := io.Copy(io.MultiWriter(h256, h512), f)
	if err != nil {
		return d, nil, 0, err
	}
	h256.Sum(d[:0])
	return d, h512.Sum(nil), uint64(n), nil
}

func release(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "release", "--key K --model M --version V --svn N --image F --out FILE",
		"Signs a release statement for an image: an in-toto Statement v1 with predicate\n"+
			provenance.ReleasePredicateType+" in a DSSE envelope (docs/FORMATS.md).")
	var keyFiles, models, provFiles cli.Strings
	fs.Var(&keyFiles, "key", "release private key `file` or PKCS#11 URI (repeatable: one signature each)")
	fs.Var(&models, "model", "hardware `model` the image is for (repeatable)")
	version := fs.String("version", "", "semantic `version`, e.g. 1.4.0")
	svn := fs.Uint64("svn", 0, "security version: the anti-rollback `counter`")
	channel := fs.String("channel", "stable", "release `channel`")
	image := fs.String("image", "", "firmware image `file` (hashed, not embedded)")
	name := fs.String("name", "", "subject `name` (default: the image file name)")
	created := fs.String("created", "", "creation `time`, RFC 3339 (default: now)")
	fs.Var(&provFiles, "provenance", "provenance envelope `file` this release endorses (repeatable)")
	layoutFile := fs.String("layout", "", "in-toto layout `file` whose supply chain made the image")
	var linkFiles cli.Strings
	fs.Var(&linkFiles, "link", "in-toto link `file` of a step of --layout (repeatable)")
	base := fs.String("base-image", "", "for a delta image, the `file` or sha256:<hex> digest of the image it applies to")
	out := fs.String("out", "", "output `file` (default: stdout)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := required(fs, "key", "model", "version", "svn", "image"); err != nil {
		return err
	}
	signers, closeKeys, err := loadSigners(keyFiles)
	if err != nil {
		return err
	}
	defer closeKeys()
	d, d512, size, err := hashImage(*image)
	if err != nil {
		return err
	}
	r := &provenance.Release{
		ImageName:       *name,
		Image:           d,
		ImageSize:       size,
		Models:          models,
		Version:         *version,
		SecurityVersion: *svn,
		Channel:         *channel,
		Created:         time.Now().UTC().Truncate(time.Second),
	}
	if r.ImageName == "" {
		r.ImageName = filepath.Base(*image)
	}
	if *created != "" {
		if r.Created, err = time.Parse(time.RFC3339, *created); err != nil {
			return &usageError{msg: fmt.Sprintf("--created %q is not an RFC 3339 time", *created)}
		}
	}
	for _, f := range provFiles {
		// Endorse the exact bytes fwctl submit sends (and the log stores).
		data, _, err := readEntry(f)
		if err != nil {
			return fmt.Errorf("--provenance %w", err)
		}
		pe, err := provenance.ParseEntry(data)
		if err != nil {
			return fmt.Errorf("--provenance %s: %w", f, err)
		}
		if pe.Kind != provenance.KindProvenance {
			return fmt.Errorf("--provenance %s is an in-toto %s, not SLSA provenance", f, pe.Kind)
		}
		// Provenance that names the image by SHA-512 only (npm's, for
		// one) matches a release that names the SHA-512 digest too.
		if !pe.Provenance.Attests(r) {
			with512 := *r
			with512.ImageSHA512 = d512
			if !pe.Provenance.Attests(&with512) {
				return fmt.Errorf("--provenance %s is not about %s: none of its subjects has the image's SHA-256 or SHA-512 digest", f, *image)
			}
			r.ImageSHA512 = d512
		}
		r.Provenance = append(r.Provenance, sha256.Sum256(data))
	}
	entryDigest := func(flag, f string, kind provenance.Kind) (digest.Digest, error) {
		data, _, err := readEntry(f)
		if err != nil {
			return digest.Digest{}, fmt.Errorf("--%s %w", flag, err)
		}
		e, err := provenance.ParseEntry(data)
		if err != nil {
			return digest.Digest{}, fmt.Errorf("--%s %s: %w", flag, f, err)
		}
		if e.Kind != kind {
			return digest.Digest{}, fmt.Errorf("--%s %s is an in-toto %s, not a %s", flag, f, e.Kind, kind)
		}
		return sha256.Sum256(data), nil
	}
	if *layoutFile != "" {
		d, err := entryDigest("layout", *layoutFile, provenance.KindLayout)
		if err != nil {
			return err
		}
		r.Layout = &d
	}
	for _, f := range linkFiles {
		d, err := entryDigest("link", f, provenance.KindLink)
		if err != nil {
			return err
		}
		r.Links = append(r.Links, d)
	}
	if *base != "" {
		bd, err := digest.Parse(*base)
		if err != nil {
			if bd, _, err = hashFile(*base); err != nil {
				return fmt.Errorf("--base-image: %w", err)
			}
		}
		r.BaseImage = &bd
	}
	if err := r.Validate(); err != nil {
		return &usageError{msg: err.Error()}
	}
	stmt, err := r.Statement()
	if err != nil {
		return err
	}
	return writeSigned(ctx, e, *out, stmt, signers)
}

func attest(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "attest", "--key K --builder-id URI --build-type URI --source git+URL@REF --commit SHA --image F --out FILE",
		"Signs SLSA provenance v1 (https://slsa.dev/provenance/v1) for a built image, as an in-toto\n"+
			"statement in a DSSE envelope, with the builder's key.")
	keyFile := fs.String("key", "", "builder private key `file` or PKCS#11 URI")
	builderID := fs.String("builder-id", "", "builder.id `URI`, e.g. https://ci.example.com/runner/v1")
	buildType := fs.String("build-type", provenance.BuildTypeMake, "buildType `URI`")
	source := fs.String("source", "", "source repository and ref, `git+https://host/repo@refs/...`")
	commit := fs.String("commit", "", "source commit `digest` (hex)")
	model := fs.String("model", "", "target hardware `model` (externalParameters.target)")
	var toolchains, images cli.Strings
	fs.Var(&toolchains, "toolchain", "toolchain `URI`, e.g. pkg:generic/gcc@12.2.0 (repeatable)")
	fs.Var(&images, "image", "built image `file`, a subject (repeatable)")
	invocation := fs.String("invocation-id", "", "invocation `ID` of this build run")
	started := fs.String("started", "", "build start `time`, RFC 3339")
	finished := fs.String("finished", "", "build end `time`, RFC 3339 (default: now)")
	out := fs.String("out", "", "output `file` (default: stdout)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := required(fs, "key", "builder-id", "source", "commit", "image"); err != nil {
		return err
	}
	signers, closeKeys, err := loadSigners([]string{*keyFile})
	if err != nil {
		return err
	}
	defer closeKeys()
	repo, ref, _ := strings.Cut(*source, "@")
	if !strings.HasPrefix(repo, "git+") {
		return &usageError{msg: fmt.Sprintf("--source %q: want git+<url>@<ref>", *source)}
	}
	b := &provenance.Build{
		BuilderID: *builderID, BuildType: *buildType, Source: repo, Ref: ref, Commit: *commit,
		Target: *model, Toolchains: toolchains, InvocationID: *invocation,
		FinishedOn: time.Now().UTC().Truncate(time.Second),
	}
	for flag, v := range map[string]string{"started": *started, "finished": *finished} {
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return &usageError{msg: fmt.Sprintf("--%s %q is not an RFC 3339 time", flag, v)}
		}
		if flag == "started" {
			b.StartedOn = t
		} else {
			b.FinishedOn = t
		}
	}
	for _, img := range images {
		d, _, err := hashFile(img)
		if err != nil {
			return err
		}
		b.Subjects = append(b.Subjects, provenance.Artifact{Name: filepath.Base(img), SHA256: d})
	}
	stmt, err := b.Statement()
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	return writeSigned(ctx, e, *out, stmt, signers)
}

func sign(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "sign", "--key K --in FILE [--out FILE]",
		"Adds a signature by another release key to an envelope, keeping the payload bytes exactly.")
	keyFile := fs.String("key", "", "release private key `file` or PKCS#11 URI")
	in := fs.String("in", "", "envelope `file`")
	out := fs.String("out", "", "output `file` (default: stdout)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := required(fs, "key", "in"); err != nil {
		return err
	}
	signers, closeKeys, err := loadSigners([]string{*keyFile})
	if err != nil {
		return err
	}
	defer closeKeys()
	data, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	env, err := provenance.AddSignature(ctx, trimNewline(data), signers[0])
	if err != nil {
		return err
	}
	return writeEnvelope(e, *out, env)
}

// writeSigned signs a statement with signers and writes the envelope.
func writeSigned(ctx context.Context, e *env, out string, stmt []byte, signers []dsse.SignerVerifier) error {
	env, err := provenance.Sign(ctx, stmt, signers...)
	if err != nil {
		return err
	}
	return writeEnvelope(e, out, env)
}

// writeEnvelope writes an envelope, and a newline, to the file out (stdout
// if empty).
func writeEnvelope(e *env, out string, env []byte) error {
	return writeOutput(e, out, append(env, '\n'), 0o644)
}

// readEntry reads an entry file as the log takes it: without the trailing
// newline fwctl writes, and a bare DSSE envelope in its canonical encoding
// (docs/FORMATS.md), which keeps the payload and signature bytes; Sigstore
// bundles and in-toto metadata stay as their producers made them. It
// reports whether the file was converted.
func readEntry(path string) ([]byte, bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	data = trimNewline(data)
	e, err := provenance.ParseEntry(bytes.TrimSpace(data))
	if err != nil || e.Envelope == nil || e.Bundle != nil {
		return data, false, nil // the log names what is wrong
	}
	canon, err := provenance.CanonicalEnvelope(&e.Envelope.Envelope)
	if err != nil {
		return data, false, nil
	}
	return canon, !bytes.Equal(canon, data), nil
}

// trimNewline drops one trailing newline, which fwctl adds to envelopes it
// writes so that they print well; the log gets the envelope without it.
func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

func submit(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "submit", "--log URL [--image F] FILE...",
		"Submits the envelope files to the log in one request, so that they are all logged or none\n"+
			"is (a release with its provenance), and prints {\"index\":N,\"leaf_hash\":\"...\"} for each.\n"+
			"On stderr, it names the release's index and the fwctl bundle --index command that fetches\n"+
			"its bundle.\n"+
			"With --image, uploads the image to the log's image store after the release is logged.")
	logURL := fs.String("log", "", "log base `URL`, e.g. http://127.0.0.1:8080")
	image := fs.String("image", "", "image `file` to upload after the releases")
	deltaFile := fs.String("delta", "", "delta update `file` to the image (fwctl delta) to upload after it")
	timeout := fs.Duration("timeout", time.Minute, "timeout per request")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := required(fs, "log"); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return &usageError{msg: "give at least one envelope file"}
	}
	if err := noFlagsAfter(fs); err != nil {
		return err
	}
	if *deltaFile != "" && *image == "" {
		return &usageError{msg: "--delta needs --image, the image it is a delta to"}
	}
	lc, err := newLogClient(*logURL)
	if err != nil {
		return err
	}
	var entries [][]byte
	for _, f := range fs.Args() {
		data, converted, err := readEntry(f)
		if err != nil {
			return err
		}
		if converted {
			fmt.Fprintf(e.stderr, "%s: sending the envelope in its canonical encoding (the same payload and signatures)\n", f)
		}
		entries = append(entries, data)
	}
	rctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var results []api.AddResponse
	if len(entries) == 1 {
		res, err := lc.Add(rctx, entries[0])
		if err != nil {
			return fmt.Errorf("%s: %w", fs.Arg(0), err)
		}
		results = append(results, res)
	} else {
		if results, err = lc.AddAll(rctx, entries); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(e.stdout)
	for _, res := range results {
		if err := enc.Encode(res); err != nil {
			return err
		}
	}
	// Say which entry is the release, and how to fetch its bundle.
	for i, data := range entries {
		if results[i].Duplicate {
			fmt.Fprintf(e.stderr, "%s: already logged (or another logged entry of the same statement has every trusted signature it has): index %d\n", fs.Arg(i), results[i].Index)
		}
		if pe, err := provenance.ParseEntry(data); err == nil && pe.Kind == provenance.KindRelease {
			what := "logged"
			if results[i].Duplicate {
				what = "already logged"
			}
			fmt.Fprintf(e.stderr, "release of %s %s at index %d; fetch its bundle with fwctl bundle --log %s --digest %s --index %d\n",
				pe.Release.Image, what, results[i].Index, *logURL, pe.Release.Image, results[i].Index)
		}
	}
	if *image != "" {
		d, _, err := hashFile(*image)
		if err != nil {
			return err
		}
		f, err := os.Open(*image)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := lc.PutImage(ctx, d, f); err != nil {
			return fmt.Errorf("uploading %s: %w", *image, err)
		}
		fmt.Fprintf(e.stderr, "uploaded %s as %s\n", *image, d)
	}
	if *deltaFile != "" {
		d, _, err := hashFile(*image)
		if err != nil {
			return err
		}
		f, err := os.Open(*deltaFile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := lc.PutDelta(ctx, d, f); err != nil {
			return fmt.Errorf("uploading %s: %w", *deltaFile, err)
		}
		fmt.Fprintf(e.stderr, "uploaded %s as the delta to %s\n", *deltaFile, d)
	}
	return nil
}

func fetchBundle(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "bundle", "--log URL (--image F | --digest sha256:HEX) [--index N] [--from SIZE] --out FILE",
		"Waits until the release of the image is covered by a published checkpoint, then writes\n"+
			"its offline proof bundle. Without --index, it is the latest release of the image the log\n"+
			"holds; to fetch a given one (an older release, or exactly the one you just submitted),\n"+
			"give --index with the index fwctl submit printed for it. While the log answers 503\n"+
			"(logged, not yet covered)\n"+
			"or cannot be reached, it retries every --poll, or after the log's Retry-After if longer,\n"+
			"for up to --wait; a 404 (no such release logged) or any other answer fails at once.\n"+
			"Progress goes to stderr.")
	logURL := fs.String("log", "", "log base `URL`")
	image := fs.String("image", "", "image `file` whose release to fetch")
	digestFlag := fs.String("digest", "", "image `digest` sha256:<hex> (instead of --image)")
	var index logIndex
	fs.Var(&index, "index", "the release's log `index`, as fwctl submit printed it (default: the log's latest release of the image)")
	var from logIndex
	fs.Var(&from, "from", "add the consistency proof from this tree `size` (a device's stored checkpoint) to the bundle's")
	out := fs.String("out", "", "output `file` (default: stdout)")
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for the release to be covered by a checkpoint")
	poll := fs.Duration("poll", 250*time.Millisecond, "interval between attempts while waiting (a longer Retry-After from the log is honoured)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := required(fs, "log"); err != nil {
		return err
	}
	if *wait <= 0 || *poll <= 0 {
		return &usageError{msg: fmt.Sprintf("--wait %s and --poll %s must be positive", *wait, *poll)}
	}
	d, err := imageDigest(*image, *digestFlag, "give --image or --digest")
	if err != nil {
		return err
	}
	lc, err := newLogClient(*logURL)
	if err != nil {
		return err
	}
	what := "the latest release of " + d.String()
	if index.set {
		what = fmt.Sprintf("the release of %s at index %d", d, index.n)
	}
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	start := time.Now()
	var lastProgress time.Time
	for {
		b, err := lc.BundleFrom(ctx, d, index.int64(), from.int64())
		if err == nil {
			at := ""
			if pb, err := bundle.Parse(b); err == nil && !index.set {
				at = fmt.Sprintf(" (index %d)", pb.Release.Proof.Index)
			}
			fmt.Fprintf(e.stderr, "bundle of %s%s ready after %s\n", what, at, time.Since(start).Round(time.Millisecond))
			return writeOutput(e, *out, b, 0o644)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("gave up after --wait %s: %w", *wait, err)
		}
		// Retry only what may pass: a release logged but not yet
		// covered (503), and a log that cannot be reached.
		delay := *poll
		var he *logclient.HTTPError
		var progress string
		switch {
		case errors.As(err, &he) && he.Status == http.StatusServiceUnavailable:
			delay = max(delay, he.RetryAfter)
			progress = fmt.Sprintf("waiting for %s to be covered by a published checkpoint: %v", what, err)
		case errors.As(err, &he):
			return fmt.Errorf("couldn't fetch the bundle of %s: %w", what, err)
		default:
			progress = fmt.Sprintf("couldn't reach the log, retrying: %v", err)
		}
		if lastProgress.IsZero() || time.Since(lastProgress) >= 5*time.Second {
			fmt.Fprintf(e.stderr, "%s (%s so far)\n", progress, time.Since(start).Round(time.Millisecond))
			lastProgress = time.Now()
		}
		if dl, _ := ctx.Deadline(); time.Until(dl) < delay {
			return fmt.Errorf("gave up: the next attempt (in %s) would be after --wait %s: %w", delay.Round(time.Millisecond), *wait, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after --wait %s: %w", *wait, err)
		case <-time.After(delay):
		}
	}
}

// logIndex is a flag holding a log index, unset by default.
type logIndex struct {
	n   uint64
	set bool
}

func (x *logIndex) String() string {
	if x == nil || !x.set {
		return ""
	}
	return strconv.FormatUint(x.n, 10)
}

// Set parses a log index: an integer from 0 to 2^63-1.
func (x *logIndex) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return fmt.Errorf("%q is not a log index (an integer from 0)", s)
	}
	x.n, x.set = n, true
	return nil
}

// int64 returns the index, or -1 if unset.
func (x *logIndex) int64() int64 {
	if !x.set {
		return -1
	}
	return int64(x.n)
}

func verify(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "verify", "(--log-key K | --witness-policy W) (--release-keys K --builder-keys K [--threshold N] | --policy P)\n"+
		"       [--model M] --image F --bundle FILE",
		"Verifies offline: the checkpoint signature (and witness cosignatures), the inclusion of the\n"+
			"release and its provenance under it, the release signatures, the provenance's builder and\n"+
			"subject, the hardware model, and the image digest and size. Trust comes from the key flags\n"+
			"or from a policy, not both: a flag the policy would override is a usage error. Prints a\n"+
			"summary on success; exits 3 on rejection.")
	logKey := fs.String("log-key", "", "log public key `file` (its name is the log origin)")
	var releaseKeys, builderKeys cli.Strings
	fs.Var(&releaseKeys, "release-keys", "trusted release public key `file` (repeatable)")
	fs.Var(&builderKeys, "builder-keys", "trusted builder public key `file` for provenance (repeatable)")
	threshold := fs.Int("threshold", 1, "distinct release keys that must have signed, at most the number of --release-keys")
	requireProv := fs.Bool("require-provenance", true, "reject a release that endorses no build provenance (false: --builder-keys may be left out)")
	policyFile := fs.String("policy", "", "policy `file`: decides release keys, threshold and builders instead of the key flags (which it excludes)")
	model := fs.String("model", "", "the device's hardware `model`: the release must name it (with --policy, the rule for it applies; default: any model, and with --policy every model of the release)")
	image := fs.String("image", "", "image `file`")
	bundleFile := fs.String("bundle", "", "proof bundle `file`")
	witnessPolicy := fs.String("witness-policy", "", "C2SP tlog-policy `file`: the checkpoint must carry its quorum of witness cosignatures (its log lines then make --log-key optional)")
	var revocationKeys cli.Strings
	fs.Var(&revocationKeys, "revocation-keys", "the vendor's revocation public key `file` (repeatable; or the policy's revocation section): the checkpoint must commit to the log's revocations, the bundle must carry all of them, and those they sign apply")
	revocationThreshold := fs.Int("revocation-threshold", 1, "distinct --revocation-keys that must have signed a revocation")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	var need []string
	if *witnessPolicy == "" {
		need = append(need, "log-key")
	}
	if *policyFile == "" {
		need = append(need, "release-keys")
	}
	need = append(need, "image", "bundle")
	if err := required(fs, need...); err != nil {
		return err
	}
	// Every flag given is applied: a flag the others would override is a
	// usage error, not silently ignored.
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if *policyFile != "" {
		for _, name := range []string{"release-keys", "builder-keys", "threshold", "require-provenance"} {
			if given[name] {
				return &usageError{msg: fmt.Sprintf("--%s and --policy conflict: the policy decides the release keys, threshold and builders, and requires provenance; give one of them", name)}
			}
		}
	} else {
		if *threshold < 1 || *threshold > len(releaseKeys) {
			return &usageError{msg: fmt.Sprintf("--threshold %d: want between 1 and the %d --release-keys given", *threshold, len(releaseKeys))}
		}
		if *requireProv && len(builderKeys) == 0 {
			return &usageError{msg: "--builder-keys is required: the release's build provenance must be signed by a trusted builder (or give --policy, or --require-provenance=false for a release without provenance)"}
		}
	}
	if len(revocationKeys) > 0 && (*revocationThreshold < 1 || *revocationThreshold > len(revocationKeys)) {
		return &usageError{msg: fmt.Sprintf("--revocation-threshold %d: want between 1 and the %d --revocation-keys given", *revocationThreshold, len(revocationKeys))}
	}
	if given["revocation-threshold"] && len(revocationKeys) == 0 {
		return &usageError{msg: "--revocation-threshold needs --revocation-keys"}
	}
	var lv note.Verifier
	if *logKey != "" {
		lk, err := keys.LoadPublic(*logKey)
		if err != nil {
			return err
		}
		if lv, err = lk.NoteVerifier(); err != nil {
			return fmt.Errorf("%s: %w", *logKey, err)
		}
	}
	var wp *tlogpolicy.Policy
	if *witnessPolicy != "" {
		var err error
		if wp, err = cli.LoadWitnessPolicy(*witnessPolicy); err != nil {
			return err
		}
	}
	ring, err := cli.LoadRing(releaseKeys)
	if err != nil {
		return err
	}
	builders, err := cli.LoadRing(builderKeys)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(*bundleFile)
	if err != nil {
		return err
	}
	f, err := os.Open(*image)
	if err != nil {
		return err
	}
	defer f.Close()
	revokers, err := cli.LoadRing(revocationKeys)
	if err != nil {
		return err
	}
	trust := client.Trust{Log: lv, Witnesses: wp, ReleaseKeys: ring, ReleaseThreshold: *threshold, BuilderKeys: builders, RequireProvenance: *requireProv, Model: *model,
		RevocationKeys: revokers, RevocationThreshold: *revocationThreshold}
	if *policyFile != "" {
		if trust.Policy, err = cli.LoadPolicy(*policyFile); err != nil {
			return err
		}
		if trust.Policy.RevocationKeys != nil && len(revocationKeys) > 0 {
			return &usageError{msg: "--revocation-keys and the policy's revocation section conflict: give one of them"}
		}
		if trust.Policy.TrustedRoot != nil {
			kv, err := keyless.NewVerifier(trust.Policy.TrustedRoot)
			if err != nil {
				return err
			}
			trust.Keyless = kv
		}
	}
	v, err := client.VerifyBundle(ctx, trust, b, f)
	if err != nil {
		var pathErr *os.PathError
		if errors.As(err, &pathErr) {
			return err
		}
		return &rejectedError{err: err}
	}
	var prov []map[string]any
	for _, p := range v.Provenance {
		role := "rebuild"
		if p.Endorsed {
			role = "build"
		}
		prov = append(prov, map[string]any{
			"role": role, "digest": p.Digest.String(), "log_index": p.Index, "builder_id": p.Provenance.BuilderID,
			"source": p.Provenance.Source.Repo, "ref": p.Provenance.Source.Ref, "commit": p.Provenance.Source.Commit,
		})
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{
		"verified":         true,
		"provenance":       prov,
		"image":            v.Release.Image.String(),
		"size":             v.Release.ImageSize,
		"models":           v.Release.Models,
		"version":          v.Release.Version,
		"security_version": v.Release.SecurityVersion,
		"channel":          v.Release.Channel,
		"signers":          v.Signers,
		"log_origin":       v.Checkpoint.Origin,
		"log_index":        v.Index,
		"checkpoint_size":  v.Checkpoint.Size,
		"revocations":      map[string]int{"carried": v.Revocations, "applied": v.Applied},
		"cosignatures":     cosignatures(v.Cosignatures),
	})
}

// cosignatures summarizes verified cosignatures for JSON output.
func cosignatures(cs []tlogpolicy.Cosignature) []map[string]any {
	out := []map[string]any{}
	for _, c := range cs {
		out = append(out, map[string]any{"witness": c.Witness, "key": c.KeyName, "time": c.Time.UTC().Format(time.RFC3339)})
	}
	return out
}

// imageDigest returns the digest of the image that --image (a file, hashed)
// or --digest names; missing is the usage error when neither is given.
func imageDigest(image, digestFlag, missing string) (digest.Digest, error) {
	switch {
	case image != "" && digestFlag != "":
		return digest.Digest{}, &usageError{msg: "give --image or --digest, not both"}
	case image != "":
		d, _, err := hashFile(image)
		return d, err
	case digestFlag != "":
		d, err := digest.Parse(digestFlag)
		if err != nil {
			return d, &usageError{msg: err.Error()}
		}
		return d, nil
	}
	return digest.Digest{}, &usageError{msg: missing}
}

// newLogClient returns a client of the log at --log; a bad URL is a usage
// error.
func newLogClient(logURL string) (*logclient.Client, error) {
	lc, err := logclient.New(logURL, nil)
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	return lc, nil
}
