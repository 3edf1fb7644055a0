#!/usr/bin/env bash
# Boxes syncing through real nusad daemons on loopback: a full mesh,
# partition and heal, live push, the control socket, reload, security
# (unenrolled, revoked, garbage, tampered), a consultant's box as a mule
# between islands and a hub, hub isolation. Run by make test with NUSACTL
# and NUSAD pointing at the sanitizer builds.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
N=${NUSACTL:-$here/../../build/nusactl}
D=${NUSAD:-$here/../../build/nusad}
ROGUE=${ROGUE:-$here/../../build/test/rogue}
LINKEMU=${LINKEMU:-$here/../../build/linkemu}
SHARED=${SHARED:-$here/../../../shared}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-sync.XXXXXX")
. "$here/lib/boxes.sh"
root=$tmp
trap 'stop_all; [ -n "${KEEP:-}" ] || rm -rf "$root"' EXIT
cd "$tmp"

# --- config: nusad -n checks a file ----------------------------------------
conf A 7700
"$D" -n -c A.conf >out.txt || die "nusad -n on a good config"
grep -q ': ok$' out.txt || die "nusad -n output"
"$D" -n -v -c A.conf | grep -q '^listen = tcp://127.0.0.1:7700' ||
	die "nusad -n -v prints the config"
printf '[nusad]\ndata_dir = %s/A\nlisten = tcp://127.0.0.1:7700\nfrob = 1\n' \
	"$tmp" >bad.conf
rc=0
"$D" -n -c bad.conf 2>err.txt || rc=$?
[ $rc = 1 ] || die "nusad -n on a bad config exits $rc, want 1"
grep -q "bad.conf:4: unknown key 'frob'" err.txt || die "bad config message: $(cat err.txt)"
rc=0
"$D" -c bad.conf 2>err.txt || rc=$?
[ $rc = 2 ] || die "nusad on a bad config exits $rc, want 2"
ok "nusad -n checks configs; bad keys are clear errors at start-up"

# --- three boxes, a full mesh over static peers ------------------------------
network A B C
"$N" -d A member add M1 --name "Ani" >/dev/null
for b in A B C; do
	"$N" -d A account open "S-$b" --member M1 --type sukarela >/dev/null
done
"$N" -d A bundle export join2.bundle >/dev/null
"$N" -d B bundle import join2.bundle >/dev/null
"$N" -d C bundle import join2.bundle >/dev/null
IA=$(devid A) IB=$(devid B) IC=$(devid C)
PA=$(freeport) PB=$(freeport) PC=$(freeport)
conf A "$PA" "peers = $IB@tcp://127.0.0.1:$PB $IC@tcp://127.0.0.1:$PC"
conf B "$PB" "peers = $IA@tcp://127.0.0.1:$PA $IC@tcp://127.0.0.1:$PC"
conf C "$PC" "peers = $IA@tcp://127.0.0.1:$PA $IB@tcp://127.0.0.1:$PB"
start A
start B
start C
before=$(count A)
writers=()
for b in A B C; do
	(for i in $(seq 1 10); do
		"$N" -d "$b" post deposit "S-$b" "$((i * 1000))" --memo "$b $i" \
			>/dev/null
	done) &
	writers+=($!)
done
wait "${writers[@]}"
converge 30 A B C || die "three boxes did not converge"
[ "$(count B)" = $((before + 30)) ] || die "entries: $(count B), want $((before + 30))"
for b in A B C; do
	[ "$("$N" -d C balance "S-$b" | awk '{print $2}')" = 55000 ] ||
		die "balance of S-$b on C"
done
# Each pair dials both ways; one session per pair stays (the lower id's).
n1=$(cat A.log B.log C.log | grep -c 'dialed us already: using that session' || true)
[ "$n1" = 3 ] || die "sessions per pair: $n1 of 3 pairs settled on one"
ok "three boxes writing at once converge"

# --- the control socket: status, sync ----------------------------------------
"$N" -d A status >st.txt
grep -q "^box $IA (box mode), listening on tcp://127.0.0.1:$PA" st.txt ||
	die "status: box line: $(head -1 st.txt)"
[ "$(grep -c '^peer .*connected, last synced .* ago, behind 0, ahead 0$' st.txt)" -ge 2 ] ||
	die "status: peer lines: $(cat st.txt)"
"$N" -d A status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["running"] and s["mode"] == "box", s
ids = {p["id"] for p in s["peers"] if p["connected"]}
assert {sys.argv[1], sys.argv[2]} <= ids, s
for p in s["peers"]:
    assert p["behind"] == 0 and p["ahead"] == 0 and p["last_synced"] > 0, p
