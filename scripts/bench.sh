#!/usr/bin/env bash
# Load benchmarks: starts the built server on a free loopback port and runs
# every `switchboard bench` scenario against it, then prints a table.
#
#   scripts/bench.sh            short runs, under 2 minutes in all (make bench)
#   scripts/bench.sh full       the configurations of issue 7's targets (several minutes)
#   scripts/bench.sh full 3     ... each run 3 times (the table shows every run)
#
# Runs "as fast as accepted" (no --rate) use closed-loop flow control
# (--window N): publishers stay at most N messages ahead of the slowest
# subscriber of a channel, below the server's send queue (256), so the
# figures are a rate the subscribers sustain, not the slow-consumer policy
# (open loop, with 10,000 subscribers, the server closes most of them with
# 4100 and the run counts millions lost). The window sets how much is in
# flight, so it trades latency for throughput: the full configurations use
# 8 for 1,000 subscribers and 16 for 10,000, where both of issue 7's figures
# hold (BENCHMARKS.md has the windows compared); --window 0 would measure
# open loop. A run with disconnected subscribers or losses is marked "!" in
# the lost column.
#
# Peers in the same sitting: SERVERS="switchboard soketi" scripts/bench.sh
# full 3 runs each configuration against Switchboard and then against each
# peer from scripts/peers.sh (installed when missing), alternating run by
# run, a fresh server every run; a peer runs only the Pusher scenarios.
#
# Environment: BIN (default bin/switchboard, built when missing; it is also
# the load generator), SERVERS (default switchboard), PORT (default: a free
# port from 18000 up), OUT (Switchboard's JSON lines; default
# bench-results/bench-DATE.jsonl; a peer's go to OUT with -PEER before
# .jsonl). Every run is bounded in count and time and talks to 127.0.0.1
# only. A scenario the server cannot serve yet (a dialect not built in) is
# reported as failed and the others still run.
set -uo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-short}
REPEAT=${2:-1}
BIN=${BIN:-bin/switchboard}
read -ra SERVERS <<<"${SERVERS:-switchboard}"
SERVER=switchboard # the one being measured
if [ -z "${OUT:-}" ]; then
  mkdir -p bench-results
  OUT=bench-results/bench-$(date -u +%Y%m%dT%H%M%SZ).jsonl
fi
# out_of SERVER prints where SERVER's JSON lines go.
out_of() {
  if [ "$1" = switchboard ]; then echo "$OUT"; else echo "${OUT%.jsonl}-$1.jsonl"; fi
}
for s in "${SERVERS[@]}"; do
  : >"$(out_of "$s")"
done

if [ ! -x "$BIN" ]; then
  echo "building $BIN" >&2
  go build -o "$BIN" ./cmd/switchboard || exit 1
fi

# shellcheck source=scripts/lib.sh
source scripts/lib.sh # the working directory is the repository
PORT=${PORT:-$(free_port)}
TMP=$(mktemp -d)
cat >"$TMP/bench.hjson" <<EOF
{
  host: "127.0.0.1"
  port: $PORT
  log: { level: "warn" }
}
EOF

SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ] && [ "$SERVER" != switchboard ]; then
    scripts/peers.sh stop "$SERVER" "$PORT"
    SERVER_PID=
  elif [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
  fi
}
trap 'stop_server; rm -rf "$TMP"' EXIT

start_server() {
  if [ "$SERVER" != switchboard ]; then
    SERVER_PID=$(scripts/peers.sh run "$SERVER" "$PORT") || exit 1
    return 0
  fi
  "$BIN" serve --config "$TMP/bench.hjson" >"$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  wait_healthy "$PORT" "$SERVER_PID" "$TMP/server.log" || exit 1
}

FAILED=()
# bench SCENARIO [flags]: one run against a fresh server.
bench() {
  start_server
  if ! "$BIN" bench "$@" --target "127.0.0.1:$PORT" --server-pid "$SERVER_PID" >>"$(out_of "$SERVER")" 2>"$TMP/bench.err"; then
    FAILED+=("$SERVER: $*: $(grep -v '^[a-z]*: ' "$TMP/bench.err" | tail -1)")
  fi
  grep -E '^(hold|fanout|channels|echo) [a-z]+ ' "$TMP/bench.err" | sed "s/^/$SERVER: /" >&2
  stop_server
}

if [ "$MODE" = full ]; then
  RUNS=(
    "hold --protocol pusher --connections 19000 --idle 10s"
    "hold --protocol tokens --connections 19000 --idle 10s"
    "fanout --protocol pusher --subscribers 1000 --payload 100 --duration 10s --window 8"
    "fanout --protocol pusher --subscribers 10000 --payload 100 --duration 10s --window 16"
    "fanout --protocol pusher --subscribers 10000 --rate 2 --duration 10s"
    "fanout --protocol pusher --subscribers 1000 --rate 20 --duration 10s"
    "channels --protocol pusher --subscribers 10000 --channels 1000 --duration 10s --window 64"
    "fanout --protocol tokens --subscribers 1000 --payload 100 --duration 10s --window 8"
    "channels --protocol tokens --subscribers 10000 --channels 1000 --duration 10s --window 64"
    "echo --connections 100 --duration 10s"
  )
else
  RUNS=(
    "hold --protocol pusher --connections 2000 --idle 2s"
    "hold --protocol tokens --connections 2000 --idle 2s"
    "fanout --protocol pusher --subscribers 1000 --duration 5s --drain 2s"
    "fanout --protocol tokens --subscribers 1000 --duration 5s --drain 2s"
    "channels --protocol pusher --subscribers 2000 --channels 200 --duration 5s --drain 2s"
    "channels --protocol tokens --subscribers 2000 --channels 200 --duration 5s --drain 2s"
    "echo --connections 100 --duration 5s"
  )
fi

for s in "${SERVERS[@]}"; do
  if [ "$s" != switchboard ]; then
    scripts/peers.sh install || exit 1
  fi
done

echo "switchboard bench ($MODE) against ${SERVERS[*]}: $(nproc) cores, Linux $(uname -r), $(date -u +%Y-%m-%dT%H:%M:%SZ), port $PORT; JSON lines in $OUT" >&2
for run in "${RUNS[@]}"; do
  for _ in $(seq "$REPEAT"); do
    for SERVER in "${SERVERS[@]}"; do
      # A peer is measured on what it speaks: the Pusher protocol.
      if [ "$SERVER" != switchboard ] && [[ $run != *"--protocol pusher"* ]]; then
        continue
      fi
      # shellcheck disable=SC2086 # the flags are meant to split
      bench $run
    done
  done
done

for s in "${SERVERS[@]}"; do
  echo
  echo "$s:"
  "$BIN" bench table "$(out_of "$s")"
done
echo
"$BIN" bench targets "$OUT"
if [ ${#FAILED[@]} -gt 0 ]; then
  echo
  echo "failed runs:"
  printf '  %s\n' "${FAILED[@]}"
  exit 1
fi
