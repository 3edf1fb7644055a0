# Private mDNS LAN for integration tests, sourced by a test script. It
# builds a LAN out of network namespaces it creates itself and tears it
# down again; each "host" on it runs its own D-Bus system bus and
# avahi-daemon. Nothing touches the machine's interfaces, addresses, bus or
# Avahi daemon, if it has any.
#
#   avahi_up DIR [HOSTS]      hosts 1..HOSTS (default 2) on one switch
#   avahi_exec I CMD...       runs CMD on host I, talking to host I's bus
#                             (in the background, $! is CMD's pid)
#   avahi_bus I               prints host I's DBUS_SYSTEM_BUS_ADDRESS
#   avahi_addr I              prints host I's IPv4 address
#   avahi_stop I              stops host I's avahi-daemon (bus stays up)
#   avahi_start I             starts it again
#   avahi_bus_stop I          stops host I's bus and with it avahi-daemon
#   avahi_bus_start I         starts the bus again (then avahi_start I)
#   avahi_service I NAME PORT TXT...   adds a static _nusa._tcp service
#                             to host I's daemon (no TXT: none)
#   avahi_reload I            makes host I's daemon publish what was added
#   avahi_down                stops everything and removes the namespaces
#
# Layout. Namespace "$AVAHI_NS-sw" holds a bridge; host I is namespace
# "$AVAHI_NS-hI" with loopback and lan0 (a veth to the bridge), address
# 192.0.2.I/24 (TEST-NET-1, which exists only inside these namespaces).
# Loopback does not do: it has no MULTICAST flag and Avahi skips it; dummy
# interfaces need a kernel module that test VMs and containers may lack.
# A veth has MULTICAST on, and with one daemon per host the test sees real
# mDNS between two boxes: probing, name conflicts, goodbye packets.
#
# avahi-daemon keeps its pid file and socket at a fixed place,
# /run/avahi-daemon, so two cannot run in one mount namespace. Each one
# runs with a private mount namespace (ip netns exec makes one, unshare -m
# makes sure) holding a tmpfs on /run and a bind mount of DIR/hI/services
# on /etc/avahi/services; so DIR must not be under /run.
# The bus is a private dbus-daemon with a system-bus-like config that lets
# root own org.freedesktop.Avahi; clients find it through
# DBUS_SYSTEM_BUS_ADDRESS, which libdbus honours for the system bus.
#
# Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN), ip, unshare, dbus-daemon and
# avahi-daemon. Functions return non-zero with a message on stderr when
# something cannot be set up: a test must fail then, not skip.

AVAHI_NS=""
AVAHI_DIR=""
AVAHI_HOSTS=0

_avahi_err() {
	echo "avahi.sh: $*" >&2
	return 1
}