' "$IB" "$IC" || die "status --json"
"$N" -d B sync "$IA" >out.txt || die "nusactl sync: $(cat out.txt)"
grep -q "^synced with ${IA:0:16}" out.txt || die "sync output: $(cat out.txt)"
rc=0
"$N" -d B sync 0000000000000000000000000000000000000000000000000000000000000000 \
	2>err.txt || rc=$?
[ $rc = 1 ] && grep -q 'unknown peer' err.txt || die "sync with an unknown peer"
[ "$(stat -c %a A/nusad.sock)" = 600 ] || die "control socket is not owner-only"
ok "status shows peers in sync; sync PEER waits for it"

# --- live push: a posting reaches the peers within a second or so -----------
t0=$(date +%s%N)
"$N" -d A post deposit S-A 777 >/dev/null
until "$N" -d C balance S-A | grep -q ' 55777$'; do
	[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 5000 ] || die "no live push"
	sleep 0.05
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "# live push A -> C: $ms ms"
[ "$ms" -lt 2000 ] || die "live push took $ms ms"
ok "a new posting is pushed to the peers ($ms ms)"

# --- partition and heal -------------------------------------------------------
stop C
grep -q 'stopping' C.log || die "SIGTERM: no clean stop"
for i in 1 2 3 4 5; do
	"$N" -d A post deposit S-A 10 --memo "during partition $i" >/dev/null
	"$N" -d C post deposit S-C 20 --memo "offline on C $i" >/dev/null
	"$N" -d B post deposit S-B 30 --memo "during partition $i" >/dev/null
done
converge 10 A B || die "A and B did not converge during the partition"
total=$(($(count A) + 5))
start C
converge 30 A B C || die "no convergence after the partition healed"
[ "$(count A)" = "$total" ] || die "entries after heal: $(count A), want $total"
"$N" -d C verify >/dev/null || die "verify on C after heal"
ok "partition and heal: nothing lost"

# --- SIGHUP reloads the peer list ---------------------------------------------
conf B "$PB" "peers = $IA@tcp://127.0.0.1:$PA"
kill -HUP "$(cat B.pid)"
for i in $(seq 1 50); do grep -q 'reloaded: 1 peers' B.log && break; sleep 0.1; done
grep -q 'reloaded: 1 peers' B.log || die "SIGHUP did not reload"
"$N" -d A post deposit S-A 1 >/dev/null
converge 15 A B C || die "no convergence after reload"
ok "SIGHUP reloads the peer list"

# --- security -------------------------------------------------------------------
# A key that is not enrolled cannot even connect (ZAP).
"$N" -d U keygen >/dev/null
"$ROGUE" U "tcp://127.0.0.1:$PA" "$IA" hello >out.txt
grep -qx 'no answer' out.txt || die "unenrolled key got: $(cat out.txt)"
grep -q "refused CURVE key .*not an enrolled device" A.log ||
	die "A did not log the refused key"
# ... nor can a whole box of another network.
"$N" -d V init --network "Lain" >/dev/null
PV=$(freeport)
conf V "$PV" "peers = $IA@tcp://127.0.0.1:$PA"
start V
sleep 2
grep -q 'refused us' V.log || die "V was not told it is refused"
[ "$("$N" -d V log | wc -l)" = 1 ] || die "V got entries"
stop V
ok "unenrolled keys cannot connect"

# Enrolled devices that misbehave: garbage, tampered entries, oversize.
for x in G T E; do
	"$N" -d "$x" keygen >/dev/null
	"$N" -d A enrol "$(devid "$x")" --role clerk >/dev/null
done
"$N" -d A bundle export join3.bundle >/dev/null
for x in G T E; do "$N" -d "$x" bundle import join3.bundle >/dev/null; done
converge 15 A B C || die "no convergence after enrolling G T E"
"$ROGUE" E "tcp://127.0.0.1:$PA" "$IA" early >out.txt
grep -q '^error 4 ' out.txt || die "early garbage: $(cat out.txt)"
"$ROGUE" E "tcp://127.0.0.1:$PA" "$IA" oversize >out.txt
grep -qx 'no answer' out.txt || die "oversize frame answered: $(cat out.txt)"
"$ROGUE" G "tcp://127.0.0.1:$PA" "$IA" garbage >out.txt
grep -q '^error 5 malformed batch' out.txt || die "garbage batch: $(cat out.txt)"
"$ROGUE" G "tcp://127.0.0.1:$PA" "$IA" hello >out.txt
grep -qx 'no answer' out.txt || die "a peer that sent garbage is not dropped"
# ... nor may it start again on the connection it still holds.
"$ROGUE" E "tcp://127.0.0.1:$PA" "$IA" rehello >out.txt
grep -q '^error 5 malformed batch' out.txt || die "rehello: $(cat out.txt)"
[ "$(tail -1 out.txt)" = "error 3 banned for a while after a fault" ] ||
	die "a banned peer got a new session on its connection: $(cat out.txt)"
