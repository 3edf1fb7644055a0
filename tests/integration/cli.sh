#!/usr/bin/env bash
# End-to-end checks of nusactl as a clerk, an admin and a field consultant
# use it: boxes in temporary directories, bundles carried between them.
# Run by make test with NUSACTL pointing at the sanitizer build.
set -euo pipefail

N=${NUSACTL:-$(dirname "$0")/../../build/nusactl}
SHARED=${SHARED:-$(dirname "$0")/../../../shared}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

pass=0
ok() { pass=$((pass + 1)); }
die() { echo "FAIL: $*" >&2; exit 1; }

# expect CODE CMD...: runs CMD, checks its exit code; on failure codes the
# error must be one line on stderr starting with "nusactl: ".
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

digest() { "$N" -d "$1" digest; }
balance() { "$N" -d "$1" balance "$2" | awk '{print $2}'; }

# --- identity ------------------------------------------------------------
"$N" -d A init --network "Koperasi Mina Bahari" >init.txt
grep -q '^role root$' init.txt || die "init output"
[ "$(stat -c %a A/device.key)" = 600 ] || die "key file mode"
ok
"$N" -d A id >id.txt
grep -Eq '^device [0-9a-f]{64}$' id.txt || die "id: device line"
grep -Eq '^network [0-9a-f]{64}$' id.txt || die "id: network line"
grep -q '^role root$' id.txt || die "id: role line"
ok
expect 1 "$N" -d A init --network "Lagi"
expect 1 "$N" -d A keygen
"$N" -d B keygen >kg.txt
B=$(awk '{w=$NF} END {print w}' kg.txt)
[[ $B =~ ^[0-9a-f]{64}$ ]] || die "keygen: last word is not a device id"
"$N" -d B id | grep -q "^device $B$" || die "keygen id differs from id"
"$N" -d B id | grep -q '^role none$' || die "new box has a role"
ok

# --- misuse exits 2, help exits 0 ----------------------------------------
expect 2 "$N" -d A frobnicate
expect 2 "$N" -d A enrol "$B"
expect 2 "$N" -d A enrol "$B" --role boss
expect 2 "$N" -d A enrol nothex --role clerk
expect 2 "$N" -d A member add M001
expect 2 "$N" -d A post deposit A001 12x
expect 2 "$N" -d A post deposit A001 -5
expect 2 "$N" -d A balance --bogus
expect 0 "$N" --help
grep -q 'bundle export' out.txt || die "help lists commands"
expect 1 "$N" -d "$tmp/nobox" member list
expect 0 "$N" -d A member --help
grep -q 'member set' out.txt || die "member --help lists member commands"
expect 2 "$N" -d A post transfer A001 A001 5
expect 2 "$N" -d A post deposit A001 150.000
expect 2 "$N" -d A member add M009 --name "$(printf 'bad\377')"
expect 2 "$N" -d A member set M001 name=
expect 2 "$N" -d A member set M001 Phone=1
expect 2 "$N" -d
expect 0 "$N" -d B verify

# --- members, accounts, postings -----------------------------------------
expect 0 "$N" -d A member add M001 --name "Siti Aminah" --village Labuan
expect 1 "$N" -d A member add M001 --name "Siti Lagi"
expect 0 "$N" -d A member set M001 village=Rinca phone=0812
expect 1 "$N" -d A member set M404 village=Rinca
"$N" -d A member list --json | python3 -c '
import json, sys
m = json.load(sys.stdin)
assert m == [{"id": "M001", "name": "Siti Aminah", "phone": "0812",
              "village": "Rinca"}], m'
