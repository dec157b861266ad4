package main

import (
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/fwledger/fwledger/log/sqlite"
	_ "github.com/mattn/go-sqlite3"
)

// StorageResult is what the storage phase measures on a stopped log.
type StorageResult struct {
	Entries       int64              `json:"entries"`
	FileBytes     int64              `json:"file_bytes"`
	BytesPerEntry float64            `json:"bytes_per_entry"`
	EntryBytes    float64            `json:"mean_entry_bytes"`
	OverheadBytes float64            `json:"overhead_bytes_per_entry"`
	TableBytes    map[string]int64   `json:"table_bytes,omitempty"`
	TablePerEntry map[string]float64 `json:"table_bytes_per_entry,omitempty"`
}

func storagePhase(args []string) error {
	fs := flag.NewFlagSet("storage", flag.ExitOnError)
	dir := fs.String("data", "", "data directory of a stopped fwlog")
	fs.Parse(args)
	path := filepath.Join(*dir, sqlite.DatabaseFile)
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var r StorageResult
	if err := db.QueryRow(`SELECT integrated FROM state`).Scan(&r.Entries); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	r.FileBytes = fi.Size()
	if wal, err := os.Stat(path + "-wal"); err == nil {
		r.FileBytes += wal.Size()
	}
	var dataBytes int64
	var a, b sql.NullInt64
	db.QueryRow(`SELECT sum(length(data)) FROM bundles`).Scan(&a)
	db.QueryRow(`SELECT sum(length(data)) FROM entries`).Scan(&b)
	// Bundles hold a 2-byte length before each entry.
	dataBytes = a.Int64 + b.Int64
	var inBundles sql.NullInt64
	db.QueryRow(`SELECT count(*) FROM bundles`).Scan(&inBundles)
	dataBytes -= 2 * 256 * inBundles.Int64
	r.BytesPerEntry = float64(r.FileBytes) / float64(r.Entries)
	r.EntryBytes = float64(dataBytes) / float64(r.Entries)
	r.OverheadBytes = r.BytesPerEntry - r.EntryBytes
	rows, err := db.Query(`SELECT name, sum(pgsize) FROM dbstat GROUP BY name`)
	if err == nil {
		r.TableBytes = map[string]int64{}
		r.TablePerEntry = map[string]float64{}
		for rows.Next() {
			var name string
			var n int64
			if rows.Scan(&name, &n) == nil {
				r.TableBytes[name] = n
				r.TablePerEntry[name] = float64(n) / float64(r.Entries)
			}
		}
		rows.Close()
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// rateAt returns the append rate of the window that contains size.
func rateAt(windows []Rate, size uint64) (Rate, bool) {
	for _, w := range windows {
		if w.FromSize <= size && size < w.ToSize {
			return w, true
		}
	}
	return Rate{}, false
}

func mark(ok bool) string {
	if ok {
		return "met"
	}
	return "**NOT MET**"
}

func reportPhase(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	appendFile := fs.String("append", "", "append phase JSON")
	append64File := fs.String("append64", "", "append phase JSON with 64 clients (optional)")
	readFile := fs.String("read", "", "read phase JSON")
	storageFile := fs.String("storage", "", "storage phase JSON")
	goBench := fs.String("gobench", "", "go test -bench output")
	command := fs.String("command", "", "the command that produced the report")
	pairsFile := fs.String("pairs", "", "append phase JSON of release+provenance pairs")
	pair1cpu := fs.String("pair1cpu", "", "BenchmarkVerifyPair output on one core")
	cpu := fs.String("cpu", "", "CPU model")
	witnessFile := fs.String("witness", "", "witness phase JSON")
	roundsFile := fs.String("rounds", "", "rounds phase JSON")
	witnessedFile := fs.String("witnessed", "", "append phase JSON into a witnessed log")
	abuseFile := fs.String("abuse", "", "abuse phase JSON (optional)")
	fs.Parse(args)

	var ap AppendResult
	var rd ReadResult
	var st StorageResult
	if err := readJSON(*appendFile, &ap); err != nil {
		return err
	}
	var ap64 AppendResult
	if *append64File != "" {
		if err := readJSON(*append64File, &ap64); err != nil {
			return err
		}
	}
	if err := readJSON(*readFile, &rd); err != nil {
		return err
	}
	if err := readJSON(*storageFile, &st); err != nil {
		return err
	}
	gb, err := os.ReadFile(*goBench)
	if err != nil {
		return err
	}
	var pairs AppendResult
	if err := readJSON(*pairsFile, &pairs); err != nil {
		return err
	}
	var wit WitnessResult
	var rounds RoundsResult
	var witnessed AppendResult
	if err := readJSON(*witnessFile, &wit); err != nil {
		return err
	}
	if err := readJSON(*roundsFile, &rounds); err != nil {
		return err
	}
	if err := readJSON(*witnessedFile, &witnessed); err != nil {
		return err
	}
	p1, err := os.ReadFile(*pair1cpu)
	if err != nil {
		return err
	}
	// "BenchmarkVerifyPair   12345   157204 ns/op ..."
	pairNs := -1.0
	if f := strings.Fields(string(p1)); len(f) >= 3 {
		fmt.Sscan(f[2], &pairNs)
	}
	at10k, ok1 := rateAt(ap.WindowRates, 10_000)
	at1m, ok2 := rateAt(ap.WindowRates, 1_000_000)
	ratio := 0.0
	if ok1 && ok2 {
		ratio = at1m.Rate / at10k.Rate
	}

	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Benchmarks\n\n")
	p("Produced by `%s` on %s (%d cores, %s, %s). Every number below comes from that one run; ", *command, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), *cpu, runtime.Version())
	p("the load generator (`cmd/internal/fwbench`) runs on the same machine as fwlog and competes with it for the two cores. ")
	p("Timings on these shared machines are noisy: compare ratios measured in one run, not absolute numbers across runs.\n\n")

	p("## Appends over HTTP\n\n")
	p("fwbench signs %d distinct release envelopes (mean %.0f bytes, one Ed25519 signature each) before it starts the clock, as a build system signs before it submits. ", ap.Entries, ap.EnvelopeBytes)
	p("Then %d concurrent clients POST them to `/v1/entries` on 127.0.0.1. fwlog verifies every submission (strict envelope parse, statement and predicate decode, signature), ", ap.Concurrency)
	p("sequences it durably (SQLite WAL, synchronous=FULL, group commit) and acknowledges it with its index. ")
	p("A watcher polls `/checkpoint` every 5 ms to time each acknowledged entry until a signed checkpoint covers it.\n\n")
	p("| measure | result | target |\n| --- | --- | --- |\n")
	p("| sustained rate, %d entries from an empty log, %d clients | %.0f entries/s | ≥ 13,500/s: %s |\n", ap.Entries, ap.Concurrency, ap.Rate, mark(ap.Rate >= 13500))
	if ok1 && ok2 {
		p("| rate in the window around 10,000 entries (%d–%d) | %.0f entries/s | |\n", at10k.FromSize, at10k.ToSize, at10k.Rate)
		p("| rate in the window around 1,000,000 entries (%d–%d) | %.0f entries/s | |\n", at1m.FromSize, at1m.ToSize, at1m.Rate)
		p("| ratio rate@1M / rate@10k (same run) | %.3f | ≥ 0.95 (within 5%%): %s |\n", ratio, mark(ratio >= 0.95))
	}
	p("| acknowledgement → signed checkpoint, p50 | %.0f ms | |\n", ap.IntegrationP50)
	p("| acknowledgement → signed checkpoint, p99 | %.0f ms | ≤ 150 ms: %s |\n", ap.IntegrationP99, mark(ap.IntegrationP99 <= 150 && ap.IntegrationP99 >= 0))
	p("| acknowledgement → signed checkpoint, max | %.0f ms | |\n", ap.IntegrationMax)
	if ap.ServerCPUPer1000 > 0 {
		p("| fwlog's CPU time (user+sys) during the load | %.0f ms per 1,000 entries | ≤ 100 ms: %s |\n", ap.ServerCPUPer1000, mark(ap.ServerCPUPer1000 <= 100))
	}
	if ap64.Entries > 0 {
		p("| the same load from 64 clients, %d entries into another fresh log | %.0f entries/s, %.0f ms CPU per 1,000 entries | ≥ 10,000/s: %s |\n", ap64.Entries, ap64.Rate, ap64.ServerCPUPer1000, mark(ap64.Rate >= 10000))
	}
	p("| failed submissions | %d | 0 |\n\n", ap.Errors+ap64.Errors)
	p("Rate over the run, per window of about 20,000 entries:\n\n| log size | entries/s |\n| --- | --- |\n")
	for i, w := range ap.WindowRates {
		if i%5 == 0 || i == len(ap.WindowRates)-1 {
			p("| %d–%d | %.0f |\n", w.FromSize, w.ToSize, w.Rate)
		}
	}

	p("\n## Reads over HTTP\n\n")
	p("%d concurrent clients, %.0f s per kind, against the log of %d entries just built. Tiles are random full tiles (level 0, and level 1 in proportion); tlog-proofs are for random entries under the latest checkpoint.\n\n", rd.Concurrency, rd.Seconds, rd.Size)
	p("| request | requests/s | target |\n| --- | --- | --- |\n")
	p("| `GET /checkpoint` | %.0f | ≥ 20,000/s: %s |\n", rd.Rates["checkpoint"], mark(rd.Rates["checkpoint"] >= 20000))
	p("| `GET /tile/<L>/<N>` | %.0f | ≥ 20,000/s: %s |\n", rd.Rates["tile"], mark(rd.Rates["tile"] >= 20000))
	p("| half tiles, half checkpoints | %.0f | |\n", rd.Rates["tile+checkpoint"])
	p("| `GET /v1/proofs/tlog/<index>` | %.0f | ≥ 5,000/s: %s |\n", rd.Rates["tlog-proof"], mark(rd.Rates["tlog-proof"] >= 5000))
	p("| `GET /tile/entries/<N>` (gzip, ~200 KB) | %.0f | |\n", rd.Rates["entry-bundle"])
	p("| failed requests | %d | 0 |\n", rd.Errors)

	p("\n## Releases with provenance\n\n")
	p("A second fresh fwlog that requires provenance. Each of %d requests from %d concurrent clients is one submission of a release and the SLSA provenance it endorses (a JSON array of two envelopes, logged together or not at all); the log verifies both signatures, the endorsement and the subject digest before sequencing.\n\n", pairs.Entries, pairs.Concurrency)
	p("| measure | result | target |\n| --- | --- | --- |\n")
	p("| release+provenance pairs over HTTP | %.0f pairs/s (%.0f entries/s) | ≥ 2,500 pairs/s: %s |\n", pairs.PairRate, pairs.Rate, mark(pairs.PairRate >= 2500))
	p("| acknowledgement → signed checkpoint, p99 | %.0f ms | |\n", pairs.IntegrationP99)
	p("| verifying one pair on one core (`BenchmarkVerifyPair -cpu 1`: parse both, both signatures, endorsement, a policy rule) | %.0f µs | ≤ 200 µs: %s |\n", pairNs/1000, mark(pairNs > 0 && pairNs <= 200_000))
	p("| failed submissions | %d | 0 |\n", pairs.Errors)

	p("\n## Witnesses\n\n")
	p("fwwitness processes on 127.0.0.1 (SQLite state, a durable write before every cosignature), fed by fwbench on the same two cores. ")
	p("Every request carries a checkpoint of a growing tree (1 to 13 entries more each time) signed by the log and the consistency proof from the previous one; the witness verifies the log signature and the proof, cosigns, and stores the checkpoint before answering.\n\n")
	p("| measure | result | target |\n| --- | --- | --- |\n")
	p("| add-checkpoint over HTTP, %d logs at once (one client each) | %.0f requests/s (p50 %.2f ms, p99 %.2f ms) | ≥ 3,000/s: %s |\n", wit.Logs, wit.Rate, wit.P50, wit.P99, mark(wit.Rate >= 3000))
	p("| add-checkpoint over HTTP, one log alone (each request waits for the previous: latency-bound) | %.0f requests/s (p99 %.2f ms) | |\n", wit.SingleLog, wit.SingleLogP99)
	p("| cosigning round, 3 witnesses, quorum 2 of 3 (%d rounds, as fwlog's collector runs them), p50 | %.2f ms | |\n", rounds.Rounds, rounds.P50)
	p("| cosigning round, p99 | %.2f ms | ≤ 50 ms: %s |\n", rounds.P99, mark(rounds.P99 >= 0 && rounds.P99 <= 50))
	p("| cosigning round, max | %.2f ms | |\n", rounds.Max)
	p("| append load (%d entries, %d clients) into a fwlog publishing only checkpoints the 3 witnesses cosigned: rate | %.0f entries/s | |\n", witnessed.Entries, witnessed.Concurrency, witnessed.Rate)
	p("| same run: acknowledgement → witnessed checkpoint, p50 | %.0f ms | |\n", witnessed.IntegrationP50)
	p("| same run: acknowledgement → witnessed checkpoint, p99 | %.0f ms | ≤ 2,000 ms: %s |\n", witnessed.IntegrationP99, mark(witnessed.IntegrationP99 >= 0 && witnessed.IntegrationP99 <= 2000))
	p("| same run: acknowledgement → witnessed checkpoint, max | %.0f ms | |\n", witnessed.IntegrationMax)
	p("| failed requests, rounds and submissions | %d, %d, %d | 0 |\n", wit.Errors, rounds.Errors, witnessed.Errors)
	if ap.Rate > 0 {
		p("\nThe witnessed append rate is %.2f of the unwitnessed one above (same run; the three witnesses share the two cores with fwlog and the load generator).\n", witnessed.Rate/ap.Rate)
	}

	if *abuseFile != "" {
		var ab AbuseResult
		if err := readJSON(*abuseFile, &ab); err != nil {
			return err
		}
		p("%s", abuseSection(ab, ""))
	}

	p("\n## Storage\n\n")
	p("After a clean shutdown (the WAL checkpointed into the database file), for %d entries:\n\n", st.Entries)
	p("| measure | bytes per entry | target |\n| --- | --- | --- |\n")
	p("| database file | %.0f | ≤ 900 for entries of about 770 bytes: %s |\n", st.BytesPerEntry, mark(st.BytesPerEntry <= 900))
	p("| the entry itself (the exact envelope bytes) | %.0f | |\n", st.EntryBytes)
	p("| overhead over the entry | %.0f | |\n", st.OverheadBytes)
	if st.TablePerEntry != nil {
		pe := st.TablePerEntry
		leaf := pe["bundles"] + pe["entries"]
		other := st.BytesPerEntry - leaf - pe["tiles"] - pe["lookup"]
		p("\nThe file by table (SQLite's `dbstat`: pages, including B-tree overhead and free space):\n\n")
		p("| part | table | bytes per entry |\n| --- | --- | --- |\n")
		p("| leaf: the entry bytes, in full entry bundles or not yet bundled | `bundles`, `entries` | %.1f |\n", leaf)
		p("| hashes: the Merkle tree as C2SP tiles | `tiles` | %.1f |\n", pe["tiles"])
		p("| index: image digest (16 bytes, with 4 of the leaf hash, for deduplication), model and model+version of each release, envelope digest of provenance → index | `lookup` | %.1f |\n", pe["lookup"])
		p("| everything else (schema, state, free pages) | | %.1f |\n", other)
	}

	p("\n## Go benchmarks\n\n")
	p("In-process, from `go test -run '^$' -bench . ./...` in the same run:\n\n```\n%s```\n", string(gb))
	p("- `BenchmarkVerifyRelease`: what the log checks per release, on one core.\n")
	p("- `BenchmarkVerifyPair`: a release and its provenance, with a policy rule.\n")
	p("- `BenchmarkAdd`: verified, durable submissions without HTTP (128 goroutines per core).\n")
	p("- `BenchmarkAppendStages`: each stage of the append path alone, per entry: parse, verify, and the SQLite sequencing write and integration of 256 entries (see \"The verified append path, stage by stage\").\n")
	p("- `BenchmarkSequence`: the SQLite storage alone, batches of 64, at two log sizes.\n")
	p("- `BenchmarkInclusionProof`: a proof in a 2^20-leaf tree from cached tiles.\n")
	p("- `BenchmarkVerifyBundle`: a device's offline verification of a bundle with a 1 MiB image.\n")
	p("- `BenchmarkAddCheckpoint`: the witness in process (log signature, consistency proof, cosignature, durable write), one log; `BenchmarkAddCheckpointLogs`: 16 logs at once.\n")
	_, err = os.Stdout.WriteString(b.String())
	return err
}
