#!/usr/bin/env bash
# make demo: the whole story on loopback, with fresh keys. A log and three
# witnesses; a build system attests and a vendor releases; a device (fwdevice)
# installs, boots and confirms, upgrades, then upgrades by a delta; then
# attacks, each refused with its reason: a downgrade, a tampered image, a
# release signed by a stolen key but never logged, a forked checkpoint signed
# by the log key, and a frozen (stale) bundle. Ctrl-C stops everything.
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

go build -o "$bin/" ./cmd/fwlog ./cmd/fwctl ./cmd/fwwitness ./cmd/fwdevice ./cmd/internal/demoattack
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
: >"$dir/devices.txt"
"$bin/fwlog" serve --data "$dir/log" --key "$dir/keys/log.key" --addr "127.0.0.1:$base" --log-format text \
	--release-keys "$dir/keys/release-1.pub" --builder-keys "$dir/keys/ci.pub" --witness-policy "$dir/policy.txt" \
	--device-keys "$dir/devices.txt" >"$dir/fwlog.log" 2>&1 &
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
"$bin/fwctl" submit --log "$log" --image "$dir/fw.bin" "$dir/prov.dsse.json" "$dir/rel.dsse.json"
"$bin/fwctl" bundle --log "$log" --image "$dir/fw.bin" --out "$dir/fw.bundle"

say "the published checkpoint (GET $log/checkpoint): the log's signature and the witnesses' cosignatures, verified with the policy"
"$bin/fwctl" checkpoint --log "$log" --witness-policy "$dir/policy.txt"

say "the release, its provenance and the cosigned checkpoint, verified offline with the policy"
"$bin/fwctl" verify --witness-policy "$dir/policy.txt" --release-keys "$dir/keys/release-1.pub" \
	--builder-keys "$dir/keys/ci.pub" --image "$dir/fw.bin" --bundle "$dir/fw.bundle"

# release VERSION SVN IMAGE [--base-image F]: the build system attests the
# image, the vendor signs the release, both are logged and the image uploaded.
release() {
	local version=$1 svn=$2 image=$3
	shift 3
	"$bin/fwctl" attest --key "$dir/keys/ci.key" --builder-id https://ci.demo.example/runner/v1 \
		--build-type https://fwledger.dev/build/make@v1 --source "git+https://git.demo.example/acme/fw@refs/tags/v$version" \
		--commit 0123456789abcdef0123456789abcdef01234567 --model acme-x1 --image "$image" --out "$dir/prov-$version.dsse.json"
	"$bin/fwctl" release --key "$dir/keys/release-1.key" --model acme-x1 --version "$version" --svn "$svn" \
		--image "$image" --provenance "$dir/prov-$version.dsse.json" "$@" --out "$dir/rel-$version.dsse.json"
}
# publish VERSION IMAGE [--delta F]: submit the release, its provenance and the
# image, and wait until a cosigned checkpoint covers them.
publish() {
	local version=$1 image=$2
	shift 2
	"$bin/fwctl" submit --log "$log" --image "$image" "$@" "$dir/prov-$version.dsse.json" "$dir/rel-$version.dsse.json" >/dev/null 2>&1
	"$bin/fwctl" bundle --log "$log" --image "$image" --out /dev/null 2>/dev/null
	echo "logged $version, with its provenance, and uploaded its image"
}
device() { "$bin/fwdevice" "$@" --state "$dir/device"; }
# refused CMD...: runs fwdevice, which must refuse (exit 3) and say why.
refused() {
	local code=0
	"$bin/fwdevice" "$@" --state "$dir/device" || code=$?
	if [ "$code" != 3 ]; then
		echo "expected a refusal (exit 3), got exit $code" >&2
		exit 1
	fi
}
stored_size() { device status | sed -n 's/^checkpoint: size \([0-9]*\)$/\1/p'; }

say "the vendor's two root keys sign the device trust file: the log, its witnesses, the policy, the model and channel"
keygen vendor.demo.example/root-1 root-1 >/dev/null
keygen vendor.demo.example/root-2 root-2 >/dev/null
cat >"$dir/device-policy.yaml" <<POLICY
version: 1
keys:
  release-1: {file: keys/release-1.pub}
  ci: {file: keys/ci.pub}
