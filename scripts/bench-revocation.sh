#!/usr/bin/env bash
# Measures what revocation checks cost the append path (issue 11): in one
# session, builds fwlog from BASE (a commit before revocations, in a git
# worktree) and from the work tree, and runs the same append load
# (fwbench, 256 clients) in alternating runs: BASE as it is, and the work
# tree with revocation keys and REVOCATIONS logged revocations (of other
# keys and images), so that every release is judged against them. Writes a
# section of docs/BENCHMARKS.md between "<!-- revocation -->" and
# "<!-- /revocation -->" (appended if absent).
# Usage: scripts/bench-revocation.sh BASE     e.g. scripts/bench-revocation.sh f8938ef
#        RUNS=3 ENTRIES=100000 REVOCATIONS=8 scripts/bench-revocation.sh BASE
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
BASE=${1:?usage: scripts/bench-revocation.sh BASE-COMMIT}
RUNS=${RUNS:-3}
ENTRIES=${ENTRIES:-100000}
REVOCATIONS=${REVOCATIONS:-8}
OUT=${OUT:-docs/BENCHMARKS.md}

work=$(mktemp -d)
pid=
cleanup() {
	[ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
	git worktree remove --force "$work/base-src" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

base=$(git rev-parse --short "$BASE")
head=$(git rev-parse --short HEAD)
[ -z "$(git status --porcelain --untracked-files=no -- . ":(exclude)$OUT")" ] || head="$head+changes"
echo "building $base (base) and $head (head) into $work" >&2
git worktree add --detach --force "$work/base-src" "$BASE" >/dev/null
(cd "$work/base-src" && go build -o "$work/base/" ./cmd/fwlog)
go build -o "$work/head/" ./cmd/fwlog ./cmd/fwctl
go build -tags sqlite_dbstat -o "$work/head/" ./cmd/internal/fwbench
tools=$work/head
bench_keys "$tools/fwctl" "$work"
for k in security-1 security-2; do
	"$tools/fwctl" keygen --name "bench.example/$k" --out "$work/$k" >/dev/null
done
# The revocations: half of other keys (from index 0), half of other images.
for i in $(seq "$REVOCATIONS"); do
	if [ $((i % 2)) = 0 ]; then
		"$tools/fwctl" keygen --name "bench.example/old-$i" --out "$work/old-$i" >/dev/null
		id=$("$tools/fwctl" keygen --name "bench.example/other-$i" --out "$work/other-$i" | sed -n 's/.*"key_id":"\([0-9a-f]*\)".*/\1/p')
		"$tools/fwctl" revoke key --key-id "$id" --from-index 0 --reason "benchmark $i" \
			--key "$work/security-1.key" --key "$work/security-2.key" --out "$work/rev-$i.json"
	else
		"$tools/fwctl" revoke release --image-digest "sha256:$(printf '%064x' "$i")" --reason "benchmark $i" \
			--key "$work/security-1.key" --key "$work/security-2.key" --out "$work/rev-$i.json"
	fi
done

# run BUILD K: one append run against BUILD's fwlog into $work/BUILD-K.json.
run() {
	local d extra=()
	d=$(mktemp -d -p "$work")
	if [ "$1" = head ]; then
		extra=(--revocation-keys "$work/security-1.pub" --revocation-keys "$work/security-2.pub" --revocation-threshold 2)
	fi
	echo "== $1 run $2" >&2
	"$work/$1/fwlog" serve --data "$d/log" --addr 127.0.0.1:0 --origin bench.example/log --release-keys "$work/release.pub" \
		--require-provenance=false "${extra[@]}" 2>"$d/log.err" &
	pid=$!
	url=http://$(serving_addr "$d/log.err")
	if [ "$1" = head ]; then
		"$tools/fwctl" submit --log "$url" "$work"/rev-*.json >/dev/null
		[ "$(curl -s "$url/v1/revocations" | grep -o '"index"' | wc -l)" = "$REVOCATIONS" ] || { echo "the revocations were not logged" >&2; exit 1; }
	fi
	"$tools/fwbench" append --log "$url" --key "$work/release.key" --entries "$ENTRIES" --seed $((1000000 * $2)) \
		--concurrency 256 --window 20000 --pid "$pid" >"$work/$1-$2.json"
	kill -TERM "$pid"; wait "$pid"; pid=
	rm -rf "$d"
}
for k in $(seq "$RUNS"); do
	run base "$k"
	run head "$k"
done

python3 - "$work" "$RUNS" "$base" "$head" "$ENTRIES" "$REVOCATIONS" "$OUT" <<'PY'
import json, sys, re, statistics
work, runs, base, head, n, revs, out = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
get = lambda b, k: json.load(open(f"{work}/{b}-{k}.json"))
rows, ratios = [], []
for k in range(1, runs + 1):
    b, h = get("base", k), get("head", k)
    r = h["entries_per_second"] / b["entries_per_second"]
    ratios.append(r)
    rows.append(f"| {k} | {b['entries_per_second']:,.0f} | {h['entries_per_second']:,.0f} | {r:.3f} | {b['server_cpu_ms_per_1000_entries']:.0f} | {h['server_cpu_ms_per_1000_entries']:.0f} | {b['ack_to_checkpoint_p99_ms']:.0f} / {h['ack_to_checkpoint_p99_ms']:.0f} |")
med = statistics.median(ratios)
sec = f"""<!-- revocation -->
### Revocation checks on the append path (issue 11)

`scripts/bench-revocation.sh {base}`: {runs} alternating runs of {int(n):,} releases from 256 clients (fwbench append)
against fwlog at {base} (before revocations) and at {head} with two revocation keys (threshold 2) and {revs}
logged revocations (half of other keys, half of other images), so that each release is judged against
them, and every checkpoint carries the revocation commitment.

| run | {base} entries/s | {head} entries/s | ratio | {base} CPU ms/1000 | {head} CPU ms/1000 | p99 ack→checkpoint ms |
| --- | --- | --- | --- | --- | --- | --- |
""" + "\n".join(rows) + f"""

Median ratio {med:.3f}: the goal is at least 0.900 (within 10%).
<!-- /revocation -->"""
doc = open(out).read()
if "<!-- revocation -->" in doc:
    doc = re.sub(r"<!-- revocation -->.*?<!-- /revocation -->", lambda m: sec, doc, flags=re.S)
else:
    doc = doc.rstrip("\n") + "\n\n" + sec + "\n"
open(out, "w").write(doc)
print(sec)
PY
