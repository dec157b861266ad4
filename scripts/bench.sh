#!/usr/bin/env bash
# Runs fwledger's benchmarks and writes docs/BENCHMARKS.md:
#   1. the HTTP append load: ENTRIES (default 1,020,000) distinct releases from
#      CONCURRENCY (default 256) clients into a fresh fwlog on 127.0.0.1;
#   2. the HTTP read load on the log just built (READ_DURATION per kind);
#   3. storage per entry after a clean shutdown;
#   4. release+provenance pairs over HTTP into a second fresh fwlog that
#      requires provenance (PAIRS, default 60,000 pairs);
#   5. witnesses: add-checkpoint requests/s of one fwwitness (16 logs at once, and
#      one log alone), cosigning rounds with three fwwitness under a 2-of-3
#      policy, and the append load (WITNESSED_ENTRIES, default 200,000) into a
#      fwlog that publishes only checkpoints the three witnesses cosigned;
#   6. abuse without a key: 300 connections holding 2 MiB bodies into a fresh fwlog
#      while releases with provenance are submitted (scripts/abuse.sh alone);
#   7. the Go benchmarks (go test -bench), and BenchmarkVerifyPair on one core.
#   8. with BASE set, scripts/bench-compare.sh BASE: the same loads against
#      fwlog and fwwitness built from commit BASE, in the same session.
# Usage: scripts/bench.sh            (or: make bench)
#        ENTRIES=100000 scripts/bench.sh   for a quick run (no 1M comparison)
#        BASE=2b68ffb make bench           beside commit 2b68ffb
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ENTRIES=${ENTRIES:-1020000}
CONCURRENCY=${CONCURRENCY:-256}
READ_DURATION=${READ_DURATION:-10s}
PAIRS=${PAIRS:-60000}
WITNESSED_ENTRIES=${WITNESSED_ENTRIES:-200000}
OUT=${OUT:-docs/BENCHMARKS.md}
KEEP=${KEEP:-}   # a directory to keep the raw results (JSON) in

