#!/usr/bin/env bash
# Throwaway single-node Ceph clusters on loopback, for tests and the demo.
#
#   testcluster.sh start DIR NAME [NAME...]   start clusters DIR/NAME (one mon, one memstore OSD, cephx)
#   testcluster.sh stop DIR [NAME...]         stop them (all under DIR without NAME) and remove their data
#   testcluster.sh stop-daemons DIR NAME      kill the daemons but keep the directory (a "lost" cluster)
#   testcluster.sh pause|resume DIR NAME      SIGSTOP / SIGCONT the OSD
#
# Each cluster gets its own fsid, port, config, keyrings and data under DIR/NAME, and a
# shell-sourceable DIR/NAME/env. Daemons are stopped by their pid files, never by name.
set -euo pipefail

MEMSTORE_BYTES=${TESTCLUSTER_MEMSTORE_BYTES:-$((8 << 30))}

die() { echo "testcluster: $*" >&2; exit 1; }

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

free_port() {
	local port
	for _ in $(seq 200); do
		port=$((20000 + RANDOM % 30000))
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

start_one() {
	local d=$1
	if alive "$d/run/mon.a.pid" && alive "$d/run/osd.0.pid"; then
		return 0 # already running
	fi
	stop_one "$d"
	mkdir -p "$d"/{run,log,mon.a,osd.0}
	local fsid port conf
	fsid=$(cat /proc/sys/kernel/random/uuid)
	port=$(free_port)
	conf=$d/ceph.conf
	cat >"$conf" <<-CONF
	[global]
	fsid = $fsid
	mon host = v1:127.0.0.1:$port
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

	ceph-authtool --create-keyring "$d/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
	ceph-authtool --create-keyring "$d/ceph.client.admin.keyring" --gen-key -n client.admin \
		--cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
	ceph-authtool "$d/mon.keyring" --import-keyring "$d/ceph.client.admin.keyring" >/dev/null
	chmod 600 "$d"/*.keyring
	monmaptool --create --addv a "[v1:127.0.0.1:$port]" --fsid "$fsid" "$d/monmap" >/dev/null

	ceph-mon -c "$conf" --mkfs -i a --monmap "$d/monmap" --keyring "$d/mon.keyring" >/dev/null 2>&1 ||
		{ show_logs "$d"; die "$d: ceph-mon --mkfs failed"; }
	ceph-mon -c "$conf" -i a || { show_logs "$d"; die "$d: ceph-mon did not start"; }

	local c="ceph -c $conf --connect-timeout 20"
	local id
	id=$($c osd create) || { show_logs "$d"; die "$d: monitor not answering"; }
	ceph-osd -c "$conf" -i "$id" --mkfs --mkkey --no-mon-config >/dev/null 2>&1 ||
		{ show_logs "$d"; die "$d: ceph-osd --mkfs failed"; }
	$c auth add "osd.$id" osd 'allow *' mon 'allow profile osd' -i "$d/osd.0/keyring" >/dev/null 2>&1
	$c osd crush add "osd.$id" 1 root=default host=localhost >/dev/null 2>&1 || true
	ceph-osd -c "$conf" -i "$id" 2>/dev/null || { show_logs "$d"; die "$d: ceph-osd did not start"; }

	local up=""
	for _ in $(seq 60); do
		up=$($c osd stat -f json 2>/dev/null | sed -n 's/.*"num_up_osds":\([0-9]*\).*/\1/p')
		[[ $up == 1 ]] && break
		sleep 0.5
	done
	[[ $up == 1 ]] || { show_logs "$d"; die "$d: the OSD did not come up"; }

	for pool in rbd backups; do
		$c osd pool create "$pool" 8 8 >/dev/null 2>&1
		rbd -c "$conf" pool init "$pool" || die "$d: rbd pool init $pool failed"
	done

	cat >"$d/env" <<-ENV
	CEPH_CONF=$conf
	CEPH_KEYRING=$d/ceph.client.admin.keyring
	MON_HOST=v1:127.0.0.1:$port
	FSID=$fsid
	MON_PID_FILE=$d/run/mon.a.pid
	OSD_PID_FILE=$d/run/osd.0.pid
	ENV
}

# kill_pidfile PIDFILE: TERM, then KILL if it is still there after 5 s.
kill_pidfile() {
	local f=$1 pid
	[[ -f $f ]] || return 0
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		kill -CONT "$pid" 2>/dev/null || true # a paused daemon cannot exit
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

stop_daemons() {
	local d=$1
	kill_pidfile "$d/run/osd.0.pid"
	kill_pidfile "$d/run/mon.a.pid"
}

stop_one() {
	local d=$1
	[[ -d $d ]] || return 0
	stop_daemons "$d"
	rm -rf "$d"
}

signal_osd() {
	local d=$1 sig=$2
	alive "$d/run/osd.0.pid" || die "$d: the OSD is not running"
	kill "-$sig" "$(cat "$d/run/osd.0.pid")"
}

cmd=${1:-}
dir=${2:-}
[[ -n $cmd && -n $dir ]] || die "usage: $0 start|stop|stop-daemons|pause|resume DIR [NAME...]"
shift 2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

case $cmd in
start)
	[[ $# -gt 0 ]] || die "start needs at least one cluster name"
	for name in "$@"; do start_one "$dir/$name"; done
	;;
stop)
	if [[ $# -eq 0 ]]; then
		for d in "$dir"/*/; do [[ -f $d/ceph.conf ]] && stop_one "${d%/}"; done
	else
		for name in "$@"; do stop_one "$dir/$name"; done
	fi
	;;
stop-daemons) stop_daemons "$dir/${1:?name}" ;;
pause) signal_osd "$dir/${1:?name}" STOP ;;
resume) signal_osd "$dir/${1:?name}" CONT ;;
*) die "unknown command $cmd" ;;
esac
