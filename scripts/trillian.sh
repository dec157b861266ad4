#!/usr/bin/env bash
# Sets up, or stops, a private MariaDB and Google Trillian on 127.0.0.1 for
# fwlog's Trillian backend and its tests, inside the repository: state under
# local/trillian (git-ignored), the built binaries under .cache (ignored).
#
#   scripts/trillian.sh up     # (make trillian-up) idempotent: starts what is not running
#   scripts/trillian.sh down   # (make trillian-down) stops what up started, by PID
#   scripts/trillian.sh env    # prints the environment of a running set-up
#
# up installs Debian's mariadb-server with apt-get if it is missing (it
# starts no server: policy-rc.d forbids it in a container), makes a data
# directory of its own and runs mariadbd from it, not as a system service;
# loads Trillian's schema from the Go module cache; builds
# trillian_log_server, trillian_log_signer and createtree at the pinned
# version (once, about 3 minutes cold); starts them; creates two trees (a
# LOG tree and a PREORDERED_LOG tree, once); and writes local/trillian/env,
# which it prints:
#
#	export FWLEDGER_TRILLIAN='127.0.0.1:8090'
#	export FWLEDGER_TRILLIAN_TREE='<id of the LOG tree>'
#	export FWLEDGER_TRILLIAN_PREORDERED_TREE='<id of the PREORDERED_LOG tree>'
#	export FWLEDGER_MYSQL='fwledger:****@tcp(127.0.0.1:33306)/fwlog'
#
# (the printed DSN hides the password; local/trillian/env holds it)
#
# Ports: FWLEDGER_MYSQL_PORT (33306) and FWLEDGER_TRILLIAN_PORT (8090; the
# next three are the log server's HTTP port, and the signer's gRPC and HTTP
# ports). The database password is random, made on first run, kept in
# local/trillian/password (mode 0600) and in env (mode 0600).
set -euo pipefail
cd "$(dirname "$0")/.."

version=v1.8.0
root=$PWD
dir=$root/local/trillian
bin=$root/.cache/bin/trillian-$version
pids=$dir/pids
mysql_port=${FWLEDGER_MYSQL_PORT:-33306}
port=${FWLEDGER_TRILLIAN_PORT:-8090}
rpc=127.0.0.1:$port
sock=$dir/mysql.sock

say() { echo "trillian.sh: $*" >&2; }

# running NAME: whether the process up started as NAME is alive.
running() {
	[ -f "$pids/$1" ] && kill -0 "$(cat "$pids/$1")" 2>/dev/null
}

# stop NAME: stops the process up started as NAME, and waits for it.
stop() {
	if running "$1"; then
		local pid
		pid=$(cat "$pids/$1")
		kill "$pid"
		for _ in $(seq 200); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			say "$1 ($pid) did not stop in 20 s: killing it"
			kill -9 "$pid" 2>/dev/null || true
		fi
		say "stopped $1 ($pid)"
	fi
	rm -f "$pids/$1"
}

