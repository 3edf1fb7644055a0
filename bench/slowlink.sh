#!/usr/bin/env bash
# Slow-link benchmark: an empty enrolled box B receives about
# SLOWLINK_ENTRIES (default 2000) ledger entries from box A through
# build/linkemu emulating an island link: 8000 bytes/s each way (64
# kbit/s), 300 ms each way, and a cut (every connection reset) every 10 to
# 30 s (SLOWLINK_SEED fixes the draws; default 1). The time is compared
# with the link's minimum for the bytes that must cross, measured by the
# same sync through an unlimited relay, and with the floor that ZMTP and
# CURVE set: what a connection costs before entries flow, measured through
# the delay alone. Also prints the cuts, the entries sent more than once
# against one batch per cut, and the bytes dropped.
# See bench/README.md. Exits non-zero only if something failed to run; a
# missed target is printed as MISSED.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
N=${NUSACTL:-$here/../build/nusactl}
D=${NUSAD:-$here/../build/nusad}
L=${LINKEMU:-$here/../build/linkemu}
SHARED=${SHARED:-$here/../../shared}
ENTRIES=${SLOWLINK_ENTRIES:-2000}
SEED=${SLOWLINK_SEED:-1}
RATE=8000	# bytes/s each way
DELAY=300	# ms each way
CUT_MIN=10
CUT_MAX=30
BATCH_MAX=256	# entries in one batch (NUSA_BATCH_MAX): the allowance per cut
SLOW_TIMEOUT=${SLOWLINK_TIMEOUT:-200}	# seconds for the slow sync
WAIT_TIMEOUT=30

for f in "$N" "$D" "$L"; do
	[ -x "$f" ] || { echo "slowlink.sh: $f is missing (make build/nusad build/nusactl build/linkemu)" >&2; exit 1; }
done
[ -d "$SHARED" ] && SHARED=$(cd "$SHARED" && pwd)
BOOKS=$SHARED/data/make-koperasi-books.py
[ -f "$BOOKS" ] || { echo "slowlink.sh: $BOOKS is missing (set SHARED)" >&2; exit 1; }
case $ENTRIES$SEED in '' | *[!0-9]*) echo "slowlink.sh: SLOWLINK_ENTRIES and SLOWLINK_SEED: numbers" >&2; exit 2 ;; esac

# The interpreter itself, not a version manager's shim: it starts faster.
PY=$(python3 -c 'import sys; print(sys.executable)')
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-bench-slow.XXXXXX")
root=$tmp
. "$here/../tests/integration/lib/boxes.sh"
# stop_all kills every *.pid under $root: daemons and relays alike.
trap 'stop_all; [ -n "${KEEP:-}" ] || rm -rf "$root"' EXIT
trap 'exit 130' INT TERM
cd "$tmp"

. "$here/lib.sh"

# waitfor BOX COUNT SECONDS [TIMELINE]: waits until BOX's vector sums to
# COUNT; with TIMELINE, appends "ms entries" on every change.
waitfor() {
	local box=$1 want=$2 deadline=$((SECONDS + $3)) tl=${4:-} got last=-1
	while [ $SECONDS -lt $deadline ]; do
		got=$(vsum "$box")
		if [ -n "$tl" ] && [ "$got" != "$last" ]; then
			echo "$(now_ms) $got" >>"$tl"
			last=$got
		fi
		[ "$got" = "$want" ] && return 0
		sleep 0.1
	done
	return 1
}

# --- the boxes: A holds the books; B, C, E and F are empty and enrolled ----
# The generator's books hold about 34.3 entries per member in 12 months.
members=$((ENTRIES * 10 / 343))
[ "$members" -ge 1 ] || members=1
network A B C E F
books A "$members" 12 7
PA=$(freeport)
bconf A "$PA"
start A
total=$(vsum A)
n=$((total - $(vsum B)))
for b in C E F; do
	[ "$n" = $((total - $(vsum $b))) ] || die "B and $b differ"
done
echo "# slowlink: $n entries to an empty box (books of $members members, 12 months)"

