#!/usr/bin/env bash
# The clerk's web app end to end: a box made with nusactl, a web user, a
# real nusad serving web/ on loopback, and headless Chromium at phone size
# (tests/e2e/web_e2e.js, playwright-core) signing in, finding the member,
# recording a deposit through the confirmation step, checking the new
# balance against nusactl, switching to English. Screenshots of each step
# are kept in build/artifacts/e2e/*.png. Also runs tests/e2e/fmt_test.js
# (formatting helpers, catalogues, page weight, no outside URLs).
set -eu
N=${NUSACTL:?} D=${NUSAD:?}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ART=$ROOT/build/artifacts/e2e
tmp=$(mktemp -d /tmp/nusa-web-e2e.XXXXXX)
. "$(dirname "$0")/lib/boxes.sh"
cleanup() {
	stop_all
	rm -rf "$tmp"
}
trap cleanup EXIT

command -v node >/dev/null || die "node is missing (make deps installs it)"
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium is missing (make deps)"
[ -d "$ROOT/tests/e2e/node_modules/playwright-core" ] ||
	die "playwright-core is missing: npm ci --prefix tests/e2e (make deps)"

timeout 30 node "$ROOT/tests/e2e/fmt_test.js" >"$tmp/fmt.out" 2>&1 ||
	{ cat "$tmp/fmt.out"; die "fmt_test.js failed"; }
grep '^# first load' "$tmp/fmt.out"
ok "web helpers, catalogues, no outside URLs ($(tail -1 "$tmp/fmt.out"))"

# Box a (the office, serving the web) founds the network; box b (another
# island) is enrolled and joins by a bundle, then goes offline.
network a b
"$N" -d "$tmp/a" member add M001 --name "Siti Aminah" --village Labuan \
	>/dev/null
"$N" -d "$tmp/a" member add M002 --name "Wayan Sudarsana" --village Rinca \
	>/dev/null
"$N" -d "$tmp/a" account open A001 --member M001 --type sukarela >/dev/null
"$N" -d "$tmp/a" account open L001 --member M001 --type loan >/dev/null
"$N" -d "$tmp/a" post deposit A001 150000 --memo "setor awal" >/dev/null
"$N" -d "$tmp/a" bundle export "$tmp/books.bundle" >/dev/null
"$N" -d "$tmp/b" bundle import "$tmp/books.bundle" >/dev/null
echo 4826 | "$N" -d "$tmp/a" user add siti --role clerk --pin-stdin \
	>/dev/null || die "nusactl user add failed"
ok "a box with two members, accounts and a web user; box b has the books"

# While the boxes are apart, b records its own deposit.
"$N" -d "$tmp/b" post deposit A001 40000 --memo "setoran di pulau" >/dev/null

http=$(freeport)
pa=$(freeport)
pb=$(freeport)
conf a "$pa" "http = 127.0.0.1:$http" "web_root = $ROOT/web"
conf b "$pb" "peers = $(devid a)@tcp://127.0.0.1:$pa"
start a
for i in $(seq 1 50); do
	python3 - "$http" 2>/dev/null <<'PY' && break
import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1], timeout=1)
PY
	[ "$i" = 50 ] && die "nusad does not serve http on $http"
	sleep 0.1
done
ok "nusad serves the web app on 127.0.0.1:$http"

# The browser calls this after its deposit: b comes back and syncs, and the
# web must then show both deposits.
cat >"$tmp/meet.sh" <<MEET
set -e
"$D" -c "$tmp/b.conf" 2>>"$tmp/b.log" </dev/null >/dev/null &
echo \$! >"$tmp/b.pid"
for i in \$(seq 1 100); do
	[ "\$("$N" -d "$tmp/a" digest)" = "\$("$N" -d "$tmp/b" digest)" ] &&
		exit 0
	sleep 0.2
done
echo "boxes a and b did not converge in 20 s" >&2
exit 1
MEET
rm -rf "$ART"
# The browser runs in a time zone whose date is not UTC's now (UTC+14
# from 10:00 UTC, else UTC-12): the web deposit must carry the phone's
# date, not the box's UTC one.
if [ "$(date -u +%H)" -ge 10 ]; then ptz=Pacific/Kiritimati; else ptz=Etc/GMT+12; fi
if ! TZ=$ptz BASE="http://127.0.0.1:$http" E2E_USER=siti E2E_PIN=4826 \
	E2E_MEMBER=M001 E2E_NAME="Siti Aminah" E2E_ACCOUNT=A001 \
	E2E_AMOUNT=125000 ARTIFACTS="$ART" NUSACTL="$N" NUSA_DIR="$tmp/a" \
	E2E_MEET="bash $tmp/meet.sh" E2E_OTHER="setoran di pulau" \
	E2E_OTHER_AMOUNT=40000 \
	timeout 120 node "$ROOT/tests/e2e/web_e2e.js" >"$tmp/e2e.out" 2>&1; then
	cat "$tmp/e2e.out"
	die "the browser test failed (screenshots in $ART)"
fi
sed 's/^/  /' "$tmp/e2e.out" | grep -v '^  ok [0-9]* - [^f]' || true
ok "browser: $(grep -c '^ok ' "$tmp/e2e.out") steps, $(ls "$ART" | wc -l) screenshots in build/artifacts/e2e"
for b in a b; do
	bal=$("$N" -d "$tmp/$b" balance A001 --json |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["balance"])')
	[ "$bal" = 315000 ] || die "nusactl balance A001 on $b is $bal, not 315000"
done
ok "both boxes: A001 is 150000 + 125000 (web, on a) + 40000 (nusactl, on b)"
mkdir "$tmp/csv"
"$N" -d "$tmp/a" export csv --out "$tmp/csv" >/dev/null
pdate=$(TZ=$ptz date +%F)
grep -q "^\"A001\",\"deposit\",125000,.*,\"$pdate\"," "$tmp/csv/postings.csv" ||
	die "the web deposit is not dated $pdate (the phone's, $ptz): $(grep 125000 "$tmp/csv/postings.csv")"
ok "the web deposit carries the phone's date ($pdate in $ptz, UTC $(date -u +%F))"
stop a
echo "web_e2e.sh: $pass checks passed"
