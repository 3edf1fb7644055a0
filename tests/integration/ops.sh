#!/usr/bin/env bash
# The operator's view: nusactl status and peers (human and --json, with
# and without nusad), conflicts open and disk used, the metrics endpoint
# (off by default, loopback, well-formed, counters that move, rejects,
# lag per peer), disk_warn, and nusactl compact (refused while nusad
# runs; a power cut at any point leaves a whole store).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
N=${NUSACTL:-$here/../../build/nusactl}
D=${NUSAD:-$here/../../build/nusad}
ROGUE=${ROGUE:-$here/../../build/test/rogue}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-ops.XXXXXX")
. "$here/lib/boxes.sh"
root=$tmp
trap 'stop_all; [ -n "${KEEP:-}" ] || rm -rf "$root"' EXIT
cd "$tmp"

# metrics_get PORT [PATH]: the page, or fails.
metrics_get() {
	curl -sf --max-time 5 "http://127.0.0.1:$1${2:-/metrics}"
}

# A checker of the text exposition format 0.0.4: every sample belongs to
# a family with HELP and TYPE, names and labels are well-formed, counters
# end in _total, values are numbers. Prints "name{labels} value" lines
# for grep.
cat >expo.py <<'PY'
import re, sys
text = sys.stdin.read()
name_re = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*$')
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)')
types, helps = {}, set()
assert text.endswith('\n'), 'page does not end in a newline'
for line in text.splitlines():
    if line.startswith('# HELP '):
        helps.add(line.split(' ')[2])
        continue
    if line.startswith('# TYPE '):
        _, _, name, typ = line.split(' ')
        assert name_re.match(name), name
        assert typ in ('counter', 'gauge'), typ
        assert name not in types, 'TYPE twice: ' + name
        if typ == 'counter':
            assert name.endswith('_total'), name
        types[name] = typ
        continue
    assert line and not line.startswith('#'), repr(line)
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
    assert m, 'bad sample: ' + line
    name, labels, value = m.group(1), m.group(3), m.group(4)
    assert name in types, 'sample without TYPE: ' + name
    assert name in helps, 'sample without HELP: ' + name
    float(value)
    if labels:
        pos = 0
        while pos < len(labels):
            lm = label_re.match(labels, pos)
            assert lm, 'bad labels: ' + labels
            pos = lm.end()
    print(line)
PY
expo() { python3 expo.py; }

# --- two boxes with a conflict: both paid out the same savings offline ----
network A B C
"$N" -d A member add M1 --name 'Siti "Ani" Aminah' >/dev/null
"$N" -d A account open S1 --member M1 --type sukarela >/dev/null
"$N" -d A post deposit S1 1000 >/dev/null
"$N" -d A bundle export all.bundle >/dev/null
"$N" -d B bundle import all.bundle >/dev/null
"$N" -d A post withdraw S1 800 >/dev/null
"$N" -d B post withdraw S1 800 >/dev/null
IA=$(devid A) IB=$(devid B)

# --- compact: a power cut at every sync point leaves a whole store ---------
digest0=$("$N" -d A digest)
entries0=$(count A)
if [ -n "${CRASHSHIM:-}" ]; then
	cut=0 done=0
	for n in $(seq 1 14); do
		rm -rf X
		cp -a A X
		# In a subshell, so the shell's "Killed" note goes nowhere.
		rc=$( (NUSA_CRASH_AT_SYNC=$n LD_PRELOAD=$CRASHSHIM \
			ASAN_OPTIONS=verify_asan_link_order=0 \
			"$N" -d X compact >/dev/null 2>&1; echo $?) 2>/dev/null)
		if [ $rc = 0 ]; then done=$((done + 1)); else cut=$((cut + 1)); fi
		"$N" -d X verify >/dev/null || die "compact cut at sync $n: verify fails"
		[ "$("$N" -d X digest)" = "$digest0" ] ||
			die "compact cut at sync $n: digest changed"
		[ "$(count X)" = "$entries0" ] || die "compact cut at sync $n: entries"
	done
	[ $cut -ge 4 ] || die "compact was cut only $cut times"
	[ $done -ge 1 ] || die "compact never finished in 14 sync points"
	# The box cut last compacts cleanly afterwards, leftovers and all.
	"$N" -d X compact >out.txt || die "compact after a cut"
	"$N" -d X verify >/dev/null || die "verify after compact"
	rm -rf X
	ok "compact cut at each of $cut sync points: store whole, entries and digest kept"
else
	echo "ops.sh: CRASHSHIM not set (make test sets it): power-cut checks skipped" >&2
fi

# --- without nusad: status and peers say so, and show what the store knows -
"$N" -d A peers >out.txt
grep -q '^nusad: not running' out.txt || die "peers without nusad: $(head -1 out.txt)"
grep -q "^${IB:0:16}  Koperasi Uji  *enrolled  *not connected  *never  *never  *-  *-$" out.txt ||
	die "peers without nusad lists enrolled boxes: $(cat out.txt)"
