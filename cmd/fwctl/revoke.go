package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fwledger/fwledger/cmd/internal/cli"
	"github.com/fwledger/fwledger/provenance"
)

const revokeUsage = `Usage: fwctl revoke key     --key-id ID --from-index N --reason TEXT --key K [--key K2 ...] [--out FILE]
       fwctl revoke release (--image F | --image-digest sha256:HEX) --reason TEXT --key K [--key K2 ...] [--out FILE]

Signs a revocation statement (docs/FORMATS.md, "Revocations") with the vendor's
revocation keys, as many as the log's and devices' revocation threshold needs.
Submit it like any entry (fwctl submit). Once logged:
  - a revoked key's signatures no longer count on entries logged from index N on
    (or from the revocation's own index, whichever is lower); releases logged
    before stay valid;
  - a revoked release (every release of the image) is refused by verifiers.
`

func revokeCmd(ctx context.Context, e *env, args []string) error {
	return group(e, revokeUsage, args, map[string]func([]string) error{
		"key":     func(a []string) error { return revoke(ctx, e, provenance.RevokeKey, a) },
		"release": func(a []string) error { return revoke(ctx, e, provenance.RevokeRelease, a) },
	})
}

func revoke(ctx context.Context, e *env, what string, args []string) error {
	var fs *flag.FlagSet
	if what == provenance.RevokeKey {
		fs = newFlags(e, "revoke key", "--key-id ID --from-index N --reason TEXT --key K [--out FILE]",
			"Revokes a signing key from a log index on: its signatures no longer count on entries\n"+
				"logged at or after that index. Releases logged before stay valid.")
	} else {
		fs = newFlags(e, "revoke release", "(--image F | --image-digest sha256:HEX) --reason TEXT --key K [--out FILE]",
			"Revokes every release of an image: verifiers refuse it wherever it was logged.")
	}
	var keyFiles cli.Strings
	fs.Var(&keyFiles, "key", "revocation private key `file` or PKCS#11 URI (repeatable: one signature each)")
	keyID := fs.String("key-id", "", "DSSE key `ID` of the key to revoke (fwctl keygen prints it)")
	from := fs.Uint64("from-index", 0, "first log `index` at which the key's signatures no longer count")
	image := fs.String("image", "", "firmware image `file` whose releases to revoke (hashed)")
	digestFlag := fs.String("image-digest", "", "or the image's `digest`, sha256:<hex>")
	name := fs.String("name", "", "subject `name` of a release revocation (default: the image file name)")
	reason := fs.String("reason", "", "why, for people (at most 256 bytes), e.g. compromised")
	created := fs.String("created", "", "creation `time`, RFC 3339 (default: now)")
	out := fs.String("out", "", "output `file` (default: stdout)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := required(fs, "key", "reason"); err != nil {
		return err
	}
	r := &provenance.Revocation{Revokes: what, Reason: *reason, Created: time.Now().UTC().Truncate(time.Second)}
	if *created != "" {
		t, err := time.Parse(time.RFC3339, *created)
		if err != nil {
			return &usageError{msg: fmt.Sprintf("--created %q is not an RFC 3339 time", *created)}
		}
		r.Created = t
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch what {
	case provenance.RevokeKey:
		if err := required(fs, "key-id", "from-index"); err != nil {
			return err
		}
		for _, f := range []string{"image", "image-digest", "name"} {
			if set[f] {
				return &usageError{msg: fmt.Sprintf("--%s is for fwctl revoke release", f)}
			}
		}
		r.KeyID, r.FromIndex = *keyID, *from
	case provenance.RevokeRelease:
		if set["key-id"] || set["from-index"] {
			return &usageError{msg: "--key-id and --from-index are for fwctl revoke key"}
		}
		d, err := imageDigest(*image, *digestFlag, "--image or --image-digest is required")
		if err != nil {
			return err
		}
		r.Image, r.ImageName = d, *name
		if r.ImageName == "" && *image != "" {
			r.ImageName = filepath.Base(*image)
		}
	}
	if err := r.Validate(); err != nil {
		return &usageError{msg: err.Error()}
	}
	signers, closeKeys, err := loadSigners(keyFiles)
	if err != nil {
		return err
	}
	defer closeKeys()
	stmt, err := r.Statement()
	if err != nil {
		return err
	}
	return writeSigned(ctx, e, *out, stmt, signers)
}
