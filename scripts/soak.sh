#!/usr/bin/env bash
# make soak: a long run of the built server under held connections,
# connection churn and steady publishing on two dialects, all on loopback
# and bounded in time. Not part of make test.
#
#   scripts/soak.sh                      19,000 held connections, 500 connects and
#                                        disconnects a second, 10 minutes
#   MINUTES=2 HELD=4000 CHURN=100 scripts/soak.sh    a short one
#
# The held connections: a quarter are Pusher subscribers and a quarter token
# holders receiving steady publishes (switchboard bench channels, paced at
# RATE publishes a second per dialect, far below the slow-consumer limit), and
# half are idle (bench hold) on the same two dialects. Churn (bench churn)
# alternates Pusher and token-broker connections. The server's RSS, goroutines
# and open files are sampled from /metrics every 5 s into soak-results/.
#
# It passes when: every publish below the slow-consumer limit was delivered
# (no loss, no subscriber disconnected), no held connection was dropped, churn
# had no failure, and, once churn stops with the held connections still open,
# RSS, goroutines and open files are within 5 % of their plateau (the median
# over the middle of the run). It prints the figures for BENCHMARKS.md.
set -uo pipefail
cd "$(dirname "$0")/.."

MINUTES=${MINUTES:-10}
HELD=${HELD:-19000}
CHURN=${CHURN:-500} # connects and disconnects a second, in all
RATE=${RATE:-50}    # publishes a second per dialect
BIN=${BIN:-bin/switchboard}
OUT=${OUT:-soak-results/soak-$(date -u +%Y%m%dT%H%M%SZ)}
SETTLE=60 # seconds the held connections stay after churn and publishing stop

# One process may hold about 19,900 open files here: the server holds every
# connection, each generator only its share.
if ((HELD > 19400)); then
	echo "soak: HELD=$HELD leaves the server too few open files under 19,900" >&2
	exit 2
fi
[[ -x $BIN ]] || go build -o "$BIN" ./cmd/switchboard || exit 1
mkdir -p "$OUT"

# shellcheck source=scripts/lib.sh
source scripts/lib.sh # the working directory is the repository
PORT=$(free_port)
cat >"$OUT/soak.hjson" <<CONF
{
  host: "127.0.0.1"
  port: $PORT
  log: { level: "warn" }
  shutdown_timeout: "30s"
}
CONF

PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	[[ -n ${SERVER_PID:-} ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
}
trap cleanup EXIT

(ulimit -n 19900 && exec "$BIN" serve --config "$OUT/soak.hjson") >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "soak: the server did not start" >&2; cat "$OUT/server.log" >&2; exit 1; }

