#!/usr/bin/env bash
# Cross-compiles cmd/switchboard and runs go vet (which type-checks the
# tests too) for every release platform of scripts/dist.sh that is not this
# machine's, so that the non-Linux fallbacks (ws/*_other.go,
# internal/loadgen/*_other.go, ...) keep building. Their tests are compiled
# here, not run: that needs the platform itself.
set -euo pipefail
cd "$(dirname "$0")/.."

PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64}
native="$(go env GOOS)/$(go env GOARCH)"
for p in $PLATFORMS; do
	if [[ $p == "$native" ]]; then
		echo "cross: $p is this machine: built and tested by the steps before"
		continue
	fi
	echo "cross: $p: go build ./cmd/switchboard, go vet ./..."
	CGO_ENABLED=0 GOOS=${p%/*} GOARCH=${p#*/} go build -o /dev/null ./cmd/switchboard
	CGO_ENABLED=0 GOOS=${p%/*} GOARCH=${p#*/} go vet ./...
done