grep -q '^conflicts Koperasi Uji: 0 open' out.txt || die "conflicts before sync: $(cat out.txt)"
grep -q '^disk Koperasi Uji: .* MiB on disk, .* MiB in use, map .* MiB$' out.txt ||
	die "disk line: $(cat out.txt)"
grep -q '^disk free: .* MiB of .* MiB (.*% used)$' out.txt || die "disk free line"
"$N" -d A status >out.txt
grep -q '^nusad: not running' out.txt || die "status without nusad"
grep -q '^conflicts Koperasi Uji: 0 open' out.txt || die "status: conflicts line"
ok "peers and status without nusad: enrolled boxes, conflicts, disk"

# --- metrics off by default; on loopback when set ---------------------------
PA=$(freeport) PB=$(freeport) PM=$(freeport)
conf A "$PA" "peers = $IB@tcp://127.0.0.1:$PB" "disk_warn = 1K"
conf B "$PB" "metrics = $PM" "disk_warn = 1%"
"$D" -n -v -c B.conf | grep -q "^metrics = 127.0.0.1:$PM$" ||
	die "nusad -n -v: metrics"
"$D" -n -v -c A.conf | grep -q '^metrics =$' || die "metrics is off by default"
start A
pid=$(cat A.pid)
[ "$(ss -Hltnp | grep -c "pid=$pid,")" = 1 ] ||
	die "nusad without metrics listens on more than its sync port: $(ss -Hltnp | grep "pid=$pid,")"
start B
ss -Hltn | grep -q "127.0.0.1:$PM " || die "metrics not on 127.0.0.1:$PM"
metrics_get "$PM" >m0.txt || die "GET /metrics"
expo <m0.txt >s0.txt || die "exposition format"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PM/")" = 404 ] ||
	die "GET / is not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PM/metrics")" = 405 ] ||
	die "POST /metrics is not 405"
curl -sI "http://127.0.0.1:$PM/metrics" | grep -qi '^content-type: text/plain; version=0.0.4' ||
	die "content type"
ok "metrics: off by default, 127.0.0.1 when set, well-formed, 404 elsewhere"

# --- a sync moves the counters; lag per peer --------------------------------
"$N" -d B sync "$IA" --timeout 30 >/dev/null || die "sync B with A"
converge 20 A B || die "A and B did not converge"
sleep 1.5	# the page is built once a second
metrics_get "$PM" | expo >s1.txt || die "exposition after sync"
val() { awk -v k="$1" '$1 == k {print $2}' "$2"; }
[ "$(val nusa_sessions_started_total s1.txt)" -ge 1 ] || die "sessions started"
[ "$(val nusa_sessions_active s1.txt)" -ge 1 ] || die "sessions active"
[ "$(val nusa_entries_received_total s1.txt)" -ge 1 ] || die "entries received"
[ "$(val nusa_entries_sent_total s1.txt)" -ge 1 ] || die "entries sent"
[ "$(val nusa_received_bytes_total s1.txt)" -gt "$(val nusa_received_bytes_total s0.txt)" ] ||
	die "bytes received did not move"
grep -q "^nusa_peer_behind_entries{peer=\"${IA:0:16}\",network=\"Koperasi Uji\"} 0$" s1.txt ||
	die "lag per peer: $(grep peer_ s1.txt)"
grep -q "^nusa_peer_ahead_entries{peer=\"${IA:0:16}\"," s1.txt || die "ahead per peer"
grep -q "^nusa_peer_last_sync_age_seconds{peer=\"${IA:0:16}\"," s1.txt || die "last sync age"
grep -q "^nusa_peer_connected{peer=\"${IA:0:16}\",network=\"Koperasi Uji\"} 1$" s1.txt ||
	die "peer connected"
grep -q '^nusa_store_entries{network="Koperasi Uji"} ' s1.txt || die "store entries"
[ "$(awk '/^nusa_store_used_bytes/ {print $NF}' s1.txt)" -gt 0 ] || die "store used bytes"
[ "$(awk '/^nusa_store_map_bytes/ {print $NF}' s1.txt)" -ge 67108864 ] || die "map bytes"
[ "$(val nusa_disk_free_bytes s1.txt)" -gt 0 ] || die "disk free bytes"
ok "metrics: counters move after a sync; lag per peer; store and disk"

# --- a rogue peer's garbage is a reject -------------------------------------
before=$(val 'nusa_rejects_total{reason="malformed"}' s1.txt)
"$ROGUE" C "tcp://127.0.0.1:$PB" "$IB" garbage >/dev/null 2>&1 || true
for i in $(seq 1 30); do
	metrics_get "$PM" | expo >s2.txt
	now=$(val 'nusa_rejects_total{reason="malformed"}' s2.txt)
	[ "$now" -gt "$before" ] && break
	sleep 0.2
done
[ "$now" -gt "$before" ] || die "garbage was not counted: $(grep rejects s2.txt)"
ok "metrics: a rogue peer's garbage counts as a malformed reject"

