# Shell helpers shared by the sync benchmarks (sync.sh, slowlink.sh).
# Source after tests/integration/lib/boxes.sh, with N (nusactl), L
# (linkemu), PY (python3) and tmp set.

now_ms() { echo $(($(date +%s%N) / 1000000)); }
vsum() { "$N" -d "$tmp/$1" vector | awk '{s += $2} END {print s + 0}'; }
feeds() { "$N" -d "$tmp/$1" vector | wc -l; }

# bconf BOX PORT [KEY=VALUE...]: conf, with the daemon's default heartbeat
# (10 s) rather than the tests' 1 s, so that pings do not blur the byte
# counts of a handshake.
bconf() {
	conf "$@"
	sed -i '/^heartbeat = /d' "$tmp/$1.conf"
}

# peerstat BOX PEER_BOX KEY...: the values of KEYs of BOX's status entry
# for PEER_BOX (0 when BOX does not list it yet), space-separated.
peerstat() {
	local box=$1 peer
	peer=$(devid "$2")
	shift 2
	"$N" -d "$tmp/$box" status --json 2>/dev/null | "$PY" -c '
import json, sys
try:
    s = json.load(sys.stdin)
except ValueError:
    s = {}
p = [p for p in s.get("peers", []) if p["id"] == sys.argv[1]]
out = []
for k in sys.argv[2:]:
    out.append(str(int(p[0].get(k, 0)) if p else 0))
print(" ".join(out))
' "$peer" "$@"
}

# relay NAME TARGET_PORT [linkemu options...]: starts linkemu (verbose,
# each log line stamped with the time in us) in front of
# 127.0.0.1:TARGET_PORT; pid in NAME.pid, stats in NAME.stats, log in
# NAME.log; sets RELAY_PORT.
relay() {
	local name=$1 to=$2
	shift 2
	rm -f "$tmp/$name.port"
	"$L" --listen 127.0.0.1:0 --to "127.0.0.1:$to" --verbose \
		--port-file "$tmp/$name.port" --stats "$tmp/$name.stats" "$@" \
		2> >(while IFS= read -r l; do
			echo "${EPOCHREALTIME/./} $l"
		done >>"$tmp/$name.log") &
	echo $! >"$tmp/$name.pid"
	for _ in $(seq 1 100); do
		[ -s "$tmp/$name.port" ] && break
		sleep 0.05
	done
	[ -s "$tmp/$name.port" ] || die "linkemu $name did not start"
	RELAY_PORT=$(cat "$tmp/$name.port")
}

# rstat NAME KEY: a counter from the relay's stats file.
rstat() { awk -v k="$2" '$1 == k {print $2}' "$tmp/$1.stats"; }

# relay_stop NAME: SIGTERM (linkemu writes its final stats and exits 0).
relay_stop() {
	local pid
	[ -f "$tmp/$1.pid" ] || return 0
	pid=$(cat "$tmp/$1.pid")
	rm -f "$tmp/$1.pid"
	kill -TERM "$pid" 2>/dev/null || return 0
	wait "$pid" 2>/dev/null || true
}
