#!/bin/bash
# The web app's JSON API (docs/API.md) against a real nusad on 127.0.0.1,
# with curl: sign-in and its rate limit, CSRF, every form's validation,
# roles, writes seen by nusactl and the other way round, limits (huge
# body, a stalled client), the language switch, and a web deposit that
# converges with a deposit made on another box at the same time.
set -eu

N=${NUSACTL:?}
D=${NUSAD:?}
tmp=$(mktemp -d /tmp/nusa-webapi.XXXXXX)
exec 3>&-
trap 'exec 7>&- 2>/dev/null || true; stop_all; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib/boxes.sh"

command -v curl >/dev/null || die "curl is missing (make deps)"

network a b
pa=$(freeport)
pb=$(freeport)
hp=$(freeport)
H=http://127.0.0.1:$hp

# A web root of our own: the test depends on no page of web/ beyond
# <html lang=...>.
mkdir -p "$tmp/web/i18n" "$tmp/web/sub"
printf '<!doctype html>\n<html lang="id">\n<head><title>t</title></head>\n<body>ok</body></html>\n' >"$tmp/web/index.html"
echo 'body{color:red}' >"$tmp/web/app.css"
echo '{"hello":"halo"}' >"$tmp/web/i18n/id.json"
echo secret >"$tmp/web/.hidden"
echo secret >"$tmp/secret.txt"

adduser() { echo "$3" | "$N" -d "$tmp/a" user add "$1" --role "$2" --pin-stdin >/dev/null; }
adduser siti clerk 2468
adduser tina treasurer 1357
adduser boss admin rahasia
adduser rl1 clerk 9999
"$N" -d "$tmp/a" user list | grep -qx 'tina treasurer' || die "user list"

conf a "$pa" "peers = $(devid b)@tcp://127.0.0.1:$pb" \
	"http = 127.0.0.1:$hp" "web_root = $tmp/web"
conf b "$pb"
# Box a keeps a time zone whose date is not UTC's now: a web posting
# without a date is booked on the box's local date.
if [ "$(date -u +%H)" -ge 10 ]; then btz=Pacific/Kiritimati; else btz=Etc/GMT+12; fi
TZ=$btz start a
start b
for i in $(seq 1 50); do
	curl -s -o /dev/null "$H/" && break
	sleep 0.1
done

