#!/usr/bin/env bash
# Sets up a SoftHSM2 token for the PKCS#11 tests, inside the repository:
# installs Debian's softhsm2 if it is missing, then keeps the token, its
# configuration and its PIN under local/softhsm (git-ignored), never in the
# system-wide token directory. Running it again changes nothing.
#
# It writes local/softhsm/env, which `make test` sources, and prints it:
#
#	export SOFTHSM2_CONF='.../local/softhsm/softhsm2.conf'   # the token directory is beside it
#	export FWLEDGER_SOFTHSM_MODULE='/usr/lib/softhsm/libsofthsm2.so'
#	export FWLEDGER_SOFTHSM_TOKEN='fwledger-test'
#	export FWLEDGER_SOFTHSM_PIN_FILE='.../local/softhsm/user.pin'   # mode 0600
#
# The PINs are random, made on first run, and never printed. (softhsm2-util
# takes them on its command line when it creates the token: this is a test
# token, made once, on this machine.)
set -euo pipefail
cd "$(dirname "$0")/.."

dir="$PWD/local/softhsm"
label=fwledger-test

if ! command -v softhsm2-util >/dev/null 2>&1; then
	echo "installing softhsm2 with apt-get" >&2
	sudo=""
	if [ "$(id -u)" != 0 ]; then
		sudo=sudo
	fi
	if ! $sudo apt-get install -y softhsm2 >&2; then
		$sudo apt-get update >&2
		$sudo apt-get install -y softhsm2 >&2
	fi
fi

module=""
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
	if [ -f "$m" ]; then
		module=$m
		break
	fi
done
if [ -z "$module" ]; then
	echo "softhsm.sh: softhsm2 is installed but libsofthsm2.so was not found" >&2
	exit 1
fi

mkdir -p "$PWD/local"
umask 077
mkdir -p "$dir"
conf="$dir/softhsm2.conf"
want="directories.tokendir = $dir/tokens/
objectstore.backend = file
log.level = ERROR
slots.removable = false"
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
	printf '%s\n' "$want" >"$conf"
fi
export SOFTHSM2_CONF="$conf"

pin="$dir/user.pin"
sopin="$dir/so.pin"
if [ ! -s "$pin" ] || [ ! -s "$sopin" ]; then
	# Without its PINs a token is of no use: start again.
	rm -rf "$dir/tokens"
	od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$pin"
	od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$sopin"
	chmod 600 "$pin" "$sopin"
fi
mkdir -p "$dir/tokens"

if ! softhsm2-util --show-slots 2>/dev/null | grep -Eq "^[[:space:]]*Label:[[:space:]]+$label[[:space:]]*$"; then
	echo "creating the SoftHSM2 token \"$label\" in $dir/tokens" >&2
	softhsm2-util --init-token --free --label "$label" --pin "$(cat "$pin")" --so-pin "$(cat "$sopin")" >/dev/null
fi

env="$dir/env"
cat >"$env.tmp" <<EOF
export SOFTHSM2_CONF='$conf'
export FWLEDGER_SOFTHSM_MODULE='$module'
export FWLEDGER_SOFTHSM_TOKEN='$label'
export FWLEDGER_SOFTHSM_PIN_FILE='$pin'
EOF
mv "$env.tmp" "$env"
cat "$env"
