#!/usr/bin/env bash
# The two send paths of websocket.send_path measured against each other
# (issue 18): one built binary, the issue's scenarios, the paths alternating
# run by run (which goes first alternates too), a fresh server every run,
# then a table of medians with ratios (uring / syscall).
#
#   scripts/bench-uring.sh             3 runs per path, 10 s each (about 15 minutes)
#   scripts/bench-uring.sh 1 3s        a quick check that it works (about 3 minutes)
#
# Scenarios (the commands of scripts/bench.sh full):
#   fanout pusher 1,000 --rate 20, 10,000 --rate 2   (p99 is what the decision reads)
#   fanout pusher 1,000 --window 8, 10,000 --window 16 (flat out, --payload 100)
#   channels pusher 10,000 over 1,000 --window 64
#   hold pusher 19,000 (RSS per idle connection)
#
# Decision rule (issue 18): io_uring on by default only if p99 at both
# fixed rates falls by at least 25 % and no flat-out figure regresses
# beyond noise; the table prints each build's runs so the noise is visible.
#
# Environment: BIN (default bin/switchboard, built when missing; also the
# load generator), PORT (default: a free port from 18000 up), OUT (JSON
# lines; default bench-results/uring-DATE, with -syscall.jsonl and
# -uring.jsonl appended). Every run is bounded and talks to 127.0.0.1 only.
set -uo pipefail
cd "$(dirname "$0")/.."

REPEAT=${1:-3}
DURATION=${2:-10s}
BIN=${BIN:-bin/switchboard}
PATHS=(syscall uring)
if [ -z "${OUT:-}" ]; then
  mkdir -p bench-results
  OUT=bench-results/uring-$(date -u +%Y%m%dT%H%M%SZ)
fi
for p in "${PATHS[@]}"; do : >"$OUT-$p.jsonl"; done

command -v jq >/dev/null || { echo "bench-uring: jq is needed for the table (apt-get install jq)" >&2; exit 1; }
if [ ! -x "$BIN" ]; then
  echo "building $BIN" >&2
  go build -o "$BIN" ./cmd/switchboard || exit 1
fi

# shellcheck source=scripts/lib.sh
source scripts/lib.sh # the working directory is the repository
PORT=${PORT:-$(free_port)}
TMP=$(mktemp -d)
for p in "${PATHS[@]}"; do
  cat >"$TMP/$p.hjson" <<EOF
{
  host: "127.0.0.1"
  port: $PORT
  log: { level: "warn" }
  websocket: { send_path: "$p" }
}
EOF
done

SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
  fi
}
trap 'stop_server; rm -rf "$TMP"' EXIT

# start_server PATH starts a fresh server on that send path.
start_server() {
  "$BIN" serve --config "$TMP/$1.hjson" >"$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  wait_healthy "$PORT" "$SERVER_PID" "$TMP/server.log" || exit 1
  # A forced uring that could not be set up warns and writes with send(2):
  # that run would measure the wrong path.
  if grep -q "io_uring is unavailable" "$TMP/server.log"; then
    echo "bench-uring: io_uring is unavailable here; nothing to compare:" >&2
    cat "$TMP/server.log" >&2
    exit 1
  fi
}

FAILED=()
# bench PATH SCENARIO [flags]: one run against a fresh server on PATH.
bench() {
  local path=$1
  shift
  start_server "$path"
  if ! "$BIN" bench "$@" --target "127.0.0.1:$PORT" --server-pid "$SERVER_PID" >>"$OUT-$path.jsonl" 2>"$TMP/bench.err"; then
    FAILED+=("$path: $*: $(grep -v '^[a-z]*: ' "$TMP/bench.err" | tail -1)")
  fi
  grep -E '^(hold|fanout|channels) [a-z]+ ' "$TMP/bench.err" | sed "s/^/$path: /" >&2
  stop_server
}