# wait_port HOST:PORT WHAT: waits up to 30 s for a listener.
wait_port() {
	for _ in $(seq 300); do
		if (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	say "$2 is not listening on $1 after 30 s; its log: $dir/$2.log"
	tail -20 "$dir/$2.log" >&2 || true
	exit 1
}

sql() { "$client" --no-defaults --socket="$sock" -uroot "$@"; }

find_mariadb() {
	mariadbd=$(command -v mariadbd || true)
	[ -n "$mariadbd" ] || [ ! -x /usr/sbin/mariadbd ] || mariadbd=/usr/sbin/mariadbd
	client=$(command -v mariadb || command -v mysql || true)
	installdb=$(command -v mariadb-install-db || command -v mysql_install_db || true)
	admin=$(command -v mariadb-admin || command -v mysqladmin || true)
}

up() {
	mkdir -p "$root/local"
	(umask 077 && mkdir -p "$dir" "$pids")
	find_mariadb
	if [ -z "$mariadbd" ] || [ -z "$client" ] || [ -z "$installdb" ]; then
		say "installing mariadb-server with apt-get"
		local sudo=""
		[ "$(id -u)" = 0 ] || sudo=sudo
		if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y mariadb-server >&2; then
			$sudo apt-get update >&2
			DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y mariadb-server >&2
		fi
		find_mariadb
	fi

	# MariaDB, from a data directory of its own.
	if [ ! -d "$dir/db/mysql" ]; then
		say "making the database directory"
		rm -rf "$dir/db"
		"$installdb" --user="$(id -un)" --datadir="$dir/db" --auth-root-authentication-method=normal --skip-test-db >"$dir/install-db.log" 2>&1 ||
			{ cat "$dir/install-db.log" >&2; exit 1; }
	fi
	if ! running mariadbd; then
		"$mariadbd" --no-defaults --user="$(id -un)" --datadir="$dir/db" --socket="$sock" --port="$mysql_port" \
			--bind-address=127.0.0.1 --pid-file="$dir/mariadbd.pid" --log-error="$dir/mariadbd.log" \
			--innodb-buffer-pool-size=256M --max-connections=500 --max-allowed-packet=64M >/dev/null 2>&1 &
		echo $! >"$pids/mariadbd"
		say "started mariadbd ($!) on 127.0.0.1:$mysql_port"
	fi
	for _ in $(seq 300); do
		"$admin" --no-defaults --socket="$sock" -uroot ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	"$admin" --no-defaults --socket="$sock" -uroot ping >/dev/null 2>&1 || { tail -20 "$dir/mariadbd.log" >&2; say "mariadbd did not start"; exit 1; }

	# The databases, the user, and Trillian's schema.
	if [ ! -s "$dir/password" ]; then
		(umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$dir/password")
	fi
	local pw
	pw=$(cat "$dir/password")
	sql -e "CREATE DATABASE IF NOT EXISTS trillian; CREATE DATABASE IF NOT EXISTS fwlog;
		CREATE USER IF NOT EXISTS 'fwledger'@'127.0.0.1' IDENTIFIED BY '$pw';
		ALTER USER 'fwledger'@'127.0.0.1' IDENTIFIED BY '$pw';
		GRANT ALL ON trillian.* TO 'fwledger'@'127.0.0.1'; GRANT ALL ON fwlog.* TO 'fwledger'@'127.0.0.1';
		GRANT ALL ON \`fwlog\_%\`.* TO 'fwledger'@'127.0.0.1'; GRANT CREATE ON *.* TO 'fwledger'@'127.0.0.1'; FLUSH PRIVILEGES;"
	if [ -z "$(sql -N -e "SHOW TABLES IN trillian LIKE 'Trees'")" ]; then
		local src
		src=$(GOFLAGS=-mod=mod go mod download -json "github.com/google/trillian@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		[ -f "$src/storage/mysql/schema/storage.sql" ] || { say "Trillian's schema is not in the module cache ($src)"; exit 1; }
		sql trillian <"$src/storage/mysql/schema/storage.sql"
		say "loaded Trillian's schema"
	fi

	# Trillian's binaries, built once.
	if [ ! -x "$bin/trillian_log_server" ] || [ ! -x "$bin/trillian_log_signer" ] || [ ! -x "$bin/createtree" ]; then
		say "building Trillian $version (once; a few minutes)"
		mkdir -p "$bin"
		GOFLAGS= GOBIN="$bin" go install -tags mysql \
			"github.com/google/trillian/cmd/trillian_log_server@$version" \
			"github.com/google/trillian/cmd/trillian_log_signer@$version" \
			"github.com/google/trillian/cmd/createtree@$version" >&2
	fi
	local uri="fwledger:$pw@tcp(127.0.0.1:$mysql_port)/trillian"
	if ! running trillian_log_server; then
		"$bin/trillian_log_server" --rpc_endpoint="$rpc" --http_endpoint="127.0.0.1:$((port + 1))" \
			--mysql_uri="$uri" --quota_system=noop --storage_system=mysql >"$dir/trillian_log_server.log" 2>&1 &
		echo $! >"$pids/trillian_log_server"
		say "started trillian_log_server ($!) on $rpc"
	fi
	if ! running trillian_log_signer; then
		"$bin/trillian_log_signer" --rpc_endpoint="127.0.0.1:$((port + 2))" --http_endpoint="127.0.0.1:$((port + 3))" \
			--mysql_uri="$uri" --quota_system=noop --storage_system=mysql --force_master \
			--sequencer_interval=50ms --batch_size=1000 --num_sequencers=2 >"$dir/trillian_log_signer.log" 2>&1 &
		echo $! >"$pids/trillian_log_signer"
		say "started trillian_log_signer ($!)"
	fi
	wait_port "$rpc" trillian_log_server
	wait_port "127.0.0.1:$((port + 2))" trillian_log_signer

	# The trees, made once.
	for kind in LOG PREORDERED_LOG; do
		local f=$dir/tree-$kind name=fwledger-log
		[ "$kind" = LOG ] || name=fwledger-preordered # at most 20 characters
		if [ ! -s "$f" ]; then
			"$bin/createtree" --admin_server="$rpc" --tree_type="$kind" --display_name="$name" >"$f.tmp" 2>"$dir/createtree.log" ||
				{ cat "$dir/createtree.log" >&2; exit 1; }
			mv "$f.tmp" "$f"
			say "created the $kind tree $(cat "$f")"
		fi
	done
	(umask 077 && cat >"$dir/env" <<ENV
export FWLEDGER_TRILLIAN='$rpc'
export FWLEDGER_TRILLIAN_TREE='$(cat "$dir/tree-LOG")'
export FWLEDGER_TRILLIAN_PREORDERED_TREE='$(cat "$dir/tree-PREORDERED_LOG")'
export FWLEDGER_MYSQL='fwledger:$pw@tcp(127.0.0.1:$mysql_port)/fwlog'
ENV
	)
	# The password stays in the file (mode 0600), out of logs and CI output.
	sed 's/\(FWLEDGER_MYSQL=.[^:]*:\)[^@]*@/\1****@/' "$dir/env"
	say "the environment, with the password, is in $dir/env (mode 0600)"
}

down() {
	for name in trillian_log_signer trillian_log_server mariadbd; do
		stop "$name"
	done
}

case "${1:-}" in
up) up ;;
down) down ;;
env) sed 's/\(FWLEDGER_MYSQL=.[^:]*:\)[^@]*@/\1****@/' "$dir/env" ;;
*)
	echo "usage: scripts/trillian.sh up|down|env" >&2
	exit 2
	;;
esac
