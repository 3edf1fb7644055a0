#!/bin/sh
# Builds OUT/nusa_VERSION_ARCH.deb from a staged tree with dpkg-deb (no
# debhelper). Run from the top of the repository; make deb calls it as
#   sh packaging/mkdeb.sh BINDIR MANDIR OUTDIR ARCH VERSION
# VERSION is the package's (upstream-revision: make deb appends -1 to the
# VERSION file). BINDIR holds nusad and nusactl built for ARCH, MANDIR the man pages
# (make man). Depends comes from dpkg-shlibdeps on the two binaries (for a
# cross build, with DEB_HOST_ARCH=ARCH, against the ARCH libraries that
# make deps-cross installs).
set -eu

bin=$1 man=$2 out=$3 arch=$4 version=$5
deb=packaging/deb
stage=$out/deb-$arch
maint="nusa maintainers <nusa@koperasi.example>"

die() { echo "deb: $*" >&2; exit 1; }
for f in "$bin/nusad" "$bin/nusactl" "$man/nusad.8" "$man/nusactl.1" \
	"$man/nusad.conf.5"; do
	[ -f "$f" ] || die "$f missing"
done
command -v dpkg-deb >/dev/null || die "dpkg-deb missing"

rm -rf "$stage"
mkdir -p "$stage/DEBIAN"
umask 022

# Programs, stripped of debug info as Debian ships them.
install -d "$stage/usr/sbin" "$stage/usr/bin"
install -m 0755 "$bin/nusad" "$stage/usr/sbin/nusad"
install -m 0755 "$bin/nusactl" "$stage/usr/bin/nusactl"
strip=strip
[ "$arch" = "$(dpkg --print-architecture)" ] ||
	strip=$(dpkg-architecture -a"$arch" -qDEB_HOST_GNU_TYPE 2>/dev/null)-strip
$strip --strip-unneeded --remove-section=.comment --remove-section=.note \
	"$stage/usr/sbin/nusad" "$stage/usr/bin/nusactl"

# Man pages.
for p in nusactl.1 nusad.conf.5 nusad.8; do
	s=${p##*.}
	install -d "$stage/usr/share/man/man$s"
	gzip -9n <"$man/$p" >"$stage/usr/share/man/man$s/$p.gz"
	chmod 0644 "$stage/usr/share/man/man$s/$p.gz"
done

# The unit, the user, the data directory.
install -d "$stage/lib/systemd/system" "$stage/usr/lib/sysusers.d" \
	"$stage/usr/lib/tmpfiles.d"
install -m 0644 systemd/nusad.service "$stage/lib/systemd/system/"
install -m 0644 "$deb/nusa.sysusers" "$stage/usr/lib/sysusers.d/nusa.conf"
install -m 0644 "$deb/nusa.tmpfiles" "$stage/usr/lib/tmpfiles.d/nusa.conf"

# The config: the commented one of the repo, with the clerk's web app on
# (issue 5: the packaged default serves it on every interface, port 8080).
install -d "$stage/etc/nusa"
sed 's/^# *http = .*/http = 0.0.0.0:8080/' systemd/nusad.conf \
	>"$stage/etc/nusa/nusad.conf"
[ "$(grep -c '^http = 0\.0\.0\.0:8080$' "$stage/etc/nusa/nusad.conf")" = 1 ] || {
	echo "mkdeb: systemd/nusad.conf has no single '# http = ...' line" >&2
	exit 1
}
chmod 0644 "$stage/etc/nusa/nusad.conf"

# Documents, and the web pages when there are any.
doc=$stage/usr/share/doc/nusa
install -d "$doc"
install -m 0644 "$deb/copyright" "$doc/copyright"
sed "s/@VERSION@/$version/" "$deb/changelog" | gzip -9n >"$doc/changelog.Debian.gz"
for f in README.md docs/PROTOCOL.md docs/formats.md; do
	install -m 0644 "$f" "$doc/"
done
if [ -d web ] && [ -n "$(ls -A web 2>/dev/null)" ]; then
	install -d "$stage/usr/share/nusa"
	cp -R web "$stage/usr/share/nusa/web"
	find "$stage/usr/share/nusa/web" -type d -exec chmod 0755 {} +
	find "$stage/usr/share/nusa/web" -type f -exec chmod 0644 {} +
fi
chmod 0644 "$doc"/*

# Depends: the packages of the shared libraries the programs link.
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
	work=$out/shlibdeps-$arch
	rm -rf "$work" && mkdir -p "$work/debian"
	printf 'Source: nusa\n\nPackage: nusa\nArchitecture: any\n' \
		>"$work/debian/control"
	absbin=$(cd "$stage" && pwd)
	depends=$(cd "$work" && DEB_HOST_ARCH=$arch dpkg-shlibdeps -O \
		"$absbin/usr/sbin/nusad" "$absbin/usr/bin/nusactl" 2>/dev/null |
		sed -n 's/^shlibs:Depends=//p')
	rm -rf "$work"
else
	# Without dpkg-dev: the package holding each library ldd names.
	depends=$(ldd "$bin/nusad" "$bin/nusactl" | awk '/=> \//{print $3}' |
		sort -u | while read -r lib; do
			dpkg -S "$(readlink -f "$lib")" 2>/dev/null ||
				dpkg -S "$lib" 2>/dev/null
		done | cut -d: -f1 | sort -u | paste -sd, | sed 's/,/, /g')
fi
[ -n "$depends" ] || die "could not work out Depends"
depends="$depends, adduser"

size=$(du -k -s --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CTRL
Package: nusa
Version: $version
Architecture: $arch
Maintainer: $maint
Installed-Size: $size
Depends: $depends
Recommends: avahi-daemon
Section: net
Priority: optional
Description: offline-first ledger sync for cooperatives (koperasi)
 nusa keeps a cooperative's ledger on a small box in the office and works
 fully offline. Every change is a signed, hash-chained entry; boxes that
 meet, or a bundle file carried on a USB stick, exchange what the other
 lacks and always end with identical books.
 .
 This package holds nusad, the sync daemon (a systemd service running as
 the user nusa, with its data in /var/lib/nusa), and nusactl, the command
 line tool.
CTRL
echo /etc/nusa/nusad.conf >"$stage/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "$deb/$s" "$stage/DEBIAN/$s"
done
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles"

(cd "$stage" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' |
	sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"

pkg=$out/nusa_${version}_$arch.deb
dpkg-deb --build --root-owner-group -Zxz "$stage" "$pkg.tmp" >/dev/null
mv "$pkg.tmp" "$pkg"
rm -rf "$stage"
echo "$pkg"