ok
expect 0 "$N" -d A member add M002 --name "Budi Nggaur"
expect 0 "$N" -d A member remove M002
out=$("$N" -d A member list) || die "member list fails"
grep -q M002 <<<"$out" && die "removed member listed"
ok
expect 1 "$N" -d A account open A001 --member M404 --type sukarela
expect 2 "$N" -d A account open A001 --member M001 --type emas
expect 0 "$N" -d A account open A001 --member M001 --type sukarela
expect 0 "$N" -d A account open L001 --member M001 --type loan
expect 0 "$N" -d A post deposit A001 150000 --memo "setor awal"
dep=$(awk '/^entry/{print $2}' out.txt)
expect 1 "$N" -d A post withdraw A001 150001
grep -q 'refused' err.txt || die "overdraw message"
[ "$(balance A A001)" = 150000 ] || die "refused withdrawal changed balance"
expect 0 "$N" -d A post withdraw A001 50000
wd=$(awk '/^entry/{print $2}' out.txt)
[ "$(balance A A001)" = 100000 ] || die "balance after withdraw"
expect 1 "$N" -d A post deposit L001 1000
expect 0 "$N" -d A post disburse L001 2000000 --date 2026-01-15
expect 1 "$N" -d A post repay L001 2000001
expect 0 "$N" -d A post repay L001 500000
[ "$(balance A L001)" = 1500000 ] || die "loan outstanding"
expect 0 "$N" -d A account open A002 --member M001 --type wajib
expect 0 "$N" -d A post transfer A001 A002 30000
[ "$(balance A A002)" = 30000 ] || die "transfer"
expect 1 "$N" -d A post transfer A001 A404 1
expect 1 "$N" -d A post reverse "$dep"
grep -q 'below zero' err.txt || die "reversal that overdraws: $(cat err.txt)"
expect 0 "$N" -d A post reverse "$wd" --memo "salah input"
rev=$(awk '/^entry/{print $2}' out.txt)
[ "$(balance A A001)" = 120000 ] || die "reverse restores the balance"
expect 1 "$N" -d A post reverse "$wd"
expect 1 "$N" -d A post reverse "$rev"

# --- enrolment and bundles -----------------------------------------------
expect 1 "$N" -d A bundle import /dev/null
"$N" -d A bundle export a.nusa >/dev/null
expect 1 "$N" -d B bundle import a.nusa
grep -q 'does not enrol this box' err.txt || die "join message"
"$N" -d B id | grep -q '^network none$' || die "B joined without enrolment"
ok
expect 0 "$N" -d A enrol "$B" --role clerk
expect 0 "$N" -d A enrol "$B" --role clerk
grep -q 'already enrolled as clerk' out.txt || die "re-enrol is a no-op"
"$N" -d A bundle export a.nusa >/dev/null
expect 0 "$N" -d B bundle import a.nusa
"$N" -d B id | grep -q '^role clerk$' || die "B not a clerk"
[ "$(digest A)" = "$(digest B)" ] || die "digests differ after bundle"
ok
expect 1 "$N" -d B enrol "$(awk '/^device/{print $2}' id.txt)" --role admin
expect 0 "$N" -d B post deposit A001 5000
"$N" -d A vector >a.vec
"$N" -d B bundle export b.nusa --for a.vec >out.txt
grep -q '^exported 1 entries' out.txt || die "--for carries only the delta"
expect 0 "$N" -d A bundle import b.nusa
[ "$(digest A)" = "$(digest B)" ] || die "digests differ after --for"
printf '%s -1\n' "$B" >bad.vec
expect 1 "$N" -d B bundle export b3.nusa --for bad.vec
printf '%s 3junk\n' "$B" >bad.vec
expect 1 "$N" -d B bundle export b3.nusa --for bad.vec
"$N" -d A vector --json >a.json
"$N" -d B bundle export b2.nusa --for a.json | grep -q '^exported 0 entries' ||
	die "--for with a JSON vector"
ok

# Concurrent offline withdrawals: both boxes refuse nothing locally, and
# converge to the same flagged overdraft.
bal=$(balance A A001)
expect 0 "$N" -d A post withdraw A001 "$bal"
expect 0 "$N" -d B post withdraw A001 "$bal"
"$N" -d A bundle export a.nusa >/dev/null
"$N" -d B bundle export b.nusa >/dev/null
expect 0 "$N" -d A bundle import b.nusa
expect 0 "$N" -d B bundle import a.nusa
[ "$(digest A)" = "$(digest B)" ] || die "digests differ after conflict"
"$N" -d A conflicts --json >ca.json
"$N" -d B conflicts --json >cb.json
cmp -s ca.json cb.json || die "conflicts differ between replicas"
python3 -c '
import json, sys
c = json.load(open("ca.json"))
assert len(c) == 1 and c[0]["kind"] == "overdraft", c
assert c[0]["account"] == "A001" and c[0]["balance"] == -'"$bal"', c
assert len(c[0]["entries"]) == 1, c'
ok

