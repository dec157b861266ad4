#!/usr/bin/env bash
# fwlog on Trillian against Trillian alone (issue 14), in one session, into
# the section of docs/BENCHMARKS.md between "<!-- trillian -->" and
# "<!-- /trillian -->": one table, a row per setup, each fed the same
# ENTRIES release envelopes (fwbench's generator, seed 0: the very bytes
# fwlog logs) from CONCURRENCY clients:
#   - fwlog on SQLite
#   - fwlog on Trillian, one frontend
#   - fwlog on Trillian, two frontends (the clients spread over both)
#   - Trillian alone, QueueLeaf on a fresh LOG tree, one leaf a call
#   - Trillian alone, AddSequencedLeaves on a fresh PREORDERED_LOG tree, in
#     batches of BATCH at consecutive indices, CONCURRENCY calls in flight
# For each: appends/s, acknowledgement-to-signed-root latency p50/p99,
# inclusion proofs/s (CONCURRENCY clients for PROOF_DURATION) and the CPU
# time per 1,000 entries of every process of the setup (Trillian's two and
# MariaDB for the Trillian setups).
#
# Trillian and MariaDB are scripts/trillian.sh up's (make trillian-up): this
# script starts them if they are not running (up is idempotent) and never
# stops them. TRILLIAN_DIR names the state directory of a set-up that
# another checkout's scripts/trillian.sh started (default: this checkout's
# local/trillian); the script then only uses it. The raw runs create their
# own trees and delete them (DeleteTree, a soft delete) when done.
#
# Usage: scripts/bench-trillian.sh        (or: make bench-trillian)
#        ENTRIES=20000 scripts/bench-trillian.sh
#        TRILLIAN_DIR=/other/checkout/local/trillian scripts/bench-trillian.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ENTRIES=${ENTRIES:-100000}
CONCURRENCY=${CONCURRENCY:-64}
BATCH=${BATCH:-100}
PROOF_DURATION=${PROOF_DURATION:-10s}
OUT=${OUT:-docs/BENCHMARKS.md}
KEEP=${KEEP:-} # a directory to keep the raw results (JSON) in
TRILLIAN_DIR=${TRILLIAN_DIR:-local/trillian}

# Trillian and MariaDB.
alive() { [ -f "$TRILLIAN_DIR/pids/$1" ] && kill -0 "$(cat "$TRILLIAN_DIR/pids/$1")" 2>/dev/null; }
if ! alive mariadbd || ! alive trillian_log_server || ! alive trillian_log_signer; then
	if [ "$TRILLIAN_DIR" != local/trillian ]; then
		echo "the Trillian set-up in $TRILLIAN_DIR is not running: run scripts/trillian.sh up in its checkout" >&2
		exit 1
	fi
	scripts/trillian.sh up >/dev/null
