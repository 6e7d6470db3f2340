#!/usr/bin/env bash
# Checks that make dist is reproducible and stamped: builds the linux/amd64
# release binary twice, from this tree and from a copy of it at another
# path, and fails unless the two are the same bytes, neither path is in the
# binary, and `version` prints the stamped version, commit and date.
#
# The second build shares the Go build cache (so make test pays only a
# link); FULL=1 gives it an empty cache, so that every package is compiled
# again from the other path (minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
export VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo unknown)}
export COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
export DATE=${DATE:-$(TZ=UTC0 git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown)}
export PLATFORMS=linux/amd64

OUT="$work/a" scripts/dist.sh >/dev/null

# The copy: the files git knows of (tracked, and new ones not ignored).
mkdir "$work/elsewhere"
git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} sh -c 'test -e "$1" && echo "$1"' _ {} |
	tar -cf - -T - | tar -xf - -C "$work/elsewhere"
cache=()
[[ ${FULL:-} == 1 ]] && cache=(GOCACHE="$work/cache")
(cd "$work/elsewhere" && env "${cache[@]}" OUT="$work/b" scripts/dist.sh >/dev/null)

a=$(cat "$work/a/SHA256SUMS") b=$(cat "$work/b/SHA256SUMS")
echo "dist-check: from $root:"
echo "  $a"
echo "dist-check: from another path$([[ ${FULL:-} == 1 ]] && echo ", with an empty build cache" || echo ", sharing the build cache (FULL=1 empties it)"):"
echo "  $b"
if [[ $a != "$b" ]]; then
	echo "dist-check: FAILED: the two builds differ; the release build is not reproducible" >&2
	exit 1
fi
bin="$work/a/switchboard-$VERSION-linux-amd64"
for dir in "$root" "$work/elsewhere"; do
	if grep -qF "$dir" "$bin"; then
		echo "dist-check: FAILED: the binary holds the build path $dir (want -trimpath)" >&2
		exit 1
	fi
done
got=$("$bin" version)
echo "dist-check: version: $got"
if [[ $got != "switchboard $VERSION (commit $COMMIT, built $DATE, "* ]]; then
	echo "dist-check: FAILED: want the stamp switchboard $VERSION (commit $COMMIT, built $DATE, ...)" >&2
	exit 1
fi
echo "dist-check: reproducible and stamped"
