#!/usr/bin/env bash
# make demo: a log and three witnesses on loopback with fresh keys, a release
# with its provenance submitted, the cosigned checkpoint printed and verified
# offline under a 2-of-3 witness policy. Ctrl-C stops everything.
#
#   DEMO_DIR        working directory (default ./demo, emptied first)
#   DEMO_PORT_BASE  fwlog listens on this port, the witnesses on the next three (default 18080)
#   DEMO_ONESHOT=1  stop everything after the verification instead of waiting (for tests)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${DEMO_DIR:-./demo}
base=${DEMO_PORT_BASE:-18080}
bin=$PWD/bin

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

go build -o "$bin/" ./cmd/fwlog ./cmd/fwctl ./cmd/fwwitness
rm -rf "$dir"
mkdir -p "$dir/keys"
dir=$(cd "$dir" && pwd)

pids=()
cleanup() {
	trap - INT TERM EXIT
	if [ ${#pids[@]} -gt 0 ]; then
		kill -TERM "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'echo; echo "stopping"; exit 0' INT TERM

say "fresh keys: the log, three witnesses, a release key and a builder key"
keygen() { "$bin/fwctl" keygen --name "$1" --out "$dir/keys/$2"; }
logvkey=$(keygen demo.example/log log | sed 's/.*"vkey":"\([^"]*\)".*/\1/')
for w in a b c; do
	keygen "witness-$w.demo.example" "witness-$w" >"$dir/keys/witness-$w.json"
done
keygen demo.example/release-1 release-1 >/dev/null
keygen builder.demo.example/ci ci >/dev/null
ls "$dir/keys"

say "three fwwitness servers, each following the log"
echo "log $logvkey" >"$dir/logs.txt"
i=1
for w in a b c; do
	port=$((base + i))
	"$bin/fwwitness" serve --key "$dir/keys/witness-$w.key" --logs "$dir/logs.txt" --data "$dir/witness-$w" \
		--addr "127.0.0.1:$port" --log-format text >"$dir/witness-$w.log" 2>&1 &
	pids+=($!)
	echo "witness-$w on http://127.0.0.1:$port (log: $dir/witness-$w.log)"
	i=$((i + 1))
done

say "the witness policy (C2SP tlog-policy): 2 of the 3 witnesses must cosign"
{
	echo "log $logvkey http://127.0.0.1:$base"
	i=1
	for w in a b c; do
		cosigner=$(sed 's/.*"cosigner_vkey":"\([^"]*\)".*/\1/' "$dir/keys/witness-$w.json")
		echo "witness $w $cosigner http://127.0.0.1:$((base + i))"
		i=$((i + 1))
	done
	echo "group two-of-three 2 a b c"
	echo "quorum two-of-three"
} >"$dir/policy.txt"
cat "$dir/policy.txt"

say "fwlog, publishing only checkpoints the quorum has cosigned"
"$bin/fwlog" serve --data "$dir/log" --key "$dir/keys/log.key" --addr "127.0.0.1:$base" --log-format text \
	--release-keys "$dir/keys/release-1.pub" --builder-keys "$dir/keys/ci.pub" --witness-policy "$dir/policy.txt" \
	>"$dir/fwlog.log" 2>&1 &
pids+=($!)
log=http://127.0.0.1:$base
for _ in $(seq 100); do
	"$bin/fwctl" checkpoint --log "$log" --witness-policy "$dir/policy.txt" >/dev/null 2>&1 && break
	sleep 0.1
done
echo "fwlog on $log (log: $dir/fwlog.log)"

say "a release with its SLSA provenance, submitted together"
head -c 200000 /dev/urandom >"$dir/fw.bin"
"$bin/fwctl" attest --key "$dir/keys/ci.key" --builder-id https://ci.demo.example/runner/v1 \
	--build-type https://fwledger.dev/build/make@v1 --source git+https://git.demo.example/acme/fw@refs/tags/v1.0.0 \
	--commit 0123456789abcdef0123456789abcdef01234567 --model acme-x1 --image "$dir/fw.bin" --out "$dir/prov.dsse.json"
"$bin/fwctl" release --key "$dir/keys/release-1.key" --model acme-x1 --version 1.0.0 --svn 1 \
	--image "$dir/fw.bin" --provenance "$dir/prov.dsse.json" --out "$dir/rel.dsse.json"
"$bin/fwctl" submit --log "$log" "$dir/prov.dsse.json" "$dir/rel.dsse.json"
"$bin/fwctl" bundle --log "$log" --image "$dir/fw.bin" --out "$dir/fw.bundle"

say "the published checkpoint (GET $log/checkpoint): the log's signature and the witnesses' cosignatures, verified with the policy"
"$bin/fwctl" checkpoint --log "$log" --witness-policy "$dir/policy.txt"

say "the release, its provenance and the cosigned checkpoint, verified offline with the policy"
"$bin/fwctl" verify --witness-policy "$dir/policy.txt" --release-keys "$dir/keys/release-1.pub" \
	--builder-keys "$dir/keys/ci.pub" --image "$dir/fw.bin" --bundle "$dir/fw.bundle"

if [ "${DEMO_ONESHOT:-}" = 1 ]; then
	say "done"
	exit 0
fi
say "running: fwlog on $log, witnesses on ports $((base + 1))-$((base + 3)); Ctrl-C stops all"
wait