# --- tampered and truncated bundles --------------------------------------
expect 0 "$N" -d A post deposit A001 777
"$N" -d A bundle export t.nusa --for <("$N" -d B vector) >/dev/null
before=$(digest B)
size=$(stat -c %s t.nusa)
python3 - t.nusa <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[200] ^= 0x01          # inside the first entry body
open(p + ".bad", "wb").write(b)
open(p + ".cut", "wb").write(b[:len(b) - 20])
PY
expect 1 "$N" -d B bundle import t.nusa.bad
grep -Eq 'bad signature|broken hash chain|malformed' err.txt ||
	die "tamper message: $(cat err.txt)"
[ "$(digest B)" = "$before" ] || die "tampered bundle changed state"
python3 -c "
import sys
b = open('t.nusa', 'rb').read()
open('t.nusa.cut', 'wb').write(b[:-5])"
expect 1 "$N" -d B bundle import t.nusa.cut
grep -q 'truncated' err.txt || die "truncation message: $(cat err.txt)"
[ "$size" -gt 100 ] || die "bundle too small"
expect 0 "$N" -d B bundle import t.nusa
[ "$(digest A)" = "$(digest B)" ] || die "digests differ after retry"

# --- revocation ----------------------------------------------------------
# B keeps posting offline after A revokes it; once A hears of them, those
# entries are kept out of the books on both boxes.
expect 0 "$N" -d A revoke "$B"
expect 0 "$N" -d B post deposit A001 99
"$N" -d B bundle export b.nusa >/dev/null
"$N" -d A bundle export a.nusa >/dev/null
before=$(balance A A001)
expect 0 "$N" -d A bundle import b.nusa
grep -q 'revoked devices dropped' out.txt || die "revoked entries dropped"
expect 1 "$N" -d A enrol "$B" --role clerk
grep -q 'new key' err.txt || die "enrolling a revoked device"
[ "$(balance A A001)" = "$before" ] || die "revoked entry counted"
expect 0 "$N" -d B bundle import a.nusa
[ "$(balance B A001)" = "$before" ] || die "revoked entry counted at B"
"$N" -d B id | grep -q 'revoked' || die "B does not know it is revoked"
expect 1 "$N" -d B post deposit A001 1
[ "$(digest A)" = "$(digest B)" ] || die "digests differ after revocation"
ok

# --- verify --------------------------------------------------------------
expect 0 "$N" -d A verify
grep -q '^ok: ' out.txt || die "verify output"
cp -r A Abad
mdb_dump -s balances Abad/store >dump.txt
# Add 1 to the last byte of the first balance value: a silent corruption.
python3 - dump.txt <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
start = lines.index("HEADER=END") + 1
v = lines[start + 1]
lines[start + 1] = v[:-2] + "%02x" % ((int(v[-2:], 16) + 1) % 256)
open(sys.argv[1], "w").write("\n".join(lines))
PY
mdb_load -s balances Abad/store <dump.txt 2>/dev/null
rc=0
"$N" -d Abad verify >out.txt 2>err.txt || rc=$?
[ "$rc" = 1 ] || die "verify of a corrupted store exits $rc"
grep -q 'state differs' err.txt || die "verify did not see the corruption"
grep -vq '^nusactl: verify: ' err.txt && die "verify fault format"
ok

# --- books: import from the generator, export, round trip ----------------
python3 "$SHARED/data/make-koperasi-books.py" books --members 40 \
	--months 4 >/dev/null