# req WHO METHOD PATH [BODY [CURL_ARGS...]]: one request with WHO's cookie
# jar and CSRF token (if WHO signed in); sets $code, the body in
# $tmp/out, the headers in $tmp/hdr.
req() {
	local who=$1 m=$2 p=$3 body=${4-}
	shift 3
	[ $# -gt 0 ] && shift
	local args=(-s -o "$tmp/out" -D "$tmp/hdr" -w '%{http_code}'
		--max-time 20 -X "$m" -b "$tmp/$who.jar" -c "$tmp/$who.jar")
	[ -n "$body" ] && args+=(-H 'Content-Type: application/json'
		--data-binary "$body")
	[ -f "$tmp/$who.csrf" ] &&
		args+=(-H "X-CSRF-Token: $(cat "$tmp/$who.csrf")")
	code=$(curl "${args[@]}" "$@" "$H$p") || code=000
}
# jf EXPR: a value of the last JSON answer, as Python prints it.
jf() { python3 -S -c "import json,sys; d=json.load(open('$tmp/out')); print($1)"; }
expect() {
	[ "$code" = "$1" ] || die "$2: got $code, want $1: $(head -c 300 "$tmp/out")"
	ok "$2"
}
# bad CODE ERROR FIELD WHAT: the last answer is that refusal.
bad() {
	[ "$code" = "$1" ] || die "$4: got $code, want $1: $(head -c 300 "$tmp/out")"
	[ "$(jf "d['error'], d.get('field'), len(d['message']) > 10")" = "$2 $3 True" ] ||
		die "$4: $(cat "$tmp/out")"
	ok "$4"
}
login() {
	rm -f "$tmp/$1.jar" "$tmp/$1.csrf"
	req "$1" POST /api/v1/login "{\"user\":\"$1\",\"pin\":\"$2\"}"
	expect 200 "$1 signs in"
	jf "d['csrf']" >"$tmp/$1.csrf"
}

# ---- static files ----
req anon GET /
expect 200 "GET / serves index.html"
grep -q '<html lang="id">' "$tmp/out" || die "index not lang=id"
grep -qi '^content-type: text/html; charset=utf-8' "$tmp/hdr" || die "html type"
grep -qi "^content-security-policy: default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'" "$tmp/hdr" ||
	die "CSP: $(grep -i content-security "$tmp/hdr")"
grep -qi '^x-content-type-options: nosniff' "$tmp/hdr" || die "nosniff"
ok "pages carry a Content-Security-Policy and nosniff"
# peers.json, saved once a sync is seen (the 10 s status tick): its inode
# is compared at the end, when the session has been in sync for a minute.
for i in $(seq 1 150); do
	[ -s "$tmp/a/peers.json" ] && break
	sleep 0.1
done
peers_ino=$(stat -c %i "$tmp/a/peers.json") || die "no peers.json on a"
req anon GET /app.css
expect 200 "a file under web_root"
grep -qi '^content-type: text/css' "$tmp/hdr" || die "css type"
req anon GET /i18n/id.json
expect 200 "a catalogue"
grep -qi '^content-type: application/json' "$tmp/hdr" || die "json type"
req anon GET /../secret.txt "" --path-as-is
expect 404 "no .. out of web_root"
req anon GET /.hidden
expect 404 "no hidden files"
req anon GET /sub
expect 404 "no directory listing"
req anon GET /nothing.js
expect 404 "unknown path"

# ---- sign-in ----
req siti POST /api/v1/login '{"user":"siti","pin":"0000"}'
bad 401 login_failed None "a wrong PIN is refused"
req anon GET /api/v1/members
bad 401 not_signed_in None "no session, no data"
req siti POST /api/v1/login '{"user":"siti"}'
bad 400 invalid pin "a sign-in without a PIN names the field"
login siti 2468
[ "$(jf "d['role']")" = clerk ] || die "siti's role"
grep -qi '^set-cookie: nusa_session=[0-9a-f]\{64\}; Path=/; HttpOnly; SameSite=Strict' "$tmp/hdr" ||
	die "session cookie: $(grep -i set-cookie "$tmp/hdr")"
ok "the session cookie is HttpOnly and SameSite=Strict"
cp "$tmp/siti.jar" "$tmp/old.jar"
req siti POST /api/v1/login '{"user":"siti","pin":"2468"}'
expect 200 "signing in again"
jf "d['csrf']" >"$tmp/siti.csrf"
req old GET /api/v1/me
bad 401 not_signed_in None "signing in again ends the old session"
req siti GET /api/v1/me
expect 200 "me"
[ "$(jf "d['user']")" = siti ] || die "me: user"

# ---- CSRF and content type ----
# Every state-changing route, without the token and with a wrong one,
# as an admin (who may do all of them): 403 and nothing written.
login boss rahasia
cp "$tmp/boss.csrf" "$tmp/boss.csrf.keep"
csrf_routes=(
	"POST /api/v1/members {\"id\":\"M001\",\"name\":\"Siti\"}"
	"POST /api/v1/accounts {\"id\":\"A001\",\"member\":\"M001\",\"type\":\"sukarela\"}"
	"POST /api/v1/postings {\"type\":\"deposit\",\"account\":\"A001\",\"amount\":5,\"confirm\":true}"
	"POST /api/v1/postings/$(printf '%064d' 0)/reverse {}"
	"POST /api/v1/users {\"user\":\"csrf.x\",\"role\":\"clerk\",\"pin\":\"1234\"}"
	"DELETE /api/v1/users/siti -"
	"POST /api/v1/logout -"
)
for tok in none wrong; do
	if [ $tok = none ]; then rm -f "$tmp/boss.csrf"
	else echo 0000000000000000000000000000000000000000000000000000000000000000 >"$tmp/boss.csrf"; fi
	for r in "${csrf_routes[@]}"; do
		read -r m p b <<<"$r"
		[ "$b" = - ] && b=
		req boss "$m" "$p" "$b"
		bad 403 csrf None "$tok CSRF token: $m $p refused"
	done
done
mv "$tmp/boss.csrf.keep" "$tmp/boss.csrf"
req boss GET /api/v1/me
expect 200 "the refused logout did not sign out"
"$N" -d "$tmp/a" user list | grep -q '^siti ' || die "a refused DELETE removed siti"
"$N" -d "$tmp/a" user list | grep -q '^csrf.x ' && die "a refused POST added a user"
[ -z "$("$N" -d "$tmp/a" log)" ] || [ "$("$N" -d "$tmp/a" log | grep -c 'member\|account\|posting')" = 0 ] ||
	die "a refused request wrote: $("$N" -d "$tmp/a" log | tail -3)"
req siti POST /api/v1/members '' -H 'Content-Type: text/plain' --data-binary '{"id":"M001","name":"S"}'
expect 415 "a body that is not application/json: 415"
out=$("$N" -d "$tmp/a" member list) || die "member list"
grep -q M001 <<<"$out" && die "a refused request wrote"
ok "refused requests wrote nothing"

# ---- members ----
req siti POST /api/v1/members '{"name":"Siti"}'
bad 400 invalid id "member: id missing"
req siti POST /api/v1/members '{"id":"M 1","name":"Siti"}'
bad 400 invalid id "member: id with a blank"
req siti POST /api/v1/members '{"id":"M001","name":""}'
bad 400 invalid name "member: empty name"
[ "$(jf "d['message']")" = "Kolom nama tidak boleh kosong." ] ||
	die "Indonesian message names the field in Indonesian: $(cat "$tmp/out")"
ok "a field is named in Indonesian in an Indonesian message"
req siti POST /api/v1/members '{"id":"M001","name":"Siti","village":"a\u0001b"}'
bad 400 invalid village "member: a control character in the village"
jf "d['message']" | grep -q '^Kolom desa ' || die "village label: $(cat "$tmp/out")"
req siti POST /api/v1/members '{"id":"M001","name":42}'
bad 400 invalid name "member: name not text"
req siti POST /api/v1/members '{"id":"M001",'
bad 400 invalid body "member: not JSON"
req siti POST /api/v1/members '{"id":"M001","name":"Siti Aminah","village":"Labuan"}'
expect 201 "member added"
req siti POST /api/v1/members '{"id":"M001","name":"Again"}'
bad 409 exists id "member: exists"
req siti POST /api/v1/members '{"id":"M002","name":"Budi Santoso"}'
expect 201 "second member"

# ---- accounts ----
req siti POST /api/v1/accounts '{"id":"A001","member":"M001","type":"gold"}'
bad 400 invalid type "account: bad type"
req siti POST /api/v1/accounts '{"id":"A001","member":"M404","type":"sukarela"}'
bad 404 not_found member "account: unknown member"
req siti POST /api/v1/accounts '{"id":"A001","member":"M001"}'
bad 400 invalid type "account: type missing"
req siti POST /api/v1/accounts '{"id":"A001","member":"M001","type":"sukarela"}'
expect 201 "account opened"
[ "$(jf "d['balance']")" = 0 ] || die "new account balance"
req siti POST /api/v1/accounts '{"id":"L001","member":"M001","type":"loan"}'
expect 201 "loan opened"
req siti POST /api/v1/accounts '{"id":"A001","member":"M002","type":"wajib"}'
bad 409 exists id "account: exists"

# ---- postings: validation ----
P='"account":"A001","confirm":true'
req siti POST /api/v1/postings "{\"type\":\"deposit\",$P,\"amount\":0}"
bad 400 invalid amount "posting: amount 0"
req siti POST /api/v1/postings "{\"type\":\"deposit\",$P,\"amount\":1000000000001}"
bad 400 invalid amount "posting: amount over 10^12"
req siti POST /api/v1/postings "{\"type\":\"deposit\",$P,\"amount\":9223372036854775808}"
bad 400 invalid amount "posting: amount 2^63 is named as the amount"
req siti POST /api/v1/postings "{\"type\":\"deposit\",$P,\"amount\":\"5000\"}"
bad 400 invalid amount "posting: amount as a string"
req siti POST /api/v1/postings "{\"type\":\"deposit\",$P,\"amount\":50.5}"
bad 400 invalid amount "posting: amount not whole"
req siti POST /api/v1/postings "{\"type\":\"deposit\",$P}"
bad 400 invalid amount "posting: amount missing"
req siti POST /api/v1/postings '{"type":"deposit","account":"X9","amount":5,"confirm":true}'
bad 404 not_found account "posting: unknown account"
req siti POST /api/v1/postings "{\"type\":\"deposit\",$P,\"amount\":5,\"date\":\"2026-02-30\"}"
bad 400 invalid date "posting: no such date"
req siti POST /api/v1/postings "{\"type\":\"deposit\",$P,\"amount\":5,\"date\":\"23/11/2026\"}"
bad 400 invalid date "posting: date not YYYY-MM-DD"
req siti POST /api/v1/postings '{"type":"deposit","account":"A001","amount":5}'
bad 400 invalid confirm "posting: confirm missing"
req siti POST /api/v1/postings "{\"type\":\"gift\",$P,\"amount\":5}"
bad 400 invalid type "posting: bad type"
req siti POST /api/v1/postings "{\"type\":\"transfer\",$P,\"amount\":5}"
bad 400 invalid type "posting: transfer is not a web form"
req siti POST /api/v1/postings '{"type":"repay","account":"A001","amount":5,"confirm":true}'
bad 400 invalid type "posting: repay on a savings account"
req siti POST /api/v1/postings "{\"type\":\"withdraw\",$P,\"amount\":5}"
bad 409 insufficient_funds amount "posting: withdraw over the balance"
[ "$(jf "d['message']")" = "Saldo tidak cukup: saldo sekarang Rp 0." ] ||
	die "funds message: $(cat "$tmp/out")"
[ "$("$N" -d "$tmp/a" log | grep -c 'posting')" = 0 ] || die "a refused posting was written"
ok "refused postings wrote nothing"

# ---- postings: preview, confirm, seen by nusactl ----
req siti POST /api/v1/postings '{"type":"deposit","account":"A001","amount":150000,"memo":"setor awal","confirm":false}'
expect 200 "deposit preview"
[ "$(jf "d['preview'], d['balance'], d['new_balance']")" = "True 0 150000" ] ||
	die "preview: $(cat "$tmp/out")"
"$N" -d "$tmp/a" balance A001 | grep -q '150000' && die "a preview wrote"
ok "a preview writes nothing"
req siti POST /api/v1/postings '{"type":"deposit","account":"A001","amount":150000,"memo":"setor awal","date":"2026-11-23","confirm":true}'
expect 201 "deposit recorded"
webentry=$(jf "d['entry']")
[ "$(jf "d['balance']")" = 150000 ] || die "balance after"
"$N" -d "$tmp/a" balance A001 | grep -q 'A001 150000' ||
	die "nusactl balance: $("$N" -d "$tmp/a" balance A001)"
ok "the web's deposit is in nusactl balance"
"$N" -d "$tmp/a" log | grep -q 'deposit A001 +150000 "setor awal" by siti' ||
	die "nusactl log lacks by siti: $("$N" -d "$tmp/a" log | tail -2)"
ok "the entry names the web user (by siti)"
"$N" -d "$tmp/a" post deposit A001 5000 --memo tunai >/dev/null
req siti GET '/api/v1/accounts/A001'
expect 200 "account statement"
[ "$(jf "d['balance'], d['total'], d['member'], d['type']")" = "155000 2 M001 sukarela" ] ||
	die "statement: $(cat "$tmp/out")"
[ "$(jf "d['postings'][0]['amount'], d['postings'][0]['by'], d['postings'][0]['memo']")" = "5000 None tunai" ] ||
	die "newest first, nusactl's posting: $(cat "$tmp/out")"
[ "$(jf "d['postings'][1]['entry'], d['postings'][1]['by'], d['postings'][1]['date']")" = "$webentry siti 2026-11-23" ] ||
	die "the web posting: $(cat "$tmp/out")"
ok "a posting made with nusactl is visible through the API"
req siti GET '/api/v1/accounts/A001?limit=1&offset=1'
[ "$(jf "len(d['postings']), d['postings'][0]['amount']")" = "1 150000" ] || die "paging"
ok "statement paging"
req siti GET '/api/v1/accounts/A001?limit=500'
bad 400 invalid limit "limit over 200"
req siti GET '/api/v1/members?q=aminah'
expect 200 "member search"
[ "$(jf "d['total'], d['members'][0]['id'], d['members'][0]['savings'], d['members'][0]['owed']")" = "1 M001 155000 0" ] ||
	die "search: $(cat "$tmp/out")"
req siti GET /api/v1/members/M001
expect 200 "member page"
[ "$(jf "d['village'], sorted(a['id'] for a in d['accounts'])")" = "Labuan ['A001', 'L001']" ] ||
	die "member page: $(cat "$tmp/out")"
req siti GET /api/v1/members/NOPE
bad 404 not_found None "unknown member page"

# ---- roles ----
req siti POST "/api/v1/postings/$webentry/reverse" '{"memo":"salah"}'
bad 403 forbidden None "a clerk cannot reverse"
req siti GET /api/v1/users
bad 403 forbidden None "a clerk cannot list users"
login tina 1357
req tina POST /api/v1/users '{"user":"x","role":"clerk","pin":"1234"}'
bad 403 forbidden None "a treasurer cannot add users"
req tina POST "/api/v1/postings/$webentry/reverse" '{"memo":"a\u0007b"}'
bad 400 invalid memo "reverse: a control character in the memo"
jf "d['message']" | grep -q '^Kolom keterangan ' || die "memo label: $(cat "$tmp/out")"
req tina POST "/api/v1/postings/$webentry/reverse" '{"memo":"salah"}'
expect 201 "a treasurer reverses"
req tina POST "/api/v1/postings/$webentry/reverse" ''
bad 409 already_reversed None "a second reversal is refused"
req tina POST /api/v1/postings/00ff/reverse ''
bad 404 not_found None "reverse: bad entry id"
"$N" -d "$tmp/a" balance A001 | grep -q 'A001 5000' || die "balance after reversal"
login boss rahasia
req boss POST /api/v1/users '{"user":"new.clerk","role":"clerk","pin":"12"}'
bad 400 invalid pin "user: PIN too short"
req boss POST /api/v1/users '{"user":"new clerk","role":"clerk","pin":"1234"}'
bad 400 invalid user "user: bad name"
req boss POST /api/v1/users '{"user":"new.clerk","role":"chief","pin":"1234"}'
bad 400 invalid role "user: bad role"
req boss POST /api/v1/users '{"user":"new.clerk","role":"clerk","pin":"1234"}'
expect 201 "an admin adds a user"
req boss POST /api/v1/users '{"user":"new.clerk","role":"admin","pin":"5678"}'
bad 409 exists user "user: a name taken already"
"$N" -d "$tmp/a" user list | grep -qx 'new.clerk clerk' || die "user not in the file"
req boss DELETE /api/v1/users/boss
bad 403 forbidden None "an admin cannot remove themselves"
req boss DELETE /api/v1/users/new.clerk
expect 204 "an admin removes a user"
req boss GET /api/v1/users
[ "$(jf "sorted(u['user'] for u in d['users'])")" = "['boss', 'rl1', 'siti', 'tina']" ] ||
	die "users: $(cat "$tmp/out")"
ok "user list"
adduser temp clerk 4444
login temp 4444
# A users file that cannot be read now (here: broken) lets nobody do
# anything, and signs nobody out: once it reads again, the session is on.
cp "$tmp/a/users" "$tmp/users.good"
echo 'broken line' >>"$tmp/a/users"
req temp GET /api/v1/me
bad 503 busy None "a users file that does not read is a 503"
cp "$tmp/users.good" "$tmp/a/users"
req temp GET /api/v1/me
expect 200 "the session outlives a users file that did not read"
"$N" -d "$tmp/a" user remove temp >/dev/null
req temp GET /api/v1/me
bad 401 not_signed_in None "a user removed with nusactl is signed out at once"
adduser temp2 clerk 4444
login temp2 4444
"$N" -d "$tmp/a" user remove temp2 >/dev/null
adduser temp2 admin 5555
req temp2 GET /api/v1/me
bad 401 not_signed_in None "a PIN reset (remove, add) ends the old session"
login temp2 5555
[ "$(jf "d['role']")" = admin ] || die "temp2's new role"
# Two nusactl writers at once: both changes land.
adduser par1 clerk 1111 &
p1=$!
adduser par2 clerk 2222 &
p2=$!
wait $p1 $p2 || die "concurrent user add failed"
[ "$("$N" -d "$tmp/a" user list | grep -c '^par[12] ')" = 2 ] ||
	die "two concurrent user adds: $("$N" -d "$tmp/a" user list)"
ok "two concurrent user adds both land"

# ---- rate limit, per address and per user ----
for i in 1 2 3 4 5; do
	req rl POST /api/v1/login '{"user":"rl1","pin":"wrong"}' --interface 127.0.0.2
	[ "$code" = 401 ] || die "failure $i: $code"
done
req rl POST /api/v1/login '{"user":"rl1","pin":"9999"}' --interface 127.0.0.2
bad 429 rate_limited None "after 5 failures even the right PIN waits"
[ "$(jf "d['retry_after'] >= 1")" = True ] || die "retry_after"
grep -qi '^retry-after: [0-9]' "$tmp/hdr" || die "Retry-After header"
ok "429 carries retry_after and Retry-After"
req rl POST /api/v1/login '{"user":"rl1","pin":"9999"}' --interface 127.0.0.3
bad 429 rate_limited None "the user is limited from another address too"
for i in 1 2 3 4 5; do
	req rl POST /api/v1/login "{\"user\":\"ghost$i\",\"pin\":\"x1x1\"}" --interface 127.0.0.4
done
req rl POST /api/v1/login '{"user":"tina","pin":"1357"}' --interface 127.0.0.4
bad 429 rate_limited None "the address is limited for other users too"
req siti GET /api/v1/me
expect 200 "others are not limited"

# ---- limits ----
big=$(head -c 20000 /dev/zero | tr '\0' a)
req siti POST /api/v1/members "{\"id\":\"M9\",\"name\":\"$big\"}"
bad 413 too_large None "a 20 KB body: 413"
req siti POST /api/v1/members "{\"id\":\"M9\",\"name\":\"$big\"}" -H 'Transfer-Encoding: chunked'
bad 413 too_large None "a 20 KB chunked body: 413"
# A client that sends half a request and stalls holds one connection,
# nothing else.
exec 7<>/dev/tcp/127.0.0.1/"$hp"
printf 'POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"us' >&7
t0=$(date +%s%N)
req siti GET /api/v1/me
expect 200 "a stalled client does not block others"
[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 3000 ] || die "slow answer"

# Slow clients from two addresses, each opening 32 connections and
# sending a header line every 0.5 s: each address holds at most its few
# (5), and a clerk on 127.0.0.1 is still answered at once.
python3 -S - "$hp" >"$tmp/slow" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
socks = []
for src in ("127.0.0.2", "127.0.0.3"):
    for i in range(32):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.bind((src, 0))
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n")
            socks.append((src, s))
        except OSError:
            s.close()
end = time.time() + 3
while time.time() < end:
    time.sleep(0.5)
    for src, s in socks:
        try:
            s.sendall(b"X-Slow: 1\r\n")
        except OSError:
            pass
held = {}
for src, s in socks:
    s.setblocking(False)
    try:
        alive = s.recv(1) != b""
    except BlockingIOError:
        alive = True
    except OSError:
        alive = False
    if alive:
        held[src] = held.get(src, 0) + 1
    s.close()
print(held.get("127.0.0.2", 0), held.get("127.0.0.3", 0))
PY
slowpid=$!
sleep 1
t0=$(date +%s%N)
req siti GET /api/v1/me
expect 200 "slow clients on two addresses do not block a clerk"
[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 1500 ] || die "slow answer under slow clients"
wait $slowpid
read -r h2 h3 <"$tmp/slow" || die "slow clients: $(cat "$tmp/slow")"
[ "$h2" -le 5 ] && [ "$h3" -le 5 ] && [ "$h2" -ge 1 ] && [ "$h3" -ge 1 ] ||
	die "connections held per address: $h2 $h3 (want 1..5)"
ok "each address holds at most 5 connections ($h2, $h3)"

# ---- the language ----
req anon POST /api/v1/lang '{"lang":"fr"}'
bad 400 invalid lang "lang: only id or en"
req anon POST /api/v1/lang '{"lang":"en"}'
expect 200 "switch to English"
grep -qi '^set-cookie: nusa_lang=en; Path=/;.*SameSite=Strict' "$tmp/hdr" || die "lang cookie"
req anon GET /
grep -q '<html lang="en">' "$tmp/out" || die "index not lang=en: $(head -3 "$tmp/out")"
ok "the front page is lang=en after the switch"
req anon GET /api/v1/me
[ "$(jf "d['message']")" = "Please sign in first." ] || die "English message"
ok "messages follow the language"
req siti POST /api/v1/lang '{"lang":"en"}'
req siti POST /api/v1/postings '{"type":"deposit","account":"A001","amount":0,"confirm":true}'
[ "$(jf "d['message']")" = "The amount must be whole rupiah from 1 to 1,000,000,000,000." ] ||
	die "English validation message: $(cat "$tmp/out")"
req siti POST /api/v1/lang '{"lang":"id"}'
req siti POST /api/v1/postings '{"type":"deposit","account":"A001","amount":0,"confirm":true}'
jf "d['message']" | grep -q '^Jumlah harus' || die "Indonesian message"
ok "validation messages in both languages"

# ---- review, sync, export ----
req siti GET /api/v1/conflicts
expect 200 "conflicts"
[ "$(jf "d['conflicts']")" = "[]" ] || die "conflicts: $(cat "$tmp/out")"
req siti GET /api/v1/box
[ "$(jf "d['mode'], d['network']['name']")" = "box Koperasi Uji" ] || die "box"
req siti GET /api/v1/export/balances.csv
expect 200 "export"
grep -qi '^content-disposition: attachment; filename="balances.csv"' "$tmp/hdr" || die "disposition"
mkdir "$tmp/exp"
"$N" -d "$tmp/a" export csv --out "$tmp/exp" >/dev/null
cmp "$tmp/out" "$tmp/exp/balances.csv" >&2 || die "export differs from nusactl's"
ok "export is nusactl's balances.csv"
req siti GET /api/v1/export/postings.csv
expect 200 "postings export"
cmp "$tmp/out" "$tmp/exp/postings.csv" >&2 || die "postings export differs"
grep -qi "^content-length: $(stat -c %s "$tmp/exp/postings.csv")" "$tmp/hdr" ||
	die "postings export length"
[ -z "$(find "$tmp/a" -maxdepth 1 -name '.export*')" ] || die "export left a file"
ok "postings.csv is nusactl's too, sent from a file of no name"

# ---- sync: the web's deposit and one on box b at once ----
converge 30 a b || die "a and b did not converge"
req siti POST /api/v1/postings '{"type":"deposit","account":"A001","amount":1111,"confirm":true}' &
wp=$!
"$N" -d "$tmp/b" post deposit A001 2222 --memo "di pulau" >/dev/null
wait $wp
converge 10 a b || die "a and b did not converge within 10 s of the deposits"
"$N" -d "$tmp/b" balance A001 | grep -q 'A001 8333' ||
	die "b: $("$N" -d "$tmp/b" balance A001)"
req siti GET /api/v1/accounts/A001
[ "$(jf "d['balance'], sorted(p['amount'] for p in d['postings'][:2])")" = "8333 [1111, 2222]" ] ||
	die "both deposits: $(cat "$tmp/out")"
[ "$(jf "[p['date'] for p in d['postings'] if p['amount'] == 1111][0]")" = "$(TZ=$btz date +%F)" ] ||
	die "a web posting without a date is not on the box's local date ($btz): $(cat "$tmp/out")"
ok "a web posting without a date has the box's local date"
[ "$(jf "[p['device'] for p in d['postings'] if p['amount'] == 2222][0]")" = "$(devid b)" ] ||
	die "b's deposit's device"
ok "the web's deposit and b's converge; the API shows both"
# An idle sync says so every heartbeat; peers.json (an fsync on an SD
# card) follows it only every 10 minutes, not every status tick.
[ "$(stat -c %i "$tmp/a/peers.json")" = "$peers_ino" ] ||
	die "peers.json rewritten while the session stayed in sync"
ok "peers.json is not rewritten every tick of an idle sync"
req siti GET /api/v1/sync
expect 200 "sync page"
[ "$(jf "[p['id'] for p in d['peers']]")" = "['$(devid b)']" ] || die "sync: $(cat "$tmp/out")"
[ "$(jf "d['peers'][0]['connected'], d['hub']")" = "True None" ] || die "sync: $(cat "$tmp/out")"
exec 7>&-

# ---- a peer's claim on a's own feed: the web writes nothing meanwhile ----
before=$("$N" -d "$tmp/a" log | wc -l)
echo "peer x claims seq 99 of our own feed, we have 1" >"$tmp/a/claim"
req siti POST /api/v1/postings '{"type":"deposit","account":"A001","amount":5,"confirm":true}'
bad 503 claim_pending None "while a peer's claim waits the web writes nothing"
rm "$tmp/a/claim"
[ "$("$N" -d "$tmp/a" log | wc -l)" = "$before" ] || die "written during a claim"

# ---- a box waiting for its new key writes nothing from the web either ----
"$N" -d "$tmp/a" rekey >/dev/null 2>&1 || die "rekey"
before=$("$N" -d "$tmp/a" log | wc -l)
req siti POST /api/v1/postings '{"type":"deposit","account":"A001","amount":5,"confirm":true}'
bad 503 not_enrolled None "after a rekey the web waits for the enrolment"
[ "$("$N" -d "$tmp/a" log | wc -l)" = "$before" ] || die "written after the rekey"

# ---- logout ----
req siti POST /api/v1/logout ''
expect 204 "logout"
req siti GET /api/v1/me
bad 401 not_signed_in None "signed out"
echo "web_api: all $pass passed"
