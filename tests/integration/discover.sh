#!/usr/bin/env bash
# LAN discovery end to end: discover_probe (tests/tools/discover_probe.c,
# built with transport/discover.c) on two hosts of a private mDNS LAN
# (tests/integration/lib/avahi.sh: network namespaces, each host with its
# own D-Bus and avahi-daemon). Builds nothing: DISCOVER_PROBE names the
# probe. Needs root; fails, never skips, when it cannot set the LAN up.
# Prints TAP lines and exits non-zero on any failure.
set -uo pipefail

P=${DISCOVER_PROBE:-}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/avahi.sh"

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
# check DESC CMD...: one TAP line for CMD's exit status.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else notok "$desc"; fi
}

if [ -z "$P" ] || [ ! -x "$P" ]; then
	notok "DISCOVER_PROBE names an executable probe (got '$P')"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-discover.XXXXXX")
cleanup() {
	trap '' PIPE	# a closed stdout must not stop the cleanup
	avahi_down
	if [ "$failed" -gt 0 ]; then
		for f in "$tmp"/*.out "$tmp"/*.err "$tmp"/h*/avahi.log; do
			[ -s "$f" ] || continue
			echo "# --- $f" >&2
			tail -n 60 "$f" | sed 's/^/# /' >&2
		done
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

hex() { printf "$1%.0s" $(seq "$2"); }
A=$(hex a 64)
B=$(hex b 64)
C=$(hex c 64)
D=aaaaaaaa$(hex d 56)	# same instance name as A: nusa-aaaaaaaa
E=$(hex e 64)
F=$(hex f 64)
N1=$(hex 1 32)
N2=$(hex 2 32)

declare -A pid
# probe NAME HOST ARGS...: starts a probe in the background on HOST.
probe() {
	local name=$1 host=$2
	shift 2
	avahi_exec "$host" "$P" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	pid[$name]=$!
}
# seen NAME REGEX [SECONDS]: waits until NAME's output has a line
# matching REGEX.
seen() {
	_avahi_wait "${3:-20}" grep -Eq "$2" "$tmp/$1.out"
}
alive() { kill -0 "${pid[$1]}" 2>/dev/null; }
# ended NAME CODE SECONDS: waits for NAME to exit with CODE.
ended() {
	local rc=0
	_avahi_wait "$3" eval "! kill -0 ${pid[$1]}" || return 1
	wait "${pid[$1]}" || rc=$?
	[ "$rc" = "$2" ]
}
count() { grep -Ec "$2" "$tmp/$1.out"; }
# atleast NAME REGEX N SECONDS: waits for N lines matching REGEX.
atleast() {
	local who=$1 re=$2 want=$3
	_avahi_wait "$4" eval '[ "$(count "$who" "$re")" -ge "$want" ]'
}
# found ID NET HOST PORT: the regex of a found line.
found() {
	echo "^found $1 $2 tcp://$(avahi_addr "$3" | sed 's/\./\\./g'):$4\$"
}

if ! avahi_up "$tmp" 2; then
	notok "private mDNS LAN: two hosts with D-Bus and avahi-daemon"
	exit 1
fi
ok "private mDNS LAN: two hosts with D-Bus and avahi-daemon"

# --- two boxes find each other ------------------------------------------
probe a 1 --id "$A" --net "$N1" --port 7701 --seconds 300
probe b 2 --id "$B" --net "$N1" --port 7702 --seconds 300
check "box on host 1 finds host 2's id, net and address" \
    seen a "$(found "$B" "$N1" 2 7702)"
check "box on host 2 finds host 1's id, net and address" \
    seen b "$(found "$A" "$N1" 1 7701)"
if [ "$failed" -gt 0 ]; then
	echo "Bail out! the rest needs two boxes that find each other"
	exit 1
fi

# --- TXT records: one valid, the others malformed ------------------------
X1=$(hex 3 64) X2=$(hex 4 64) X3=$(hex 5 64) X4=$(hex 6 64)
X5=$(hex 7 64) X6=$(hex 8 64) X7=$(hex 9 64)
avahi_service 1 nusa-static 7703 v=2 "id=$C" "net=$N2" "extra=ignored"
avahi_service 1 bad-short 7711 v=1 "id=${X1:0:63}" "net=$N1"
avahi_service 1 bad-upper 7712 v=1 "id=${X2:0:62}AB" "net=$N1"
avahi_service 1 bad-nonet 7713 v=1 "id=$X3"
avahi_service 1 bad-proto 7714 v=x "id=$X4" "net=$N1"
avahi_service 1 bad-dup 7715 v=1 "id=$X5" "id=$X6" "net=$N1"
avahi_service 1 bad-net 7716 v=1 "id=$X7" "net=${N1}00"
avahi_reload 1
check "a static service on the other host is found" \
    seen b "$(found "$C" "$N2" 1 7703)"
check "a static service of the box's own daemon is found" \
    seen a "$(found "$C" "$N2" 1 7703)"
sleep 3
ids() { awk '$1 == "found" {print $2}' "$tmp/$1.out" | sort -u | tr '\n' ' '; }
check "services with malformed TXT are ignored" \
    test "$(ids b)" = "$A $C "
check "a box does not report itself" \
    test "$(count a "^found $A")$(count b "^found $B")" = 00

# --- a name conflict between two boxes ---------------------------------
probe d 2 --id "$D" --net "$N2" --port 7704 --seconds 300
check "boxes with the same instance name find each other" \
    eval 'seen a "$(found "$D" "$N2" 2 7704)" &&
	seen d "$(found "$A" "$N1" 1 7701)"'
check "one of them publishes under another name" \
    _avahi_wait 10 grep -q 'name conflict' "$tmp/a.err" "$tmp/d.err"

# --- a box that dies is reported gone ------------------------------------
kill -KILL "${pid[b]}"
wait "${pid[b]}" 2>/dev/null
check "a killed box is reported gone" seen a "^gone $B\$" 15
check "only that one" test "$(count a '^gone ')" = 1

# --- the Avahi daemon restarts --------------------------------------------
avahi_stop 1
check "the box notices its daemon is gone and keeps running" \
    eval 'seen a "^avahi: not running\$" 10 && sleep 2 && alive a'
check "the other box reports it gone" seen d "^gone $A\$" 15
avahi_start 1
check "the box reconnects when its daemon is back" \
    seen a "^avahi: running\$" 15
check "and finds the other box again" \
    atleast a "$(found "$D" "$N2" 2 7704)" 2 20
check "and is found again" atleast d "$(found "$A" "$N1" 1 7701)" 2 20

# --- the system bus restarts ------------------------------------------------
avahi_bus_stop 2
check "a box that loses the system bus reports its peers gone" \
    seen d "^gone $A\$" 10
avahi_bus_start 2 && avahi_start 2
check "and finds them again when bus and daemon are back" \
    atleast d "$(found "$A" "$N1" 1 7701)" 3 30

# --- no daemon, no bus -----------------------------------------------------
avahi_stop 2
probe e 2 --id "$E" --net "$N1" --port 7705 --seconds 300
check "a box started without avahi-daemon says so and keeps running" \
    eval 'seen e "^avahi: not running\$" 10 && sleep 3 && alive e &&
	test "$(count e "^avahi: not running")" = 1'
avahi_start 2
check "it picks the daemon up when it starts" \
    eval 'seen e "^avahi: running\$" 15 &&
	seen e "$(found "$A" "$N1" 1 7701)"'
# The inner env overrides the bus address avahi_exec sets.
avahi_exec 1 env DBUS_SYSTEM_BUS_ADDRESS="unix:path=$tmp/nobus.sock" \
    "$P" --id "$F" --net "$N1" --port 7706 --seconds 300 \
    >"$tmp/f.out" 2>"$tmp/f.err" &
pid[f]=$!
check "a box started without a system bus says so and keeps running" \
    eval 'seen f "^avahi: not running\$" 10 && sleep 3 && alive f'

# --- exit codes ----------------------------------------------------------
probe g 2 --id "$(hex 0 64)" --net "$N1" --port 7707 --seconds 30 --want 2
check "--want exits 0 once it has found that many" ended g 0 35
probe h 2 --id "$(hex 0 63)1" --net "$N1" --port 7708 --seconds 2 --want 50
check "--want exits 1 when it has not" ended h 1 10

# --- more services than the module tracks ---------------------------------
for i in $(seq 1 300); do
	avahi_service 1 "junk-$i" $((8000 + i)) v=1 id=junk
done
avahi_reload 1
sleep 2
L=$(hex 0 62)42
avahi_service 1 late 7799 v=1 "id=$L" "net=$N1"
avahi_reload 1
check "after 300 junk services a box is still found" \
    seen d "$(found "$L" "$N1" 1 7799)" 30

# --- shutdown ------------------------------------------------------------
for w in a d e f; do
	kill -TERM "${pid[$w]}" 2>/dev/null
done
check "probes exit cleanly on SIGTERM" \
    eval 'ended a 0 10 && ended d 0 10 && ended e 0 10 && ended f 0 10'
check "no sanitizer reports" \
    eval '! grep -Eq "Sanitizer|runtime error" "$tmp"/*.err'

echo "1..$n"
[ "$failed" = 0 ]
