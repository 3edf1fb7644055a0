#!/usr/bin/env bash
# Sync benchmark: a backlog of BENCH_ENTRIES ledger entries (default
# 100000, rounded to what the books generator makes) from a box A that
# holds them to an empty enrolled box B, through real daemons on loopback,
# with build/linkemu relaying (no rate limit) so that bytes are counted at
# the socket. Prints time and entries/s, wire bytes per entry against the
# encoded entry, peak memory of both daemons at N and N/10, and the bytes,
# messages and round trips of the handshake of two boxes already in sync.
# See bench/README.md for what each figure means. Exits non-zero only if
# something failed to run; a missed target is printed as MISSED.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
N=${NUSACTL:-$here/../build/nusactl}
D=${NUSAD:-$here/../build/nusad}
L=${LINKEMU:-$here/../build/linkemu}
SHARED=${SHARED:-$here/../../shared}
ENTRIES=${BENCH_ENTRIES:-100000}
BOOKS=$SHARED/data/make-koperasi-books.py
# Timeouts (seconds) for every wait.
SYNC_TIMEOUT=${SYNC_TIMEOUT:-600}
WAIT_TIMEOUT=30

for f in "$N" "$D" "$L"; do
	[ -x "$f" ] || { echo "sync.sh: $f is missing (make build/nusad build/nusactl build/linkemu)" >&2; exit 1; }
done
[ -d "$SHARED" ] && SHARED=$(cd "$SHARED" && pwd) && BOOKS=$SHARED/data/make-koperasi-books.py
[ -f "$BOOKS" ] || { echo "sync.sh: $BOOKS is missing (set SHARED)" >&2; exit 1; }
case $ENTRIES in '' | *[!0-9]*) echo "sync.sh: BENCH_ENTRIES: a number" >&2; exit 2 ;; esac

# The interpreter itself, not a version manager's shim: it starts faster.
PY=$(python3 -c 'import sys; print(sys.executable)')
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-bench-sync.XXXXXX")
root=$tmp
. "$here/../tests/integration/lib/boxes.sh"
# stop_all kills every *.pid under $root: daemons and relays alike.
trap 'stop_all; [ -n "${KEEP:-}" ] || rm -rf "$root"' EXIT
trap 'exit 130' INT TERM
cd "$tmp"

. "$here/lib.sh"

# The sampler (as in tests/integration/backlog.sh): records the peak
# RssAnon and VmHWM (kB) of a process in OUT until it exits or OUT.stop
# appears. It writes OUT at once, so that the shell can wait for it
# before it execs the daemon; samples count from the exec on (the
# process's name is nusad), not the shell's before it.
cat >sampler.py <<'PY'
import os, sys, time
pid, out = sys.argv[1], sys.argv[2]
anon = hwm = 0
while True:
    try:
        with open("/proc/%s/status" % pid) as f:
            st = dict(l.split(":", 1) for l in f if ":" in l)
        if st["Name"].strip() == "nusad":
            anon = max(anon, int(st["RssAnon"].split()[0]))
            hwm = max(hwm, int(st["VmHWM"].split()[0]))
    except (FileNotFoundError, ProcessLookupError, KeyError):
        break
    with open(out + ".tmp", "w") as f:
        f.write("%d %d\n" % (anon, hwm))
    os.replace(out + ".tmp", out)
    if os.path.exists(out + ".stop"):
        break
    time.sleep(0.01)
PY

# The exact size of the encoded entries a full bundle holds: bundles
# leave out the 104 chain-implied bytes of every body but a batch's
# first, and the u32 length says what is there; prints "entries bodies".
# The body is zstd-compressed (docs/formats.md): the zstd tool opens it.
cat >bodies.py <<'PY'
import struct, subprocess, sys
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"NUSABNDL" and d[8] == 2, "not a version 2 bundle"
head = 8 + 1 + 1 + 32 + 32 + 8 + 8 + 4
if d[9] == 1:   # zstd: the body between the header and the signature
    d = subprocess.run(["zstd", "-dcq"], input=d[head:-64],
                       stdout=subprocess.PIPE, check=True).stdout
else:
    d = d[head:-64]
p = 0
n = body = 0
while d[p:p + 1] == b"B":
    c, = struct.unpack_from(">H", d, p + 1)
    p += 3
    for i in range(c):
        l, = struct.unpack_from(">I", d, p)
        p += 4 + l
        body += l + (0 if i == 0 else 104)
    p += 64
    n += c
