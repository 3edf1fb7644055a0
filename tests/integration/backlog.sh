#!/usr/bin/env bash
# Weeks offline: a backlog of ~100,000 ledger entries syncs to an empty
# box through real daemons, in memory that does not grow with the backlog;
# and a sender killed with SIGKILL mid-stream resumes with at most one
# batch sent twice. Uses the optimized builds (NUSAD_FAST, NUSACTL_FAST):
# sanitizers would dominate both the time and the memory measured.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
N=${NUSACTL_FAST:-$here/../../build/nusactl}
D=${NUSAD_FAST:-$here/../../build/nusad}
SHARED=${SHARED:-$here/../../../shared}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-backlog.XXXXXX")
root=$tmp
. "$here/lib/boxes.sh"
trap 'stop_all; [ -n "${KEEP:-}" ] || rm -rf "$root"' EXIT
cd "$tmp"

# Anonymous memory (heap, stacks) is what could grow with a backlog; the
# LMDB map is file-backed page cache that the kernel reclaims at will, so
# peaks of both are sampled, and the bound applies to the anonymous part.
ANON_BOUND_KB=$((16 * 1024))

vsum() { "$N" -d "$tmp/$1" vector | awk '{s += $2} END {print s + 0}'; }

# The sampler: records the peak RssAnon and VmHWM (kB) of a process in
# OUT until it exits or OUT.stop appears.
cat >sampler.py <<'PY'
import os, sys, time
pid, out = sys.argv[1], sys.argv[2]
anon = hwm = 0
while not os.path.exists(out + ".stop"):
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                k, v = line.split(":", 1)
                if k == "RssAnon":
                    anon = max(anon, int(v.split()[0]))
                elif k == "VmHWM":
                    hwm = max(hwm, int(v.split()[0]))
    except (FileNotFoundError, ProcessLookupError):
        break
    with open(out + ".tmp", "w") as f:
        f.write("%d %d\n" % (anon, hwm))
    os.replace(out + ".tmp", out)
    time.sleep(0.01)
PY

# startm BOX: starts BOX's nusad with the sampler watching it from before
# its first instruction (the sampler gets the pid, then the shell execs).
startm() {
	local box=$1 i
	rm -f "$tmp/$box/nusad.sock"
	(self=$BASHPID
		python3 "$root/sampler.py" "$self" "$tmp/$box.mem" &
		# Not before the sampler watches: a loaded machine may start
		# python3 slower than nusad syncs the small backlog.
		for i in $(seq 1 200); do
			[ -s "$tmp/$box.mem" ] && break
			sleep 0.05
		done
		exec "$D" -c "$tmp/$box.conf") 2>>"$tmp/$box.log" &
	echo $! >"$tmp/$box.pid"
	for i in $(seq 1 200); do
		[ -S "$tmp/$box/nusad.sock" ] && return 0
		sleep 0.1
	done
	die "nusad of $box did not start"
}

# backlog NAME MEMBERS: a network whose root holds the books of MEMBERS
# members (24 months), and an empty enrolled box; syncs it and prints
# "entries seconds sender_anon sender_hwm receiver_anon receiver_hwm".
backlog() {
	local name=$1 members=$2 t0 t1 n
	mkdir "$name"
	(
		tmp=$tmp/$name
		cd "$tmp"
		network A B K
		books A "$members" 24 7
		PA=$(freeport) PB=$(freeport)
		conf A "$PA"
		conf B "$PB" "peers = $(devid A)@tcp://127.0.0.1:$PA"
		startm A
		n=$(vsum A)
		t0=$(date +%s%N)
		startm B
		for i in $(seq 1 1200); do
			[ "$(vsum B)" = "$n" ] && break
			sleep 0.05
		done
		t1=$(date +%s%N)
		[ "$(vsum B)" = "$n" ] || die "$name: B has $(vsum B) of $n"
		touch A.mem.stop B.mem.stop
		sleep 0.1
		converge 30 A B || die "$name: digests differ"
		echo "$n $(( (t1 - t0) / 1000000 )) $(cat A.mem) $(cat B.mem)"
		stop A
		stop B
	)
}

small=$(backlog small 160 | tail -1)
big=$(backlog big 1600 | tail -1)
read -r sn sms sa sh ra rh <<<"$small"
read -r bn bms ba bh rba rbh <<<"$big"
echo "# backlog $sn entries: ${sms} ms; sender anon ${sa} kB (hwm ${sh}), receiver anon ${ra} kB (hwm ${rh})"
echo "# backlog $bn entries: ${bms} ms ($((bn * 1000 / (bms + 1))) entries/s); sender anon ${ba} kB (hwm ${bh}), receiver anon ${rba} kB (hwm ${rbh})"
[ "$bn" -ge 95000 ] || die "the big backlog has only $bn entries"
for v in "$ba" "$rba"; do
	[ "$v" -lt "$ANON_BOUND_KB" ] || die "anonymous RSS $v kB over the bound $ANON_BOUND_KB kB"
done
# Ten times the backlog must not mean more memory: allow 25% and 4 MB
# of noise (allocator arenas, LMDB's dirty page lists).
for pair in "$sa $ba" "$ra $rba"; do
	read -r s b <<<"$pair"
	[ "$b" -lt $((s * 5 / 4 + 4096)) ] ||
		die "anonymous RSS grew with the backlog: $s kB -> $b kB"
done
ok "100k backlog synced to an empty box in $bms ms; memory does not grow with it"

# --- resume: SIGKILL the sender mid-stream -------------------------------------
cd big
tmp=$tmp/big
PA=$(grep -o '127.0.0.1:[0-9]*' A.conf | cut -d: -f2)
PK=$(freeport)
conf K "$PK" "peers = $(devid A)@tcp://127.0.0.1:$PA"
n=$(vsum A)
start A
start K
got=0
for i in $(seq 1 2000); do
	got=$(vsum K)
	[ "$got" -ge 20000 ] && break
	sleep 0.01
done
[ "$got" -ge 20000 ] && [ "$got" -lt "$n" ] ||
	die "could not catch the stream mid-way ($got of $n)"
stop A KILL
echo "# sender killed with $got of $n entries at the receiver"
"$N" -d K verify >/dev/null || die "K is inconsistent after the sender died"
start A
for i in $(seq 1 1200); do
	[ "$(vsum K)" = "$n" ] && break
	sleep 0.05
done
[ "$(vsum K)" = "$n" ] || die "K did not complete: $(vsum K) of $n"
converge 30 A K || die "A and K differ after the resume"
"$N" -d K verify >/dev/null || die "K verify after the resume"
# Entries that reached K twice: received minus added, over both sessions.
dup=$("$N" -d K status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
p = [p for p in s["peers"] if p["id"] == sys.argv[1]][0]
print(p["received"] - p["added"])
' "$(devid A)")
echo "# entries received twice after the kill: $dup (one batch is at most 256)"
[ "$dup" -le 256 ] || die "$dup entries were sent twice"
ok "a sender killed mid-stream resumes; $dup entries re-sent"
stop A
stop K
echo "backlog.sh: $pass checks passed"
