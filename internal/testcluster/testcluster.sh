#!/usr/bin/env bash
# Throwaway single-node Ceph clusters on loopback, for tests and the demo.
#
#   testcluster.sh start DIR NAME [NAME...]   start clusters DIR/NAME (one mon, one memstore OSD, cephx)
#   testcluster.sh stop DIR [NAME...]         stop them (all under DIR without NAME) and remove their data
#   testcluster.sh stop-daemons DIR NAME      kill the daemons but keep the directory (a "lost" cluster)
#   testcluster.sh pause|resume DIR NAME      SIGSTOP / SIGCONT the OSD (resume waits until it serves I/O)
#
# Each cluster gets its own fsid, port, config, keyrings and data under DIR/NAME, and a
# shell-sourceable DIR/NAME/env. Daemons are stopped by their pid files, never by name, and
# only while the pid still runs this cluster's config (a pid can be reused once it exits).
# Stopping where no cluster is (or no DIR) succeeds. Setup output goes to DIR/NAME/log/setup.log.
set -Eeuo pipefail
# Anything that fails without its own message still says what and where.
trap 'echo "testcluster: line $LINENO: \"$BASH_COMMAND\" failed (exit $?)" >&2' ERR

MEMSTORE_BYTES=${TESTCLUSTER_MEMSTORE_BYTES:-$((8 << 30))}
# TESTCLUSTER_MSGR2=secure: the mon also listens on msgr2 and every daemon and
# client (the CLI included, through ceph.conf) must use secure (encrypted) mode.
MSGR2=${TESTCLUSTER_MSGR2:-}
[[ -z $MSGR2 || $MSGR2 == secure ]] || { echo "testcluster: TESTCLUSTER_MSGR2=$MSGR2: only 'secure' (or unset) is supported" >&2; exit 1; }

die() { echo "testcluster: $*" >&2; exit 1; }

# ours PID CONF: PID is a daemon started with -c CONF (not a process that
# took over the pid of one that exited).
ours() {
	local arg
	[[ -r /proc/$1/cmdline ]] || return 1
	while IFS= read -r -d '' arg; do
		[[ $arg == "$2" ]] && return 0
	done <"/proc/$1/cmdline"
	return 1
}

# alive PIDFILE CONF: the pid file names a running daemon of this cluster.
alive() { [[ -f $1 ]] && ours "$(cat "$1")" "$2"; }

free_port() {
	local port
	local low
	# Below the kernel's ephemeral range: a port there can be taken by any
	# outgoing connection between this check and the monitor's bind (seen:
	# "unable to bind monitor ... Address already in use").
	low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	((low > 21000)) || low=32768
	for _ in $(seq 200); do
		port=$((20000 + RANDOM % (low - 20000)))
		# A refused connection means nobody listens there.
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	die "no free port found"
}