while d[p:p + 1] == b"R":    # receipts
    p += 5 + struct.unpack_from(">I", d, p + 1)[0]
assert d[p:p + 1] == b"E", "no end marker"
print(n, body)
PY

# startm BOX: starts BOX's nusad with the sampler watching it from before
# its first instruction (the sampler gets the pid and takes a first
# sample, then the shell execs).
startm() {
	local box=$1
	rm -f "$tmp/$box/nusad.sock" "$tmp/$box.mem" "$tmp/$box.mem.stop"
	(self=$BASHPID
		"$PY" "$root/sampler.py" "$self" "$tmp/$box.mem" &
		for _ in $(seq 1 500); do
			[ -e "$tmp/$box.mem" ] && break
			sleep 0.01
		done
		exec "$D" -c "$tmp/$box.conf") 2>>"$tmp/$box.log" &
	echo $! >"$tmp/$box.pid"
	for _ in $(seq 1 150); do
		[ -S "$tmp/$box/nusad.sock" ] && return 0
		kill -0 "$(cat "$tmp/$box.pid")" 2>/dev/null ||
			die "nusad of $box exited at start"
		sleep 0.1
	done
	die "nusad of $box did not start"
}

# Entries per member in 24 months of the generator's books (1600 members
# give ~104k entries); members for the requested count.
members_for() {
	local m=$(($1 * 10 / 651))
	[ "$m" -ge 1 ] || m=1
	echo "$m"
}

# run NAME ENTRIES: in $root/NAME, A holds the books, B is empty and
# enrolled; B dials A through an unlimited relay. Leaves A, B and the
# relay running, in sync, and tmp=$root/NAME; writes to NAME.result:
# "n ms up down proto_bytes a_anon a_hwm b_anon b_hwm body_avg*100"
# where n counts the entries B lacked.
run() {
	local name=$1 want=$2 n0 n t0 t1 up down pin pout deadline
	local ball bbody bhave bhbody
	tmp=$root/$name
	mkdir "$tmp"
	cd "$tmp"
	network A B
	books A "$(members_for "$want")" 24 7
	# The encoded entries B will receive: everything A holds but what B
	# already has from the join bundle (the same first entries).
	"$N" -d A bundle export all.bundle >/dev/null
	read -r ball bbody <<<"$("$PY" "$root/bodies.py" all.bundle)"
	"$N" -d B bundle export have.bundle >/dev/null
	read -r bhave bhbody <<<"$("$PY" "$root/bodies.py" have.bundle)"
	PA=$(freeport)
	bconf A "$PA"
	relay relay "$PA"
	bconf B "" "peers = $(devid A)@tcp://127.0.0.1:$RELAY_PORT"
	startm A
	n0=$(vsum B)
	n=$(($(vsum A) - n0))
	[ "$n" = $((ball - bhave)) ] ||
		die "$name: the bundle has $ball entries, A $(vsum A)"
	t0=$(now_ms)
	startm B
	deadline=$((SECONDS + SYNC_TIMEOUT))
	while [ "$(vsum B)" != $((n + n0)) ] && [ $SECONDS -lt $deadline ]; do
		sleep 0.05
	done
	t1=$(now_ms)
	[ "$(vsum B)" = $((n + n0)) ] ||
		die "$name: B has $(($(vsum B) - n0)) of $n after ${SYNC_TIMEOUT} s"
	touch A.mem.stop B.mem.stop
	# Let the last acknowledgements and DONEs cross and the relay
	# rewrite its stats (every 200 ms while they change).
	converge "$WAIT_TIMEOUT" A B || die "$name: digests differ"
	sleep 0.6
	up=$(rstat relay up_bytes)
	down=$(rstat relay down_bytes)
	read -r pin pout <<<"$(peerstat B A bytes_in bytes_out)"
	echo "$n $((t1 - t0)) $up $down $((pin + pout)) $(cat A.mem) $(cat B.mem) $(((bbody - bhbody) * 100 / n))" >"$root/$name.result"
}

echo "# sync: books of about $((ENTRIES / 10)) and $ENTRIES entries"
run small $((ENTRIES / 10))
stop A
stop B
relay_stop relay
run big "$ENTRIES"
read -r sn sms sup sdown _ sa sah sb sbh _ <"$root/small.result"
read -r bn bms bup bdown bproto ba bah bb bbh bbody <"$root/big.result"

