#!/usr/bin/env bash
# The man pages: each builds from its one source (docs/man/build.sh),
# renders with groff and man without a warning, and documents everything
# the programs have: every nusactl command (nusactl --help), every config
# key (nusad -n -v), every nusad option (main.c), so that none can drift.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
N=${NUSACTL:-$top/build/nusactl}
D=${NUSAD:-$top/build/nusad}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-man.XXXXXX")
root=$tmp
. "$here/lib/boxes.sh"
trap 'rm -rf "$tmp"' EXIT

for c in pandoc groff man; do
	command -v "$c" >/dev/null || die "$c missing (make deps installs it)"
done
(cd "$top" && sh docs/man/build.sh "$tmp/man" test) >"$tmp/build.log" 2>&1 ||
	die "build: $(tail -5 "$tmp/build.log")"
cd "$tmp"
for p in nusactl.1 nusad.8 nusad.conf.5; do
	[ -s "man/$p" ] || die "no man/$p"
	groff -t -man -Tutf8 -ww -z "man/$p" 2>warn.txt
	[ ! -s warn.txt ] || die "groff $p: $(head -3 warn.txt)"
	MANWIDTH=80 man --warnings -l "man/$p" >/dev/null 2>warn.txt
	[ ! -s warn.txt ] || die "man -l $p: $(head -3 warn.txt)"
	# Plain text for the checks below: no hyphenation, no typographic dashes.
	groff -t -man -Tascii -rHY=0 -rLL=200n "man/$p" 2>/dev/null |
		sed 's/.\x08//g' >"$p.txt"
	grep -q '^NAME' "$p.txt" && grep -q '^SEE ALSO' "$p.txt" ||
		die "$p lacks NAME or SEE ALSO"
done
ok "nusactl(1), nusad(8), nusad.conf(5) build and render without warnings"

# Every command of nusactl's table is a term in nusactl(1): the leading
# lower-case words of each usage line ("member add", "post", "hub join").
# help is nusactl --help, described in the page's opening.
"$N" --help | sed -n 's/^  nusactl //p' |
	awk '{ c = ""; for (i = 1; i <= NF && $i ~ /^[a-z]+$/; i++)
		c = c (c == "" ? "" : " ") $i; if (c != "") print c }' |
	sort -u >commands.txt
[ "$(wc -l <commands.txt)" -ge 20 ] || die "only $(wc -l <commands.txt) commands in nusactl --help"
while read -r cmd; do
	[ "$cmd" = help ] && continue
	grep -Eq "^ {7}$cmd( |$)" nusactl.1.txt ||
		die "nusactl $cmd is not in nusactl(1) (document it in docs/cli.md)"
done <commands.txt
ok "all $(wc -l <commands.txt) nusactl commands are in nusactl(1)"

# Every key of config.c's table is a subsection of nusad.conf(5).
printf '[nusad]\ndata_dir = %s\n' "$tmp" >min.conf
"$D" -n -v -c min.conf | sed -n 's/^\([a-z_]*\) =.*/\1/p' >keys.txt
[ "$(wc -l <keys.txt)" -ge 10 ] || die "only $(wc -l <keys.txt) keys from nusad -n -v"
while read -r key; do
	grep -Eq "^ {3}$key$" nusad.conf.5.txt ||
		die "key $key is not in nusad.conf(5) (document it in systemd/nusad.conf)"
done <keys.txt
ok "all $(wc -l <keys.txt) config keys are in nusad.conf(5)"

# Every long option of nusad is in nusad(8).
sed -n 's/^[[:space:]]*{ "\([a-z-]*\)", [a-z_]*_argument,.*/\1/p' \
	"$top/daemon/main.c" >options.txt
[ "$(wc -l <options.txt)" -ge 4 ] || die "no options found in daemon/main.c"
while read -r o; do
	grep -q -- "--$o\b" nusad.8.txt || die "nusad --$o is not in nusad(8)"
done <options.txt
ok "all $(wc -l <options.txt) nusad options are in nusad(8)"
echo "man.sh: $pass checks passed"
