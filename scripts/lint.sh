#!/usr/bin/env bash
# Runs staticcheck on every package, installing the pinned version into
# ./bin first when it is missing or another version.
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2
bin="$PWD/bin/staticcheck"
if ! [[ -x $bin ]] || ! "$bin" -version 2>/dev/null | grep -qF "(${STATICCHECK_VERSION#v})"; then
	echo "lint: installing staticcheck $STATICCHECK_VERSION into bin/"
	GOBIN="$PWD/bin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
echo "lint: $("$bin" -version) ./..."
"$bin" ./...