show_logs() {
	local d=$1
	for f in "$d"/log/*.log; do
		[[ -f $f ]] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }
	done
}

# quiet DIR CMD...: run CMD with its output in DIR/log/setup.log; on failure
# say which command failed, show the logs and stop.
quiet() {
	local d=$1 rc=0
	shift
	"$@" >>"$d/log/setup.log" 2>&1 || rc=$?
	if ((rc != 0)); then
		show_logs "$d"
		die "$d: '$*' failed (exit $rc); its output is in $d/log/setup.log"
	fi
}

start_one() {
	local d=$1 conf=$1/ceph.conf
	if alive "$d/run/mon.a.pid" "$conf" && alive "$d/run/osd.0.pid" "$conf"; then
		return 0 # already running
	fi
	stop_one "$d"
	mkdir -p "$d"/{run,log,mon.a,osd.0}
	local fsid port addrs monhost
	fsid=$(cat /proc/sys/kernel/random/uuid)
	port=$(free_port)
	addrs="v1:127.0.0.1:$port"
	monhost=$addrs
	if [[ $MSGR2 == secure ]]; then
		local port2
		port2=$(free_port)
		[[ $port2 != "$port" ]] || port2=$(free_port)
		addrs="v2:127.0.0.1:$port2,v1:127.0.0.1:$port"
		monhost="[$addrs]"
	fi
	cat >"$conf" <<-CONF
	[global]
	fsid = $fsid
	mon host = $monhost
	auth cluster required = cephx
	auth service required = cephx
	auth client required = cephx
	keyring = $d/ceph.client.admin.keyring
	run dir = $d/run
	log file = $d/log/\$name.log
	pid file = $d/run/\$name.pid
	admin socket = $d/run/\$name.asok
	osd pool default size = 1
	osd pool default min size = 1
	osd pool default pg autoscale mode = off
	mon allow pool size one = true
	mon allow pool delete = true
	mon warn on pool no redundancy = false
	osd crush chooseleaf type = 0
	ms bind ipv6 = false
	debug ms = 0
	[mon]
	mon data = $d/mon.a
	mon cluster log file = $d/log/cluster.log
	[osd]
	osd data = $d/osd.0
	keyring = $d/osd.0/keyring
	osd objectstore = memstore
	memstore device bytes = $MEMSTORE_BYTES
	osd max object name len = 256
	osd max object namespace len = 64
	CONF

	if [[ $MSGR2 == secure ]]; then
		# Right after mon host, so in [global], for the daemons and the CLI alike.
		sed -i "/^mon host = /a ms bind msgr2 = true\\
ms cluster mode = secure\\
ms service mode = secure\\
ms client mode = secure\\
ms mon cluster mode = secure\\
ms mon service mode = secure\\
ms mon client mode = secure" "$conf"
	fi

	quiet "$d" ceph-authtool --create-keyring "$d/mon.keyring" --gen-key -n mon. --cap mon 'allow *'
	quiet "$d" ceph-authtool --create-keyring "$d/ceph.client.admin.keyring" --gen-key -n client.admin \
		--cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *'
	quiet "$d" ceph-authtool "$d/mon.keyring" --import-keyring "$d/ceph.client.admin.keyring"
	chmod 600 "$d"/*.keyring
	quiet "$d" monmaptool --create --addv a "[$addrs]" --fsid "$fsid" "$d/monmap"

	quiet "$d" ceph-mon -c "$conf" --mkfs -i a --monmap "$d/monmap" --keyring "$d/mon.keyring"
	quiet "$d" ceph-mon -c "$conf" -i a

	local -a c=(ceph -c "$conf" --connect-timeout 20)
	local id
	id=$("${c[@]}" osd create 2>>"$d/log/setup.log") ||
		{ show_logs "$d"; die "$d: the monitor is not answering ('ceph osd create' failed; see $d/log/setup.log)"; }
	quiet "$d" ceph-osd -c "$conf" -i "$id" --mkfs --mkkey --no-mon-config
	quiet "$d" "${c[@]}" auth add "osd.$id" osd 'allow *' mon 'allow profile osd' -i "$d/osd.0/keyring"
	quiet "$d" "${c[@]}" osd crush add "osd.$id" 1 root=default host=localhost
	quiet "$d" ceph-osd -c "$conf" -i "$id"

	local up=""
	for _ in $(seq 60); do
		up=$("${c[@]}" osd stat -f json 2>/dev/null | sed -n 's/.*"num_up_osds":\([0-9]*\).*/\1/p') || true
		[[ $up == 1 ]] && break
		sleep 0.5
	done
	[[ $up == 1 ]] || { show_logs "$d"; die "$d: the OSD did not come up within 30 s"; }

	for pool in rbd backups; do
		quiet "$d" "${c[@]}" osd pool create "$pool" 8 8
		quiet "$d" rbd -c "$conf" pool init "$pool"
	done

	cat >"$d/env" <<-ENV
	CEPH_CONF=$conf
	CEPH_KEYRING=$d/ceph.client.admin.keyring
	MON_HOST=$monhost
	FSID=$fsid
	MON_PID_FILE=$d/run/mon.a.pid
	OSD_PID_FILE=$d/run/osd.0.pid
	ENV
}

