#!/usr/bin/env bash
# make demo's program: build/nusad --demo starts three boxes on loopback
# with its embedded config, they converge, box A serves the clerk's web
# app (files from the tree's web/), and nothing is logged as a warning
# (two boxes dialing each other at once is normal, not a fault).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
D=${NUSAD_FAST:-$top/build/nusad}	# the build make demo runs
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nusa-demo-test.XXXXXX")
root=$tmp
. "$here/lib/boxes.sh"
demo_dir=
trap 'rm -rf "$tmp" ${demo_dir:+"$demo_dir"}' EXIT

# Not a terminal: the demo stops its boxes once they converged.
timeout 90 "$D" --demo </dev/null >"$tmp/demo.log" 2>&1 ||
	die "nusad --demo exited $?: $(tail -5 "$tmp/demo.log")"
demo_dir=$(sed -n 's/^nusa demo: three boxes of one koperasi in //p' \
	"$tmp/demo.log")
case $demo_dir in /tmp/nusa-demo-*) ;; *) die "no demo directory" ;; esac
grep -q '^converged: all three boxes hold the same ledger' "$tmp/demo.log" ||
	die "did not converge: $(tail -5 "$tmp/demo.log")"
[ "$(grep -c '^box [ABC]: 20 entries, ledger digest ' "$tmp/demo.log")" = 3 ] ||
	die "box lines: $(grep '^box ' "$tmp/demo.log")"
ok "three boxes converge on loopback with the embedded config"

grep -Eq "^  the clerk's web app of box A: http://127\.0\.0\.1:[0-9]+/ \(user demo, PIN 1234\)$" \
	"$tmp/demo.log" || die "no web app line"
grep -q "^A: info: web app on http://127.0.0.1:[0-9]* (files from $top/web)$" \
	"$tmp/demo.log" || die "box A did not serve the tree's web/"
[ -s "$demo_dir/A/users" ] || die "no demo web user"
ok "box A serves the web app from the tree, with a demo user"

lacks ': (warn|error): ' cat "$tmp/demo.log" ||
	die "warnings: $(grep -E ': (warn|error): ' "$tmp/demo.log" | head -3)"
ok "no warnings or errors logged"
echo "demo.sh: $pass checks passed"
