package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/fwledger/fwledger/provenance"
)

const provenanceUsage = `Usage: fwctl provenance show [--log URL (--image F | --digest sha256:HEX)] [FILE...]

Commands:
  show   summarize provenance and releases: builder, source, commit, times, reproducibility

Run "fwctl provenance show --help" for its flags.
`

func provenanceCmd(ctx context.Context, e *env, args []string) error {
	return group(e, provenanceUsage, args, map[string]func([]string) error{
		"show": func(args []string) error { return provenanceShow(ctx, e, args) },
	})
}

func provenanceShow(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "provenance show", "[--log URL (--image F | --digest sha256:HEX)] [FILE...]",
		"Prints a readable summary of provenance and release statements: from envelope files, or,\n"+
			"with --log, of everything the log holds about an image (release, build provenance,\n"+
			"rebuilds) and how many distinct builders attest the image (reproducibility).")
	logURL := fs.String("log", "", "log base `URL`")
	image := fs.String("image", "", "image `file` to look up in the log")
	digestFlag := fs.String("digest", "", "image `digest` sha256:<hex> to look up in the log")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := noFlagsAfter(fs); err != nil {
		return err
	}
	for _, f := range fs.Args() {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		pe, err := provenance.ParseEntry(trimNewline(data))
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		fmt.Fprintf(e.stdout, "%s\n", f)
		describe(e.stdout, pe, "")
	}
	if *logURL == "" {
		if fs.NArg() == 0 {
			return &usageError{msg: "give envelope files, or --log with --image or --digest"}
		}
		return nil
	}
	d, err := imageDigest(*image, *digestFlag, "--log needs --image or --digest")
	if err != nil {
		return err
	}
	lc, err := newLogClient(*logURL)
	if err != nil {
		return err
	}
	sub, err := lc.Subject(ctx, d)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "image %s: %d logged statement(s)\n", d, len(sub.Entries))
	builders := map[string]bool{}
	for _, se := range sub.Entries {
		role := se.Kind
		if se.Role != "" {
			role += " (" + se.Role + ")"
		}
		if !se.Integrated {
			fmt.Fprintf(e.stdout, "\n#%d %s: not yet covered by a checkpoint\n", se.Index, role)
			continue
		}
		ent, err := lc.Entry(ctx, se.Index)
		if err != nil {
			return err
		}
		content, err := provenance.Resolve(ent.Data, ent.Content)
		if err != nil {
			return fmt.Errorf("entry %d: %w", se.Index, err)
		}
		pe, err := provenance.ParseEntry(content)
		if err != nil {
			return fmt.Errorf("entry %d: %w", se.Index, err)
		}
		fmt.Fprintf(e.stdout, "\n#%d %s %s\n", se.Index, role, pe.Digest)
		describe(e.stdout, pe, "  ")
		if pe.Kind == provenance.KindProvenance {
			builders[pe.Provenance.BuilderID] = true
		}
	}
	fmt.Fprintf(e.stdout, "\nreproducibility: %d distinct builder(s) attest this image\n", len(builders))
	return nil
}

// describe prints a statement for people.
func describe(w io.Writer, pe *provenance.Entry, indent string) {
	p := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s  %-13s %s\n", indent, k+":", v)
		}
	}
	switch pe.Kind {
	case provenance.KindRelease:
		r := pe.Release
		p("kind", "release")
		p("image", fmt.Sprintf("%s (%d bytes)", r.Image, r.ImageSize))
		p("models", strings.Join(r.Models, ", "))
		p("version", r.Version)
		p("security", fmt.Sprint(r.SecurityVersion))
		p("channel", r.Channel)
		p("created", r.Created.UTC().Format(time.RFC3339))
		for _, d := range r.Provenance {
			p("endorses", d.String())
		}
		if r.Layout != nil {
			p("layout", r.Layout.String())
		}
		for _, d := range r.Links {
			p("link", d.String())
		}
		p("signatures", fmt.Sprint(len(pe.Envelope.Signatures)))
	case provenance.KindProvenance:
		pr := pe.Provenance
		p("kind", "SLSA provenance v1")
		p("builder", pr.BuilderID)
		p("build type", pr.BuildType)
		p("source", pr.Source.Repo)
		p("ref", pr.Source.Ref)
		p("commit", pr.Source.Commit)
		p("invocation", pr.InvocationID)
		if !pr.StartedOn.IsZero() {
			p("started", pr.StartedOn.UTC().Format(time.RFC3339))
		}
		if !pr.FinishedOn.IsZero() {
			p("finished", pr.FinishedOn.UTC().Format(time.RFC3339))
		}
		if !pr.StartedOn.IsZero() && !pr.FinishedOn.IsZero() {
			p("duration", pr.FinishedOn.Sub(pr.StartedOn).Round(time.Second).String())
		}
		for _, s := range pr.Subjects {
			p("subject", fmt.Sprintf("%s %s:%x", s.Name, s.Alg, s.Value))
		}
		var keys []string
		for _, s := range pe.Envelope.Signatures {
			keys = append(keys, s.KeyID)
		}
		if pe.Bundle != nil {
			keys = append(keys, "(keyless: a Sigstore certificate)")
		}
		p("signed by", strings.Join(keys, ", "))
	case provenance.KindLayout:
		l := pe.Layout()
		p("kind", "in-toto layout")
		p("expires", l.Expires)
		for _, s := range l.Steps {
			p("step", fmt.Sprintf("%s (threshold %d of %d functionaries)", s.Name, s.Threshold, len(s.PubKeys)))
		}
		p("inspections", fmt.Sprint(len(l.Inspect)))
	case provenance.KindLink:
		l := pe.Link()
		p("kind", "in-toto link")
		p("step", l.Name)
		p("command", strings.Join(l.Command, " "))
		for path, h := range l.Products {
			p("product", fmt.Sprintf("%s sha256:%s", path, h["sha256"]))
		}
	}
}
