#!/usr/bin/env bash
# The demo behind `make demo`: three boxes of one cooperative on two
# islands, kept in step by a field consultant's USB stick (bundle files).
# It runs in a temporary directory and leaves nothing behind.
set -euo pipefail

N=${1:-build/nusactl}
N=$(cd "$(dirname "$N")" && pwd)/$(basename "$N")
books=$(cd "$(dirname "$0")/../.." && pwd)/shared/data/make-koperasi-books.py
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-demo.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

say() { printf '\n== %s\n' "$*"; }
run() { printf '$ nusactl'; printf ' %q' "$@"; printf '\n'; "$N" "$@"; }

say "Labuan office: a new cooperative, its books imported from CSV"
run -d labuan init --network "Koperasi Mina Bahari"
if [ -f "$books" ]; then
	python3 "$books" csv --members 50 --months 6 >/dev/null
	run -d labuan import members csv/members.csv
	run -d labuan import accounts csv/accounts.csv
	run -d labuan import postings csv/postings.csv
fi
run -d labuan member add M9001 --name "Siti Aminah" --village Labuan
run -d labuan account open S9001 --member M9001 --type sukarela
run -d labuan post deposit S9001 150000 --memo "setor awal"

say "Rinca island: a new box, enrolled by the Labuan admin"
rinca=$("$N" -d rinca keygen | awk '{print $NF}')
echo "rinca device $rinca"
run -d labuan enrol "$rinca" --role clerk
run -d consultant keygen >/dev/null
consultant=$("$N" -d consultant id | awk '/^device/{print $2}')
run -d labuan enrol "$consultant" --role relay

say "The consultant's box syncs at Labuan, then carries it all to Rinca"
run -d labuan bundle export usb.nusa
run -d consultant bundle import usb.nusa
run -d consultant bundle export usb.nusa
run -d rinca bundle import usb.nusa
run -d rinca id

say "Offline for weeks: both islands take the same member's savings out"
run -d labuan post withdraw S9001 100000 --memo "biaya sekolah"
run -d rinca post withdraw S9001 120000 --memo "beli jaring"
run -d rinca post deposit S9001 20000

say "Next trip: Rinca's changes reach Labuan; both converge"
# Each box writes for the other what that box's last receipt (carried by
# the consultant's bundles) says it lacks.
labuan=$("$N" -d labuan id | awk '/^device/{print $2}')
run -d rinca bundle export usb.nusa --for-peer "$labuan"
run -d consultant bundle import usb.nusa
run -d consultant bundle export usb2.nusa
run -d labuan bundle import usb2.nusa
run -d labuan bundle export usb3.nusa --for-peer "$rinca"
run -d rinca bundle import usb3.nusa
run -d labuan balance S9001
run -d rinca balance S9001
run -d labuan conflicts

say "What reached whom: receipts came back in the bundles"
run -d labuan status

say "Same entries, same books: the state digests match"
a=$("$N" -d labuan digest)
b=$("$N" -d rinca digest)
echo "labuan $a"
echo "rinca  $b"
[ "$a" = "$b" ] && echo "converged" || { echo "NOT converged"; exit 1; }
run -d rinca verify
