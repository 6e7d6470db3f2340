#!/usr/bin/env bash
# Installs what the end-to-end tests need, when it is missing, and fails
# loudly when it cannot.
#
#   scripts/ensure-deps.sh npm redis postgres chromium  # run: ensure each one named
#   source scripts/ensure-deps.sh; ensure_redis   # or source for the functions
#
# What each provides:
#   node      node >= 18 on PATH (Debian's nodejs and npm when missing)
#   npm       e2e/node_modules matching e2e/package-lock.json (npm ci)
#   redis     redis-server and redis-cli on PATH; exports REDIS_SERVER and
#             REDIS_CLI (their paths)
#   postgres  PostgreSQL's initdb and postgres; exports PG_BINDIR (their directory)
#   chromium  Debian's chromium; exports CHROMIUM_PATH (its path)
#   openssl   the openssl command, which tls.test.js makes its test CA with
#
# Debian packages are installed with apt-get as root (or through sudo);
# apt-get update runs once, before the first install.

_deps_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_deps_apt_updated=0

deps_log() { echo "deps: $*"; }
deps_die() {
	echo "deps: FAILED: $*" >&2
	return 1
}

# apt_install PACKAGE... installs Debian packages, running apt-get update first.
apt_install() {
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || { deps_die "installing $* needs root (or sudo)"; return 1; }
		sudo=(sudo)
	fi
	command -v apt-get >/dev/null || { deps_die "installing $* needs apt-get (Debian or Ubuntu)"; return 1; }
	if ((!_deps_apt_updated)); then
		deps_log "apt-get update"
		"${sudo[@]}" apt-get update -qq || { deps_die "apt-get update"; return 1; }
		_deps_apt_updated=1
	fi
	deps_log "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" ||
		{ deps_die "apt-get install $*"; return 1; }
}

_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

ensure_node() {
	if ! command -v node >/dev/null || ! command -v npm >/dev/null || (($(_node_major) < 18)); then
		apt_install nodejs npm || return 1
	fi
	(($(_node_major) >= 18)) || { deps_die "node >= 18 needed for node --test, found $(node --version 2>&1)"; return 1; }
	deps_log "node $(node --version), npm $(npm --version 2>/dev/null)"
}

# ensure_npm runs npm ci in e2e/ unless node_modules was installed from the
# same package.json and package-lock.json.
ensure_npm() {
	ensure_node || return 1
	local dir="$_deps_root/e2e" stamp sum
	stamp="$dir/node_modules/.switchboard-installed"
	sum="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
	if [[ -f $stamp && $(cat "$stamp") == "$sum" ]]; then
		deps_log "e2e npm packages up to date"
		return 0
	fi
	deps_log "npm ci in e2e/ (node_modules missing or stale)"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || { deps_die "npm ci in e2e/"; return 1; }
	echo "$sum" >"$stamp"
}

ensure_redis() {
	command -v redis-server >/dev/null || apt_install redis-server || return 1
	REDIS_SERVER="$(command -v redis-server)" || { deps_die "redis-server not on PATH after install"; return 1; }
	export REDIS_SERVER
	deps_log "$("$REDIS_SERVER" --version | cut -d' ' -f1-3) at $REDIS_SERVER"
	# redis-cli (Debian's redis-tools, a dependency of redis-server) makes
	# the test Redis Clusters; sentinels run as redis-server --sentinel.
	command -v redis-cli >/dev/null || apt_install redis-tools || return 1
	REDIS_CLI="$(command -v redis-cli)" || { deps_die "redis-cli not on PATH after install"; return 1; }
	export REDIS_CLI
}

# _find_pg_bindir prints the directory of initdb and postgres: initdb's on
# PATH, else the last of Debian's /usr/lib/postgresql/*/bin.
_find_pg_bindir() {
	local p d
	if p="$(command -v initdb)"; then
		d="$(dirname "$(readlink -f "$p")")"
		[[ -x $d/postgres ]] && { echo "$d"; return 0; }
	fi
	for d in /usr/lib/postgresql/*/bin; do
		[[ -x $d/postgres && -x $d/initdb ]] && p="$d"
	done
	[[ -n ${p:-} && -x $p/postgres ]] && { echo "$p"; return 0; }
	return 1
}

ensure_postgres() {
	_find_pg_bindir >/dev/null || apt_install postgresql || return 1
	PG_BINDIR="$(_find_pg_bindir)" || { deps_die "initdb and postgres not found after installing postgresql"; return 1; }
	export PG_BINDIR
	deps_log "$("$PG_BINDIR/postgres" --version) at $PG_BINDIR"
}

_find_chromium() { command -v chromium || command -v chromium-browser; }

ensure_chromium() {
	_find_chromium >/dev/null || apt_install chromium || return 1
	CHROMIUM_PATH="$(_find_chromium)" || { deps_die "chromium not on PATH after install"; return 1; }
	export CHROMIUM_PATH
	local v
	v="$("$CHROMIUM_PATH" --headless --no-sandbox --version 2>/dev/null)" || { deps_die "$CHROMIUM_PATH does not run"; return 1; }
	deps_log "$v at $CHROMIUM_PATH"
}

ensure_openssl() {
	command -v openssl >/dev/null || apt_install openssl || return 1
	deps_log "$(openssl version)"
}

# ensure_deps NAME... runs ensure_NAME for each.
ensure_deps() {
	local d
	for d in "$@"; do
		declare -F "ensure_$d" >/dev/null || { deps_die "unknown dependency $d (want node, npm, redis, postgres, chromium or openssl)"; return 1; }
		"ensure_$d" || return 1
	done
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -euo pipefail
	(($# > 0)) || { echo "usage: $0 node|npm|redis|postgres|chromium|openssl..." >&2; exit 2; }
	ensure_deps "$@"
fi