fi
. "$TRILLIAN_DIR/env"
trillian_pids=$(cat "$TRILLIAN_DIR/pids/trillian_log_server"),$(cat "$TRILLIAN_DIR/pids/trillian_log_signer"),$(cat "$TRILLIAN_DIR/pids/mariadbd")
# Trillian's own database (its table of signed roots times integration),
# with fwlog's database's user, as scripts/trillian.sh grants.
trillian_db=${FWLEDGER_MYSQL%/*}/trillian

work=$(mktemp -d)
pids=()
dbs=()
trees=()
cleanup() {
	if [ ${#pids[@]} -gt 0 ]; then kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; fi
	for d in ${dbs[@]+"${dbs[@]}"}; do drop_db "$d" || true; done
	for t in ${trees[@]+"${trees[@]}"}; do delete_tree "$t" || true; done
	rm -rf "$work"
}
trap cleanup EXIT
bin=$work/bin
echo "building into $bin" >&2
go build -o "$bin/" ./cmd/fwlog ./cmd/fwctl ./cmd/internal/fwbench
bench_keys "$bin/fwctl" "$work"

# json FILE FIELD: a number field of a one-line JSON object.
json() { sed -n "s/.*\"$2\":\(-\{0,1\}[0-9][0-9.e+-]*\).*/\1/p" "$1" | head -1; }
# round NUMBER: to an integer.
round() { printf '%.0f' "$1"; }

# add_row SETUP RATE P50_MS P99_MS PROOFS_PER_S CPU_CELL: a row of the table.
rows=""
add_row() {
	rows+="| $1 | $(round "$2") | $(round "$3") / $(round "$4") ms | $(round "$5") | $6 |"$'\n'
}

# mysql_client DSN ARGS...: the mariadb client on a Go MySQL DSN's server,
# as its user (the password in the environment, not on the command line).
mysql_client() {
	local dsn=$1 user pw hostport
	shift
	user=${dsn%%:*}
	pw=${dsn#*:}
	pw=${pw%%@tcp(*}
	hostport=${dsn#*@tcp(}
	hostport=${hostport%%)*}
	MYSQL_PWD=$pw mariadb --no-defaults -h "${hostport%:*}" -P "${hostport##*:}" -u "$user" "$@"
}
# fresh_db: creates an empty database fwlog_bench_<random> on fwlog's
# MySQL server, dropped on exit, and sets db_dsn to its DSN. (Call it
# directly, not in $(...), so that the exit knows to drop it.)
fresh_db() {
	local name
	name=fwlog_bench_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
	mysql_client "$FWLEDGER_MYSQL" -e "CREATE DATABASE $name"
	dbs+=("$name")
	db_dsn=${FWLEDGER_MYSQL%/*}/$name
}
drop_db() { mysql_client "$FWLEDGER_MYSQL" -e "DROP DATABASE IF EXISTS $1"; }
# fresh_tree TYPE: creates and initialises a Trillian tree (LOG or
# PREORDERED_LOG), deleted on exit, and sets tree_id to its ID. (Call it
# directly, not in $(...).)
fresh_tree() {
	tree_id=$("$bin/fwbench" trillian --trillian "$FWLEDGER_TRILLIAN" --create "$1" --entries 0)
	trees+=("$tree_id")
}
delete_tree() { "$bin/fwbench" trillian --trillian "$FWLEDGER_TRILLIAN" --tree "$1" --entries 0 --delete; }

# raw MODE TREE_TYPE LABEL: Trillian alone, on a fresh tree deleted after.
raw() {
	echo "Trillian alone, $1: $ENTRIES leaves, $CONCURRENCY clients" >&2
	"$bin/fwbench" trillian --trillian "$FWLEDGER_TRILLIAN" --create "$2" --delete --mode "$1" \
		--trillian-db "$trillian_db" --key "$work/release.key" --entries "$ENTRIES" --concurrency "$CONCURRENCY" \
		--batch "$BATCH" --proof-duration "$PROOF_DURATION" --pids "$trillian_pids" >"$work/raw-$1.json"
	local f=$work/raw-$1.json
	[ "$(json "$f" errors)" = 0 ] && [ "$(json "$f" proof_errors)" = 0 ] || { cat "$f" >&2; echo "Trillian refused leaves or proofs" >&2; exit 1; }
	[ "$(json "$f" seconds_to_integrate_all)" != -1 ] || { cat "$f" >&2; echo "Trillian did not integrate every leaf" >&2; exit 1; }
	local cpu="$(round "$(json "$f" cpu_ms_per_1000_entries)") ms (" p name
	for p in mariadbd:mariadbd trillian_log_se:"log server" trillian_log_si:signer; do
		name=${p#*:}
		cpu+="$name $(round "$(sed -n "s/.*\"name\":\"${p%%:*}\",\"cpu_ms\":[0-9.]*,\"ms_per_1000_entries\":\([0-9.]*\).*/\1/p" "$f")"), "
	done
	add_row "$3" "$(json "$f" leaves_per_second)" "$(json "$f" ack_to_root_p50_ms)" "$(json "$f" ack_to_root_p99_ms)" \
		"$(json "$f" proofs_per_second)" "${cpu%, })"
}

# The fwlog setups: fwbench append (seed 0: the leaves the raw runs submit)
# loads them; append returns once a checkpoint covers the last entry.
# Proofs/s: fwbench read's tlog-proof requests (an inclusion proof with its
# checkpoint, by index) for PROOF_DURATION. CPU: user+sys of every process
# of the setup (the fwlogs, and Trillian's two and MariaDB), from before
# append until it returns, per entry logged; append signs its envelopes
# inside that window (a few seconds of everyone's idle CPU).

# start_fwlog DATA ARGS...: starts fwlog serve on DATA with ARGS, adds it to
# pids, sets url and fwlog_pid.
start_fwlog() {
	local data=$1
	shift
	"$bin/fwlog" serve --data "$data" --addr 127.0.0.1:0 --log-level info \
		--origin bench.example/trillian --release-keys "$work/release.pub" --require-provenance=false "$@" 2>"$data.log" &
	fwlog_pid=$!
	pids+=("$fwlog_pid")
	url=http://$(serving_addr "$data.log")
	echo "fwlog serving at $url" >&2
}

# cpu_ms PIDS: the CPU time so far of the processes PIDS (comma-separated).
cpu_ms() { "$bin/fwbench" cpu --pids "$1" | sed -n 's/.*"cpu_ms":\([0-9.]*\).*/\1/p'; }

# measure LABEL URLS PIDS NAME: loads the fwlog(s) at URLS (comma-separated)
# and adds their row; PIDS are the processes whose CPU counts.
measure() {
	local label=$1 urls=$2 cpids=$3 name=$4 before after
	before=$(cpu_ms "$cpids")
	"$bin/fwbench" append --log "$urls" --key "$work/release.key" --entries "$ENTRIES" \
		--concurrency "$CONCURRENCY" >"$work/$name-append.json"
	after=$(cpu_ms "$cpids")
	local f=$work/$name-append.json
	[ "$(json "$f" errors)" = 0 ] || { cat "$f" >&2; echo "$label refused entries" >&2; exit 1; }
	"$bin/fwbench" read --log "${urls%%,*}" --kinds tlog-proof --concurrency "$CONCURRENCY" \
		--duration "$PROOF_DURATION" >"$work/$name-read.json"
	local proofs
	proofs=$(sed -n 's/.*"tlog-proof":\([0-9.e+-]*\).*/\1/p' "$work/$name-read.json")
	add_row "$label" "$(json "$f" entries_per_second)" "$(json "$f" ack_to_checkpoint_p50_ms)" \
		"$(json "$f" ack_to_checkpoint_p99_ms)" "$proofs" "$(round "$(echo "($after - $before) * 1000 / $(json "$f" log_entries)" | bc -l)") ms"
	rate=$(json "$f" entries_per_second)
}

# stop_fwlogs: stops the fwlogs started so far, by SIGTERM.
stop_fwlogs() {
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
	pids=()
}

# fwlog_sqlite: fwlog on SQLite, one process.
fwlog_sqlite() {
	echo "fwlog on SQLite: $ENTRIES entries, $CONCURRENCY clients" >&2
	start_fwlog "$work/sqlite"
	measure "fwlog on SQLite" "$url" "$fwlog_pid" sqlite
	stop_fwlogs
}

# fwlog_trillian FRONTENDS: fwlog on Trillian, FRONTENDS (1 or 2) fwlog
# processes on one fresh PREORDERED_LOG tree and one fresh database, each
# with its own --data and address, the first's key shared; the clients are
# spread over them.
fwlog_trillian() {
	echo "fwlog on Trillian, $1 frontend(s): $ENTRIES entries, $CONCURRENCY clients" >&2
	fresh_tree PREORDERED_LOG
	fresh_db
	local urls="" cpids=$trillian_pids key=()
	for f in $(seq "$1"); do
		start_fwlog "$work/trillian-$1-$f" --backend trillian --trillian "$FWLEDGER_TRILLIAN" \
			--tree-id "$tree_id" --mysql "$db_dsn" --content-dir "$work/trillian-$1-content" ${key[@]+"${key[@]}"}
		key=(--key "$work/trillian-$1-1/log.key")
		urls+=${urls:+,}$url
		cpids+=,$fwlog_pid
	done
	local label="fwlog on Trillian, one frontend"
	[ "$1" = 1 ] || label="fwlog on Trillian, $1 frontends"
	measure "$label" "$urls" "$cpids" "trillian-$1"
	[ "$1" != 1 ] || fwlog_trillian_rate=$rate
	stop_fwlogs
}

load=$(cut -d' ' -f1-3 /proc/loadavg)
fwlog_sqlite
fwlog_trillian 1
fwlog_trillian 2
raw queue LOG "Trillian alone: QueueLeaf, LOG tree"
raw sequenced PREORDERED_LOG "Trillian alone: AddSequencedLeaves, PREORDERED_LOG tree, batches of $BATCH"

q=$work/raw-queue.json
s=$work/raw-sequenced.json
signer=$(ps -o args= -p "$(cat "$TRILLIAN_DIR/pids/trillian_log_signer")" | tr ' ' '\n' | grep -E '^--(sequencer_interval|batch_size|num_sequencers)=' | paste -sd' ')
ratio=""
if [ -n "${fwlog_trillian_rate:-}" ]; then
	ratio=$'\n'"fwlog on Trillian (one frontend) appends at $(printf '%.0f' "$(echo "100 * $fwlog_trillian_rate / $(json "$q" leaves_per_second)" | bc -l)")% of raw QueueLeaf's rate (target ≥ 80%)."
fi
commit=$(git rev-parse --short HEAD)
[ -z "$(git status --porcelain --untracked-files=no -- . ":(exclude)$OUT")" ] || commit="$commit+changes"
cmd="scripts/bench-trillian.sh"
[ "$ENTRIES" != 100000 ] && cmd="ENTRIES=$ENTRIES $cmd"
[ "$CONCURRENCY" != 64 ] && cmd="CONCURRENCY=$CONCURRENCY $cmd"
[ "$BATCH" != 100 ] && cmd="BATCH=$BATCH $cmd"
[ "$PROOF_DURATION" != 10s ] && cmd="PROOF_DURATION=$PROOF_DURATION $cmd"
section=$(cat <<SECTION
<!-- trillian -->
## Trillian (issue 14)

\`$cmd\`, at $commit, on this machine ($(nproc) cores, shared), $(date -u +%Y-%m-%d), against
Trillian v1.8.0 (trillian_log_server, and trillian_log_signer with $signer) and MariaDB, all on
127.0.0.1, started by \`scripts/trillian.sh up\`. Every setup gets the same $ENTRIES release
envelopes (mean $(round "$(json "$q" mean_leaf_bytes)") bytes, signed before the clock starts) from $CONCURRENCY clients. Trillian alone:
\`fwbench trillian\` on a fresh tree (after one warm-up leaf, so that the signer already acts for it), one leaf a QueueLeaf call on a LOG tree, or AddSequencedLeaves
on a PREORDERED_LOG tree in batches of $BATCH at consecutive indices, $CONCURRENCY calls in flight.
Appends/s: accepted leaves over the time from the first call to the last answer. Integration: from a
leaf's acknowledgement (the answer to its call) to the signer's timestamp in the first root whose
size covers it, read after the load from Trillian's table of roots (TreeHead), for every leaf
(QueueLeaf's indices are found afterwards by reading the tree back); nothing polls Trillian during
the load, as each GetLatestSignedLogRoot costs it and MariaDB a few ms of CPU. Proofs/s:
GetInclusionProof for random leaves at the final size, $CONCURRENCY clients, $PROOF_DURATION, every proof
verified. CPU: user+sys of trillian_log_server, trillian_log_signer and mariadbd from the first
call until a root covered every leaf (mariadbd's includes anything else using it meanwhile). Idle,
just before the loads, the three used $(round "$(json "$q" idle_cpu_ms_per_second)") and $(round "$(json "$s" idle_cpu_ms_per_second)") ms of CPU a second (the signer visits
every active tree every interval); that is included, not subtracted. Load average at the start: $load.

fwlog rows: \`fwbench append\` (the same envelopes, seed 0) against fresh fwlog processes (on
Trillian: a fresh PREORDERED_LOG tree and database; with two frontends the clients alternate
between them, the first's key shared); appends/s over the time from the first submission to the
last answer; integration from a submission's acknowledgement until the first frontend serves a
checkpoint covering it (polled every 5 ms); proofs/s: \`GET /v1/tlog-proof/<index>\` (an inclusion
proof with its checkpoint), $CONCURRENCY clients, $PROOF_DURATION; CPU: the fwlog processes, and on Trillian
also trillian_log_server, trillian_log_signer and mariadbd, from before the load until every entry
was in a published checkpoint.

| setup | appends/s | integration p50 / p99 | proofs/s | CPU per 1,000 entries |
| --- | --- | --- | --- | --- |
${rows%$'\n'}

Every leaf was in a signed root $(printf '%.1f' "$(json "$q" seconds_to_integrate_all)") s after the first QueueLeaf call ($(round "$(json "$q" integrated_per_second)") leaves/s), and $(printf '%.1f' "$(json "$s" seconds_to_integrate_all)") s after the first AddSequencedLeaves call ($(round "$(json "$s" integrated_per_second)") leaves/s).$ratio
<!-- /trillian -->
SECTION
)
write_section trillian "$section" "$OUT"
echo "$section"
if [ -n "$KEEP" ]; then mkdir -p "$KEEP" && cp "$work"/*.json "$KEEP"/; fi
