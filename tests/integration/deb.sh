#!/usr/bin/env bash
# The Debian package: built from this tree (packaging/mkdeb.sh), its
# contents, modes and control fields, then installed into a throwaway root
# with dpkg --root (the maintainer scripts run chrootless with $DPKG_ROOT):
# user, data directory, enabled unit, a config nusad accepts, the packaged
# programs running on it; then remove keeps config and ledger, and purge
# removes the config but leaves the ledger and says where it is.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
FAST=${NUSAD_FAST:-$top/build/nusad}
FASTCTL=${NUSACTL_FAST:-$top/build/nusactl}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-deb.XXXXXX")
root=$tmp
. "$here/lib/boxes.sh"
trap 'stop_all; rm -rf "$tmp"' EXIT

for c in dpkg dpkg-deb pandoc systemd-analyze; do
	command -v "$c" >/dev/null || die "$c missing (make deps installs it)"
done
[ -x "$FAST" ] && [ -x "$FASTCTL" ] || die "build nusad and nusactl first"
bindir=$tmp/bin
mkdir -p "$bindir"
cp "$FAST" "$bindir/nusad"
cp "$FASTCTL" "$bindir/nusactl"

arch=$(dpkg --print-architecture)
version=$(cat "$top/VERSION")-1
(cd "$top" && sh docs/man/build.sh "$tmp/man" "$version" &&
	sh packaging/mkdeb.sh "$bindir" "$tmp/man" "$tmp" "$arch" "$version") \
	>"$tmp/build.log" 2>&1 || die "mkdeb: $(tail -5 "$tmp/build.log")"
deb=$tmp/nusa_${version}_$arch.deb
[ -f "$deb" ] || die "no $deb"
ok "built nusa_${version}_$arch.deb"

# Contents: path, mode, owner.
cd "$tmp"
dpkg-deb -c "$deb" | awk '{ p = $6; sub(/^\./, "", p); print $1, $2, p }' \
	>contents.txt
want() {	# MODE PATH
	grep -qx -- "$1 root/root $2" contents.txt ||
		die "package: want $1 $2, have: $(grep -- " $2\$" contents.txt || echo none)"
}
want -rwxr-xr-x /usr/sbin/nusad
want -rwxr-xr-x /usr/bin/nusactl
want -rw-r--r-- /usr/share/man/man1/nusactl.1.gz
want -rw-r--r-- /usr/share/man/man5/nusad.conf.5.gz
want -rw-r--r-- /usr/share/man/man8/nusad.8.gz
want -rw-r--r-- /lib/systemd/system/nusad.service
want -rw-r--r-- /etc/nusa/nusad.conf
want -rw-r--r-- /usr/lib/sysusers.d/nusa.conf
want -rw-r--r-- /usr/lib/tmpfiles.d/nusa.conf
want -rw-r--r-- /usr/share/doc/nusa/copyright
want -rw-r--r-- /usr/share/doc/nusa/changelog.Debian.gz
if [ -d "$top/web" ] && [ -n "$(ls -A "$top/web")" ]; then
	want drwxr-xr-x /usr/share/nusa/web/
fi
! grep -q ' /var/lib/nusa' contents.txt ||
	die "the package ships /var/lib/nusa: dpkg would own the ledger"
! awk '$2 != "root/root"' contents.txt | grep -q . ||
	die "files not owned by root: $(awk '$2 != "root/root"' contents.txt | head -3)"
mkdir -p x && dpkg-deb -x "$deb" x
for m in man1/nusactl.1 man5/nusad.conf.5 man8/nusad.8; do
	cmp -s <(gzip -dc "x/usr/share/man/$m.gz") "$tmp/man/${m#*/}" ||
		die "$m.gz is not the built page"
done
gzip -dc x/usr/share/doc/nusa/changelog.Debian.gz | head -1 |
	grep -q "^nusa ($version) " || die "changelog.Debian.gz is not for $version"
ok "contents: programs, man pages, unit, config, sysusers, tmpfiles, docs; modes and owners"

