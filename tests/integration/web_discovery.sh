#!/usr/bin/env bash
# With http set, nusad publishes the web app as _http._tcp next to its
# _nusa._tcp service, on a private mDNS LAN (lib/avahi.sh), so that phones
# find it as http://HOSTNAME.local:PORT.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
N=${NUSACTL:-$here/../../build/nusactl}
D=${NUSAD:-$here/../../build/nusad}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-webdisco.XXXXXX")
root=$tmp
. "$here/lib/boxes.sh"
. "$here/lib/avahi.sh"
cleanup() {
	stop_all
	avahi_down || true
	[ -n "${KEEP:-}" ] || rm -rf "$root"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
cd "$tmp"

mkdir "$tmp/lan" "$tmp/web"
echo '<html lang="id"></html>' >"$tmp/web/index.html"
avahi_up "$tmp/lan" 1 || die "could not set up the private mDNS LAN"
"$N" -d A init --network "Koperasi Uji" >/dev/null
cat >"$tmp/A.conf" <<CONF
[nusad]
data_dir = $tmp/A
listen = tcp://$(avahi_addr 1):7700
discovery = yes
http = $(avahi_addr 1):8080
web_root = $tmp/web
CONF
NUSAD_WRAP="avahi_exec 1" start A
for i in $(seq 1 100); do
	avahi_exec 1 avahi-browse -tprk _http._tcp 2>/dev/null >"$tmp/browse" || true
	grep -q "^=;.*;_http._tcp;.*;8080;" "$tmp/browse" && break
	sleep 0.2
done
grep -q "^=;.*;IPv4;nusa-.*;_http._tcp;.*;$(avahi_addr 1);8080;\"path=/\"" "$tmp/browse" ||
	die "no _http._tcp on 8080: $(cat "$tmp/browse")"
ok "the web app is published as _http._tcp on its port"
code=$(avahi_exec 1 curl -s -o /dev/null -w '%{http_code}' "http://$(avahi_addr 1):8080/")
[ "$code" = 200 ] || die "the published address does not answer: $code"
ok "and answers there"
stop A

# A box that only dials out (no listen) still has its .local web name,
# and is not published as a peer.
sed -i '/^listen = /d' "$tmp/A.conf"
NUSAD_WRAP="avahi_exec 1" start A
for i in $(seq 1 100); do
	avahi_exec 1 avahi-browse -tprk _http._tcp 2>/dev/null >"$tmp/browse" || true
	grep -q "^=;.*;_http._tcp;.*;8080;" "$tmp/browse" && break
	sleep 0.2
done
grep -q "^=;.*;IPv4;nusa-.*;_http._tcp;.*;$(avahi_addr 1);8080;\"path=/\"" "$tmp/browse" ||
	die "no listen: no _http._tcp on 8080: $(cat "$tmp/browse")"
avahi_exec 1 avahi-browse -tprk _nusa._tcp 2>/dev/null >"$tmp/browse" || true
grep -q "^=;.*_nusa._tcp" "$tmp/browse" && die "no listen, yet _nusa._tcp: $(cat "$tmp/browse")"
ok "without listen only the web app is published"
stop A
echo "web_discovery.sh: $pass checks passed"
