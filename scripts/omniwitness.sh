#!/usr/bin/env bash
# Builds the reference C2SP tlog-witness, transparency-dev/witness's
# omniwitness, for the interop test (a witness that is not fwwitness), into
# .cache/bin, and prints its path. The Go module proxy serves its source;
# nothing is installed outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v0.0.0-20260720115447-2e1c6971d19e
bin=.cache/bin/omniwitness-$version
if [ ! -x "$bin" ]; then
	mkdir -p .cache/bin .cache/gobin
	echo "building the reference witness (omniwitness@$version)" >&2
	GOFLAGS= GOBIN="$PWD/.cache/gobin" go install "github.com/transparency-dev/witness/cmd/omniwitness@$version" >&2
	mv .cache/gobin/omniwitness "$bin"
fi
echo "$PWD/$bin"
