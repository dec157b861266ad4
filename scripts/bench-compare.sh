#!/usr/bin/env bash
# Compares this checkout with an earlier commit in one session: builds fwlog
# and fwwitness from BASE (in a temporary git worktree) and from the work
# tree, and runs the same load generator (this checkout's fwbench) against
# each in alternating runs: appends, release+provenance pairs, reads,
# witness add-checkpoint and cosigning rounds, storage per entry. It writes
# the comparison into docs/BENCHMARKS.md, between the markers
# "<!-- compare -->" and "<!-- /compare -->" (appended if absent).
# Usage: scripts/bench-compare.sh BASE        e.g. scripts/bench-compare.sh 4f65f54
#        RUNS=2 ENTRIES=200000 PAIRS=30000 scripts/bench-compare.sh BASE
#        TITLE="Compared with the commit before the redesign" scripts/bench-compare.sh BASE
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
BASE=${1:?usage: scripts/bench-compare.sh BASE-COMMIT}
RUNS=${RUNS:-2}
ENTRIES=${ENTRIES:-200000}
PAIRS=${PAIRS:-30000}
CONCURRENCY=${CONCURRENCY:-256}
READ_DURATION=${READ_DURATION:-5s}
OUT=${OUT:-docs/BENCHMARKS.md}

