#!/bin/sh
# Builds the man pages into OUTDIR (default build/man) with pandoc, from the
# one source of each:
#   nusactl.1     docs/cli.md, between nusactl.1.head.md and .tail.md
#   nusad.conf.5  systemd/nusad.conf, the commented config (conf2md.awk)
#   nusad.8       nusad.8.md
# Usage: sh docs/man/build.sh [OUTDIR [VERSION]], from the top of the repo.
set -eu

out=${1:-build/man}
version=${2:-$(cat VERSION 2>/dev/null || echo 0)}
here=docs/man
command -v pandoc >/dev/null 2>&1 ||
	{ echo "man: pandoc missing (make deps installs it)" >&2; exit 1; }
mkdir -p "$out"

page() {	# NAME SECTION TITLE: Markdown on stdin -> $out/NAME.SECTION
	pandoc -f gfm+definition_lists -t man -s --lua-filter "$here/deflist.lua" \
		-M title="$1" -M section="$2" -M header="$3" \
		-M footer="nusa $version" -M date="" \
		-o "$out/$1.$2.tmp"
	mv "$out/$1.$2.tmp" "$out/$1.$2"
}

{
	cat "$here/nusactl.1.head.md"
	# cli.md without its title; its sections go under COMMANDS.
	awk 'NR == 1 && /^# / { next }
	     /^## / && !seen { print "# COMMANDS\n"; seen = 1 }
	     { print }' docs/cli.md
	cat "$here/nusactl.1.tail.md"
} | page nusactl 1 "nusa manual"

{
	printf '# NAME\n\nnusad.conf - configuration of nusad, the nusa sync daemon\n\n'
	printf '# SYNOPSIS\n\n*/etc/nusa/nusad.conf*\n\n# DESCRIPTION\n\n'
	awk -f "$here/conf2md.awk" systemd/nusad.conf
	printf '\n# SEE ALSO\n\n**nusad**(8), **nusactl**(1)\n'
} | page nusad.conf 5 "nusa manual"

page nusad 8 "nusa manual" <"$here/nusad.8.md"
