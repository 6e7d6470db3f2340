#!/usr/bin/env bash
# A throwaway redis-server on a free loopback port, for trying a cluster by
# hand, for benchmarks and for CI steps that want one Redis for a while.
# (The Go tests and the e2e tests start their own; they do not need this.)
#
#   scripts/redis.sh start DIR   # starts one, writes DIR/redis.pid and DIR/redis.url, prints the URL
#   scripts/redis.sh stop DIR    # kills it (SIGKILL: no persistence to save) and waits
#   scripts/redis.sh url DIR     # prints the URL again
#
# redis-server is taken from $REDIS_SERVER, else PATH; when missing it is
# installed with scripts/ensure-deps.sh (Debian's package).
set -euo pipefail

usage() {
	sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

cmd=${1:-}
dir=${2:-}
[[ -n $cmd && -n $dir ]] || usage

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

start() {
	mkdir -p "$dir"
	if [[ -f $dir/redis.pid ]] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
		echo "redis.sh: already running: $(cat "$dir/redis.url")" >&2
		exit 1
	fi
	local bin=${REDIS_SERVER:-}
	if [[ -z $bin ]]; then
		if ! command -v redis-server >/dev/null; then
			# shellcheck source=ensure-deps.sh
			source "$(dirname "$0")/ensure-deps.sh"
			ensure_redis
		fi
		bin=$(command -v redis-server)
	fi
	local port attempt
	for attempt in 1 2 3 4 5; do
		port=$(kernel_port)
		"$bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
			--daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --loglevel warning
		# Wait (bounded) for it to answer.
		local i
		for i in $(seq 1 200); do
			if exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
				printf 'PING\r\n' >&3
				local reply
				read -r -t 1 reply <&3 || true
				exec 3>&-
				if [[ $reply == +PONG* ]]; then
					echo "redis://127.0.0.1:$port/0" >"$dir/redis.url"
					cat "$dir/redis.url"
					return 0
				fi
			fi
			sleep 0.05
		done
		echo "redis.sh: attempt $attempt on port $port failed: $(tail -n 3 "$dir/redis.log" 2>/dev/null)" >&2
		[[ -f $dir/redis.pid ]] && kill -9 "$(cat "$dir/redis.pid")" 2>/dev/null || true
	done
	echo "redis.sh: redis-server did not start" >&2
	exit 1
}

stop() {
	[[ -f $dir/redis.pid ]] || return 0
	local pid
	pid=$(cat "$dir/redis.pid")
	kill -9 "$pid" 2>/dev/null || true
	local i
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	rm -f "$dir/redis.pid" "$dir/redis.url"
}

case $cmd in
start) start ;;
stop) stop ;;
url) cat "$dir/redis.url" ;;
*) usage ;;
esac