# kill_pidfile PIDFILE CONF: TERM, then KILL if it is still there after 5 s;
# every signal only while the pid is still this cluster's daemon.
kill_pidfile() {
	local f=$1 conf=$2 pid
	[[ -f $f ]] || return 0
	pid=$(cat "$f")
	if ours "$pid" "$conf"; then
		kill -CONT "$pid" 2>/dev/null || true # a paused daemon cannot exit
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			ours "$pid" "$conf" || break
			sleep 0.1
		done
		if ours "$pid" "$conf"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	elif kill -0 "$pid" 2>/dev/null; then
		echo "testcluster: $f: pid $pid is not a daemon started with -c $conf any more; left alone" >&2
	fi
	rm -f "$f"
}

stop_daemons() {
	local d=$1
	kill_pidfile "$d/run/osd.0.pid" "$d/ceph.conf"
	kill_pidfile "$d/run/mon.a.pid" "$d/ceph.conf"
}

stop_one() {
	local d=$1
	[[ -d $d ]] || return 0
	stop_daemons "$d"
	rm -rf "$d"
}

signal_osd() {
	local d=$1 sig=$2
	alive "$d/run/osd.0.pid" "$d/ceph.conf" || die "$d: the OSD is not running"
	kill "-$sig" "$(cat "$d/run/osd.0.pid")"
}

# serves DIR: every placement group of every pool answers a listing within
# 10 s (rados ls visits each PG; there is no mgr for `ceph pg stat`).
serves() {
	local conf=$1/ceph.conf pool
	for pool in $(timeout 20 ceph -c "$conf" --connect-timeout 10 osd pool ls 2>/dev/null); do
		timeout 10 rados -c "$conf" -p "$pool" ls >/dev/null 2>&1 || return 1
	done
}

# resume_osd DIR: SIGCONT the OSD and wait until it serves I/O again. After a
# long stop on a loaded machine a PG can stay "waiting for readable" (seen in
# CI: an apply after the resume timed out listing extents); marking the OSD
# down makes it re-peer at once, as CONTRIBUTING.md tells operators.
resume_osd() {
	local d=$1 try
	signal_osd "$d" CONT
	for try in 1 2 3; do
		serves "$d" && return 0
		echo "testcluster: $d: the OSD does not serve after SIGCONT; marking it down to re-peer (try $try)" >&2
		timeout 20 ceph -c "$d/ceph.conf" --connect-timeout 10 osd down 0 >/dev/null 2>&1 || true
		sleep 2
	done
	serves "$d" || die "$d: the OSD still does not serve I/O 3 re-peers after SIGCONT"
}

cmd=${1:-}
dir=${2:-}
[[ -n $cmd && -n $dir ]] || die "usage: $0 start|stop|stop-daemons|pause|resume DIR [NAME...]"
shift 2
if [[ $cmd == start ]]; then
	mkdir -p "$dir"
elif [[ ! -d $dir ]]; then
	[[ $cmd == stop ]] && exit 0 # nothing to stop
	die "$dir: no such directory"
fi
# The physical path: daemons are recognised by the config path they were
# started with, whatever symlink DIR is reached through.
dir=$(cd "$dir" && pwd -P)

case $cmd in
start)
	[[ $# -gt 0 ]] || die "start needs at least one cluster name"
	for name in "$@"; do start_one "$dir/$name"; done
	;;
stop)
	if [[ $# -eq 0 ]]; then
		for d in "$dir"/*/; do
			if [[ -f $d/ceph.conf ]]; then stop_one "${d%/}"; fi
		done
	else
		for name in "$@"; do stop_one "$dir/$name"; done
	fi
	;;
stop-daemons) stop_daemons "$dir/${1:?name}" ;;
pause) signal_osd "$dir/${1:?name}" STOP ;;
resume) resume_osd "$dir/${1:?name}" ;;
*) die "unknown command $cmd" ;;
esac