# ratio X Y: X / Y with two decimals (integers in, to keep to the shell).
ratio() { awk -v x="$1" -v y="$2" 'BEGIN {printf "%.2f", (y > 0 ? x / y : 0)}'; }
dec() { awk -v x="$1" -v d="$2" 'BEGIN {printf "%.1f", x / d}'; }
mark() { awk -v x="$1" -v t="$2" 'BEGIN {print (x <= t ? "met" : "MISSED")}'; }

wire=$((bup + bdown))
wpe=$(dec $((wire * 10 / bn)) 10)
body=$(dec "$bbody" 100)
wratio=$(ratio "$((wire * 100))" "$((bbody * bn))")
bsig=$(dec $((bbody + 6400)) 100)
sratio=$(ratio "$((wire * 100))" "$(((bbody + 6400) * bn))")
ppe=$(dec $((bproto * 10 / bn)) 10)
swpe=$(dec $(((sup + sdown) * 10 / sn)) 10)
eps=$((bn * 1000 / (bms > 0 ? bms : 1)))
wmark=$(mark "$wratio" 1.1)
echo "# sync $bn entries to an empty box: $bms ms, $eps entries/s"
echo "# wire bytes (socket, up+down): $wire (up $bup, down $bdown); protocol bytes $bproto ($ppe per entry)"
echo "wire bytes per entry: $wpe (encoded entry $body, ratio $wratio; target <= 1.1: $wmark)"
echo "# against body + 64-byte signature ($bsig bytes): ratio $sratio"
echo "# sync $sn entries: $sms ms, wire bytes per entry $swpe"
echo "# peak memory, kB (RssAnon / VmHWM):"
echo "#   $bn entries: sender $ba / $bah, receiver $bb / $bbh"
echo "#   $sn entries: sender $sa / $sah, receiver $sb / $sbh"
# RSS independent of N: the big run within 25% + 4 MB of the small one
# (allocator arenas, LMDB dirty page lists), as backlog.sh allows.
rss_ok=met
for pair in "$sa $ba" "$sb $bb"; do
	read -r s b <<<"$pair"
	[ "$b" -lt $((s * 5 / 4 + 4096)) ] || rss_ok=MISSED
done
echo "# anonymous RSS at $bn vs $sn entries: sender $(ratio "$ba" "$sa")x, receiver $(ratio "$bb" "$sb")x (target: independent of N: $rss_ok)"

# --- the handshake of two boxes already in sync -----------------------------
# A and B run, in sync, in $root/big. A second feed, B's own: one
# posting on B, pushed live to A.
acct=$(awk -F, 'NR > 1 && $3 ~ /^sukarela/ {print $1; exit}' books/accounts.csv)
"$N" -d B post deposit "$acct" 1000 --memo "bench" >/dev/null ||
	die "B could not post"
converge "$WAIT_TIMEOUT" A B || die "A did not get B's posting"
nf=$(feeds A)
target=$((64 + 40 * nf))
stop B
sleep 0.5
read -r ain0 aout0 amin0 amout0 <<<"$(peerstat A B bytes_in bytes_out msgs_in msgs_out)"
r0=$(($(rstat relay up_bytes) + $(rstat relay down_bytes)))
start B
deadline=$((SECONDS + WAIT_TIMEOUT))
while [ $SECONDS -lt $deadline ]; do
	read -r ins <<<"$(peerstat B A in_sync)"
	read -r amin amout <<<"$(peerstat A B msgs_in msgs_out)"
	[ "$ins" = 1 ] && [ $((amin - amin0)) -ge 2 ] && [ $((amout - amout0)) -ge 2 ] && break
	sleep 0.05
done
[ "$ins" = 1 ] || die "B did not get back in sync with A"
sleep 0.6
read -r ain aout amin amout <<<"$(peerstat A B bytes_in bytes_out msgs_in msgs_out)"
read -r bin bout _ _ brecv <<<"$(peerstat B A bytes_in bytes_out msgs_in msgs_out received)"
r1=$(($(rstat relay up_bytes) + $(rstat relay down_bytes)))
hs_bytes=$((ain - ain0 + aout - aout0))
hs_msgs=$((amin - amin0 + amout - amout0))
hs_sock=$((r1 - r0))
[ "$hs_bytes" = $((bin + bout)) ] ||
	echo "# note: A counted $hs_bytes protocol bytes, B $((bin + bout))"
