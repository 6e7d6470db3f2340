#!/usr/bin/env bash
# make test, and so CI: formatting, vet, staticcheck, the Go tests with the
# race detector, the binary, then the end-to-end tests with their
# dependencies installed. Prints what it ran and what it skipped and why;
# fails as soon as a step fails or a required part cannot be set up.
set -euo pipefail
cd "$(dirname "$0")/.."

ran=()
skipped=()
start=$SECONDS

summary() {
	local status=$1
	echo
	echo "==> make test: $status after $((SECONDS - start))s"
	local r
	for r in "${ran[@]}"; do echo "    ran:     $r"; done
	echo "    skipped: fuzzing (make fuzz: minutes per target; not part of make test)"
	echo "    skipped: benchmarks (make bench: timing, not correctness)"
	for r in "${skipped[@]}"; do echo "    skipped: $r"; done
	echo "    (e2e dependencies set up or skipped are listed in the e2e step's output)"
}

# step NAME COMMAND... runs one step, timing it.
step() {
	local name=$1 t0=$SECONDS
	shift
	echo
	echo "==> $name: $*"
	if ! "$@"; then
		summary "FAILED in step '$name'"
		exit 1
	fi
	ran+=("$name ($((SECONDS - t0))s)")
}

check_gofmt() {
	local files
	files=$(find . -name '*.go' -not -path './.git/*' -not -path '*/node_modules/*' -print0 | xargs -0 gofmt -l)
	if [[ -n $files ]]; then
		echo "not gofmt-ed (run gofmt -w on them):"
		echo "$files"
		return 1
	fi
}

go version
step "gofmt" check_gofmt
step "go vet" go vet ./...
step "staticcheck" scripts/lint.sh
# The Redis integration tests (bus/redis) need a real redis-server, the app
# store's (appstore/pgstore, cmd/switchboard) a real PostgreSQL; with
# SWITCHBOARD_TEST_REDIS=1 and SWITCHBOARD_TEST_POSTGRES=1 they fail instead
# of skipping when one is missing.
source scripts/ensure-deps.sh
step "redis-server" ensure_redis
step "postgresql" ensure_postgres
step "go test" env SWITCHBOARD_TEST_REDIS=1 SWITCHBOARD_TEST_POSTGRES=1 go test -race -count=1 -timeout=20m ./...
# ws again with every server on io_uring (ws.SendPathUring). It fails where
# io_uring cannot be set up (a seccomp profile, kernel.io_uring_disabled)
# unless SWITCHBOARD_TEST_URING=skip says to skip it.
if [[ ${SWITCHBOARD_TEST_URING:-} == skip ]]; then
	skipped+=("go test ws (io_uring): SWITCHBOARD_TEST_URING=skip")
else
	step "go test ws (io_uring)" env WS_TEST_SEND_PATH=uring go test -race -count=1 ./ws/...
fi
step "build" go build -o bin/switchboard ./cmd/switchboard
step "cross-compile and vet" scripts/cross.sh
step "reproducible release build" scripts/dist-check.sh
step "systemd unit" scripts/check-unit.sh
step "e2e" scripts/e2e.sh
summary "PASSED"
