#!/usr/bin/env bash
# Idle cost of nusad: box A holds books of about IDLE_ENTRIES entries
# (default 5000); box B, enrolled, dials A and syncs all of it; then both
# sit idle with their session open (heartbeats every 10 s, the default)
# and, after IDLE_SETTLE seconds (default 5), A and B are watched for
# IDLE_SECONDS (default 30): resident memory (VmRSS, RssAnon, VmHWM from
# /proc/PID/status, at the end) and CPU (utime + stime from /proc/PID/stat
# over the window, as a share of one core). Discovery is off (no Avahi).
#
# The arm64 build under qemu-user (emulation: the figures are qemu's own
# process, translator and all, not what a Pi would show):
#   IDLE_WRAP="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
#   NUSAD=build/aarch64-linux-gnu/nusad bash bench/idle.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
N=${NUSACTL:-$here/../build/nusactl}
D=${NUSAD:-$here/../build/nusad}
SHARED=${SHARED:-$here/../../shared}
ENTRIES=${IDLE_ENTRIES:-5000}
SETTLE=${IDLE_SETTLE:-5}
WINDOW=${IDLE_SECONDS:-30}
export NUSAD_WRAP=${IDLE_WRAP:-}

for f in "$N" "$D"; do
	[ -x "$f" ] || { echo "idle.sh: $f is missing (make build/nusad build/nusactl)" >&2; exit 1; }
done
BOOKS=$(cd "$SHARED" 2>/dev/null && pwd)/data/make-koperasi-books.py
[ -f "$BOOKS" ] || { echo "idle.sh: $BOOKS is missing (set SHARED)" >&2; exit 1; }
D=$(cd "$(dirname "$D")" && pwd)/$(basename "$D")
N=$(cd "$(dirname "$N")" && pwd)/$(basename "$N")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-bench-idle.XXXXXX")
root=$tmp
. "$here/../tests/integration/lib/boxes.sh"
trap 'stop_all; rm -rf "$root"' EXIT
trap 'exit 130' INT TERM
cd "$tmp"

vsum() { "$N" -d "$tmp/$1" vector | awk '{s += $2} END {print s + 0}'; }
# ticks PID: utime + stime, in clock ticks.
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

network A B
members=$((ENTRIES * 10 / 651))
[ "$members" -ge 1 ] || members=1
books A "$members" 24 7
PA=$(freeport)
conf A "$PA"
conf B "" "peers = $(devid A)@tcp://127.0.0.1:$PA"
sed -i -e '/^heartbeat = /d' -e 's/^log_level = .*/log_level = info/' A.conf B.conf
start A
start B
want=$(vsum A)
deadline=$((SECONDS + 300))
while [ "$(vsum B)" != "$want" ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
[ "$(vsum B)" = "$want" ] || die "B has $(vsum B) of $want entries after 300 s"
sleep "$SETTLE"

pa=$(cat A.pid) pb=$(cat B.pid)
a0=$(ticks "$pa") b0=$(ticks "$pb") t0=$(date +%s%N)
sleep "$WINDOW"
a1=$(ticks "$pa") b1=$(ticks "$pb") t1=$(date +%s%N)
hz=$(getconf CLK_TCK)
label=${IDLE_WRAP:+" under ${IDLE_WRAP%% *} (EMULATION)"}
echo "# idle: $(basename "$(dirname "$D")")/$(basename "$D")$label, $want entries, one open session, ${WINDOW} s"
for b in A B; do
	p=$pa c0=$a0 c1=$a1 role="A (holds the books, listens)"
	[ "$b" = B ] && p=$pb c0=$b0 c1=$b1 role="B (dials A)"
	cpu=$(awk -v d=$((c1 - c0)) -v hz="$hz" -v ns=$((t1 - t0)) \
		'BEGIN {printf "%.2f", d / hz / (ns / 1e9) * 100}')
	echo "$role: VmRSS $(kb "$p" VmRSS) kB, RssAnon $(kb "$p" RssAnon) kB, VmHWM $(kb "$p" VmHWM) kB, CPU $cpu% of a core ($((c1 - c0)) ticks in ${WINDOW} s)"
done
