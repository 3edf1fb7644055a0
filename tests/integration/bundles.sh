#!/usr/bin/env bash
# Bundles that travel: a consultant carries a bundle made for a named peer
# (--for-peer), a cut file imports in part and says what is missing, a
# file changed after it was made is refused, and receipts come back so
# that nusactl status (no nusad running) tells what reached whom.
set -euo pipefail

N=${NUSACTL:-$(dirname "$0")/../../build/nusactl}
SHARED=${SHARED:-$(dirname "$0")/../../../shared}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-bundles.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

pass=0
ok() { pass=$((pass + 1)); }
die() { echo "FAIL: $*" >&2; exit 1; }
expect() {
	local want=$1 got=0
	shift
	"$@" >out.txt 2>err.txt || got=$?
	[ "$got" = "$want" ] || die "exit $got, want $want: $* ($(cat err.txt))"
	if [ "$want" = 1 ]; then
		[ "$(wc -l <err.txt)" = 1 ] || die "want one error line: $*"
		grep -q '^nusactl: ' err.txt || die "error format: $*"
	fi
	ok
}
id16() { "$N" -d "$1" id | awk '/^device/ {print substr($2, 1, 16)}'; }
idof() { "$N" -d "$1" id | awk '/^device/ {print $2}'; }

# The office (hub) with a year of books of a small koperasi; an island
# box B and a box C that will get a cut file.
python3 "$SHARED/data/make-koperasi-books.py" books --members 30 \
	--months 12 >/dev/null
"$N" -d A init --network "Koperasi Pulau" >/dev/null
for t in members accounts postings; do
	"$N" -d A import $t books/$t.csv >/dev/null
done
"$N" -d B keygen >/dev/null
"$N" -d C keygen >/dev/null
"$N" -d A enrol "$(idof B)" --role clerk >/dev/null
"$N" -d A enrol "$(idof C)" --role clerk >/dev/null
total=$("$N" -d A log --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')

# Nothing known of B yet: --for-peer says so and carries everything.
expect 0 "$N" -d A bundle export b0.nusa --for-peer "$(idof B)"
grep -q "no receipt from $(id16 B) yet: the bundle carries everything" \
	err.txt || die "for-peer fallback note: $(cat err.txt)"
grep -q "^exported $total entries" out.txt || die "export all: $(cat out.txt)"
grep -q "^carried 1 receipts, signed by $(id16 A)" out.txt ||
	die "export receipts line: $(cat out.txt)"
raw=$(("$total" * 90))
size=$(stat -c %s b0.nusa)
[ "$size" -lt "$raw" ] || die "bundle of $size bytes is not compressed"

# A cut file: what is complete goes in, the rest is reported, exit 1.
python3 -c "
b = open('b0.nusa', 'rb').read()
open('cut.nusa', 'wb').write(b[:len(b) * 2 // 3])"
expect 1 "$N" -d C bundle import cut.nusa
grep -Eq "^imported [0-9]+ entries" out.txt || die "partial: $(cat out.txt)"
grep -Eq "bundle truncated after batch [0-9]+: [0-9]+ entries of the maker's count not read$" \
	err.txt || die "truncation line: $(cat err.txt)"
got=$(sed -E 's/^imported ([0-9]+) entries.*/\1/' out.txt)
missing=$(sed -E "s/.*: ([0-9]+) entries of the maker's count.*/\1/" err.txt)
[ "$got" -gt 0 ] && [ $((got + missing)) = "$total" ] ||
	die "partial: $got imported + $missing missing != $total"
"$N" -d C verify >/dev/null || die "C does not verify after a cut import"
ok
expect 0 "$N" -d C bundle import b0.nusa
[ "$("$N" -d C digest)" = "$("$N" -d A digest)" ] || die "C: digests"

# Changed after it was made: the maker's signature (the last byte).
python3 -c "
b = bytearray(open('b0.nusa', 'rb').read()); b[-1] ^= 1
open('bad.nusa', 'wb').write(b)"
expect 1 "$N" -d C bundle import bad.nusa
grep -q "the maker's signature does not verify" err.txt ||
	die "tampered trailer: $(cat err.txt)"

# B imports, writes offline, and its next bundle carries its receipt.
expect 0 "$N" -d B bundle import b0.nusa
acct=$(awk -F, 'NR == 2 {print $1}' books/accounts.csv)
expect 0 "$N" -d B post deposit "$acct" 5000
expect 0 "$N" -d B bundle export back.nusa
expect 0 "$N" -d A bundle import back.nusa
grep -q "newer receipts" out.txt || die "receipts on import: $(cat out.txt)"
expect 0 "$N" -d A status
grep -Eq "^receipt $(id16 B) has $((total + 1)) of our entries \(all\), as of [0-9]+s ago, via bundle$" \
	out.txt || die "status receipt of B: $(cat out.txt)"
"$N" -d A status --json | python3 -c '
import json, sys
r = {x["device"][:16]: x for x in json.load(sys.stdin)["receipts"]}
b = r[sys.argv[1]]
assert b["missing"] == 0 and b["via"] == "bundle", b' "$(id16 B)" ||
	die "status --json receipts"
ok
# C's bundle too: one line per device.
expect 0 "$N" -d C bundle export c.nusa
expect 0 "$N" -d A bundle import c.nusa
expect 0 "$N" -d A status
[ "$(grep -c '^receipt ' out.txt)" = 2 ] || die "two receipts: $(cat out.txt)"
grep -q "^receipt $(id16 C) has $total of our entries (1 missing)" out.txt ||
	die "status receipt of C: $(cat out.txt)"

# The office goes on; a bundle for B carries just what B lacks.
expect 0 "$N" -d A post deposit "$acct" 700
expect 0 "$N" -d A post deposit "$acct" 800
expect 0 "$N" -d A status
grep -q "^receipt $(id16 B) has $((total + 1)) of our entries (2 missing)" \
	out.txt || die "status missing: $(cat out.txt)"
expect 0 "$N" -d A bundle export forb.nusa --for-peer "$(idof B)"
grep -q "^for $(id16 B): what it lacks by its receipt of" out.txt ||
	die "for-peer line: $(cat out.txt)"
grep -q "^exported 2 entries" out.txt || die "for-peer: $(cat out.txt)"
expect 0 "$N" -d B bundle import forb.nusa
grep -q "(2 new, 0 already here)" out.txt || die "for-peer import"
expect 2 "$N" -d A bundle export x.nusa --for-peer nothex
expect 2 "$N" -d A bundle export x.nusa --for-peer "$(idof B)" --for a.vec

# A hub writes a bundle for a named island box too (--network: which of
# the networks it serves), from the receipts its bundles brought.
"$N" -d H keygen >/dev/null
"$N" -d A enrol "$(idof H)" --role relay >/dev/null
"$N" -d A bundle export hub.nusa >/dev/null
expect 0 "$N" -d H hub join hub.nusa
net=$("$N" -d A id | awk '/^network/ {print $2}')
expect 0 "$N" -d B bundle export back2.nusa
expect 0 "$N" -d H bundle import back2.nusa --network "$net"
expect 0 "$N" -d H bundle export h.nusa --for-peer "$(idof B)" --network "$net"
grep -q "^exported 1 entries" out.txt || die "hub for-peer: $(cat out.txt)"
expect 0 "$N" -d B bundle import h.nusa
[ "$("$N" -d B digest)" = "$("$N" -d A digest)" ] || die "B: digests (hub)"
expect 2 "$N" -d H bundle export h.nusa --network nothex

echo "bundles.sh: $pass checks passed"
