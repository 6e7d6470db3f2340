#!/usr/bin/env bash
# Peer Pusher-compatible servers, to measure with `switchboard bench` in the
# same sitting as Switchboard, so BENCHMARKS.md can give ratios.
#
#   scripts/peers.sh [install]        install every peer that installs here into bin/peers/ (skipped when present)
#   scripts/peers.sh list             the peers, and whether each is installed
#   scripts/peers.sh run PEER PORT    start PEER on 127.0.0.1:PORT in the background, wait until it
#                                     accepts connections, print its PID (log: bin/peers/logs/PEER-PORT.log)
#   scripts/peers.sh stop PEER PORT   kill what `run PEER PORT` started
#
# A started peer serves the app the generator uses by default (app id
# "app-id", key "app-key", secret "app-secret"; override with APP_ID, APP_KEY,
# APP_SECRET and pass the same --app-id/--app-key/--app-secret to the bench),
# so, for example:
#
#   PID=$(scripts/peers.sh run soketi 18931)
#   bin/switchboard bench fanout --protocol pusher --target 127.0.0.1:18931 --server-pid "$PID" ...
#   scripts/peers.sh stop soketi 18931
#
# Peers:
#   soketi  @soketi/soketi 1.6.1 from the npm registry (Node.js, on uWebSockets.js).
#           Its uWebSockets.js dependency is a GitHub URL, which npm cannot
#           reach here; package.json "overrides" replaces it with
#           @trufflesuite/uws-js-unofficial 20.30.0-unofficial.0, a republish of
#           uWebSockets.js v20.30.0 on the npm registry with prebuilt binaries
#           for Node 16, 18 and 20 only (module ABI 93, 108, 115). Needs node
#           and npm (scripts/ensure-deps.sh installs Debian's when missing).
#           Besides PORT it listens on a free loopback TCP port for its
#           /usage endpoint and binds a free UDP port for its cluster discovery
#           (broadcast to 127.255.255.255 only).
# Not available here (so not installed):
#   ipe         github.com/dimiro1/ipe: the Go module proxy answers 403 ("This
#               module version is not available") for every version, and its
#               go.mod declares the module path "ipe", so `go install
#               github.com/dimiro1/ipe@...` could not build it even if served.
#   centrifugo  github.com/centrifugal/centrifugo/v5 and /v6: the proxy answers
#               403; and it does not speak the Pusher protocol anyway.
#
# Environment: PEERS_DIR (default bin/peers).
set -euo pipefail
cd "$(dirname "$0")/.."

PEERS=(soketi)
PEERS_DIR=${PEERS_DIR:-bin/peers}
APP_ID=${APP_ID:-app-id}
APP_KEY=${APP_KEY:-app-key}
APP_SECRET=${APP_SECRET:-app-secret}

SOKETI_VERSION=1.6.1
UWS_PACKAGE=@trufflesuite/uws-js-unofficial@20.30.0-unofficial.0

usage() {
	sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

die() {
	echo "peers.sh: $*" >&2
	exit 1
}

# free_port tcp|udp prints a port nothing listens on, chosen by the kernel.
free_port() {
	python3 -c 'import socket, sys
t = socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, t); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' "$1"
}

# --- soketi -----------------------------------------------------------------

soketi_dir() { echo "$PEERS_DIR/soketi"; }

soketi_installed() {
	local d
	d=$(soketi_dir)
	[[ -f $d/node_modules/@soketi/soketi/package.json ]] &&
		(cd "$d" && node -e 'require("uWebSockets.js")' >/dev/null 2>&1)
}

install_soketi() {
	if soketi_installed; then
		echo "peers.sh: soketi present in $(soketi_dir)" >&2
		return
	fi
	# shellcheck source=ensure-deps.sh
	source scripts/ensure-deps.sh
	ensure_node
	local abi
	abi=$(node -p process.versions.modules)
	case $abi in
	93 | 108 | 115) ;;
	*) die "soketi: $UWS_PACKAGE has binaries for Node 16, 18 and 20 only; node $(node --version) (module ABI $abi) cannot load it" ;;
	esac
	local d
	d=$(soketi_dir)
	mkdir -p "$d"
	cat >"$d/package.json" <<EOF
{
  "name": "switchboard-peer-soketi",
  "private": true,
  "dependencies": { "@soketi/soketi": "$SOKETI_VERSION" },
  "overrides": { "uWebSockets.js": "npm:$UWS_PACKAGE" }
}
EOF
	echo "peers.sh: installing @soketi/soketi $SOKETI_VERSION into $d" >&2
	(cd "$d" && timeout 600 npm install --no-audit --no-fund --loglevel=error) >&2 ||
		die "soketi: npm install failed"
	soketi_installed || die "soketi: installed, but uWebSockets.js does not load (cd $d && node -e 'require(\"uWebSockets.js\")')"
	echo "peers.sh: soketi installed" >&2
}

