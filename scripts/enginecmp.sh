#!/usr/bin/env bash
# Engine comparison for issue 2: an echo server on each candidate WebSocket
# engine (internal/enginecmp/server), measured with `switchboard bench`:
# hold (idle connections: server RSS per connection, connect rate) and echo
# (round trips per second). Loopback only; every run is bounded.
#
#   scripts/enginecmp.sh [engines...]        default: switchboard gws coder
#
# Environment: RUNS (default 3), CONNS (default 19000), ECHO_CONNS (100),
# ECHO_SECONDS (10), IDLE (5s), PORT (8101), PPROF_PORT (6161),
# OUT (default bench-results/enginecmp-DATE.jsonl). Heap profiles of the
# first hold run of each engine go beside OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
CONNS=${CONNS:-19000}
ECHO_CONNS=${ECHO_CONNS:-100}
ECHO_SECONDS=${ECHO_SECONDS:-10}
IDLE=${IDLE:-5s}
PORT=${PORT:-8101}
PPROF_PORT=${PPROF_PORT:-6161}
if [ -z "${OUT:-}" ]; then
  mkdir -p bench-results
  OUT=bench-results/enginecmp-$(date -u +%Y%m%dT%H%M%SZ).jsonl
fi
ENGINES=("$@")
[ ${#ENGINES[@]} -gt 0 ] || ENGINES=(switchboard gws coder)

BIN=$(mktemp -d)
go build -o "$BIN/server" ./internal/enginecmp/server
go build -o "$BIN/switchboard" ./cmd/switchboard

SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}
trap 'stop_server; rm -rf "$BIN"' EXIT

# start_server ENGINE [extra flags]: starts it and waits for "listening".
start_server() {
  local log="$BIN/server.log"
  : >"$log"
  "$BIN/server" -engine "$1" -addr "127.0.0.1:$PORT" "${@:2}" >"$log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    grep -q '^listening' "$log" && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "server $1 did not start:" >&2
  cat "$log" >&2
  exit 1
}

echo "machine: $(nproc) cores, Linux $(uname -r), $(date -u +%Y-%m-%dT%H:%M:%SZ); results: $OUT" >&2
for engine in "${ENGINES[@]}"; do
  for run in $(seq "$RUNS"); do
    # A fresh server per hold run, so that RSS before and after is its own.
    extra=()
    hp=()
    if [ "$run" = 1 ]; then
      extra=(-pprof "127.0.0.1:$PPROF_PORT")
      hp=(--heap-profile-url "http://127.0.0.1:$PPROF_PORT/debug/pprof/heap?gc=1"
          --heap-profile-out "${OUT%.jsonl}-heap-$engine.pprof")
    fi
    start_server "$engine" "${extra[@]}"
    "$BIN/switchboard" bench hold --protocol echo --target "127.0.0.1:$PORT" \
      --connections "$CONNS" --idle "$IDLE" --server-pid "$SERVER_PID" "${hp[@]}" \
      | jq -c --arg e "$engine" '. + {engine: $e}' >>"$OUT"
    stop_server
    start_server "$engine"
    "$BIN/switchboard" bench echo --target "127.0.0.1:$PORT" \
      --connections "$ECHO_CONNS" --duration "${ECHO_SECONDS}s" --server-pid "$SERVER_PID" \
      | jq -c --arg e "$engine" '. + {engine: $e}' >>"$OUT"
    stop_server
  done
done

# Medians of the runs, per engine.
jq -s -r '
  def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
  group_by(.engine)[] as $g
  | ($g | map(select(.scenario == "hold"))) as $h
  | ($g | map(select(.scenario == "echo"))) as $e
  | [$g[0].engine,
     ($h | map(.server_rss_per_conn_bytes) | median | floor),
     ($h | map(.connect_per_s) | median | floor),
     ($e | map(.round_trips_per_s) | median | floor),
     ($e | map(.latency.p99_ms) | median),
     ($e | map(.cpu.server_pct) | median),
     ($e | map(.cpu.gen_pct) | median)]
  | @tsv' "$OUT" |
  (printf 'engine\tRSS B/conn\tconnect/s\techo rt/s\techo p99 ms\techo server CPU%%\techo gen CPU%%\n'; cat) |
  column -t -s $'\t'