# metric NAME prints the sum of a metric's samples in /metrics.
metrics() { curl -fs --max-time 5 "http://127.0.0.1:$PORT/metrics"; }
metric() { awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%.0f\n", s }' <<<"$2"; }

sample() {
	local m
	m=$(metrics) || return
	echo "$(date +%s),$(metric process_resident_memory_bytes "$m"),$(metric go_goroutines "$m"),$(metric process_open_fds "$m"),$(metric switchboard_connections "$m")"
}
echo "time,rss_bytes,goroutines,open_fds,connections" >"$OUT/samples.csv"
(while kill -0 "$SERVER_PID" 2>/dev/null; do sample >>"$OUT/samples.csv"; sleep 5; done) &
PIDS+=($!)

bench() { # bench NAME ARGS...: one generator in the background
	local name=$1
	shift
	"$BIN" bench "$@" --target "127.0.0.1:$PORT" --server-pid "$SERVER_PID" >"$OUT/$name.json" 2>"$OUT/$name.log" &
	PIDS+=($!)
}

RUN=$((MINUTES * 60))
Q=$((HELD / 4))
echo "soak: $HELD held connections, $CHURN churn/s, $RATE publishes/s per dialect, ${MINUTES} min; port $PORT; results in $OUT" >&2
T0=$(date +%s)
bench channels-pusher channels --protocol pusher --subscribers "$Q" --channels $((Q / 10)) --rate "$RATE" --duration "$((RUN + SETTLE))s" --drain 5s --connect-concurrency 16
bench channels-tokens channels --protocol tokens --subscribers "$Q" --channels $((Q / 10)) --rate "$RATE" --duration "$((RUN + SETTLE))s" --drain 5s --connect-concurrency 16
bench hold-pusher hold --protocol pusher --connections "$Q" --idle "$((RUN + SETTLE))s" --connect-concurrency 16
bench hold-tokens hold --protocol tokens --connections $((HELD - 3 * Q)) --idle "$((RUN + SETTLE))s" --connect-concurrency 16
GENERATORS=("${PIDS[@]:1}")

# Churn starts once every held connection is open.
for _ in $(seq 600); do
	c=$(metric switchboard_connections "$(metrics)")
	((c >= HELD)) && break
	sleep 1
done
RAMP=$(($(date +%s) - T0))
echo "soak: $c connections open after ${RAMP}s; churn starts" >&2
CHURN_START=$(date +%s)
bench churn-pusher churn --protocol pusher --rate $((CHURN / 2)) --duration "$((RUN - RAMP))s" --connections 200
bench churn-tokens churn --protocol tokens --rate $((CHURN - CHURN / 2)) --duration "$((RUN - RAMP))s" --connections 200
CHURNERS=("${PIDS[@]: -2}")
FAIL=0
for p in "${CHURNERS[@]}"; do wait "$p" || FAIL=1; done
CHURN_END=$(date +%s)
echo "soak: churn done; held connections stay ${SETTLE}s" >&2
sleep $((SETTLE - 15))
END_SAMPLE=$(sample)
for p in "${GENERATORS[@]}"; do wait "$p" || FAIL=1; done

# The plateau: the median of the samples over the middle half of the churn.
python3 - "$OUT" "$CHURN_START" "$CHURN_END" "$END_SAMPLE" "$FAIL" <<'PY'
import csv, json, statistics, sys, glob, os
out, cs, ce, end, fail = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(','), int(sys.argv[5])
rows = [r for r in csv.DictReader(open(f"{out}/samples.csv"))]
q = (ce - cs) / 4
mid = [r for r in rows if cs + q <= int(r['time']) <= ce - q]
ok = fail == 0
print(f"\nsoak figures ({len(mid)} plateau samples; end sample 45 s after churn stopped, held connections open):")
print(f"{'':14}{'plateau':>14}{'end':>14}{'change':>9}")
for i, k in enumerate(['rss_bytes', 'goroutines', 'open_fds', 'connections'], start=1):
    p = statistics.median(int(r[k]) for r in mid)
    e = int(end[i])
    ch = (e - p) / p * 100 if p else 0
    bad = k != 'connections' and abs(ch) > 5
    ok &= not bad
    print(f"{k:14}{p:>14,.0f}{e:>14,}{ch:>8.1f}%{'  OVER 5 %' if bad else ''}")
for f in sorted(glob.glob(f"{out}/*.json")):
    name = os.path.basename(f)[:-5]
    try:
        r = json.loads(open(f).read().strip().splitlines()[-1])
    except Exception:
        print(f"{name}: no result (see {out}/{name}.log)"); ok = False; continue
    if r['scenario'] == 'channels':
        good = r.get('no_loss') and r['lost'] == 0 and r['disconnects'] == 0
        print(f"{name}: {r['connections']} subscribers, {r.get('published', 0)} published, {r.get('received', 0)} of {r.get('expected', 0)} delivered, lost {r['lost']}, disconnected {r['disconnects']}")
    elif r['scenario'] == 'hold':
        good = r['disconnects'] == 0
        print(f"{name}: {r['connections']} held {r['duration_s']:.0f} s, disconnected {r['disconnects']}")
    else:
        good = r.get('churn_failed', 0) == 0
        print(f"{name}: {r.get('churned', 0)} churned in {r['duration_s']:.0f} s ({r['connect_per_s']:.0f}/s), failed {r.get('churn_failed', 0)}, missed {r.get('churn_missed', 0)}")
    ok &= bool(good)
print("\nsoak: PASSED" if ok else "\nsoak: FAILED")
sys.exit(0 if ok else 1)
PY
