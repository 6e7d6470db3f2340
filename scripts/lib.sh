#!/usr/bin/env bash
# Helpers for the scripts that start servers; source it:
#
#   source scripts/lib.sh
#   PORT=$(free_port)        # the first port from 18000 up that nothing listens on
#   PORT=$(kernel_port)      # a port the kernel picks, for throwaway servers
#   wait_healthy "$PORT" "$PID" server.log || exit 1   # until /healthz answers
#
# free_port gives the benchmarks a port in a known range, so that a run's
# port says which script it belongs to; kernel_port suits servers started
# many at a time (a Redis Cluster's nodes).

# free_port prints the first port in 18000-18999 that nothing listens on.
free_port() {
	local p
	for p in $(seq 18000 18999); do
		ss -Hltn "sport = :$p" 2>/dev/null | grep -q . || {
			echo "$p"
			return 0
		}
	done
	echo "no free port in 18000-18999" >&2
	return 1
}

# kernel_port prints a loopback port the kernel chose as free.
kernel_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_healthy PORT PID LOG waits up to 10 s for the server PID to answer
# /healthz on 127.0.0.1:PORT. If it exits or never answers, it prints LOG
# (the server's output) and returns 1.
wait_healthy() {
	local port=$1 pid=$2 log=$3
	for _ in $(seq 100); do
		curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "the server did not start:" >&2
	cat "$log" >&2
	return 1
}
