# Shell helpers for tests that run real nusad daemons on loopback: boxes
# in a temporary directory, configs, start/stop, waiting for convergence.
# Source it after setting N (nusactl), D (nusad) and tmp (a fresh dir).

pass=${pass:-0}
ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }
die() {
	echo "not ok - $*" >&2
	for f in "$tmp"/*.log; do
		[ -f "$f" ] || continue
		echo "--- tail of $f" >&2
		tail -n 15 "$f" >&2
	done
	exit 1
}

# lacks PATTERN CMD...: CMD succeeds and no line of its output matches
# PATTERN (grep -E). `! CMD | grep -q PATTERN` would also pass when CMD
# fails; this dies then instead.
lacks() {
	local pat=$1 out rc=0
	shift
	out=$("$@" 2>"$tmp/lacks.err") || rc=$?
	[ $rc = 0 ] || die "$* failed (exit $rc): $(head -c 300 "$tmp/lacks.err")"
	! printf '%s\n' "$out" | grep -Eq -- "$pat"
}

# freeport: prints a free TCP port on 127.0.0.1.
freeport() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# devid BOX: the box's device id.
devid() { "$N" -d "$tmp/$1" id | awk '/^device /{print $2}'; }

# conf BOX PORT [KEY=VALUE...]: writes BOX.conf listening on PORT ("" for
# none); extra lines are added as given (peers = ..., hub = ...).
conf() {
	local box=$1 port=$2
	shift 2
	{
		echo "[nusad]"
		echo "data_dir = $tmp/$box"
		[ -n "$port" ] && echo "listen = tcp://127.0.0.1:$port"
		echo "discovery = no"
		echo "log_level = debug"
		echo "heartbeat = 1"
		for kv in "$@"; do echo "$kv"; done
	} >"$tmp/$box.conf"
}

# start BOX: runs nusad on BOX.conf in the background; waits for its
# control socket.
start() {
	local box=$1 i
	rm -f "$tmp/$box/nusad.sock"
	${NUSAD_WRAP:-} "$D" -c "$tmp/$box.conf" 2>>"$tmp/$box.log" &
	echo $! >"$tmp/$box.pid"
	for i in $(seq 1 100); do
		[ -S "$tmp/$box/nusad.sock" ] && return 0
		kill -0 "$(cat "$tmp/$box.pid")" 2>/dev/null ||
			die "nusad of $box exited at start"
		sleep 0.1
	done
	die "nusad of $box did not start"
}

# stop BOX [SIGNAL]: stops BOX's nusad (SIGTERM: must exit 0).
stop() {
	local box=$1 sig=${2:-TERM} pid rc=0
	[ -f "$tmp/$box.pid" ] || return 0
	pid=$(cat "$tmp/$box.pid")
	rm -f "$tmp/$box.pid"
	kill -"$sig" "$pid" 2>/dev/null || return 0
	wait "$pid" 2>/dev/null || rc=$?
	if [ "$sig" = TERM ] && [ "$rc" != 0 ]; then
		die "nusad of $box exited $rc on SIGTERM"
	fi
	return 0
}

# stop_all: kills every daemon started under $root (or $tmp), also in
# subdirectories and subshells; for the EXIT trap.
stop_all() {
	local f pid
	for f in $(find "${root:-$tmp}" -name '*.pid' ! -name avahi.pid \
	    ! -name dbus.pid 2>/dev/null); do
		pid=$(cat "$f")
		rm -f "$f"
		kill -KILL "$pid" 2>/dev/null || continue
		wait "$pid" 2>/dev/null || true
	done
}

state() { echo "$("$N" -d "$tmp/$1" digest) $("$N" -d "$tmp/$1" vector | md5sum)"; }

# converge SECONDS BOX...: waits until every box has the same digest and
# vector.
converge() {
	local secs=$1 i b first same
	shift
	for i in $(seq 1 $((secs * 5))); do
		same=1
		first=$(state "$1")
		for b in "$@"; do
			[ "$(state "$b")" = "$first" ] || { same=0; break; }
		done
		[ $same = 1 ] && return 0
		sleep 0.2
	done
	return 1
}

count() { "$N" -d "$tmp/$1" log | wc -l; }

# books BOX MEMBERS MONTHS [SEED]: BOX imports the books the shared
# generator makes ($SHARED/data, or $BOOKS; run by $PY or python3), which
# it leaves in $tmp/books.
books() {
	"${PY:-python3}" "${BOOKS:-$SHARED/data/make-koperasi-books.py}" \
		"$tmp/books" --members "$2" --months "$3" --seed "${4:-1}" \
		>/dev/null || die "the books generator failed"
	for t in members accounts postings; do
		"$N" -d "$tmp/$1" import "$t" "$tmp/books/$t.csv" >/dev/null ||
			die "$1 could not import books/$t.csv"
	done
}

# network ROOT BOX...: ROOT founds a network and enrols every BOX as a
# clerk (ROLE env overrides); each BOX joins by a bundle from ROOT.
network() {
	local root=$1 b
	shift
	"$N" -d "$tmp/$root" init --network "Koperasi Uji" >/dev/null
	for b in "$@"; do
		"$N" -d "$tmp/$b" keygen >/dev/null
		"$N" -d "$tmp/$root" enrol "$(devid "$b")" \
			--role "${ROLE:-clerk}" >/dev/null
	done
	"$N" -d "$tmp/$root" bundle export "$tmp/join.bundle" >/dev/null
	for b in "$@"; do
		"$N" -d "$tmp/$b" bundle import "$tmp/join.bundle" >/dev/null
	done
}