# start_soketi PORT LOG starts soketi in the background and prints its PID.
start_soketi() {
	local port=$1 log=$2 d
	d=$(soketi_dir)
	soketi_installed || die "soketi is not installed: run scripts/peers.sh install"
	(
		cd "$d"
		ulimit -n "$(ulimit -Hn)" # as many connections as the generator opens
		SOKETI_HOST=127.0.0.1 \
			SOKETI_PORT="$port" \
			SOKETI_DEFAULT_APP_ID="$APP_ID" \
			SOKETI_DEFAULT_APP_KEY="$APP_KEY" \
			SOKETI_DEFAULT_APP_SECRET="$APP_SECRET" \
			SOKETI_METRICS_ENABLED=false \
			SOKETI_METRICS_HOST=127.0.0.1 \
			SOKETI_METRICS_SERVER_PORT="$(free_port tcp)" \
			SOKETI_CLUSTER_HOST=127.0.0.1 \
			SOKETI_CLUSTER_PORT="$(free_port udp)" \
			SOKETI_CLUSTER_BROADCAST_ADDRESS=127.255.255.255 \
			exec node node_modules/@soketi/soketi/bin/server.js start
	) >"$log" 2>&1 </dev/null &
	echo $!
}

# --- commands ---------------------------------------------------------------

known() {
	local p
	for p in "${PEERS[@]}"; do [[ $p == "$1" ]] && return 0; done
	case $1 in
	ipe) die "ipe is not available here: the Go module proxy answers 403 for github.com/dimiro1/ipe (see the header of $0)" ;;
	centrifugo) die "centrifugo is not available here (the Go module proxy answers 403) and does not speak the Pusher protocol" ;;
	esac
	die "unknown peer '$1' (peers: ${PEERS[*]})"
}

cmd_install() {
	local p
	for p in "${PEERS[@]}"; do "install_$p"; done
}

cmd_list() {
	local p
	for p in "${PEERS[@]}"; do
		if "${p}_installed"; then echo "$p installed"; else echo "$p not installed"; fi
	done
	echo "ipe unavailable (Go module proxy: 403)"
	echo "centrifugo unavailable (Go module proxy: 403; not Pusher)"
}

pidfile() { echo "$PEERS_DIR/run/$1-$2.pid"; }

cmd_run() {
	local peer=$1 port=$2
	known "$peer"
	[[ $port =~ ^[0-9]+$ ]] || die "PORT must be a number, not '$port'"
	if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
		die "127.0.0.1:$port is already in use"
	fi
	mkdir -p "$PEERS_DIR/logs" "$PEERS_DIR/run"
	local log=$PEERS_DIR/logs/$peer-$port.log pid i
	pid=$("start_$peer" "$port" "$log")
	echo "$pid" >"$(pidfile "$peer" "$port")"
	for ((i = 0; i < 100; i++)); do # up to 20 s
		kill -0 "$pid" 2>/dev/null || {
			cat "$log" >&2
			die "$peer exited before accepting connections (log: $log)"
		}
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "peers.sh: $peer listening on 127.0.0.1:$port, PID $pid, log $log" >&2
			echo "$pid"
			return
		fi
		sleep 0.2
	done
	kill "$pid" 2>/dev/null || true
	die "$peer did not accept connections on 127.0.0.1:$port within 20 s (log: $log)"
}

cmd_stop() {
	local peer=$1 port=$2 f pid i
	f=$(pidfile "$peer" "$port")
	[[ -f $f ]] || die "no $f: nothing started for $peer on port $port"
	pid=$(cat "$f")
	kill "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
	rm -f "$f"
}

case ${1:-install} in
install) cmd_install ;;
list) cmd_list ;;
run) (($# == 3)) || usage; cmd_run "$2" "$3" ;;
stop) (($# == 3)) || usage; cmd_stop "$2" "$3" ;;
-h | --help | help) usage ;;
*) usage ;;
esac
