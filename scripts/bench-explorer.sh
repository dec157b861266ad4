#!/usr/bin/env bash
# The web explorer's benchmark, in one session, written to its section of
# docs/BENCHMARKS.md:
#   1. a fresh fwlog on SQLite is filled to ENTRIES (default 1,000,000) entries:
#      release+provenance pairs, with a rebuild of one release in four;
#   2. fwbench explorer asks for each kind of page (home, entry, searches by
#      digest, model, model and version, key, the model page, witnesses) for
#      DURATION (default 5s) each, one request at a time: latency at that size
#      (fwlog runs with --explorer-rate 0 for this, so that the rate bound
#      does not add waits to what is measured);
#   3. fwlog is restarted with the explorer's defaults, and APPENDS (default
#      60,000) bare releases are appended four times in a row from 256
#      clients: without explorer traffic; with fwbench explorer --load asking
#      for pages from LOAD_CLIENTS (default 4) clients as fast as they are
#      served; with PAGE_RATE (default 20) pages a second; and without again.
#      The rates are compared within the run.
# Usage: scripts/bench-explorer.sh     (or: make bench-explorer)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ENTRIES=${ENTRIES:-1000000}
APPENDS=${APPENDS:-60000}
DURATION=${DURATION:-5s}
LOAD_CLIENTS=${LOAD_CLIENTS:-4}
PAGE_RATE=${PAGE_RATE:-20}
OUT=${OUT:-docs/BENCHMARKS.md}

work=$(mktemp -d)
pid=
lpid=
cleanup() {
	if [ -n "$lpid" ]; then kill "$lpid" 2>/dev/null || true; wait "$lpid" 2>/dev/null || true; fi
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "building into $work/bin" >&2
go build -o "$work/bin/" ./cmd/fwlog ./cmd/fwctl ./cmd/internal/fwbench
bin=$work/bin
bench_keys "$bin/fwctl" "$work"
"$bin/fwctl" keygen --name bench.example/rebuilder --out "$work/rebuilder" >/dev/null

# start_log ARGS...: starts fwlog on the benchmark's data directory; sets pid and url.
start_log() {
	"$bin/fwlog" serve --data "$work/data" --origin bench.example/explorer --addr 127.0.0.1:0 \
		--release-keys "$work/release.pub" --builder-keys "$work/builder.pub" --builder-keys "$work/rebuilder.pub" \
		--require-provenance=false "$@" 2>"$work/fwlog.log" &
	pid=$!
	url=http://$(serving_addr "$work/fwlog.log")
}
stop_log() {
	kill -TERM "$pid"
	wait "$pid" || { echo "fwlog did not shut down cleanly" >&2; exit 1; }
	pid=
}
start_log --explorer-rate 0

# A pair is 2 entries, and one pair in four brings a rebuild: 2.25 entries a pair.
pairs=$((ENTRIES * 4 / 9))
echo "filling the log: $pairs pairs (about $ENTRIES entries)" >&2
"$bin/fwbench" append --log "$url" --key "$work/release.key" --builder-key "$work/builder.key" \
	--rebuilder-key "$work/rebuilder.key" --rebuild-every 4 --entries "$pairs" --concurrency 256 >"$work/fill.json"

echo "explorer latency, $DURATION per kind" >&2
"$bin/fwbench" explorer --log "$url" --key "$work/release.key" --entries "$pairs" --duration "$DURATION" >"$work/latency.json"

stop_log
start_log
append() {
	"$bin/fwbench" append --log "$url" --key "$work/release.key" --entries "$APPENDS" --seed "$1" \
		--concurrency 256 --window 20000 >"$work/$2.json"
}
echo "appends without explorer traffic" >&2
append 10000000 before
echo "appends with explorer traffic from $LOAD_CLIENTS clients" >&2
"$bin/fwbench" explorer --log "$url" --key "$work/release.key" --entries "$pairs" --concurrency "$LOAD_CLIENTS" --load >"$work/load.json" &
lpid=$!
append 20000000 with
kill -TERM "$lpid"
wait "$lpid"
lpid=
echo "appends with $PAGE_RATE explorer pages a second" >&2
"$bin/fwbench" explorer --log "$url" --key "$work/release.key" --entries "$pairs" --concurrency "$LOAD_CLIENTS" --load --rate "$PAGE_RATE" >"$work/paced-load.json" &
lpid=$!
append 40000000 paced
kill -TERM "$lpid"
wait "$lpid"
lpid=
echo "appends without explorer traffic, again" >&2
append 30000000 after

stop_log

cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
cmd="make bench-explorer"
[ "$ENTRIES" != 1000000 ] && cmd="ENTRIES=$ENTRIES $cmd"
section=$("$bin/fwbench" explorer-report --latency "$work/latency.json" --before "$work/before.json" --with "$work/with.json" \
	--after "$work/after.json" --load "$work/load.json" --paced "$work/paced.json" --paced-load "$work/paced-load.json" --command "$cmd" --cpu "$cpu")
write_section explorer "$section" "$OUT"
echo "wrote the explorer's section of $OUT" >&2