grep -q 'refused .* banned for a while' A.log || die "ban not logged"
"$N" -d T post deposit S-A 5 --memo "tamper-me" >/dev/null
n=$(count A)
"$ROGUE" T "tcp://127.0.0.1:$PA" "$IA" tamper tamper-me >out.txt
grep -q '^error 5 batch 0, entry 1 does not verify' out.txt ||
	die "tampered entry: $(cat out.txt)"
grep -q 'bad signature' A.log || die "A did not log the bad signature"
sleep 1
lacks "tamper-me" "$N" -d A log || die "A stored the tampered entry"
[ "$(count A)" = "$n" ] || die "A stored something of the tampered batch"
lacks "tamper-me" "$N" -d B log || die "B got the tampered entry"
kill -0 "$(cat A.pid)" || die "A died"
"$N" -d B post deposit S-B 3 >/dev/null
converge 15 A B C || die "no convergence after the attacks"
ok "garbage, oversize frames and tampered entries: dropped, not stored, A lives"

# A revoked box is refused once the revocation reaches the peer.
"$N" -d A revoke "$IC" >/dev/null
for i in $(seq 1 50); do grep -q "${IC:0:16} is revoked" A.log && break; sleep 0.1; done
grep -q "${IC:0:16} is revoked" A.log || die "A kept C's session"
"$N" -d C post deposit S-C 9 --memo "after revocation" >/dev/null
sleep 2
lacks 'after revocation' "$N" -d A log || die "A took C's post-revocation entry"
"$ROGUE" C "tcp://127.0.0.1:$PA" "$IA" hello >out.txt
grep -qx 'no answer' out.txt || die "revoked key connected: $(cat out.txt)"
# A box that learns of the revocation while down does not dial C either.
converge 15 A B || die "B did not get the revocation"
stop B
"$N" -d B post deposit S-B 4 --memo "not for C" >/dev/null
conf B "$PB" "peers = $IA@tcp://127.0.0.1:$PA $IC@tcp://127.0.0.1:$PC"
start B
sleep 3
grep -q "${IC:0:16} at tcp://127.0.0.1:$PC is not enrolled here (or revoked): not syncing" B.log ||
	die "B dialed the revoked C without refusing it"
lacks 'not for C' "$N" -d C log || die "B sent data to the revoked C"
ok "a revoked box is refused, also by a box that restarts"
stop A
stop B
stop C

# --- the mule: A and C never meet; B carries; the hub relays -----------------
mkdir mule && cd mule && tmp=$tmp/mule
network A B C
"$N" -d H keygen >/dev/null
IH=$(devid H)
"$N" -d A enrol "$IH" --role relay >/dev/null
"$N" -d A member add M1 --name "Wayan" >/dev/null
"$N" -d A account open S1 --member M1 --type sukarela >/dev/null
"$N" -d A bundle export hub.bundle >/dev/null
"$N" -d H hub join hub.bundle >/dev/null || die "hub join"
NET=$("$N" -d A id | awk '/^network /{print $2}')
"$N" -d B bundle import hub.bundle >/dev/null
"$N" -d C bundle import hub.bundle >/dev/null
IA=$(devid A) IB=$(devid B) IC=$(devid C)
PA=$(freeport) PB=$(freeport) PC=$(freeport) PH=$(freeport)
conf H "$PH" "mode = hub"
conf A "$PA" "hub = $IH@tcp://127.0.0.1:$PH"
conf C "$PC"
start H
start A
start C
"$N" -d A post deposit S1 100 --memo "from A" >/dev/null
"$N" -d C post deposit S1 200 --memo "from C" >/dev/null
hubnet=H/networks/$NET
converge 15 A "$hubnet" || die "A did not sync with the hub"
conf B "$PB" "peers = $IA@tcp://127.0.0.1:$PA"
start B
converge 15 A B || die "B did not sync with A"
stop B
conf B "$PB" "peers = $IC@tcp://127.0.0.1:$PC"
start B
# B remembers when it last synced with A, across the restart.
"$N" -d B status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
p = [p for p in s["peers"] if p["id"] == sys.argv[1]]
assert p and p[0]["last_synced"] > 0 and p[0]["received"] > 0, s["peers"]
' "$IA" || die "B forgot its sync with A over a restart"
converge 15 B C || die "B did not sync with C"
"$N" -d C log | grep -q 'from A' || die "C lacks A's entry"
stop B
conf B "$PB" "hub = $IH@tcp://127.0.0.1:$PH"
start B
converge 20 A B C "$hubnet" || die "the four did not converge"
"$N" -d A log | grep -q 'from C' || die "A lacks C's entry"
lacks "^peer ${IC:0:16}" "$N" -d A status || die "A met C"
lacks "^peer ${IA:0:16}" "$N" -d C status || die "C met A"
ok "mule: A and C never meet, B carries, the hub relays; all four converge"

