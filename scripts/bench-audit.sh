#!/usr/bin/env bash
# The auditor's numbers (issue 13), in one session, into the section of
# docs/BENCHMARKS.md between "<!-- audit -->" and "<!-- /audit -->". For
# each size N of SIZES: a fresh fwlog, into which fwbench appends 4N/9
# release+provenance pairs (256 clients, one security version for all, so
# that their order in the log raises nothing), an independent rebuild of
# one release in four (SLSA provenance of the same image by a second
# builder key, which the release does not endorse, submitted once the
# release is acknowledged), and three revocations of other images: about
# N entries; its append rate; then fwctl audit --once from a fresh state,
# trusting both builder keys: wall time, entries/s, peak RSS (GNU time),
# and the alerts it raised (none, on these clean logs: the no-false-alert
# check).
# Usage: scripts/bench-audit.sh          (or: make bench-audit)
#        SIZES="10000 100000 1000000" scripts/bench-audit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
SIZES=${SIZES:-"10000 100000"}
OUT=${OUT:-docs/BENCHMARKS.md}

work=$(mktemp -d)
pid=
cleanup() {
	[ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
	rm -rf "$work"
}
trap cleanup EXIT
bin=$work/bin
go build -o "$bin/" ./cmd/fwlog ./cmd/fwctl ./cmd/internal/fwbench
bench_keys "$bin/fwctl" "$work"
"$bin/fwctl" keygen --name bench.example/log --out "$work/log" >/dev/null
"$bin/fwctl" keygen --name bench.example/rebuilder --out "$work/rebuilder" >/dev/null
"$bin/fwctl" keygen --name bench.example/security --out "$work/security" >/dev/null
for i in 1 2 3; do
	"$bin/fwctl" revoke release --image-digest "sha256:$(printf '%064x' "$i")" --reason "benchmark $i" --key "$work/security.key" --out "$work/rev-$i.json" 2>/dev/null
done

rows=""
for n in $SIZES; do
	pairs=$((n * 4 / 9)) # 2 entries each, and a rebuild of one in 4: n entries
	d=$work/log-$n
	"$bin/fwlog" serve --data "$d" --key "$work/log.key" --addr 127.0.0.1:0 --release-keys "$work/release.pub" \
		--builder-keys "$work/builder.pub" --builder-keys "$work/rebuilder.pub" --revocation-keys "$work/security.pub" >"$d.log" 2>&1 &
	pid=$!
	l=http://$(serving_addr "$d.log")
	echo "log of $n entries: appending" >&2
	"$bin/fwbench" append --log "$l" --key "$work/release.key" --builder-key "$work/builder.key" \
		--rebuilder-key "$work/rebuilder.key" --rebuild-every 4 --entries "$pairs" \
		--concurrency 256 --security-version 1 >"$work/append-$n.json"
	append_rate=$(sed 's/.*"entries_per_second":\([0-9.]*\).*/\1/' "$work/append-$n.json")
	appended=$(sed 's/.*"log_entries":\([0-9]*\).*/\1/' "$work/append-$n.json")
	rebuilds=$(sed 's/.*"rebuilds":\([0-9]*\).*/\1/' "$work/append-$n.json")
	[ "$(sed 's/.*"errors":\([0-9]*\).*/\1/' "$work/append-$n.json")" = 0 ] || { cat "$work/append-$n.json" >&2; echo "the log refused submissions" >&2; exit 1; }
	for i in 1 2 3; do
		"$bin/fwctl" submit --log "$l" "$work/rev-$i.json" >/dev/null 2>&1
	done
	total=$((appended + 3))
	for _ in $(seq 300); do
		[ "$(curl -s "$l/checkpoint" | sed -n 2p)" = "$total" ] && break
		sleep 0.2
	done
	echo "log of $n entries: auditing" >&2
	s=$(date +%s.%N)
	code=0
	/usr/bin/time -f '%M' -o "$work/audit-$n.rss" "$bin/fwctl" audit --log "$l" --log-key "$work/log.pub" --release-keys "$work/release.pub" \
		--builder-keys "$work/builder.pub" --builder-keys "$work/rebuilder.pub" --revocation-keys "$work/security.pub" --state "$work/audit-$n" --once \
		>"$work/audit-$n.alerts" 2>"$work/audit-$n.err" || code=$?
	e=$(date +%s.%N)
	kill "$pid"; wait "$pid" 2>/dev/null || true
	pid=
	secs=$(echo "$e - $s" | bc -l)
	rate=$(echo "$total / $secs" | bc -l)
	alerts=$(wc -l <"$work/audit-$n.alerts")
	rows+="| $total | $rebuilds | $(printf '%.0f' "$append_rate") | $(printf '%.1f' "$secs") s | $(printf '%.0f' "$rate") | $(printf '%.2f' "$(echo "$rate / $append_rate" | bc -l)") | $(( $(cat "$work/audit-$n.rss") / 1024 )) MiB | $alerts (exit $code) |"$'\n'
done

commit=$(git rev-parse --short HEAD)
[ -z "$(git status --porcelain --untracked-files=no -- . ":(exclude)$OUT")" ] || commit="$commit+changes"
section=$(cat <<SECTION
<!-- audit -->
## The auditor (issue 13)

\`scripts/bench-audit.sh\` (\`make bench-audit\`), at $commit, on this machine ($(nproc) cores), $(date -u +%Y-%m-%d).
For each size, a fresh fwlog into which fwbench appends release+provenance pairs (256 clients, one
security version), independent rebuilds of one release in four (provenance of the same image by a
second builder key, not endorsed by the release, submitted once the release is acknowledged) and
three revocations; then \`fwctl audit --once\` from a fresh state, trusting both builder keys: every
checkpoint verified, the tree rebuilt from the entries, every entry judged (each release's
signature and its provenance's, each rebuild's signature, each revocation's), state in SQLite.
The entries column counts them all, rebuilds included; the append rate is the log's for all of
them, measured in the same run.

| entries | of which rebuilds | log append entries/s | audit (wall) | audit entries/s | audit / append | peak RSS | alerts |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows%$'\n'}
<!-- /audit -->
SECTION
)
write_section audit "$section" "$OUT"
echo "$section"
