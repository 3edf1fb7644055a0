#!/usr/bin/env bash
# Two nusad boxes on a private mDNS LAN (network namespaces with their own
# D-Bus and avahi-daemon, lib/avahi.sh) find each other with Avahi and
# converge with no static peers configured; a box that leaves is let go.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
N=${NUSACTL:-$here/../../build/nusactl}
D=${NUSAD:-$here/../../build/nusad}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-disco.XXXXXX")
root=$tmp
. "$here/lib/boxes.sh"
. "$here/lib/avahi.sh"
cleanup() {
	stop_all
	avahi_down || true
	[ -n "${KEEP:-}" ] || rm -rf "$root"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
cd "$tmp"

mkdir "$tmp/lan"
avahi_up "$tmp/lan" 2 || die "could not set up the private mDNS LAN"
ok "private LAN: two hosts, each with D-Bus and avahi-daemon"

network A B
"$N" -d A member add M1 --name "Ketut" >/dev/null
"$N" -d A account open S1 --member M1 --type sukarela >/dev/null
IA=$(devid A) IB=$(devid B)
# dconf BOX HOST: listens on the host's LAN address, discovery on, no peers.
dconf() {
	cat >"$tmp/$1.conf" <<CONF
[nusad]
data_dir = $tmp/$1
listen = tcp://$(avahi_addr "$2"):7700
discovery = yes
log_level = debug
heartbeat = 1
CONF
}
dconf A 1
dconf B 2
NUSAD_WRAP="avahi_exec 1" start A
NUSAD_WRAP="avahi_exec 2" start B
"$N" -d A post deposit S1 1000 --memo "on host 1" >/dev/null
converge 40 A B || die "the two boxes did not find each other and converge"
"$N" -d B post deposit S1 2000 --memo "on host 2" >/dev/null
converge 15 A B || die "B's posting did not reach A"
# Each finds the other (the first to find dials; the other may take a
# little longer to resolve the service).
for i in $(seq 1 100); do
	grep -q "found ${IB:0:16} on the LAN at tcp://192.0.2.2:7700" A.log &&
		grep -q "found ${IA:0:16} on the LAN at tcp://192.0.2.1:7700" B.log &&
		break
	sleep 0.2
done
grep -q "found ${IB:0:16} on the LAN at tcp://192.0.2.2:7700" A.log ||
	die "A did not log finding B"
grep -q "found ${IA:0:16} on the LAN at tcp://192.0.2.1:7700" B.log ||
	die "B did not log finding A"
"$N" -d A status | grep -q "^peer ${IB:0:16} tcp://192.0.2.2:7700 discovered, connected" ||
	die "A's status does not show B as discovered: $("$N" -d A status)"
ok "two boxes find each other by Avahi and converge, no peers configured"

stop B
for i in $(seq 1 100); do grep -q "${IB:0:16} is gone from the LAN" A.log && break; sleep 0.2; done
grep -q "${IB:0:16} is gone from the LAN" A.log || die "A kept B after it left"
ok "a box that leaves the LAN is let go"

# Without avahi-daemon nusad says so once and works on.
avahi_stop 1
sleep 1
grep -q 'Avahi is not running' A.log || die "A did not log that Avahi is gone"
kill -0 "$(cat A.pid)" || die "A died without Avahi"
[ "$(grep -c 'Avahi is not running' A.log)" = 1 ] || die "logged more than once"
ok "without Avahi nusad logs it once and carries on"
stop A
echo "discovery.sh: $pass checks passed"