# --- the bytes that must cross: C syncs through an unlimited relay ----------
relay cal "$PA"
bconf C "" "peers = $(devid A)@tcp://127.0.0.1:$RELAY_PORT"
t0=$(now_ms)
start C
waitfor C "$total" "$WAIT_TIMEOUT" || die "C did not sync through the unlimited relay"
cal_ms=$(($(now_ms) - t0))
sleep 0.6	# the last ACK and DONEs, and the relay's stats
cal_up=$(rstat cal up_bytes)
cal_down=$(rstat cal down_bytes)
stop C
relay_stop cal
big=$((cal_up > cal_down ? cal_up : cal_down))
# Each direction is its own line: the busier one sets the pace, plus the
# one round trip a request and its answer need.
min_ms=$((big * 1000 / RATE + 2 * DELAY))
echo "# unlimited relay: $cal_ms ms; up $cal_up bytes, down $cal_down bytes"

# --- the link's delay alone: F -------------------------------------------------
# What one connection costs before entries flow: from starting F's
# daemon to its first batch committed, through the delay with no rate
# cap: the ZMTP greeting, the CURVE handshake, HELLO and WELCOME, and the
# first batch's way down, with no line time.
relay lat "$PA" --delay "$DELAY"
bconf F "" "peers = $(devid A)@tcp://127.0.0.1:$RELAY_PORT"
t0=$(now_ms)
echo "$t0 $(vsum F)" >timeline.F
start F
waitfor F "$total" "$WAIT_TIMEOUT" timeline.F || die "F did not sync through the delay alone"
lat_ms=$(awk -v t0="$t0" 'NR == 1 {n0 = $2; next} $2 > n0 {print $1 - t0; exit}' timeline.F)
stop F
relay_stop lat

# --- the same link without cuts: E ---------------------------------------------
# What the handshake and the batches cost on this link by themselves.
relay calm "$PA" --rate "$RATE" --delay "$DELAY"
bconf E "" "peers = $(devid A)@tcp://127.0.0.1:$RELAY_PORT"
t0=$(now_ms)
start E
waitfor E "$total" "$SLOW_TIMEOUT" || die "E did not sync over the link without cuts"
calm_ms=$(($(now_ms) - t0))
stop E
relay_stop calm

# --- the slow link --------------------------------------------------------------
relay slow "$PA" --rate "$RATE" --delay "$DELAY" \
	--cut-min "$CUT_MIN" --cut-max "$CUT_MAX" --seed "$SEED"
bconf B "" "peers = $(devid A)@tcp://127.0.0.1:$RELAY_PORT"
t0=$(now_ms)
echo "$t0 $(vsum B)" >timeline
start B
waitfor B "$total" "$SLOW_TIMEOUT" timeline ||
	die "B has $(($(vsum B) - total + n)) of $n after $SLOW_TIMEOUT s"
t1=$(now_ms)
sleep 0.3	# the relay's stats lag by up to 200 ms
cuts=$(rstat slow cuts)
dropped=$(rstat slow dropped_bytes)
conns=$(rstat slow connections)
s_up=$(rstat slow up_bytes)
s_down=$(rstat slow down_bytes)
read -r sent <<<"$(peerstat A B sent)"
read -r recv added <<<"$(peerstat B A received added)"
stop B
relay_stop slow
stop A

slow_ms=$((t1 - t0))
resent=$((sent - n))
allow=$((BATCH_MAX * cuts))
r=$(awk -v t="$slow_ms" -v m="$min_ms" 'BEGIN {printf "%.2f", t / m}')
rmark=$(awk -v r="$r" 'BEGIN {print (r <= 1.2 ? "met" : "MISSED")}')
smark=$([ "$resent" -le "$allow" ] && echo met || echo MISSED)
# What this run cannot beat over ZMTP and CURVE whatever the batching:
# the line time of the bytes, each connection's cost before entries flow
# (measured by F), and at each cut at least one delay's worth of bytes
# on the line, lost.
floor_ms=$((big * 1000 / RATE + conns * lat_ms + cuts * DELAY))
fr=$(awk -v t="$slow_ms" -v m="$floor_ms" 'BEGIN {printf "%.2f", t / m}')
fmr=$(awk -v f="$floor_ms" -v m="$min_ms" 'BEGIN {printf "%.2f", f / m}')
L=$(awk -v x="$lat_ms" 'BEGIN {printf "%.1f", x / 1000}')
F=$(awk -v x="$floor_ms" 'BEGIN {printf "%.1f", x / 1000}')
T=$(awk -v x="$slow_ms" 'BEGIN {printf "%.1f", x / 1000}')
M=$(awk -v x="$min_ms" 'BEGIN {printf "%.1f", x / 1000}')

