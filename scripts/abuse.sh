#!/usr/bin/env bash
# Measures issue 8's attack without a key on a fresh fwlog with its default limits:
# CONNS (default 300) connections each send a POST /v1/entries body of 2 MiB - 1 bytes
# and hold, while LEGIT (default 300) releases with provenance are submitted. Prints
# fwlog's peak RSS, the legitimate submissions' p50/p99 and how long the held
# connections lived, as JSON, or with MARKDOWN=1 as the section of docs/BENCHMARKS.md.
# Usage: scripts/abuse.sh      (make bench runs the same phase into BENCHMARKS.md)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
CONNS=${CONNS:-300}
LEGIT=${LEGIT:-300}

work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/bin/" ./cmd/fwlog ./cmd/fwctl ./cmd/internal/fwbench
bin=$work/bin
bench_keys "$bin/fwctl" "$work"
"$bin/fwlog" serve --data "$work/data" --addr 127.0.0.1:0 --origin bench.example/abuse \
	--release-keys "$work/release.pub" --builder-keys "$work/builder.pub" 2>"$work/fwlog.log" &
pid=$!
addr=$(serving_addr "$work/fwlog.log")
md=()
[ -n "${MARKDOWN:-}" ] && md=(--markdown scripts/abuse.sh)
"$bin/fwbench" abuse --log "http://$addr" --pid "$pid" --key "$work/release.key" --builder-key "$work/builder.key" \
	--conns "$CONNS" --legit "$LEGIT" "${md[@]}"
kill -TERM "$pid"
wait "$pid" || { echo "fwlog did not shut down cleanly" >&2; exit 1; }
pid=