# --- hub isolation: a second network on the same hub --------------------------
"$N" -d X init --network "Koperasi Lain" >/dev/null
"$N" -d X enrol "$IH" --role relay >/dev/null
"$N" -d X member add Z1 --name "Zainal" >/dev/null
"$N" -d X bundle export x.bundle >/dev/null
"$N" -d H hub join x.bundle >/dev/null || die "hub join of a second network"
NETX=$("$N" -d X id | awk '/^network /{print $2}')
kill -HUP "$(cat H.pid)"
for i in $(seq 1 50); do grep -q 'serving Koperasi Lain' H.log && break; sleep 0.1; done
grep -q 'serving Koperasi Lain' H.log || die "hub did not pick up the new network"
PX=$(freeport)
conf X "$PX" "hub = $IH@tcp://127.0.0.1:$PH"
start X
hubx=H/networks/$NETX
converge 15 X "$hubx" || die "X did not sync with the hub"
lacks 'Wayan' "$N" -d X log || die "X got the other network's data"
lacks 'Wayan' "$N" -d "$hubx" log || die "the hub mixed networks"
"$ROGUE" X "tcp://127.0.0.1:$PH" "$IH" othernet "$NET" >out.txt
grep -q '^error 3 ' out.txt || die "X asked for network Y: $(cat out.txt)"
"$N" -d H status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["mode"] == "hub" and len(s["networks"]) == 2, s
' || die "hub status"
ok "hub mode serves two networks, isolated"

# The hub unreachable: retried with growing waits, for ever; reached again.
stop H
"$N" -d X member add Z2 --name "Zaitun" >/dev/null
sleep 6
grep -o 'unreachable, retry in [0-9]* ms' X.log | awk '{print $4}' >waits.txt
[ "$(wc -l <waits.txt)" -ge 3 ] || die "X did not keep retrying the hub: $(cat waits.txt)"
[ "$(tail -1 waits.txt)" -gt "$(head -1 waits.txt)" ] ||
	die "retry waits do not grow: $(tr '\n' ' ' <waits.txt)"
start H
converge 30 X "$hubx" || die "X did not reach the hub again"
ok "an unreachable hub is retried with growing waits ($(tr '\n' ' ' <waits.txt)ms) and reached"
stop X
stop B
stop A
stop C
stop H

# --- a box gone mid-sync: the listener lets its session go ---------------------
# B syncs from A through a relay of 64 kbit/s (a batch crosses well within
# libzmq's heartbeat timeout of 3 s here) and freezes (SIGSTOP) with
# batches of A's unacknowledged. A listener learns of a lost peer only by a send that
# fails, and one waiting for credit sends nothing: it must end the session
# after a few heartbeats (1 s here) rather than hold it for ever.
cd "$root" && mkdir stall && cd stall && tmp=$root/stall
network A B
books A 40 12 3
PA=$(freeport)
conf A "$PA"
start A
"$LINKEMU" --listen 127.0.0.1:0 --to "127.0.0.1:$PA" --rate 8000 \
	--port-file relay.port 2>relay.log &
echo $! >relay.pid
for _ in $(seq 1 50); do [ -s relay.port ] && break; sleep 0.1; done
conf B "" "peers = $(devid A)@tcp://127.0.0.1:$(cat relay.port)"
start B
for _ in $(seq 1 100); do
	grep -q "connected for" A.log && break
	sleep 0.1
done
sleep 1
kill -STOP "$(cat B.pid)"
for _ in $(seq 1 300); do
	grep -q "no answer for" A.log && break
	sleep 0.1
done
kill -CONT "$(cat B.pid)"
grep -q "no answer for [0-9]* s with [0-9]* batches unacknowledged" A.log ||
	die "A held the session of a peer gone mid-sync: $(tail -3 A.log)"
converge 60 A B || die "B did not resume after it woke"
ok "a peer gone mid-sync is let go after a few heartbeats, and resumes"
stop B
stop A
echo "sync.sh: $pass checks passed"
