package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// comparePhase writes a Markdown section comparing the runs of two builds
// of fwledger, made by scripts/bench-compare.sh in one session: for each
// build a directory of run-<k> directories, each holding the phases' JSON.
func comparePhase(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	baseDir := fs.String("base", "", "directory of the base build's runs")
	headDir := fs.String("head", "", "directory of the new build's runs")
	baseName := fs.String("base-name", "base", "the base build's name (a commit)")
	headName := fs.String("head-name", "head", "the new build's name (a commit)")
	command := fs.String("command", "", "the command that produced it")
	fs.Parse(args)

	type measure struct {
		name string
		unit string
		get  func(dir string) (float64, error)
		// lower is better (latencies, bytes).
		lower bool
	}
	// fromAppend reads an append phase's JSON in a run's directory and
	// takes one figure of it.
	fromAppend := func(file string, pick func(dir string, r AppendResult) (float64, error)) func(string) (float64, error) {
		return func(dir string) (float64, error) {
			var r AppendResult
			if err := readJSON(filepath.Join(dir, file), &r); err != nil {
				return 0, err
			}
			return pick(dir, r)
		}
	}
	appendRate := func(file string, pairs bool) func(string) (float64, error) {
		return fromAppend(file, func(dir string, r AppendResult) (float64, error) {
			if r.Errors != 0 {
				return 0, fmt.Errorf("%s: %d failed submissions", dir, r.Errors)
			}
			if pairs {
				return r.PairRate, nil
			}
			return r.Rate, nil
		})
	}
	appendP99 := func(file string) func(string) (float64, error) {
		return fromAppend(file, func(_ string, r AppendResult) (float64, error) { return r.IntegrationP99, nil })
	}
	appendCPU := fromAppend("append.json", func(dir string, r AppendResult) (float64, error) {
		if r.ServerCPUPer1000 == 0 {
			return 0, fmt.Errorf("%s: no server CPU time measured", dir)
		}
		return r.ServerCPUPer1000, nil
	})
	readRate := func(kind string) func(string) (float64, error) {
		return func(dir string) (float64, error) {
			var r ReadResult
			if err := readJSON(filepath.Join(dir, "read.json"), &r); err != nil {
				return 0, err
			}
			if r.Errors != 0 {
				return 0, fmt.Errorf("%s: %d failed reads", dir, r.Errors)
			}
			return r.Rates[kind], nil
		}
	}
	measures := []measure{
		{"appends over HTTP (bare releases, 256 clients)", "entries/s", appendRate("append.json", false), false},
		{"acknowledgement → checkpoint p99, same load", "ms", appendP99("append.json"), true},
		{"fwlog's CPU time (user+sys), same load", "ms per 1,000 entries", appendCPU, true},
		{"appends over HTTP (bare releases, 64 clients)", "entries/s", appendRate("append64.json", false), false},
		{"release+provenance pairs over HTTP", "pairs/s", appendRate("pairs.json", true), false},
		{"`GET /checkpoint`", "requests/s", readRate("checkpoint"), false},
		{"`GET /tile/<L>/<N>`", "requests/s", readRate("tile"), false},
		{"`GET /v1/proofs/tlog/<index>`", "requests/s", readRate("tlog-proof"), false},
		{"`GET /tile/entries/<N>` (gzip)", "requests/s", readRate("entry-bundle"), false},
		{"fwwitness add-checkpoint, 16 logs", "requests/s", func(dir string) (float64, error) {
			var r WitnessResult
			err := readJSON(filepath.Join(dir, "witness.json"), &r)
			return r.Rate, err
		}, false},
		{"cosigning round, 3 witnesses (2 of 3), p99", "ms", func(dir string) (float64, error) {
			var r RoundsResult
			err := readJSON(filepath.Join(dir, "rounds.json"), &r)
			return r.P99, err
		}, true},
		{"storage after a clean stop", "bytes/entry", func(dir string) (float64, error) {
			var r StorageResult
			err := readJSON(filepath.Join(dir, "storage.json"), &r)
			return r.BytesPerEntry, err
		}, true},
	}
	runs := func(dir string) ([]string, error) {
		m, err := filepath.Glob(filepath.Join(dir, "run-*"))
		sort.Strings(m)
		if err == nil && len(m) == 0 {
			err = fmt.Errorf("no runs in %s", dir)
		}
		return m, err
	}
	baseRuns, err := runs(*baseDir)
	if err != nil {
		return err
	}
	headRuns, err := runs(*headDir)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Produced by `%s`: the same load generator (this build's fwbench) against fwlog and fwwitness built from %s (the base) and from %s, in alternating runs in one session on the same machine. The ratio is the new build's mean over the base's; for latencies and bytes, lower is better.\n\n", *command, *baseName, *headName)
	fmt.Fprintf(&b, "| measure | %s | %s | ratio |\n| --- | --- | --- | --- |\n", *baseName, *headName)
	cell := func(vals []float64) string {
		var parts []string
		for _, v := range vals {
			parts = append(parts, fmt.Sprintf("%.0f", v))
			if v < 100 {
				parts[len(parts)-1] = fmt.Sprintf("%.1f", v)
			}
		}
		return strings.Join(parts, ", ")
	}
	mean := func(vals []float64) float64 {
		s := 0.0
		for _, v := range vals {
			s += v
		}
		return s / float64(len(vals))
	}
	for _, m := range measures {
		var bv, hv []float64
		for _, d := range baseRuns {
			v, err := m.get(d)
			if err != nil {
				return err
			}
			bv = append(bv, v)
		}
		for _, d := range headRuns {
			v, err := m.get(d)
			if err != nil {
				return err
			}
			hv = append(hv, v)
		}
		ratio := "–"
		if mb := mean(bv); mb > 0 {
			ratio = fmt.Sprintf("%.2f", mean(hv)/mb)
		}
		fmt.Fprintf(&b, "| %s (%s) | %s | %s | %s |\n", m.name, m.unit, cell(bv), cell(hv), ratio)
	}
	_, err = os.Stdout.WriteString(b.String())
	return err
}
