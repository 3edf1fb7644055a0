#!/usr/bin/env bash
# nusad under systemd: the unit file verifies and is sandboxed well, and
# nusad speaks the notify protocol (READY, STATUS, WATCHDOG, RELOADING,
# STOPPING) to the socket systemd would give it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
N=${NUSACTL:-$here/../../build/nusactl}
D=${NUSAD:-$here/../../build/nusad}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-systemd.XXXXXX")
root=$tmp
. "$here/lib/boxes.sh"
trap 'stop_all; kill "${lpid:-0}" 2>/dev/null || true; rm -rf "$root"' EXIT
cd "$tmp"

command -v systemd-analyze >/dev/null || die "systemd-analyze missing (make deps installs systemd)"
# The unit as shipped, pointed at this build.
sed "s|/usr/sbin/nusad|$D|g" "$here/../../systemd/nusad.service" >nusad.service
# The man pages it names are checked on the packaged unit (deb.sh).
systemd-analyze verify --man=no ./nusad.service 2>verify.txt || die "verify: $(cat verify.txt)"
grep -q '^Type=notify$' nusad.service && grep -q '^WatchdogSec=' nusad.service ||
	die "the unit is not Type=notify with a watchdog"
systemd-analyze security --offline=yes ./nusad.service >sec.txt 2>&1 || true
level=$(sed -n 's/.*Overall exposure level for nusad.service: \([0-9.]*\).*/\1/p' sec.txt)
[ -n "$level" ] || die "systemd-analyze security: $(tail -3 sec.txt)"
python3 -c "import sys; sys.exit(0 if float('$level') <= 2.0 else 1)" ||
	die "exposure level $level, want <= 2.0"
ok "the unit verifies; systemd-analyze security rates it $level"

# The notify socket: a datagram listener writes what it hears, a line each.
python3 - "$tmp/notify.sock" "$tmp/notify.txt" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode() + "\n")
PY
lpid=$!
for i in $(seq 1 50); do [ -S notify.sock ] && break; sleep 0.1; done
"$N" -d A init --network "Koperasi Uji" >/dev/null
conf A "$(freeport)"
NOTIFY_SOCKET=$tmp/notify.sock WATCHDOG_USEC=400000 start A
waitfor() {
	local i
	for i in $(seq 1 50); do grep -q "$1" notify.txt 2>/dev/null && return 0; sleep 0.1; done
	die "no $1 on the notify socket: $(cat notify.txt 2>/dev/null)"
}
waitfor '^READY=1$'
waitfor '^STATUS=0 sessions, 1 entries, no sync yet$'
sleep 1.2
[ "$(grep -c '^WATCHDOG=1$' notify.txt)" -ge 3 ] ||
	die "watchdog pings: $(grep -c '^WATCHDOG=1$' notify.txt) in 1.2 s at 200 ms"
kill -HUP "$(cat A.pid)"
waitfor '^RELOADING=1$'
[ "$(grep -c '^READY=1$' notify.txt)" -ge 2 ] || sleep 1
[ "$(grep -c '^READY=1$' notify.txt)" -ge 2 ] || die "no READY after reload"
stop A
waitfor '^STOPPING=1$'
ok "READY, STATUS, WATCHDOG, RELOADING and STOPPING reach the notify socket"
echo "systemd.sh: $pass checks passed"