# Control fields.
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = nusa ] || die "Package: $(field Package)"
[ "$(field Version)" = "$version" ] || die "Version: $(field Version)"
[ "$(field Architecture)" = "$arch" ] || die "Architecture: $(field Architecture)"
[ -n "$(field Maintainer)" ] || die "no Maintainer"
[ -n "$(field Description)" ] || die "no Description"
deps=$(field Depends)
for lib in libsodium23 libzmq5 liblmdb0 libc6; do
	case "$deps" in *"$lib"*) ;; *) die "Depends lacks $lib: $deps" ;; esac
done
[ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = \
	/etc/nusa/nusad.conf ] || die "conffiles is not /etc/nusa/nusad.conf"
mkdir -p ctrl && dpkg-deb -e "$deb" ctrl
for s in postinst prerm postrm; do
	[ -x "ctrl/$s" ] || die "$s not executable"
	head -1 "ctrl/$s" | grep -qx '#!/bin/sh' || die "$s is not /bin/sh"
	grep -q '^set -e$' "ctrl/$s" || die "$s lacks set -e"
	sh -n "ctrl/$s" || die "$s: sh -n fails"
	if command -v dash >/dev/null; then dash -n "ctrl/$s" || die "$s: dash -n"; fi
done
# lintian, where it is installed (make deps does not): no errors.
if command -v lintian >/dev/null; then
	lintian --allow-root "$deb" >lintian.txt 2>&1 || true
	! grep -q '^E: ' lintian.txt || die "lintian: $(grep '^E: ' lintian.txt | head -3)"
fi
ok "control: Package, Version, Architecture, Maintainer, Description, Depends ($deps); conffiles; scripts pass sh -n"

# Install into a throwaway root; twice, as a reinstall runs postinst again.
R=$tmp/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/log"
: >"$R/var/lib/dpkg/status"
dp() { dpkg --root="$R" --force-script-chrootless --force-depends "$@"; }
dp -i "$deb" >install.log 2>&1 || die "dpkg -i: $(tail -5 install.log)"
dp -i "$deb" >install2.log 2>&1 || die "dpkg -i again: $(tail -5 install2.log)"
grep -q 'sudo -u nusa nusactl init' install.log ||
	die "postinst does not say how to make the key: $(tail -3 install.log)"
uid=$(awk -F: '$1 == "nusa" { print $3 }' "$R/etc/passwd")
gid=$(awk -F: '$1 == "nusa" { print $3 }' "$R/etc/group")
[ -n "$uid" ] && [ -n "$gid" ] || die "no user nusa in the root"
[ "$(grep -c '^nusa:' "$R/etc/passwd")" = 1 ] || die "nusa twice in passwd"
[ "$(stat -c '%a %u %g' "$R/var/lib/nusa")" = "750 $uid $gid" ] ||
	die "/var/lib/nusa: $(stat -c '%a %u %g' "$R/var/lib/nusa"), want 750 $uid $gid"
[ -L "$R/etc/systemd/system/multi-user.target.wants/nusad.service" ] ||
	die "nusad.service is not enabled"
ok "installed twice: user nusa ($uid), /var/lib/nusa 0750 nusa:nusa, unit enabled"

# The packaged unit verifies, its man pages included; the repo's unit is
# verified by systemd.sh.
mkdir -p unit
sed "s|/usr/sbin/nusad|$R/usr/sbin/nusad|g" \
	"$R/lib/systemd/system/nusad.service" >unit/nusad.service
MANPATH=$R/usr/share/man systemd-analyze verify unit/nusad.service \
	2>verify.txt || die "verify: $(cat verify.txt)"
grep -q '^ExecStart=/usr/sbin/nusad -c /etc/nusa/nusad.conf$' \
	"$R/lib/systemd/system/nusad.service" || die "ExecStart"
ok "the packaged unit verifies, with its man pages"