"$N" -d K init --network "Koperasi Uji" >/dev/null
expect 0 "$N" -d K import members books/members.csv
expect 0 "$N" -d K import accounts books/accounts.csv
expect 0 "$N" -d K import postings books/postings.csv
rows=$(($(wc -l <books/postings.csv) - 1))
grep -q "^imported $rows postings$" out.txt || die "postings count"
# Expected balances computed from the CSV independently.
python3 - books/postings.csv >want.txt <<'PY'
import csv, sys
bal = {}
for r in csv.DictReader(open(sys.argv[1])):
    a = int(r["amount"]) * (1 if r["type"] == "deposit" else -1)
    bal[r["account"]] = bal.get(r["account"], 0) + a
for k in sorted(bal):
    print(k, bal[k])
PY
"$N" -d K balance | awk '{print $1, $2}' >got.txt
cmp -s want.txt got.txt || die "imported balances differ from the CSV"
ok
expect 0 "$N" -d K post reverse "$("$N" -d K log --json | python3 -c '
import json, sys
print([e["id"] for e in json.load(sys.stdin) if e["kind"] == "posting"][3])')"
mkdir books2
"$N" -d K export csv --out books2
"$N" -d K2 init --network "Koperasi Salinan" >/dev/null
"$N" -d K2 import members books2/members.csv >/dev/null
"$N" -d K2 import accounts books2/accounts.csv >/dev/null
expect 0 "$N" -d K2 import postings books2/postings.csv
"$N" -d K balance >b1.txt
"$N" -d K2 balance >b2.txt
cmp -s b1.txt b2.txt || die "export/import round trip changed balances"
ok
expect 1 "$N" -d K import postings books2/postings.csv
grep -q 'already in these books' err.txt || die "re-import of an export"
printf '\357\273\277ID,Name,Village\r\nM7001,"Siti",Labuan\r\n\r\nM7002,Budi,,\r\n' >crlf.csv
expect 1 "$N" -d K2 import members crlf.csv
grep -q 'line 4: 4 cells' err.txt || die "line numbers count blank lines"
printf '\357\273\277ID,Name,Village\r\nM7001,"Siti",Labuan\r\n' >crlf.csv
expect 0 "$N" -d K2 import members crlf.csv
"$N" -d K2 member list | grep -q 'M7001 *Siti *Labuan' || die "BOM/CRLF import"
"$N" -d K export json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert len(d["members"]) == 40 and len(d["accounts"]) == 120, d.keys()
assert any(p["type"] == "reverse" for p in d["postings"])'
ok
# Formulas are defused in exports (a ' before =, +, -, @, tab, CR or ')
# and the mark comes off again on import: the round trip is exact.
"$N" -d F init --network "Koperasi Rumus" >/dev/null
"$N" -d F member add F1 --name '=HYPERLINK("http://x","y")' \
	--village "'Desa" >/dev/null
"$N" -d F member add F2 --name '-Budi' --village '@x' >/dev/null
"$N" -d F member add F3 --name "Ali 'x" --village '+62' >/dev/null
mkdir fbooks
"$N" -d F export csv --out fbooks
grep -qxF "\"F1\",\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",\"''Desa\"" \
	fbooks/members.csv || die "a formula left live in an export"
grep -qxF "\"F2\",\"'-Budi\",\"'@x\"" fbooks/members.csv ||
	die "a leading - or @ left live in an export"
grep -qxF "\"F3\",\"Ali 'x\",\"'+62\"" fbooks/members.csv ||
	die "an inner quote marked, or a leading + left live"
"$N" -d F2 init --network "Koperasi Rumus 2" >/dev/null
expect 0 "$N" -d F2 import members fbooks/members.csv
"$N" -d F member list --json >fm1.json
"$N" -d F2 member list --json >fm2.json
cmp -s fm1.json fm2.json || die "formula round trip changed members"
ok
printf 'account,type,amount,memo,date\nM0001-S,withdraw,999999999,x,2024-01-01\n' \
	>over.csv
before=$(digest K)
expect 1 "$N" -d K import postings over.csv
grep -q 'line 2' err.txt || die "import error names the line"
[ "$(digest K)" = "$before" ] || die "failed import changed state"
printf 'id,name\n"M9,broken\n' >bad.csv
expect 1 "$N" -d K import members bad.csv

