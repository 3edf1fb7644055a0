#!/usr/bin/env bash
# Clone and restore safety (docs/CLONES.md), with real nusad daemons on
# loopback: a data directory copied with cp -a to "another machine"
# (NUSA_TEST_MACHINE_ID), a box restored from an older copy of itself
# and told so by a peer, and the same told by a bundle. In each case the
# box switches to a new device key before writing, is enrolled again,
# every entry is kept and no fork is reported.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
N=${NUSACTL:-$here/../../build/nusactl}
D=${NUSAD:-$here/../../build/nusad}
ROGUE=${ROGUE:-$here/../../build/test/rogue}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-clone.XXXXXX")
. "$here/lib/boxes.sh"
root=$tmp
trap 'stop_all; [ -n "${KEEP:-}" ] || rm -rf "$root"' EXIT
cd "$tmp"
# Every box here runs on "machine one" unless it says otherwise.
export NUSA_TEST_MACHINE_ID=machine-one

# waitfor SECONDS CMD...: polls until CMD succeeds.
waitfor() {
	local secs=$1 i
	shift
	for i in $(seq 1 $((secs * 5))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}
# settle SECONDS BOX...: converge, nudging every box to sync with A now
# and then (live pushes are not what this test is about).
settle() {
	local secs=$1 i b
	shift
	for i in $(seq 1 $((secs / 5))); do
		converge 5 "$@" && return 0
		for b in "$@"; do
			[ "$b" = A ] && continue
			NUSA_TEST_MACHINE_ID=$([ "$b" = B2 ] && echo machine-two ||
				echo machine-one) "$N" -d "$tmp/$b" sync "$IA" \
				--timeout 3 >/dev/null 2>&1 || true
		done
	done
	return 1
}
role_is() { "$N" -d "$tmp/$1" id | grep -qx "role $2"; }
seq_of() { "$N" -d "$tmp/$1" vector | awk -v id="$2" '$1 == id {print $2}'; }
no_fork() { lacks '^fork' "$N" -d "$tmp/$1" conflicts; }
# has_seq BOX AUTHOR SEQ: BOX holds AUTHOR's feed up to SEQ (re-read on
# every call: waitfor polls it).
has_seq() { [ "$(seq_of "$1" "$2")" = "$3" ]; }

network A B
"$N" -d A member add M1 --name "Wati" >/dev/null
"$N" -d A account open S1 --member M1 --type sukarela >/dev/null
PA=$(freeport) PB=$(freeport) PB2=$(freeport)
IA=$(devid A) IB=$(devid B)
conf A "$PA"
conf B "$PB" "peers = $IA@tcp://127.0.0.1:$PA"
conf B2 "$PB2" "peers = $IA@tcp://127.0.0.1:$PA"
start A
start B
"$N" -d B post deposit S1 1000 >/dev/null || die "B posts"
converge 20 A B || die "A and B did not converge"
ok "admin box A and clerk box B in sync"

# --- a copy: cp -a to a second box ------------------------------------------
stop B
cp -a B B2
start B
rc=0
NUSA_TEST_MACHINE_ID=machine-two "$N" -d B2 post deposit S1 5 \
	>out.txt 2>err.txt || rc=$?
[ $rc = 1 ] || die "the copy posted (exit $rc): $(cat out.txt err.txt)"
IB2=$(NUSA_TEST_MACHINE_ID=machine-two devid B2)
[ "$IB2" != "$IB" ] || die "the copy kept the device key"
grep -q "refused: this box was copied" err.txt || die "message: $(cat err.txt)"
grep -q "nusactl enrol $IB2 --role clerk" err.txt ||
	die "no enrol command in: $(cat err.txt)"
ls B2/device.key.retired-* >/dev/null || die "the old key is not kept"
[ "$(stat -c %a B2/device.key.retired-*)" = 600 ] || die "retired key mode"
NUSA_TEST_MACHINE_ID=machine-two "$N" -d B2 id |
	grep -q "^rekeyed from $IB (copy), waiting for enrolment: nusactl enrol $IB2 --role clerk$" ||
	die "id does not show the pending rekey"
rc=0
NUSA_TEST_MACHINE_ID=machine-two "$N" -d B2 member add M9 --name X \
	2>err.txt >/dev/null || rc=$?
[ $rc = 1 ] && grep -q "nusactl enrol $IB2" err.txt ||
	die "a second write on the copy was not refused"
"$N" -d B post deposit S1 20 >/dev/null || die "the original B cannot post"
# A CSV import is a write like any other: on a copy it is refused too,
# the first write included.
printf 'id,name\nM77,Made\n' >m77.csv
rc=0
NUSA_TEST_MACHINE_ID=machine-two "$N" -d B2 import members m77.csv \
	2>err.txt >/dev/null || rc=$?
[ $rc = 1 ] && grep -q "nusactl enrol $IB2" err.txt ||
	die "an import on the copy was not refused (exit $rc): $(cat err.txt)"
stop B
cp -a B B3
start B
rc=0
NUSA_TEST_MACHINE_ID=machine-three "$N" -d B3 import members m77.csv \
	2>err.txt >/dev/null || rc=$?
[ $rc = 1 ] && grep -q "refused: this box was copied" err.txt ||
	die "a copy's first write, an import, was not refused (exit $rc): $(cat err.txt)"
[ "$(NUSA_TEST_MACHINE_ID=machine-three devid B3)" != "$IB" ] ||
	die "the copy that imported kept the device key"
rm -rf B3
ok "the copy switched to a new key and refuses writes with the enrol command; B posts"

NUSA_TEST_MACHINE_ID=machine-two start B2
grep -q "waits for its enrolment" B2.log || die "nusad of B2 does not say it waits"
"$N" -d A enrol "$IB2" --role clerk >/dev/null
# Refused until now, B2 dials A again by itself (backoff); no sync needed.
waitfor 30 env NUSA_TEST_MACHINE_ID=machine-two bash -c \
	"'$N' -d '$tmp/B2' id | grep -qx 'role clerk'" ||
	die "B2 did not get its certificate by sync"
NUSA_TEST_MACHINE_ID=machine-two "$N" -d B2 post deposit S1 300 \
	>out.txt 2>err.txt || die "enrolled B2 cannot post: $(cat err.txt)"
"$N" -d B post deposit S1 4000 >/dev/null || die "B posts again"
settle 30 A B B2 || die "A, B and B2 did not converge"
[ "$("$N" -d A balance S1 | awk '{print $NF}')" = 5320 ] ||
	die "balance on A: $("$N" -d A balance S1)"
no_fork A && no_fork B && no_fork B2 || die "a fork is reported"
ok "enrolled by A, the copy posts; both boxes' postings kept, equal digests, no fork"

# --- a restore: B's data replaced by an older copy of itself ----------------
stop B
mkdir Bsave
cp -a B/. Bsave/
start B
"$N" -d B post deposit S1 1 >/dev/null
"$N" -d B post deposit S1 2 >/dev/null
settle 20 A B B2 || die "no convergence before the restore"
HEAD=$(seq_of A "$IB")
stop B
rm -rf B/*
cp -a Bsave/. B/		# the same directory: the binding still matches
[ "$(seq_of B "$IB")" -lt "$HEAD" ] || die "the restore did not go back"
start B
waitfor 20 grep -q "this box was restored from an older copy" B.log ||
	die "nusad of B did not detect the restore"
IB3=$(devid B)
[ "$IB3" != "$IB" ] || die "the restored box kept its key"
waitfor 20 has_seq B "$IB" "$HEAD" ||
	die "B did not get its own lost entries back"
rc=0
"$N" -d B post deposit S1 7 2>err.txt >/dev/null || rc=$?
[ $rc = 1 ] && grep -q "nusactl enrol $IB3 --role clerk" err.txt ||
	die "the restored box posts before enrolment: $(cat err.txt)"
grep -q "restored from an older copy" err.txt || die "reason: $(cat err.txt)"
ok "a peer holding more of B's own feed: B rekeys, gets its entries back, refuses writes"

"$N" -d A enrol "$IB3" --role clerk >/dev/null
# B's session (still under its old, enrolled key) carries the enrolment.
b_enrolled() {
	role_is B clerk && return 0
	"$N" -d A sync "$IB" --timeout 3 >/dev/null 2>&1 || true
	role_is B clerk
}
waitfor 30 b_enrolled || die "B did not get its new certificate"
"$N" -d B post deposit S1 50 >/dev/null || die "re-enrolled B cannot post"
settle 30 A B B2 || die "no convergence after the restore"
[ "$("$N" -d B balance S1 | awk '{print $NF}')" = 5373 ] ||
	die "balance on B: $("$N" -d B balance S1)"
no_fork A && no_fork B && no_fork B2 || die "a fork is reported"
ok "after enrolment the restored box posts; every entry kept, no fork"

# --- a lying peer: a claim on A's own feed without the entries --------------
# B2 (an enrolled clerk) says it holds far more of A's feed than A does,
# and sends none of it: A's writes wait while the claim stands, and then
# go on under the same key.
lie=$(($(seq_of A "$IA") + 1000))
"$ROGUE" "$tmp/B2" "tcp://127.0.0.1:$PA" "$IA" liar "$lie" >rogue.txt 2>&1 &
rpid=$!
waitfor 10 grep -q "says it holds seq $lie of our own feed" A.log ||
	die "A did not see the claim: $(cat rogue.txt)"
rc=0
"$N" -d A member add M7 --name Y 2>err.txt >/dev/null || rc=$?
[ $rc = 1 ] && grep -q "nusad waits for those entries" err.txt ||
	die "A wrote while a claim was pending (exit $rc): $(cat err.txt)"
wait "$rpid" || die "rogue: $(cat rogue.txt)"
waitfor 10 grep -q "claimed seq $lie of our own feed but the session ended without" \
	A.log || die "A did not drop the claim"
[ "$(devid A)" = "$IA" ] || die "A rekeyed on a peer's word"
[ ! -e A/claim ] || die "A/claim is left"
"$N" -d A member add M7 --name Y >/dev/null 2>err.txt ||
	die "A cannot write after the claim: $(cat err.txt)"
ok "a peer claiming A's feed without sending it: writes wait, then resume; no rekey"
lie=$((lie + 1))
"$ROGUE" "$tmp/B2" "tcp://127.0.0.1:$PA" "$IA" liarsync "$lie" >rogue.txt 2>&1 ||
	die "rogue: $(cat rogue.txt)"
waitfor 10 grep -q "claimed seq $lie of our own feed but is caught up" A.log ||
	die "A did not drop the claim of a peer caught up: $(cat rogue.txt)"
[ "$(devid A)" = "$IA" ] || die "A rekeyed on a peer's word"
"$N" -d A member add M8 --name Z >/dev/null 2>err.txt ||
	die "A cannot write after the claim: $(cat err.txt)"
ok "a claiming peer caught up without the entries: the claim is dropped, no rekey"
# A claim whose peer then holds the session without sending anything or
# saying it is caught up stops A's writes only for a few heartbeats. (B2's
# own nusad, with the key the rogue uses, would take the session over.)
stop B2
lie=$((lie + 1))
"$ROGUE" "$tmp/B2" "tcp://127.0.0.1:$PA" "$IA" liarhold "$lie" >rogue.txt 2>&1 &
rpid=$!
waitfor 10 grep -q "says it holds seq $lie of our own feed" A.log ||
	die "A did not see the claim: $(cat rogue.txt)"
waitfor 12 grep -q "claimed seq $lie of our own feed but sent nothing for" \
	A.log || die "A kept the claim of a peer that holds the session silently"
kill -0 "$rpid" 2>/dev/null || die "the rogue left before the claim expired"
"$N" -d A member add M9 --name W >/dev/null 2>err.txt ||
	die "A cannot write while the silent claimer holds on: $(cat err.txt)"
[ "$(devid A)" = "$IA" ] || die "A rekeyed on a peer's word"
wait "$rpid" || die "rogue: $(cat rogue.txt)"
ok "a claiming peer that holds the session silently: the claim expires, writes resume"

# --- the bundle path: a restored box imports its own newer entries ----------
"$N" -d C keygen >/dev/null
IC=$(devid C)
"$N" -d A enrol "$IC" --role clerk >/dev/null
"$N" -d A bundle export a1.bundle >/dev/null
"$N" -d C bundle import a1.bundle >/dev/null
"$N" -d C post deposit S1 10 >/dev/null
mkdir Csave
cp -a C/. Csave/
"$N" -d C post deposit S1 11 >/dev/null
"$N" -d C bundle export c.bundle >/dev/null
"$N" -d A bundle import c.bundle >/dev/null
rm -rf C/*
cp -a Csave/. C/
"$N" -d A bundle export a2.bundle >/dev/null
"$N" -d C bundle import a2.bundle >out.txt 2>err.txt ||
	die "import on the restored box: $(cat err.txt)"
IC2=$(devid C)
[ "$IC2" != "$IC" ] || die "the bundle did not make C rekey"
grep -q "ask an admin to run: nusactl enrol $IC2 --role clerk" err.txt ||
	die "import message: $(cat err.txt)"
[ "$(seq_of C "$IC")" = 2 ] || die "C's lost entry did not come back"
rc=0
"$N" -d C post deposit S1 12 2>/dev/null >/dev/null || rc=$?
[ $rc = 1 ] || die "C posts before enrolment"
"$N" -d A enrol "$IC2" --role clerk >/dev/null
"$N" -d A bundle export a3.bundle >/dev/null
"$N" -d C bundle import a3.bundle >/dev/null
"$N" -d C post deposit S1 12 >/dev/null || die "C cannot post once enrolled"
no_fork C && no_fork A || die "a fork is reported"
ok "a bundle holding the box's own newer entries: rekey, entries kept, post after enrolment"

# --- damaged state files are clear errors, nothing written ------------------
echo "garbage" >C/rekey
rc=0
"$N" -d C post deposit S1 1 2>err.txt >/dev/null || rc=$?
[ $rc = 1 ] && grep -q "C/rekey: malformed encoding" err.txt ||
	die "a damaged rekey file: exit $rc, $(cat err.txt)"
ok "a damaged rekey file is a clear error"
echo "1..$pass"
