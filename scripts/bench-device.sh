#!/usr/bin/env bash
# The device's numbers (issue 12), in one session, into the section of
# docs/BENCHMARKS.md between "<!-- device -->" and "<!-- /device -->":
#   1. BenchmarkVerifyUpdate on one core: an update's bundle checked, with the
#      consistency proof, before the image;
#   2. hashing an image of SIZE bytes (default 1 GiB) as the device does,
#      against sha256sum on the same file, alternating, RUNS times each;
#   3. fwdevice check (download) and install of that image from a fwlog with
#      one fwwitness on loopback: wall time and peak RSS (GNU time);
#   4. the size of the stripped fwdevice binary, and its largest packages.
# Usage: scripts/bench-device.sh        (or: make bench-device)
#        SIZE=268435456 RUNS=3 scripts/bench-device.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
SIZE=${SIZE:-1073741824}
RUNS=${RUNS:-3}
OUT=${OUT:-docs/BENCHMARKS.md}

work=$(mktemp -d)
pids=()
cleanup() {
	[ ${#pids[@]} -eq 0 ] || { kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; }
	rm -rf "$work"
}
trap cleanup EXIT
bin=$work/bin
go build -o "$bin/" ./cmd/fwlog ./cmd/fwctl ./cmd/fwwitness ./cmd/fwdevice ./cmd/internal/fwbench
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "1. BenchmarkVerifyUpdate, one core" >&2
verify_ns=$(go test -run '^$' -bench '^BenchmarkVerifyUpdate$' -cpu 1 -count 5 ./client/ | awk '/^BenchmarkVerifyUpdate/ {print $3}' | median)

echo "2. hashing a $SIZE-byte image, against sha256sum" >&2
head -c "$SIZE" /dev/urandom >"$work/image"
cat "$work/image" >/dev/null # warm the page cache for both
sums=() ours=()
for _ in $(seq "$RUNS"); do
	s=$(date +%s.%N); sha256sum "$work/image" >/dev/null; e=$(date +%s.%N)
	sums+=("$(echo "$e - $s" | bc -l)")
	ours+=("$("$bin/fwbench" hash --file "$work/image" | sed 's/.*"seconds":\([0-9.e-]*\).*/\1/')")
done
sum_s=$(printf '%s\n' "${sums[@]}" | median)
our_s=$(printf '%s\n' "${ours[@]}" | median)

echo "3. fwdevice check and install of the image" >&2
"$bin/fwctl" keygen --name bench.example/log --out "$work/log" >/dev/null
"$bin/fwctl" keygen --name witness.bench.example --out "$work/witness" >"$work/witness.json"
"$bin/fwctl" keygen --name bench.example/root --out "$work/root" >/dev/null
bench_keys "$bin/fwctl" "$work"
logvkey=$(sed -n '1p' "$work/log.pub")
echo "log $logvkey" >"$work/logs.txt"
"$bin/fwwitness" serve --key "$work/witness.key" --logs "$work/logs.txt" --data "$work/wdata" --addr 127.0.0.1:0 >"$work/witness.log" 2>&1 &
pids+=($!)
waddr=$(serving_addr "$work/witness.log")
cosigner=$(sed 's/.*"cosigner_vkey":"\([^"]*\)".*/\1/' "$work/witness.json")
printf 'log %s\nwitness w %s http://%s\nquorum w\n' "$logvkey" "$cosigner" "$waddr" >"$work/policy.txt"
"$bin/fwlog" serve --data "$work/ldata" --key "$work/log.key" --addr 127.0.0.1:0 --release-keys "$work/release.pub" \
	--builder-keys "$work/builder.pub" --witness-policy "$work/policy.txt" >"$work/fwlog.log" 2>&1 &
pids+=($!)
log=http://$(serving_addr "$work/fwlog.log")
"$bin/fwctl" attest --key "$work/builder.key" --builder-id https://ci.bench.example/v1 --build-type https://fwledger.dev/build/make@v1 \
	--source git+https://git.bench.example/fw@refs/tags/v1 --commit 0123456789abcdef0123456789abcdef01234567 --image "$work/image" --out "$work/prov.json"
"$bin/fwctl" release --key "$work/release.key" --model bench-1 --version 1.0.0 --svn 1 --image "$work/image" --provenance "$work/prov.json" --out "$work/rel.json"
"$bin/fwctl" submit --log "$log" --image "$work/image" "$work/prov.json" "$work/rel.json" >/dev/null 2>&1
"$bin/fwctl" bundle --log "$log" --image "$work/image" --out /dev/null 2>/dev/null
cat >"$work/policy.yaml" <<POLICY
version: 1
keys: {release: {file: release.pub}, ci: {file: builder.pub}}
builders: [{name: ci, id: https://ci.bench.example/v1, keys: [ci], slsaLevel: 2}]
rules: [{name: all, models: ["*"], release: {keys: [release], threshold: 1}, provenance: {builders: [ci]}}]
POLICY
"$bin/fwctl" trust init --witness-policy "$work/policy.txt" --policy "$work/policy.yaml" --log-url "$log" --model bench-1 \
	--channel stable --root-key "$work/root.pub" --key "$work/root.key" --out "$work/trust.json"
"$bin/fwdevice" init --state "$work/device" --trust "$work/trust.json" --slots "$work/slots" --model bench-1 --channel stable >/dev/null
timed() { # timed NAME CMD...: wall seconds and peak RSS (KiB) of CMD
	local s e
	s=$(date +%s.%N)
	/usr/bin/time -f '%M' -o "$work/$1.rss" "${@:2}" >/dev/null 2>"$work/$1.err" || { cat "$work/$1.err" >&2; exit 1; }
	e=$(date +%s.%N)
	echo "$e - $s" | bc -l >"$work/$1.secs"
}
timed check "$bin/fwdevice" check --state "$work/device"
timed install "$bin/fwdevice" install --state "$work/device"
check_rss=$(cat "$work/check.rss") install_rss=$(cat "$work/install.rss")
check_s=$(cat "$work/check.secs") install_s=$(cat "$work/install.secs")

echo "4. the stripped fwdevice binary" >&2
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/fwdevice-stripped" ./cmd/fwdevice
stripped=$(stat -c %s "$work/fwdevice-stripped")
CGO_ENABLED=0 go build -trimpath -o "$work/fwdevice-syms" ./cmd/fwdevice
top=$(go tool nm -size -sort size "$work/fwdevice-syms" | awk '$3 ~ /^[TtRr]$/ {
	name=$4; sub(/\(.*$/, "", name); sub(/\.[^.\/]*$/, "", name); sub(/\.[^.\/]*$/, "", name)
	if (name ~ /^type:/ || name ~ /^go:/ || name ~ /^runtime/) {name="runtime+type-data"}
	size[name]+=$2
} END {for (n in size) printf "%d %s\n", size[n], n}' | sort -rn | awk 'NR <= 12')

commit=$(git rev-parse --short HEAD)
[ -z "$(git status --porcelain --untracked-files=no -- . ":(exclude)$OUT")" ] || commit="$commit+changes"
ratio=$(echo "$sum_s / $our_s" | bc -l)
section=$(cat <<SECTION
<!-- device -->
## The device (issue 12)

\`scripts/bench-device.sh\` (\`make bench-device\`), at $commit, on this machine ($(nproc) cores), $(date -u +%Y-%m-%d).

| measure | result | goal |
| --- | --- | --- |
| update check before the image (\`BenchmarkVerifyUpdate\`, one core, median of 5): release and provenance under a checkpoint of a 65,536-entry tree cosigned by 2 of 3 witnesses, consistency proof from 40,000, device trust file with a policy | $(printf '%.0f' "$verify_ns") ns = $(echo "$verify_ns / 1000000" | bc -l | xargs printf '%.3f') ms | at most 1 ms |
| hashing a $(echo "$SIZE / 1048576" | bc) MiB image as the device does (\`digest.Check\`, \`fwbench hash\`), median of $RUNS | $(printf '%.2f' "$our_s") s | |
| \`sha256sum\` on the same file, alternating, median of $RUNS | $(printf '%.2f' "$sum_s") s | |
| the device's hashing speed relative to \`sha256sum\`, same run | $(printf '%.2f' "$ratio") | at least 0.90 |
| \`fwdevice check\`: download over loopback and verify, $(echo "$SIZE / 1048576" | bc) MiB | $(printf '%.1f' "$check_s") s, peak RSS $((check_rss / 1024)) MiB | |
| \`fwdevice install\`: verify again, write the slot, sync, read back and hash | $(printf '%.1f' "$install_s") s, peak RSS $((install_rss / 1024)) MiB | peak RSS at most 64 MiB |
| stripped \`fwdevice\` (\`CGO_ENABLED=0 go build -trimpath -ldflags='-s -w'\`) | $((stripped / 1024)) KiB | report |

The largest parts of the binary, by the size of their code and read-only data (\`go tool nm -size\`, symbols T and R of an unstripped build; KiB):

\`\`\`
$(echo "$top" | awk '{printf "%8d  %s\n", $1/1024, $2}')
\`\`\`
<!-- /device -->
SECTION
)
write_section device "$section" "$OUT"
echo "$section"