# Round trips: the same reconnect through a relay adding 200 ms each way
# (a round trip of 400 ms). From the relay accepting B's connection, B's
# status says connected once ZMTP and CURVE are through (B sends HELLO
# then), and in_sync once WELCOME is in; a poller notes both times.
stop B
PA=$(grep -o '127.0.0.1:[0-9]*' A.conf | cut -d: -f2)
relay slow "$PA" --delay 200
bconf B "" "peers = $(devid A)@tcp://127.0.0.1:$RELAY_PORT"
start B
"$PY" - "$N" "$tmp/B" "$(devid A)" "$WAIT_TIMEOUT" >rt.times <<'PY' ||
import json, subprocess, sys, time
n, box, peer, limit = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
tc = ts = 0
end = time.time() + limit
while time.time() < end:
    out = subprocess.run([n, "-d", box, "status", "--json"],
                         capture_output=True, text=True).stdout
    now = int(time.time() * 1000)
    try:
        p = [p for p in json.loads(out)["peers"] if p["id"] == peer]
    except (ValueError, KeyError):
        p = []
    if p and p[0]["connected"] and not tc:
        tc = now
    if p and p[0]["in_sync"]:
        ts = now
        break
    time.sleep(0.002)
print(tc or ts, ts)
sys.exit(0 if ts else 1)
PY
	die "B did not get in sync through the delayed relay"
read -r tc ts <rt.times
tacc=$(awk '/ conn [0-9]+: accepted$/ {printf "%.0f\n", $1 / 1000; exit}' slow.log)
[ -n "$tacc" ] || die "the delayed relay logged no connection"
rt_zmtp=$(awk -v x=$((tc - tacc)) 'BEGIN {printf "%.1f", x / 400}')
rt_proto=$(awk -v x=$((ts - tc)) 'BEGIN {printf "%.1f", x / 400}')
rt_all=$(awk -v x=$((ts - tacc)) 'BEGIN {printf "%.1f", x / 400}')
hs_mark=$(awk -v b="$hs_bytes" -v t="$target" -v r="$rt_proto" \
	'BEGIN {print (b < t && r < 1.5 ? "met" : "MISSED")}')
echo "# in-sync handshake ($nf feeds): protocol $hs_bytes bytes in $hs_msgs messages (A->B $((aout - aout0)) B in $((amout - amout0)), B->A $((ain - ain0)) B in $((amin - amin0))); entries received: $brecv"
echo "in-sync handshake: $hs_bytes bytes, $hs_msgs messages, $rt_proto round trips (target one round trip and < $target = 64 + 40 x $nf feeds: $hs_mark)"
echo "# in-sync handshake at the socket (ZMTP greeting, CURVE handshake, framing): $hs_sock bytes"
echo "# through 200 ms each way: connected (ZMTP greeting + CURVE) $((tc - tacc)) ms after the TCP accept ($rt_zmtp round trips), in sync $((ts - tc)) ms later ($rt_proto): $rt_all round trips in all"
stop B
stop A
relay_stop slow
relay_stop relay

echo
echo "entries: $bn"
echo "sync_ms: $bms"
echo "entries_per_s: $eps"
echo "wire_bytes: $wire"
echo "wire_bytes_per_entry: $wpe"
echo "protocol_bytes_per_entry: $ppe"
echo "encoded_entry_bytes: $body"
echo "wire_ratio: $wratio (target <= 1.1: $wmark)"
echo "wire_ratio_vs_body_and_signature: $sratio"
echo "small_entries: $sn"
echo "small_sync_ms: $sms"
echo "rss_anon_kb_sender: $ba (at $sn: $sa)"
echo "rss_anon_kb_receiver: $bb (at $sn: $sb)"
echo "vmhwm_kb_sender: $bah (at $sn: $sah)"
echo "vmhwm_kb_receiver: $bbh (at $sn: $sbh)"
echo "rss_independent_of_n: $rss_ok"
echo "handshake_feeds: $nf"
echo "handshake_protocol_bytes: $hs_bytes (target < $target: $([ "$hs_bytes" -lt "$target" ] && echo met || echo MISSED))"
echo "handshake_protocol_messages: $hs_msgs"
echo "handshake_round_trips: $rt_proto (target 1: $(awk -v r="$rt_proto" 'BEGIN {print (r < 1.5 ? "met" : "MISSED")}'))"
echo "handshake_socket_bytes: $hs_sock"
echo "handshake_round_trips_zmtp_curve: $rt_zmtp"
echo "handshake_round_trips_in_all: $rt_all"