work=$(mktemp -d)
pid=
wpids=()
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	if [ ${#wpids[@]} -gt 0 ]; then kill "${wpids[@]}" 2>/dev/null || true; wait "${wpids[@]}" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "building into $work/bin" >&2
go build -o "$work/bin/" ./cmd/fwlog ./cmd/fwctl ./cmd/fwwitness
# fwbench reads the stopped log's database; sqlite_dbstat gives the per-table sizes.
go build -tags sqlite_dbstat -o "$work/bin/" ./cmd/internal/fwbench
bin=$work/bin
bench_keys "$bin/fwctl" "$work"


# start_log DATA ARGS... starts fwlog and sets pid and url.
start_log() {
	local data=$1
	shift
	"$bin/fwlog" serve --data "$data" --addr 127.0.0.1:0 --log-level info "$@" 2>"$data.log" &
	pid=$!
	url=http://$(serving_addr "$data.log")
	echo "fwlog serving at $url" >&2
}

# The append load is bare releases (entries/s); provenance is measured apart.
start_log "$work/data" --origin bench.example/log --release-keys "$work/release.pub" --require-provenance=false
echo "append: $ENTRIES entries, $CONCURRENCY clients" >&2
"$bin/fwbench" append --log "$url" --key "$work/release.key" --entries "$ENTRIES" \
	--concurrency "$CONCURRENCY" --window 20000 --pid "$pid" >"$work/append.json"
echo "read: $READ_DURATION per kind" >&2
"$bin/fwbench" read --log "$url" --duration "$READ_DURATION" --concurrency 32 >"$work/read.json"

kill -TERM "$pid"
wait "$pid" || { echo "fwlog did not shut down cleanly" >&2; exit 1; }
pid=
"$bin/fwbench" storage --data "$work/data" >"$work/storage.json"

# The same load from 64 clients, into another fresh log.
n64=$((ENTRIES / 5))
echo "append: $n64 entries, 64 clients" >&2
start_log "$work/data64" --origin bench.example/log64 --release-keys "$work/release.pub" --require-provenance=false
"$bin/fwbench" append --log "$url" --key "$work/release.key" --entries "$n64" --seed "$ENTRIES" \
	--concurrency 64 --window 20000 --pid "$pid" >"$work/append64.json"
kill -TERM "$pid"
wait "$pid" || { echo "fwlog did not shut down cleanly" >&2; exit 1; }
pid=

echo "pairs: $PAIRS release+provenance submissions" >&2
start_log "$work/pairs" --origin bench.example/pairs --release-keys "$work/release.pub" --builder-keys "$work/builder.pub"
"$bin/fwbench" append --log "$url" --key "$work/release.key" --builder-key "$work/builder.key" --entries "$PAIRS" \
	--concurrency "$CONCURRENCY" --window 20000 >"$work/pairs.json"
kill -TERM "$pid"
wait "$pid" || { echo "fwlog did not shut down cleanly" >&2; exit 1; }
pid=

echo "witnesses" >&2
# start_witness NAME: starts fwwitness NAME following the setup's logs; sets waddr.
start_witness() {
	"$bin/fwctl" keygen --name "$1.bench.example" --out "$work/wit/$1" >/dev/null
	"$bin/fwwitness" serve --key "$work/wit/$1.key" --logs "$work/wit/logs.txt" --data "$work/wit/$1" \
		--addr 127.0.0.1:0 --rate-limit 0 2>"$work/wit/$1.log" &
	wpids+=($!)
	waddr=$(serving_addr "$work/wit/$1.log")
}
"$bin/fwbench" witness-setup --logs 19 --out "$work/wit"
start_witness w0
"$bin/fwbench" witness --witness "http://$waddr" --keys "$work/wit" --logs 16 --requests 64000 >"$work/witness.json"
kill -TERM "${wpids[@]}"
wait "${wpids[@]}"
wpids=()
# Three witnesses under a 2-of-3 policy, for log 17 (rounds) and log 18 (fwlog).
policy() {
	echo "log $(head -1 "$work/wit/log-$1.pub")"
	for w in a b c; do
		echo "witness $w $("$bin/fwwitness" vkey --key "$work/wit/w$w.pub") ${wurl[$w]}"
	done
	echo "group two-of-three 2 a b c"
	echo "quorum two-of-three"
}
declare -A wurl
for w in a b c; do
	start_witness "w$w"
	wurl[$w]=http://$waddr
done
policy 17 >"$work/wit/policy-17.txt"
policy 18 >"$work/wit/policy-18.txt"
"$bin/fwbench" rounds --policy "$work/wit/policy-17.txt" --key "$work/wit/log-17.key" --rounds 3000 >"$work/rounds.json"
start_log "$work/witnessed" --key "$work/wit/log-18.key" --release-keys "$work/release.pub" --require-provenance=false \
	--witness-policy "$work/wit/policy-18.txt"
"$bin/fwbench" append --log "$url" --key "$work/release.key" --entries "$WITNESSED_ENTRIES" --seed 5000000 \
	--concurrency "$CONCURRENCY" --window 20000 >"$work/witnessed.json"
kill -TERM "$pid"
wait "$pid" || { echo "fwlog did not shut down cleanly" >&2; exit 1; }
pid=
kill -TERM "${wpids[@]}"
wait "${wpids[@]}"
wpids=()

echo "abuse: 300 held bodies" >&2
start_log "$work/abuse" --origin bench.example/abuse --release-keys "$work/release.pub" --builder-keys "$work/builder.pub"
"$bin/fwbench" abuse --log "$url" --pid "$pid" --key "$work/release.key" --builder-key "$work/builder.key" >"$work/abuse.json"
kill -TERM "$pid"
wait "$pid" || { echo "fwlog did not shut down cleanly" >&2; exit 1; }
pid=

echo "go benchmarks" >&2
go test -run '^$' -bench . -benchtime 2s -count 1 \
	./provenance ./ledger ./log ./tiles ./log/sqlite ./client ./witness 2>&1 | grep -E '^(Benchmark|goos|goarch|cpu:)' | awk '/^Benchmark/ || !seen[$0]++' >"$work/gobench.txt"
go test -run '^$' -bench 'VerifyPair' -benchtime 3s -count 1 -cpu 1 ./provenance 2>&1 | grep -E '^Benchmark' >"$work/pair1cpu.txt"

cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
cmd="make bench"
[ "$ENTRIES" != 1020000 ] && cmd="ENTRIES=$ENTRIES $cmd"
[ -n "${BASE:-}" ] && cmd="BASE=$BASE $cmd"
"$bin/fwbench" report --append "$work/append.json" --append64 "$work/append64.json" --read "$work/read.json" --storage "$work/storage.json" \
	--gobench "$work/gobench.txt" --pairs "$work/pairs.json" --pair1cpu "$work/pair1cpu.txt" \
	--witness "$work/witness.json" --rounds "$work/rounds.json" --witnessed "$work/witnessed.json" --abuse "$work/abuse.json" --command "$cmd" --cpu "$cpu" >"$work/report.md"
echo "device verifier size" >&2
CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$work/minverify" ./cmd/internal/minverify
{
	echo
	echo "## The device verifier"
	echo
	echo "A stripped binary that only verifies a bundle (\`CGO_ENABLED=0 go build -trimpath -ldflags=-s ./cmd/internal/minverify\`): $(stat -c %s "$work/minverify") bytes, $(go list -deps ./cmd/internal/minverify | wc -l) packages."
} >>"$work/report.md"
# Keep the comparison that scripts/bench-compare.sh wrote, if any, and the
# notes after it.
if [ -f "$OUT" ] && grep -q '^<!-- compare -->' "$OUT"; then
	{ echo; sed -n '/^<!-- compare -->/,$p' "$OUT"; } >>"$work/report.md"
fi
cp "$work/report.md" "$OUT"
echo "wrote $OUT" >&2
if [ -n "$KEEP" ]; then mkdir -p "$KEEP" && cp "$work"/*.json "$work"/*.txt "$KEEP"/; fi
if [ -n "${BASE:-}" ]; then
	echo "comparison with $BASE" >&2
	OUT=$OUT TITLE="${TITLE:-Compared with $BASE, in the same session}" scripts/bench-compare.sh "$BASE"
fi