# _avahi_wait SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
_avahi_wait() {
	local n=$(($1 * 10))
	shift
	while ! "$@" 2>/dev/null; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

_avahi_alive() {
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null
}

# _avahi_kill PID: TERM, then KILL after 5 s. Only for pids we started.
_avahi_kill() {
	local pid=$1
	_avahi_alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null
	_avahi_wait 5 eval "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null
	_avahi_wait 2 eval "! kill -0 $pid" || _avahi_err "pid $pid survives"
}

avahi_bus() {
	echo "unix:path=$AVAHI_DIR/h$1/bus.sock"
}

avahi_addr() {
	echo "192.0.2.$1"
}

# In a subshell (avahi_exec I CMD & or $(...)) it execs, so that $! is
# CMD's own pid: ip netns exec and env exec too.
avahi_exec() {
	local i=$1
	shift
	set -- ip netns exec "$AVAHI_NS-h$i" env \
	    DBUS_SYSTEM_BUS_ADDRESS="$(avahi_bus "$i")" "$@"
	[ "$BASHPID" = "$$" ] || exec "$@"
	"$@"
}

_avahi_dbus_conf() {
	cat <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$1/bus.sock</listen>
  <pidfile>$1/dbus.pid</pidfile>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
}

_avahi_daemon_conf() {
	cat <<EOF
[server]
host-name=nusa-host$1
domain-name=local
use-ipv4=yes
use-ipv6=no
allow-interfaces=lan0
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000

[wide-area]
enable-wide-area=no

[publish]
disable-publishing=no
publish-addresses=yes
publish-hinfo=no
publish-workstation=no
publish-domain=no

[reflector]
enable-reflector=no

[rlimits]
EOF
}

avahi_start() {
	local i=$1 d="$AVAHI_DIR/h$1" pid
	_avahi_alive "$(cat "$d/avahi.pid" 2>/dev/null)" && return 0
	: >"$d/avahi.log"
	# The private tmpfs on /run gives this daemon its own
	# /run/avahi-daemon; the bind mount gives it DIR/hI/services only.
	ip netns exec "$AVAHI_NS-h$i" unshare -m --propagation private \
	    sh -c 'mount -t tmpfs -o mode=0755 nusa-avahi /run &&
		mkdir /run/avahi-daemon &&
		mount --bind "$1/services" /etc/avahi/services &&
		exec env DBUS_SYSTEM_BUS_ADDRESS="unix:path=$1/bus.sock" \
		avahi-daemon --no-drop-root --no-chroot --no-rlimits \
		--no-proc-title -f "$1/avahi-daemon.conf"' sh "$d" \
	    </dev/null >>"$d/avahi.log" 2>&1 &
	pid=$!
	echo "$pid" >"$d/avahi.pid"
	_avahi_wait 20 grep -q 'Server startup complete' "$d/avahi.log" ||
	    _avahi_err "host $i: avahi-daemon did not start:" \
	    "$(tail -5 "$d/avahi.log")"
}

avahi_stop() {
	local d="$AVAHI_DIR/h$1"
	_avahi_kill "$(cat "$d/avahi.pid" 2>/dev/null)" || return 1
	rm -f "$d/avahi.pid"
}

avahi_service() {
	local i=$1 name=$2 port=$3 t d="$AVAHI_DIR/h$1"
	shift 3
	{
		echo "<?xml version=\"1.0\" standalone='no'?>"
		echo '<!DOCTYPE service-group SYSTEM "avahi-service.dtd">'
		echo "<service-group><name>$name</name>"
		echo '<service protocol="ipv4"><type>_nusa._tcp</type>'
		echo "<port>$port</port>"
		for t in "$@"; do
			echo "<txt-record>$t</txt-record>"
		done
		echo '</service></service-group>'
	} >"$d/services/$name.service"
}

# The daemon reloads its static services on SIGHUP.
avahi_reload() {
	local pid
	pid=$(cat "$AVAHI_DIR/h$1/avahi.pid" 2>/dev/null)
	_avahi_alive "$pid" || _avahi_err "host $1: avahi-daemon not running" ||
	    return 1
	kill -HUP "$pid"
}

_avahi_host_up() {
	local i=$1 ns="$AVAHI_NS-h$1" d="$AVAHI_DIR/h$1"
	mkdir -p "$d/services" || return 1
	_avahi_dbus_conf "$d" >"$d/dbus.conf"
	_avahi_daemon_conf "$i" >"$d/avahi-daemon.conf"
	ip netns add "$ns" || return 1
	ip -n "$ns" link set lo up &&
	    ip -n "$AVAHI_NS-sw" link add "p$i" type veth peer name lan0 \
	    netns "$ns" &&
	    ip -n "$AVAHI_NS-sw" link set "p$i" master br0 up &&
	    ip -n "$ns" addr add "$(avahi_addr "$i")/24" dev lan0 &&
	    ip -n "$ns" link set lan0 up || return 1
	avahi_bus_start "$i" && avahi_start "$i"
}

avahi_bus_start() {
	local i=$1 d="$AVAHI_DIR/h$1"
	rm -f "$d/bus.sock"
	ip netns exec "$AVAHI_NS-h$i" dbus-daemon --fork \
	    --config-file="$d/dbus.conf" >"$d/dbus.log" 2>&1 ||
	    _avahi_err "host $i: dbus-daemon: $(cat "$d/dbus.log")" || return 1
	_avahi_wait 10 test -S "$d/bus.sock" ||
	    _avahi_err "host $i: no bus socket" || return 1
}

# avahi-daemon quits when it loses the bus.
avahi_bus_stop() {
	local d="$AVAHI_DIR/h$1"
	_avahi_kill "$(cat "$d/dbus.pid" 2>/dev/null)" || return 1
	rm -f "$d/dbus.pid"
	avahi_stop "$1"
}

avahi_up() {
	local dir=$1 hosts=${2:-2} i
	[ -z "$AVAHI_NS" ] || _avahi_err "already up" || return 1
	[ "$(id -u)" = 0 ] || _avahi_err "must run as root" || return 1
	for i in ip unshare dbus-daemon avahi-daemon; do
		command -v "$i" >/dev/null ||
		    _avahi_err "$i not found" || return 1
	done
	AVAHI_DIR=$(cd "$dir" && pwd) || return 1
	case $AVAHI_DIR in
	/run | /run/*) _avahi_err "DIR must not be under /run"; return 1 ;;
	esac
	AVAHI_NS="nusa-av$$-$RANDOM"
	AVAHI_HOSTS=0
	ip netns add "$AVAHI_NS-sw" ||
	    _avahi_err "cannot create a network namespace" || return 1
	ip -n "$AVAHI_NS-sw" link add br0 type bridge mcast_snooping 0 &&
	    ip -n "$AVAHI_NS-sw" link set br0 up ||
	    _avahi_err "cannot create a bridge" || return 1
	for i in $(seq 1 "$hosts"); do
		AVAHI_HOSTS=$i
		_avahi_host_up "$i" || _avahi_err "host $i: setup failed" ||
		    return 1
	done
}

avahi_down() {
	local i ns pid
	[ -n "$AVAHI_NS" ] || return 0
	for i in $(seq 1 "$AVAHI_HOSTS"); do
		avahi_bus_stop "$i" 2>/dev/null
	done
	# Whatever else still runs in our namespaces was started by the test
	# (probes): stop it before the namespaces go.
	for ns in $(ip netns list | awk '{print $1}' | grep "^$AVAHI_NS-"); do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			_avahi_kill "$pid"
		done
		ip netns del "$ns"
	done
	AVAHI_NS=""
	AVAHI_HOSTS=0
}