# --- status and peers while nusad runs --------------------------------------
"$N" -d B peers >out.txt
# A dials B: on B, A came in.
grep -q "^${IA:0:16}  Koperasi Uji  *inbound  *connected  *[0-9]*s ago  *[0-9]*s ago  *0  *0$" out.txt ||
	die "peers: A's row: $(cat out.txt)"
grep -q '^conflicts Koperasi Uji: 1 open (1 overdrafts, 0 forks, 0 double reversals)$' out.txt ||
	die "peers: conflicts: $(cat out.txt)"
grep -q '^disk free: .*, low: past disk_warn$' out.txt || die "peers: disk_warn on B"
"$N" -d A peers >out.txt
grep -q '^disk free: .*used)$' out.txt || die "A is not past disk_warn = 1K"
"$N" -d B peers --json >pj.txt
python3 - "$IA" pj.txt <<'PY' || die "peers --json"
import json, sys
ia, j = sys.argv[1], json.load(open(sys.argv[2]))
assert j["running"] is True
p = [p for p in j["peers"] if p["id"] == ia][0]
assert p["network"] == "Koperasi Uji" and p["connected"] is True
assert p["behind"] == 0 and p["ahead"] == 0 and p["last_synced"] > 0
assert p["last_seen"] > 0
s = j["stores"][0]
assert s["conflicts"]["open"] == 1 and s["conflicts"]["overdrafts"] == 1
assert s["store"]["file_bytes"] > 0 and s["store"]["used_bytes"] > 0
assert j["filesystem"]["free_bytes"] > 0 and j["disk"]["low"] is True
PY
"$N" -d B status >out.txt
grep -q "^box $IB (box mode), listening on tcp://127.0.0.1:$PB" out.txt || die "status box line"
grep -q "^peer ${IA:0:16} .* inbound, connected, last synced .* ago, behind 0, ahead 0$" out.txt ||
	die "status peer line: $(cat out.txt)"
grep -q '^conflicts Koperasi Uji: 1 open' out.txt || die "status conflicts"
"$N" -d B status --json | python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["running"] and j["disk"]["low"] is True
assert j["stores"][0]["conflicts"]["open"] == 1
assert j["stores"][0]["store"]["map_bytes"] >= 64 << 20' || die "status --json"
grep -q 'disk of .* is low' B.log || die "disk_warn not logged"
grep -q "^nusa_disk_low 1$" s2.txt || die "nusa_disk_low"
ok "peers and status with nusad: rows, conflicts open, disk used, disk_warn"

# --- compact: refused while nusad runs; after, same books -------------------
rc=0
"$N" -d B compact 2>err.txt || rc=$?
[ $rc = 1 ] || die "compact while nusad runs exits $rc"
grep -q '^nusactl: compact: nusad is running on .*: stop it first' err.txt ||
	die "compact refusal: $(cat err.txt)"
stop B
stop A
"$N" -d B peers >out.txt
grep -q "^${IA:0:16}  Koperasi Uji  *remembered  *not connected  *[0-9]*[smh] ago" out.txt ||
	die "peers after nusad stopped: $(cat out.txt)"
d=$("$N" -d B digest)
"$N" -d B compact >out.txt || die "compact"
grep -q '^compacted Koperasi Uji: [0-9]* -> [0-9]* bytes$' out.txt || die "compact output: $(cat out.txt)"
"$N" -d B verify >/dev/null || die "verify after compact"
[ "$("$N" -d B digest)" = "$d" ] || die "digest after compact"
ok "compact: refused while nusad runs; sizes printed; books unchanged"

# --- a hub: lines per network it serves; compact takes each ---------------
"$N" -d H keygen >/dev/null
IH=$(devid H)
"$N" -d E init --network "Koperasi Dua" >/dev/null
for b in A E; do
	"$N" -d "$b" enrol "$IH" --role relay >/dev/null
	"$N" -d "$b" bundle export "$b-hub.bundle" >/dev/null
	"$N" -d H hub join "$b-hub.bundle" >/dev/null || die "hub join $b"
done
"$N" -d H status >out.txt
grep -q '^conflicts Koperasi Uji: 1 open' out.txt || die "hub: conflicts of Uji: $(cat out.txt)"
grep -q '^conflicts Koperasi Dua: 0 open' out.txt || die "hub: conflicts of Dua"
[ "$(grep -c '^disk Koperasi .*: .* MiB on disk' out.txt)" = 2 ] || die "hub: disk lines"
"$N" -d H peers --json | python3 -c '
import json, sys
j = json.load(sys.stdin)
assert sorted(s["name"] for s in j["stores"]) == ["Koperasi Dua", "Koperasi Uji"]
nets = set(p["network"] for p in j["peers"])
assert nets == {"Koperasi Dua", "Koperasi Uji"}, nets' || die "hub: peers --json"
"$N" -d H compact >out.txt || die "hub compact"
[ "$(grep -c '^compacted Koperasi ' out.txt)" = 2 ] || die "hub compact: $(cat out.txt)"
ok "hub: conflicts and disk per network; compact takes every network"

echo "ops.sh: $pass checks passed"
