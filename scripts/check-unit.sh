#!/usr/bin/env bash
# Checks packaging/switchboard.service: that it keeps the settings the
# README promises, and, when systemd-analyze is installed, that systemd
# accepts every line of it (any warning fails).
set -euo pipefail
cd "$(dirname "$0")/.."
unit=packaging/switchboard.service

fail=0
for want in '^User=switchboard$' '^NoNewPrivileges=yes$' '^ProtectSystem=strict$' '^LimitNOFILE=[0-9]+$' \
	'^Restart=on-failure$' '^KillSignal=SIGTERM$' '^ExecStart=/usr/local/bin/switchboard serve --config /etc/switchboard/switchboard.hjson$'; do
	if ! grep -Eq "$want" "$unit"; then
		echo "unit: $unit lacks a line matching $want" >&2
		fail=1
	fi
done
# systemd sends SIGKILL TimeoutStopSec after SIGTERM: it must leave the
# graceful shutdown its shutdown_timeout (10 s by default).
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$unit")
if [[ -z $stop ]] || ((stop <= 10)); then
	echo "unit: TimeoutStopSec must be given in seconds and exceed the default shutdown_timeout (10s)" >&2
	fail=1
fi
((fail == 0)) || exit 1

if ! command -v systemd-analyze >/dev/null; then
	echo "unit: skipped systemd-analyze verify: systemd-analyze is not installed (Debian's systemd package has it)"
	exit 0
fi
[[ -x bin/switchboard ]] || { echo "unit: bin/switchboard is missing; run make build" >&2; exit 1; }
# verify checks that ExecStart's binary exists: point it at the one built.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/local/bin/switchboard|$PWD/bin/switchboard|" "$unit" >"$tmp/switchboard.service"
out=$(systemd-analyze verify "$tmp/switchboard.service" 2>&1) || { echo "$out" >&2; exit 1; }
if [[ -n $out ]]; then
	echo "unit: systemd-analyze verify warns:" >&2
	echo "$out" >&2
	exit 1
fi
echo "unit: systemd-analyze verify $unit: no problems"
