#!/usr/bin/env bash
# A sync is a receipt: once two nusad have synced, each box's store holds
# the other's vector as its receipt "via sync", which nusactl status shows
# without nusad and bundle export --for-peer uses. Run by make test with
# NUSACTL and NUSAD pointing at the sanitizer builds.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
N=${NUSACTL:-$here/../../build/nusactl}
D=${NUSAD:-$here/../../build/nusad}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-receipts.XXXXXX")
. "$here/lib/boxes.sh"
root=$tmp
trap 'stop_all; rm -rf "$root"' EXIT
cd "$tmp"

network A B
a16=$(devid A | cut -c1-16)
b16=$(devid B | cut -c1-16)
"$N" -d A status >out.txt
grep -q "^conflicts " out.txt || die "A status: $(cat out.txt)"
grep -q "^receipt $b16" out.txt && die "A has a receipt of B before any sync"
ok "no receipt before a sync"

pa=$(freeport)
conf A "$pa"
conf B "" "peers = $(devid A)@tcp://127.0.0.1:$pa"
start A
start B
"$N" -d A member add M1 --name "Wayan" >/dev/null
converge 30 A B || die "A and B do not converge"
total=$(count A)
# Each side records the other's vector when a session has synced: at its
# periodic tick, or when the session ends. B stops first: its session
# ends there at once, and at A once the connection is gone.
sleep 1
stop B
"$N" -d B status >out.txt
grep -q "^receipt $a16 has $total of our entries (all), as of [0-9]*s ago, via sync$" \
	out.txt || die "B: no sync receipt of A at the end of the session: $(cat out.txt)"
ok "B, the dialer, records A's vector as A's receipt"
for i in $(seq 1 100); do
	"$N" -d A status >out.txt
	grep -q "^receipt $b16 has $total of our entries (all), as of [0-9]*s ago, via sync$" \
		out.txt && break
	[ "$i" = 100 ] && die "A: no sync receipt of B: $(grep receipt out.txt)"
	sleep 0.2
done
ok "so does A, the listener"
stop A

# Without nusad: status reads it from the store; a bundle for B carries
# only what A wrote since.
"$N" -d A status | grep -q "^receipt $b16 has $total of our entries (all)" ||
	die "status without nusad"
"$N" -d A member add M2 --name "Made" >/dev/null
"$N" -d A member add M3 --name "Nyoman" >/dev/null
"$N" -d A bundle export forb.nusa --for-peer "$(devid B)" >out.txt
grep -q "^for $b16: what it lacks by its receipt of .* (via sync)$" out.txt ||
	die "for-peer via sync: $(cat out.txt)"
grep -q "^exported 2 entries" out.txt || die "for-peer: $(cat out.txt)"
"$N" -d B bundle import forb.nusa >/dev/null || die "B imports"
[ "$("$N" -d A digest)" = "$("$N" -d B digest)" ] || die "digests differ"
ok "a bundle for a synced peer carries what it lacks"
echo "receipts.sh: $pass checks passed"
