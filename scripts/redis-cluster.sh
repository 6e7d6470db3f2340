#!/usr/bin/env bash
# A throwaway Redis Cluster on free loopback ports, for trying a cluster by
# hand and for benchmarks: PRIMARIES redis-servers (default 3) with
# cluster-enabled, no replicas, joined by `redis-cli --cluster create`.
# (The Go and e2e tests start their own; they do not need this.)
#
#   scripts/redis-cluster.sh start DIR [PRIMARIES]  # prints the redis-cluster:// URL, also in DIR/redis.url
#   scripts/redis-cluster.sh stop DIR               # kills every node (SIGKILL) and waits
#   scripts/redis-cluster.sh url DIR                # prints the URL again
#
# redis-server and redis-cli come from $REDIS_SERVER and $REDIS_CLI, else
# PATH; when missing they are installed with scripts/ensure-deps.sh.
set -euo pipefail

usage() {
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

cmd=${1:-}
dir=${2:-}
primaries=${3:-3}
[[ -n $cmd && -n $dir && $primaries =~ ^[1-9][0-9]*$ ]] || usage

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

start() {
	mkdir -p "$dir"
	if [[ -f $dir/redis.url ]]; then
		echo "redis-cluster.sh: already running: $(cat "$dir/redis.url")" >&2
		exit 1
	fi
	if ! command -v "${REDIS_SERVER:-redis-server}" >/dev/null || ! command -v "${REDIS_CLI:-redis-cli}" >/dev/null; then
		# shellcheck source=ensure-deps.sh
		source "$(dirname "$0")/ensure-deps.sh"
		ensure_redis
	fi
	local bin=${REDIS_SERVER:-redis-server} cli=${REDIS_CLI:-redis-cli}
	local i port addrs=()
	for i in $(seq 1 "$primaries"); do
		port=$(kernel_port)
		mkdir -p "$dir/$i"
		"$bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir/$i" \
			--cluster-enabled yes --cluster-port "$(kernel_port)" --cluster-config-file "$dir/$i/nodes.conf" \
			--daemonize yes --pidfile "$dir/$i/redis.pid" --logfile "$dir/$i/redis.log" --loglevel warning
		addrs+=("127.0.0.1:$port")
	done
	for addr in "${addrs[@]}"; do
		for i in $(seq 1 200); do
			[[ $("$cli" -h 127.0.0.1 -p "${addr#*:}" ping 2>/dev/null) == PONG ]] && break
			((i < 200)) || { echo "redis-cluster.sh: $addr did not answer" >&2; exit 1; }
			sleep 0.05
		done
	done
	"$cli" --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 ||
		{ cat "$dir/create.log" >&2; exit 1; }
	for addr in "${addrs[@]}"; do
		for i in $(seq 1 400); do
			"$cli" -h 127.0.0.1 -p "${addr#*:}" cluster info | grep -q cluster_state:ok && break
			((i < 400)) || { echo "redis-cluster.sh: $addr not ok after 20s" >&2; exit 1; }
			sleep 0.05
		done
	done
	(
		IFS=,
		echo "redis-cluster://${addrs[*]}"
	) >"$dir/redis.url"
	cat "$dir/redis.url"
}

stop() {
	local f pid pids=()
	for f in "$dir"/*/redis.pid; do
		[[ -f $f ]] || continue
		pid=$(cat "$f")
		kill -9 "$pid" 2>/dev/null || true
		pids+=("$pid")
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
	done
	rm -rf "$dir"/*/ "$dir/redis.url" "$dir/create.log"
}

case $cmd in
start) start ;;
stop) stop ;;
url) cat "$dir/redis.url" ;;
*) usage ;;
esac
