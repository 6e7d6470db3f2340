#!/usr/bin/env bash
# Runs the end-to-end tests (e2e/*.test.js, node --test) against
# bin/switchboard, which must be built first (make build). Installs what the
# tests need and fails when it cannot: it never runs with less.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh

# What the e2e tests need. Add redis or chromium here when a test starts
# using them (lib helpers get REDIS_SERVER and CHROMIUM_PATH from the env).
E2E_NEEDS=(npm redis chromium openssl) # redis: cluster*.test.js, console-cluster.test.js; chromium: atmosphere-browser.test.js, console*.test.js; openssl: tls.test.js
ALL_DEPS=(npm redis chromium openssl)

for d in "${ALL_DEPS[@]}"; do
	if [[ " ${E2E_NEEDS[*]} " != *" $d "* ]]; then
		echo "e2e: skipped setting up $d: no e2e test needs it yet (E2E_NEEDS in scripts/e2e.sh)"
	fi
done
ensure_deps "${E2E_NEEDS[@]}"

[[ -x bin/switchboard ]] || { echo "e2e: bin/switchboard is missing; run make build" >&2; exit 1; }
export SWITCHBOARD_BIN="$PWD/bin/switchboard"
# Redis-backed tests fail, rather than skip, when redis-server is missing.
export SWITCHBOARD_TEST_REDIS=1

cd e2e
shopt -s nullglob
tests=(*.test.js)
((${#tests[@]} > 0)) || { echo "e2e: no e2e/*.test.js found" >&2; exit 1; }
echo "e2e: node --test ${tests[*]}"
node --test --test-timeout=120000 "${tests[@]}"

# The WebSocket dialects again with io_uring writing the sockets
# (websocket.send_path, ws.SendPathUring); the run above used the default.
uring_tests=(echo.test.js pusher.test.js tokens.test.js atmosphere.test.js deflate.test.js)
echo "e2e: E2E_SEND_PATH=uring node --test ${uring_tests[*]}"
E2E_SEND_PATH=uring node --test --test-timeout=120000 "${uring_tests[@]}"
