#!/usr/bin/env bash
# Cross-node load benchmarks: starts a throwaway Redis (scripts/redis.sh) and
# two `switchboard` nodes joined through it on free loopback ports, then runs
# `switchboard bench` with the subscribers on node A (--target) and the
# publishers on node B (--publish-target), so that every delivery crosses
# Redis. Prints a table at the end.
#
#   scripts/bench-cluster.sh        each configuration once (about a minute)
#   scripts/bench-cluster.sh 3      ... each run 3 times (the table shows every run)
#   SMOKE=1 scripts/bench-cluster.sh   one 3-second fanout to 200 subscribers, to try the script
#   TOPOLOGY=cluster scripts/bench-cluster.sh   the same on a 3-primary Redis Cluster
#                                      (scripts/redis-cluster.sh) instead of one redis-server
#
# It builds nothing: build the binary first (go build -o bin/switchboard
# ./cmd/switchboard, or make build). --server-pid is node A's, so the server
# CPU and RSS in the table are the subscribers' node only; node B's
# publishing and Redis share the same cores and are not counted.
#
# Environment: BIN (default bin/switchboard), OUT (JSON lines, appended;
# default bench-results/cluster-DATE.jsonl), REDIS_SERVER (passed to
# scripts/redis.sh), SMOKE, TOPOLOGY (single, the default, or cluster). Every run is bounded in count and time and talks
# to 127.0.0.1 only. Everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-1}
BIN=${BIN:-bin/switchboard}
if [[ ! $RUNS =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: scripts/bench-cluster.sh [RUNS]  (RUNS: how many times each configuration runs, default 1)" >&2
	exit 2
fi
if [[ ! -x $BIN ]]; then
	echo "bench-cluster.sh: $BIN is missing; build it first: go build -o $BIN ./cmd/switchboard" >&2
	exit 1
fi
if [[ -z ${OUT:-} ]]; then
	mkdir -p bench-results
	OUT=bench-results/cluster-$(date -u +%Y%m%dT%H%M%SZ).jsonl
fi

TMP=$(mktemp -d)
REDIS_SCRIPT=scripts/redis.sh
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	"$REDIS_SCRIPT" stop "$TMP/redis" || true
	rm -rf "$TMP"
}
trap cleanup EXIT

# shellcheck source=scripts/lib.sh
source scripts/lib.sh # the working directory is the repository

case ${TOPOLOGY:-single} in
single) REDIS_SCRIPT=scripts/redis.sh ;;
cluster) REDIS_SCRIPT=scripts/redis-cluster.sh ;;
*)
	echo "bench-cluster.sh: TOPOLOGY is single or cluster, not ${TOPOLOGY}" >&2
	exit 2
	;;
esac
REDIS_URL=$("$REDIS_SCRIPT" start "$TMP/redis")

# start_node NAME PORT: starts a node on Redis in the background and sets
# NODE_PID. Redis comes from SWITCHBOARD_REDIS_URL, as an operator would set
# it; the config file gives the port and a readable node id.
start_node() {
	local name=$1 port=$2
	cat >"$TMP/$name.hjson" <<EOF
{
  host: "127.0.0.1"
  port: $port
  log: { level: "warn" }
  cluster: { node_id: "bench-$name" }
}
EOF
	SWITCHBOARD_REDIS_URL=$REDIS_URL "$BIN" serve --config "$TMP/$name.hjson" >"$TMP/$name.log" 2>&1 &
	NODE_PID=$!
	PIDS+=("$NODE_PID")
}

# wait_ready NAME PORT PID: waits (bounded) for the node's /readyz, which
# includes its Redis check.
wait_ready() {
	local name=$1 port=$2 pid=$3 i
	for i in $(seq 1 100); do
		curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench-cluster.sh: node $name (port $port) did not become ready:" >&2
	cat "$TMP/$name.log" >&2
	exit 1
}

PORT_A=$(kernel_port)
PORT_B=$(kernel_port)
while [[ $PORT_B == "$PORT_A" ]]; do
	PORT_B=$(kernel_port)
done
start_node a "$PORT_A"
PID_A=$NODE_PID
start_node b "$PORT_B"
PID_B=$NODE_PID
wait_ready a "$PORT_A" "$PID_A"
wait_ready b "$PORT_B" "$PID_B"

if [[ ${SMOKE:-} == 1 ]]; then
	CONFIGS=(
		"fanout --protocol pusher --subscribers 200 --rate 20 --window 8 --duration 3s --drain 2s"
	)
else
	CONFIGS=(
		"fanout --protocol pusher --subscribers 1000 --rate 20 --window 8 --duration 10s"
		"fanout --protocol pusher --subscribers 10000 --rate 2 --duration 10s"
		"channels --protocol pusher --subscribers 10000 --channels 1000 --rate 5000 --duration 10s"
	)
fi

echo "switchboard bench-cluster: $(nproc) cores, Linux $(uname -r), $(date -u +%Y-%m-%dT%H:%M:%SZ);" \
	"subscribers on node A 127.0.0.1:$PORT_A (pid $PID_A), publishers on node B 127.0.0.1:$PORT_B (pid $PID_B)," \
	"Redis $REDIS_URL; JSON lines in $OUT" >&2

FAILED=()
for config in "${CONFIGS[@]}"; do
	for _ in $(seq "$RUNS"); do
		# shellcheck disable=SC2086 # the flags are meant to split
		if ! "$BIN" bench $config --target "127.0.0.1:$PORT_A" --publish-target "127.0.0.1:$PORT_B" \
			--server-pid "$PID_A" >>"$OUT" 2>"$TMP/bench.err"; then
			FAILED+=("$config: $(grep -v '^[a-z]*: ' "$TMP/bench.err" | tail -n 1 || true)")
		fi
		grep -E '^(fanout|channels) [a-z]+ ' "$TMP/bench.err" >&2 || true
	done
done

echo
"$BIN" bench table "$OUT"
if [[ ${#FAILED[@]} -gt 0 ]]; then
	echo
	echo "failed runs:"
	printf '  %s\n' "${FAILED[@]}"
	exit 1
fi
