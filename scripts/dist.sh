#!/usr/bin/env bash
# make dist: release binaries of cmd/switchboard for every platform in
# PLATFORMS, with SHA256SUMS, in OUT (default dist/).
#
#   scripts/dist.sh                     # dist/switchboard-VERSION-OS-ARCH[.exe], dist/SHA256SUMS
#   OUT=/tmp/d PLATFORMS=linux/amd64 scripts/dist.sh
#
# The builds are reproducible: static (CGO_ENABLED=0), -trimpath (no paths
# of this machine), stamped with the commit's version, hash and time (not
# the time of the build), so the same commit and Go version give the same
# bytes anywhere; scripts/dist-check.sh tests that. VERSION, COMMIT and
# DATE default to what git says of HEAD (make passes them).
set -euo pipefail
cd "$(dirname "$0")/.."

PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64}
OUT=${OUT:-dist}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo unknown)}
COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
DATE=${DATE:-$(TZ=UTC0 git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown)}
ldflags="-s -w -X main.buildVersion=$VERSION -X main.buildCommit=$COMMIT -X main.buildDate=$DATE"

mkdir -p "$OUT"
rm -f "$OUT"/switchboard-* "$OUT"/SHA256SUMS
names=()
for p in $PLATFORMS; do
	os=${p%/*} arch=${p#*/}
	name="switchboard-$VERSION-$os-$arch"
	[[ $os == windows ]] && name+=.exe
	echo "dist: $name"
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$OUT/$name" ./cmd/switchboard
	names+=("$name")
done
(cd "$OUT" && sha256sum "${names[@]}" >SHA256SUMS)
echo "dist: $OUT/SHA256SUMS"
cat "$OUT/SHA256SUMS"