work=$(mktemp -d)
pids=()
cleanup() {
	if [ ${#pids[@]} -gt 0 ]; then kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; fi
	git worktree remove --force "$work/base-src" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

base=$(git rev-parse --short "$BASE")
head=$(git rev-parse --short HEAD)
# Changes to the report itself (make bench writes it first) are not changes to the build.
[ -z "$(git status --porcelain --untracked-files=no -- . ":(exclude)$OUT")" ] || head="$head+changes"
echo "building $base (base) and $head (head) into $work" >&2
git worktree add --detach --force "$work/base-src" "$BASE" >/dev/null
(cd "$work/base-src" && go build -o "$work/base/" ./cmd/fwlog ./cmd/fwwitness)
go build -o "$work/head/" ./cmd/fwlog ./cmd/fwwitness ./cmd/fwctl
go build -tags sqlite_dbstat -o "$work/head/" ./cmd/internal/fwbench
tools=$work/head
bench_keys "$tools/fwctl" "$work"
"$tools/fwbench" witness-setup --logs 19 --out "$work/wit"


# run BUILD K: one run of every phase against BUILD's binaries, into $work/BUILD-runs/run-K.
run() {
	local bin=$work/$1 out=$work/$1-runs/run-$2 d pid
	mkdir -p "$out"
	d=$(mktemp -d -p "$work")
	echo "== $1 run $2" >&2
	"$bin/fwlog" serve --data "$d/log" --addr 127.0.0.1:0 --origin bench.example/log --release-keys "$work/release.pub" \
		--require-provenance=false 2>"$d/log.err" &
	pid=$!; pids=("$pid")
	url=http://$(serving_addr "$d/log.err")
	"$tools/fwbench" append --log "$url" --key "$work/release.key" --entries "$ENTRIES" --concurrency "$CONCURRENCY" --window 20000 \
		--pid "$pid" >"$out/append.json"
	"$tools/fwbench" read --log "$url" --duration "$READ_DURATION" --concurrency 32 >"$out/read.json"
	kill -TERM "$pid"; wait "$pid"; pids=()
	"$tools/fwbench" storage --data "$d/log" >"$out/storage.json"
	# The same load from 64 clients, a fifth as many entries, into a fresh log.
	"$bin/fwlog" serve --data "$d/log64" --addr 127.0.0.1:0 --origin bench.example/log64 --release-keys "$work/release.pub" \
		--require-provenance=false 2>"$d/log64.err" &
	pid=$!; pids=("$pid")
	url=http://$(serving_addr "$d/log64.err")
	"$tools/fwbench" append --log "$url" --key "$work/release.key" --entries $((ENTRIES / 5)) --seed "$ENTRIES" \
		--concurrency 64 --window 20000 >"$out/append64.json"
	kill -TERM "$pid"; wait "$pid"; pids=()
	"$bin/fwlog" serve --data "$d/pairs" --addr 127.0.0.1:0 --origin bench.example/pairs --release-keys "$work/release.pub" \
		--builder-keys "$work/builder.pub" 2>"$d/pairs.err" &
	pid=$!; pids=("$pid")
	url=http://$(serving_addr "$d/pairs.err")
	"$tools/fwbench" append --log "$url" --key "$work/release.key" --builder-key "$work/builder.key" --entries "$PAIRS" \
		--concurrency "$CONCURRENCY" --window 20000 >"$out/pairs.json"
	kill -TERM "$pid"; wait "$pid"; pids=()
	# One witness under 16 logs; then three (2 of 3) for cosigning rounds.
	local w waddr
	for w in w0 wa wb wc; do
		"$tools/fwctl" keygen --name "$w.$2.$1.bench.example" --out "$d/$w" >/dev/null
	done
	"$bin/fwwitness" serve --key "$d/w0.key" --logs "$work/wit/logs.txt" --data "$d/w0" --addr 127.0.0.1:0 --rate-limit 0 2>"$d/w0.err" &
	pid=$!; pids=("$pid")
	waddr=$(serving_addr "$d/w0.err")
	"$tools/fwbench" witness --witness "http://$waddr" --keys "$work/wit" --logs 16 --requests 64000 >"$out/witness.json"
	kill -TERM "$pid"; wait "$pid"; pids=()
	{
		echo "log $(head -1 "$work/wit/log-17.pub")"
		for w in wa wb wc; do
			"$bin/fwwitness" serve --key "$d/$w.key" --logs "$work/wit/logs.txt" --data "$d/$w" --addr 127.0.0.1:0 --rate-limit 0 2>"$d/$w.err" &
			pids+=($!)
			echo "witness $w $("$tools/fwwitness" vkey --key "$d/$w.pub") http://$(serving_addr "$d/$w.err")"
		done
		echo "group two-of-three 2 wa wb wc"
		echo "quorum two-of-three"
	} >"$d/policy.txt"
	"$tools/fwbench" rounds --policy "$d/policy.txt" --key "$work/wit/log-17.key" --rounds 3000 >"$out/rounds.json"
	kill -TERM "${pids[@]}"; wait "${pids[@]}"; pids=()
	rm -rf "$d"
}

for k in $(seq "$RUNS"); do
	run base "$k"
	run head "$k"
done

cmd="scripts/bench-compare.sh $BASE"
[ "$ENTRIES" != 200000 ] && cmd="ENTRIES=$ENTRIES $cmd"
section=$("$tools/fwbench" compare --base "$work/base-runs" --head "$work/head-runs" --base-name "$base" --head-name "$head" --command "$cmd")
cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
{
	echo "<!-- compare -->"
	echo "## ${TITLE:-Compared with $BASE}"
	echo
	echo "Run on $(date -u +%Y-%m-%d) ($(nproc) cores, $cpu, $(go env GOVERSION)); $RUNS runs of each build, $ENTRIES bare releases and $PAIRS release+provenance pairs per run, reads $READ_DURATION per kind."
	echo
	echo "$section"
	echo "<!-- /compare -->"
} >"$work/section.md"
if grep -q '^<!-- compare -->' "$OUT"; then
	awk -v f="$work/section.md" '
		/^<!-- compare -->/ { while ((getline l < f) > 0) print l; skip = 1; next }
		/^<!-- \/compare -->/ { skip = 0; next }
		!skip' "$OUT" >"$work/out.md"
	cp "$work/out.md" "$OUT"
else
	{ echo; cat "$work/section.md"; } >>"$OUT"
fi
echo "wrote the comparison into $OUT" >&2