builders:
  - {name: vendor-ci, id: https://ci.demo.example/runner/v1, keys: [ci], slsaLevel: 2}
rules:
  - name: acme devices
    models: ["*"]
    release: {keys: [release-1], threshold: 1}
    provenance:
      builders: [vendor-ci]
      sources: [{repo: git+https://git.demo.example/acme/fw}]
POLICY
"$bin/fwctl" trust init --witness-policy "$dir/policy.txt" --policy "$dir/device-policy.yaml" --log-url "$log" \
	--model acme-x1 --channel stable --max-cosignature-age 168h \
	--root-key "$dir/keys/root-1.pub" --root-key "$dir/keys/root-2.pub" --root-threshold 2 \
	--key "$dir/keys/root-1.key" --key "$dir/keys/root-2.key" --out "$dir/trust.signed.json"
"$bin/fwctl" trust show "$dir/trust.signed.json"

say "a device is provisioned: fwdevice init (its key is registered with the log for reports)"
device init --trust "$dir/trust.signed.json" --slots "$dir/device/slots" --model acme-x1 --channel stable
cat "$dir/device/device.pub" | head -1 >>"$dir/devices.txt"
kill -HUP "${pids[-1]}"

say "the device checks, installs, boots and confirms 1.0.0"
device check
device install
device boot
device confirm

say "an upgrade: 2.0.0, security version 2"
head -c 200000 /dev/urandom >"$dir/fw-2.bin"
release 2.0.0 2 "$dir/fw-2.bin"
publish 2.0.0 "$dir/fw-2.bin"
device check
device install
device boot
device confirm

say "a delta upgrade: 3.0.0 is 2.0.0 with a patch; the device fetches a delta from what it runs"
cp "$dir/fw-2.bin" "$dir/fw-3.bin"
printf 'the 3.0.0 patch' | dd of="$dir/fw-3.bin" bs=1 seek=5000 conv=notrunc status=none
"$bin/fwctl" delta --base "$dir/fw-2.bin" --target "$dir/fw-3.bin" --out "$dir/fw-3.delta"
release 3.0.0 3 "$dir/fw-3.bin" --base-image "$dir/fw-2.bin"
publish 3.0.0 "$dir/fw-3.bin" --delta "$dir/fw-3.delta"
device check
device install
device boot
device confirm
device report
device status

say "the vendor logs 4.0.0, which the attacks below start from"
head -c 200000 /dev/urandom >"$dir/fw-4.bin"
release 4.0.0 4 "$dir/fw-4.bin"
publish 4.0.0 "$dir/fw-4.bin"
size=$(stored_size)
"$bin/fwctl" bundle --log "$log" --image "$dir/fw-4.bin" --from "$size" --out "$dir/fw-4.bundle" 2>/dev/null

say "attack: a downgrade to 1.0.0, with its genuine bundle"
"$bin/fwctl" bundle --log "$log" --image "$dir/fw.bin" --from "$size" --out "$dir/fw-1.bundle" 2>/dev/null
refused install --bundle "$dir/fw-1.bundle" --image "$dir/fw.bin"

say "attack: 4.0.0's image tampered with in transit"
cp "$dir/fw-4.bin" "$dir/fw-4.tampered"
printf 'X' | dd of="$dir/fw-4.tampered" bs=1 seek=100 conv=notrunc status=none
refused install --bundle "$dir/fw-4.bundle" --image "$dir/fw-4.tampered"

say "attack: a release signed with the stolen release key, never logged, in 4.0.0's bundle"
head -c 200000 /dev/urandom >"$dir/evil.bin"
"$bin/fwctl" release --key "$dir/keys/release-1.key" --model acme-x1 --version 9.9.9 --svn 9 --image "$dir/evil.bin" \
	--out "$dir/evil.dsse.json"
"$bin/demoattack" swap-release --bundle "$dir/fw-4.bundle" --release "$dir/evil.dsse.json" --out "$dir/evil.bundle"
refused install --bundle "$dir/evil.bundle" --image "$dir/evil.bin"

say "attack: a forked checkpoint with that release, signed by the stolen log key"
active=$(device status | sed -n 's/^slot \([ab]\) (active).*/\1/p')
"$bin/demoattack" fork --bundle "$dir/device/bundle.$active" --release "$dir/evil.dsse.json" --log-key "$dir/keys/log.key" \
	--out "$dir/fork.bundle"
refused install --bundle "$dir/fork.bundle" --image "$dir/evil.bin"
echo "... and with two witness keys stolen as well, cosigned by a quorum:"
"$bin/demoattack" fork --bundle "$dir/device/bundle.$active" --release "$dir/evil.dsse.json" --log-key "$dir/keys/log.key" \
	--witness-key "$dir/keys/witness-a.key" --witness-key "$dir/keys/witness-b.key" --out "$dir/fork2.bundle"
refused install --bundle "$dir/fork2.bundle" --image "$dir/evil.bin"

say "attack: a frozen bundle, cosigned 30 days ago (a server keeping the device on an old view)"
"$bin/demoattack" freeze --bundle "$dir/fw-4.bundle" --witness-key "$dir/keys/witness-a.key" \
	--witness-key "$dir/keys/witness-b.key" --witness-key "$dir/keys/witness-c.key" --age 720h --out "$dir/frozen.bundle"
refused install --bundle "$dir/frozen.bundle" --image "$dir/fw-4.bin"

say "after the attacks: the device runs 3.0.0, its floor unchanged; the log holds its report"
device status
curl -s "$log/v1/reports" | head -c 600; echo

if [ "${DEMO_ONESHOT:-}" = 1 ]; then
	say "done"
	exit 0
fi
say "running: fwlog on $log, witnesses on ports $((base + 1))-$((base + 3)); Ctrl-C stops all"
wait