# Where the time went: for each cut (from the relay's stamped log), the
# entries B held then, how long until B dialled again (the relay accepted
# a connection), and how long until B's count rose again. Cuts after B
# was done do not count.
first_ms=$(awk -v t0="$t0" -v n0="$(head -1 timeline | cut -d' ' -f2)" \
	'$2 > n0 {print $1 - t0; exit}' timeline)
awk -v t0="$t0" -v t1="$t1" '
	function report() {
		if (!ct) return
		# The count of B at the cut, at the new connection, and when the
		# first batch over the new connection was in.
		at = 0; ra = 0; got = 0; from = acc ? acc : ct
		for (i = 1; i <= k; i++) {
			if (tt[i] <= ct) at = nn[i]
			if (tt[i] <= from) ra = nn[i]
		}
		for (i = 1; i <= k; i++) if (tt[i] > from && nn[i] > ra) { got = tt[i]; break }
		printf "# cut at %.1f s: B held %d entries; %d bytes dropped; B dialled again after %.2f s; first batch over the new connection %.1f s after the cut\n",
			(ct - t0) / 1000, at, cd, (acc ? (acc - ct) / 1000 : -1),
			(got ? (got - ct) / 1000 : -1)
		ct = 0
	}
	FNR == NR { tt[++k] = $1; nn[k] = $2; next }
	/ cut [0-9]+:/ {
		report()
		t = int($1 / 1000)
		if (t <= t1) { ct = t; cd = $(NF - 2); acc = 0 }
		next
	}
	/ accepted$/ { if (ct && !acc) acc = int($1 / 1000) }
	END { report() }' timeline slow.log

echo "# the same link without cuts: $(awk -v x="$calm_ms" 'BEGIN {printf "%.1f", x / 1000}') s, ratio $(awk -v t="$calm_ms" -v m="$min_ms" 'BEGIN {printf "%.2f", t / m}'); the cuts cost $(awk -v x=$((slow_ms - calm_ms)) 'BEGIN {printf "%.1f", x / 1000}') s"
echo "# slow link: first entry at B after $first_ms ms; $conns connections; up $s_up, down $s_down bytes"
echo "slow link: $T s, link minimum $M s, ratio $r (target <= 1.2: $rmark)"
echo "one connection before entries flow (the delay alone, no rate cap): $L s, $(awk -v x="$lat_ms" -v d="$DELAY" 'BEGIN {printf "%.1f", x / d}') one-way delays"
echo "floor over ZMTP/CURVE for $conns connections and $cuts cuts: $F s ($fmr x the link minimum); slow link / floor: $fr"
echo "cuts: $cuts"
echo "entries re-sent: $resent (sent $sent for $n; allowance $BATCH_MAX per cut: $allow: $smark)"
echo "# entries that reached B twice (received - added): $((recv - added))"
echo "bytes dropped by the relay: $dropped"

echo
echo "slowlink_entries: $n"
echo "slowlink_seed: $SEED"
echo "slowlink_ms: $slow_ms"
echo "link_min_ms: $min_ms"
echo "no_cuts_ms: $calm_ms"
echo "connection_ms: $lat_ms"
echo "floor_ms: $floor_ms"
echo "floor_ratio: $fmr"
echo "slowlink_over_floor: $fr"
echo "unlimited_up_bytes: $cal_up"
echo "unlimited_down_bytes: $cal_down"
echo "slowlink_ratio: $r (target <= 1.2: $rmark)"
echo "cuts: $cuts"
echo "resent_entries: $resent (allowance $allow: $smark)"
echo "dropped_bytes: $dropped"
echo "first_entry_ms: $first_ms"