# The config as installed: nusad accepts it, with the package's data_dir.
conf=$R/etc/nusa/nusad.conf
"$R/usr/sbin/nusad" -n -v -c "$conf" >normal.txt 2>&1 ||
	die "nusad -n rejects the packaged config: $(cat normal.txt)"
grep -qx 'data_dir = /var/lib/nusa' normal.txt || die "data_dir: $(grep data_dir normal.txt)"
grep -qx 'http = 0.0.0.0:8080' normal.txt || die "http is not 0.0.0.0:8080"
[ -f "$R/usr/share/nusa/web/index.html" ] || die "no web app in /usr/share/nusa/web"
# The packaged programs on it, in the root, on loopback only.
port=$(freeport)
hport=$(freeport)
sed -e "s|^data_dir = .*|data_dir = $R/var/lib/nusa|" \
	-e "s|^listen = .*|listen = tcp://127.0.0.1:$port|" \
	-e "s|^discovery = .*|discovery = no|" \
	-e "s|^http = .*|http = 127.0.0.1:$hport|" "$conf" >A.conf
printf 'web_root = %s\n' "$R/usr/share/nusa/web" >>A.conf
"$R/usr/sbin/nusad" -n -c A.conf >/dev/null || die "nusad -n A.conf"
N=$R/usr/bin/nusactl
D=$R/usr/sbin/nusad
"$N" -d "$R/var/lib/nusa" init --network "Koperasi Paket" >/dev/null
"$D" -c A.conf 2>A.log &
echo $! >A.pid
for i in $(seq 1 100); do
	[ -S "$R/var/lib/nusa/nusad.sock" ] && break
	kill -0 "$(cat A.pid)" 2>/dev/null || die "the packaged nusad exited"
	sleep 0.1
done
"$N" -d "$R/var/lib/nusa" status >status.txt 2>&1 || true
for i in $(seq 1 50); do
	curl -s --max-time 5 "http://127.0.0.1:$hport/" >index.txt 2>/dev/null &&
		break
	sleep 0.1
done
kill -TERM "$(cat A.pid)"
wait "$(cat A.pid)" || die "the packaged nusad exited $? on SIGTERM"
rm -f A.pid
grep -q "listening on tcp://127.0.0.1:$port" status.txt ||
	die "status of the packaged nusad: $(head -3 status.txt)"
grep -q '<html lang="id">' index.txt && grep -q 'app.js' index.txt ||
	die "the packaged web app is not served: $(head -c 300 index.txt)"
ok "nusad -n accepts the installed config (data_dir /var/lib/nusa, http on); the packaged nusad runs on it and serves the web app"

# remove: the programs go, config and ledger stay.
dp -r nusa >remove.log 2>&1 || die "dpkg -r: $(tail -5 remove.log)"
[ ! -e "$R/usr/sbin/nusad" ] || die "remove left nusad"
[ -f "$conf" ] || die "remove deleted the config"
[ -f "$R/var/lib/nusa/device.key" ] || die "remove deleted the key"
# purge: the config goes, the ledger stays, and the way to delete it is said.
dp -P nusa >purge.log 2>&1 || die "dpkg -P: $(tail -5 purge.log)"
[ ! -e "$R/etc/nusa" ] || die "purge left $(ls "$R/etc/nusa")"
[ -f "$R/var/lib/nusa/device.key" ] && [ -d "$R/var/lib/nusa/store" ] ||
	die "purge deleted the ledger: $(ls -A "$R/var/lib/nusa" 2>&1)"
grep -q 'rm -rf /var/lib/nusa' purge.log || die "purge does not say how to delete the ledger: $(cat purge.log)"
[ ! -e "$R/etc/systemd/system/multi-user.target.wants/nusad.service" ] ||
	die "purge left the unit enabled"
"$FASTCTL" -d "$R/var/lib/nusa" verify >/dev/null || die "the kept ledger does not verify"
ok "remove keeps config and ledger; purge removes the config, keeps the ledger (it verifies) and says how to delete it"
echo "deb.sh: $pass checks passed"