# --- crash: nothing acknowledged is lost ---------------------------------
# Post in a loop, kill -9 at some point, and check that every posting the
# CLI confirmed is in the store and that the store verifies.
"$N" -d "$tmp/C" init --network "Koperasi Crash" >/dev/null
"$N" -d "$tmp/C" member add M1 --name X >/dev/null
"$N" -d "$tmp/C" account open S1 --member M1 --type sukarela >/dev/null
(
	for i in $(seq 1 400); do
		"$N" -d "$tmp/C" post deposit S1 1000 || exit 0
	done
) >acks.txt 2>/dev/null &
loop=$!
sleep 1.5
# The loop goes first, so no new post starts; then the one in flight.
{ kill -9 "$loop"; wait "$loop"; } 2>/dev/null || true
# The box path is unique to this run: no other run's posts match.
pkill -9 -f -- "-d $tmp/C post" || true
"$N" -d "$tmp/C" log --json >log.json
python3 - acks.txt log.json <<'PY'
import json, sys
acked = [l.split()[1] for l in open(sys.argv[1]) if l.startswith("entry ")]
stored = {e["id"] for e in json.load(open(sys.argv[2]))}
missing = [a for a in acked if a not in stored]
assert acked, "no posting was acknowledged before the kill"
assert not missing, missing
PY
expect 0 "$N" -d "$tmp/C" verify
n=$(grep -c '^entry ' acks.txt)
[ "$(balance "$tmp/C" S1)" -ge $((n * 1000)) ] ||
	die "balance below what was acked"
ok

# --- power cut during an import: a prefix of the batches, never half ---
# The shim kills nusactl at its Nth sync (LMDB syncs once per commit, and
# a bundle import commits every 4096 entries), like a power cut would.
if [ -n "${CRASHSHIM:-}" ]; then
	crash() {
		local n=$1
		shift
		# In a subshell, so the shell's "Killed" note goes to
		# /dev/null too.
		(NUSA_CRASH_AT_SYNC=$n LD_PRELOAD=$CRASHSHIM \
		ASAN_OPTIONS=verify_asan_link_order=0 "$N" "$@" || :) \
			>/dev/null 2>&1
	}
	count() { "$N" -d "$1" log --json | python3 -c '
import json, sys
print(len(json.load(sys.stdin)))'; }
	python3 "$SHARED/data/make-koperasi-books.py" big --members 150 \
		--months 12 >/dev/null
	"$N" -d P init --network "Koperasi Padam" >/dev/null
	"$N" -d P import members big/members.csv >/dev/null
	"$N" -d P import accounts big/accounts.csv >/dev/null
	"$N" -d Q keygen >/dev/null
	"$N" -d P enrol "$("$N" -d Q id | awk '/^device/{print $2}')" \
		--role relay >/dev/null
	"$N" -d P bundle export p1.nusa >/dev/null
	"$N" -d Q bundle import p1.nusa >/dev/null
	"$N" -d P import postings big/postings.csv >/dev/null
	"$N" -d Q vector >q.vec
	"$N" -d P bundle export p2.nusa --for q.vec >/dev/null
	base=$(count Q)
	total=$(count P)
	[ $((total - base)) -gt 4096 ] || die "crash test needs > 4096 entries"
	cp -r Q Q0
	for n in 1 2; do
		rm -rf Q && cp -r Q0 Q
		crash "$n" -d Q bundle import p2.nusa
		expect 0 "$N" -d Q verify
		got=$(count Q)
		case $n in
		1) [ "$got" = "$base" ] || die "cut at commit 1 kept $got" ;;
		2) [ "$got" = $((base + 4096)) ] ||
			die "cut at commit 2 kept $got, want $((base + 4096))" ;;
		esac
		expect 0 "$N" -d Q bundle import p2.nusa
		[ "$(digest Q)" = "$(digest P)" ] || die "re-import after cut $n"
	done
	before=$(digest P)
	crash 1 -d P post deposit M0001-S 1000
	expect 0 "$N" -d P verify
	[ "$(digest P)" = "$before" ] || die "a cut post left a trace"
else
	echo "cli.sh: CRASHSHIM not set (make test sets it): power-cut checks skipped" >&2
fi

echo "cli.sh: $pass checks passed"
