#!/usr/bin/env bash
# Installs Debian's headless Chromium for the explorer's browser tests if it
# is missing, and prints the path of the browser binary (which `make test`
# passes to the tests as FWLEDGER_CHROMIUM). Running it again changes nothing.
set -euo pipefail

find_chromium() {
	for b in chromium chromium-browser chromium-headless-shell google-chrome; do
		if command -v "$b" >/dev/null 2>&1; then
			command -v "$b"
			return 0
		fi
	done
	return 1
}

if ! find_chromium >/dev/null; then
	echo "installing chromium with apt-get" >&2
	sudo=""
	if [ "$(id -u)" != 0 ]; then
		sudo=sudo
	fi
	export DEBIAN_FRONTEND=noninteractive
	if ! $sudo apt-get install -y --no-install-recommends chromium fonts-dejavu-core >&2; then
		$sudo apt-get update >&2
		$sudo apt-get install -y --no-install-recommends chromium fonts-dejavu-core >&2
	fi
fi
find_chromium || { echo "chromium.sh: chromium is installed but not found on PATH" >&2; exit 1; }
