# Shell functions the benchmark scripts share; source it from the
# repository's root.

# serving_addr LOGFILE: waits for a server's "serving" log line and prints its address.
serving_addr() {
	local addr=
	for _ in $(seq 100); do
		addr=$(sed -n 's/.*"msg":"serving","addr":"\([^"]*\)".*/\1/p' "$1" | head -1)
		[ -n "$addr" ] && break
		sleep 0.1
	done
	[ -n "$addr" ] || { cat "$1" >&2; echo "the server logging to $1 did not start" >&2; exit 1; }
	echo "$addr"
}

# bench_keys FWCTL DIR: makes the release and builder keys of a benchmark in DIR.
bench_keys() {
	"$1" keygen --name bench.example/release --out "$2/release" >/dev/null
	"$1" keygen --name bench.example/ci --out "$2/builder" >/dev/null
}

# write_section NAME SECTION FILE: replaces the lines of FILE from
# "<!-- NAME -->" to "<!-- /NAME -->" with SECTION (which holds both
# markers), or appends SECTION if FILE has none.
write_section() {
	local tmp
	tmp=$(mktemp)
	if grep -q "<!-- $1 -->" "$3"; then
		awk -v s="$2" -v op="<!-- $1 -->" -v cl="<!-- /$1 -->" \
			'BEGIN {skip=0} $0 == op {print s; skip=1; next} $0 == cl {skip=0; next} !skip {print}' "$3" >"$tmp"
	else
		{ cat "$3"; echo; echo "$2"; } >"$tmp"
	fi
	if [ -s "$tmp" ]; then cp "$tmp" "$3"; fi
	rm -f "$tmp"
}