RUNS=(
  "fanout --protocol pusher --subscribers 1000 --rate 20 --duration $DURATION"
  "fanout --protocol pusher --subscribers 10000 --rate 2 --duration $DURATION"
  "fanout --protocol pusher --subscribers 1000 --payload 100 --duration $DURATION --window 8"
  "fanout --protocol pusher --subscribers 10000 --payload 100 --duration $DURATION --window 16"
  "channels --protocol pusher --subscribers 10000 --channels 1000 --duration $DURATION --window 64"
  "hold --protocol pusher --connections 19000 --idle $DURATION"
)

echo "bench-uring: ${PATHS[*]} alternating, $REPEAT runs each, $DURATION per run: $(nproc) cores, Linux $(uname -r), $(date -u +%Y-%m-%dT%H:%M:%SZ), $BIN ($(git rev-parse --short HEAD 2>/dev/null)), port $PORT; JSON lines in $OUT-*.jsonl" >&2
for run in "${RUNS[@]}"; do
  for i in $(seq "$REPEAT"); do
    order=("${PATHS[@]}")
    if [ $((i % 2)) -eq 0 ]; then order=("${PATHS[1]}" "${PATHS[0]}"); fi
    for path in "${order[@]}"; do
      # shellcheck disable=SC2086 # the flags are meant to split
      bench "$path" $run
    done
  done
done

# The table: per scenario, each path's median and runs, and the ratio.
jq -rn --slurpfile a "$OUT-syscall.jsonl" --slurpfile b "$OUT-uring.jsonl" '
  def key: [.scenario, .connections, .channels, .rate, .window] | tostring;
  def name: if .scenario == "hold" then "hold \(.connections)"
    elif .scenario == "channels" then "channels \(.connections) over \(.channels), window \(.window)"
    elif (.rate // 0) > 0 then "fanout \(.connections) at \(.rate)/s"
    else "fanout \(.connections), window \(.window)" end;
  def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
  def fmt: if . == null then "-" elif . >= 100 then (round | tostring) else (. * 100 | round / 100 | tostring) end;
  def metrics: if .scenario == "hold" then [["RSS/conn B", .server_rss_per_conn_bytes]]
    else [["p99 ms", .latency.p99_ms], ["p50 ms", .latency.p50_ms],
          (if .scenario == "channels" then ["publishes/s", .publishes_per_s] else ["deliveries/s", .deliveries_per_s] end),
          ["server CPU %", .cpu.server_pct]] end;
  def lossy: [.[] | select((.lost // 0) > 0 or (.disconnects // 0) > 0)] | length;
  ($a | group_by(key) | sort_by(.[0].date)) as $groups |
  "| scenario | figure | syscall: median (runs) | uring: median (runs) | uring / syscall |",
  "|---|---|---|---|---|",
  ($groups[] | . as $sa | ($sa[0] | key) as $k | [$b[] | select(key == $k)] as $sb |
    range(0; ($sa[0] | metrics | length)) as $i |
    ($sa[0] | metrics[$i][0]) as $m |
    ([$sa[] | metrics[$i][1]] | map(select(. != null))) as $xa |
    ([$sb[] | metrics[$i][1]] | map(select(. != null))) as $xb |
    ($xa | median) as $ma | ($xb | median) as $mb |
    "| \($sa[0] | name)\(if $i == 0 and (($sa | lossy) + ($sb | lossy)) > 0 then " (! loss or disconnects)" else "" end) | \($m) | \($ma | fmt) (\($xa | map(fmt) | join(" · "))) | \($mb | fmt) (\($xb | map(fmt) | join(" · "))) | \(if $ma != null and $mb != null and $ma != 0 then ($mb / $ma * 100 | round / 100 | tostring) else "-" end) |")
'
if [ ${#FAILED[@]} -gt 0 ]; then
  echo
  echo "failed runs:"
  printf '  %s\n' "${FAILED[@]}"
  exit 1
fi
