# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
# A throw-away single-node Ceph cluster for the rbd e2e tests and bench (sourced, not run):
# one mon, one mgr, one BlueStore OSD on a sparse file, cephx, pool size 1, a pool "rbd", all on
# 127.0.0.1 in a temp dir, without systemd. Daemons run in the foreground (-f) in the background
# of this shell, so they are killed by PID.
# Usage:
#   . test/e2e/lib/ceph.sh
#   ceph_start DIR            # sets CEPH_CONF, CEPH_KEYRING, CEPH_MON_ADDR; returns 1 on failure
#   ceph_cli ARGS...          # `ceph` against it, bounded in time
#   rbd_cli ARGS...           # `rbd` against it, bounded in time
#   ceph_osd_kill / ceph_osd_start   # stop / restart the OSD (fault tests)
#   ceph_stop                 # kill every daemon by PID (also safe when nothing runs)
# Pitfalls (measured): keyrings per section, not [global]; leave bluestore block path unset so
# mkfs creates the block file; paxos propose interval 0.1 halves the start time; the mon refuses
# to run when its disk is nearly full (mon_data_avail_crit is lowered here); an image left open
# by a killed client holds its exclusive lock for tens of seconds (use fresh image names).

CEPH_DIR=
CEPH_MON_PID=
CEPH_MGR_PID=
CEPH_OSD_PID=

# ceph_have: every Ceph binary the cluster needs is installed.
ceph_have() {
	local b

	for b in ceph ceph-mon ceph-mgr ceph-osd ceph-authtool monmaptool rbd; do
		command -v "$b" >/dev/null 2>&1 || return 1
	done
	return 0
}

ceph_cli() {
	timeout -k 5 60 ceph -c "$CEPH_CONF" --connect-timeout 30 "$@"
}

rbd_cli() {
	timeout -k 5 120 rbd -c "$CEPH_CONF" "$@"
}

ceph_log() {
	echo "ceph: $*" >&2
}

# ceph_osd_start: (re)start osd.0 in the background.
ceph_osd_start() {
	ceph-osd -c "$CEPH_CONF" -i 0 -f >>"$CEPH_DIR/osd.0.out" 2>&1 &
	CEPH_OSD_PID=$!
}

# ceph_osd_kill: SIGKILL osd.0 (as a crash would).
ceph_osd_kill() {
	if [ -n "$CEPH_OSD_PID" ]; then
		kill -KILL "$CEPH_OSD_PID" 2>/dev/null
		wait "$CEPH_OSD_PID" 2>/dev/null
		CEPH_OSD_PID=
	fi
}

# ceph_wait_osd_up: wait up to 90 s until osd.0 is up and the pool's PGs are active.
ceph_wait_osd_up() {
	local _

	for _ in $(seq 1 180); do
		if ceph_cli osd dump 2>/dev/null | grep -q '^osd.0 up'; then
			if ceph_cli pg stat 2>/dev/null | grep -qE ' [0-9]+ active\+clean|active\+clean;|^[0-9]+ pgs: [0-9]+ active'; then
				return 0
			fi
		fi
		sleep 0.5
	done
	return 1
}

# ceph_start DIR: create and start the cluster under DIR (must exist, empty).
ceph_start() {
	local dir=$1 port fsid osd_uuid

	CEPH_DIR=$dir
	CEPH_CONF=$dir/ceph.conf
	CEPH_KEYRING=$dir/admin.keyring
	# A free port, so parallel runs (other users, other tests) do not meet.
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null) ||
		port=$((20000 + ($$ % 20000)))
	CEPH_MON_ADDR=127.0.0.1:$port
	fsid=$(cat /proc/sys/kernel/random/uuid)
	mkdir -p "$dir/mon.a" "$dir/mgr.x" "$dir/osd.0" "$dir/run"
	cat >"$CEPH_CONF" <<CONF
[global]
fsid = $fsid
mon host = v1:$CEPH_MON_ADDR
public addr = 127.0.0.1
ms bind msgr2 = false
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/\$name.log
pid file = $dir/run/\$name.pid
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail crit = 1
mon data avail warn = 2
paxos propose interval = 0.1
osd objectstore = bluestore
osd memory target = 939524096
osd op num shards = 1
osd op num threads per shard = 2
bluestore cache autotune = false
bluestore cache size = 67108864
bluestore block create = true
bluestore block size = 4294967296
bluestore fsck on mkfs = false
bluestore block db create = false
bluestore block wal create = false
osd fast shutdown = true
mgr initial modules =
mgr disabled modules = dashboard,prometheus,restful,iostat,nfs,balancer,crash,devicehealth,orchestrator,pg_autoscaler,progress,rbd_support,status,telemetry,volumes
[mon.a]
mon data = $dir/mon.a
keyring = $dir/mon.a.keyring
[mgr.x]
mgr data = $dir/mgr.x
keyring = $dir/mgr.x/keyring
[osd.0]
osd data = $dir/osd.0
keyring = $dir/osd.0/keyring
[client]
keyring = $CEPH_KEYRING
admin socket = $dir/run/\$name.\$pid.asok
CONF
	ceph-authtool --create-keyring "$dir/mon.a.keyring" --gen-key -n mon. --cap mon 'allow *' \
		>/dev/null || return 1
	ceph-authtool --create-keyring "$CEPH_KEYRING" --gen-key -n client.admin --cap mon 'allow *' \
		--cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null || return 1
	ceph-authtool "$dir/mon.a.keyring" --import-keyring "$CEPH_KEYRING" >/dev/null || return 1
	monmaptool --create --fsid "$fsid" --addv a "[v1:$CEPH_MON_ADDR]" "$dir/monmap" >/dev/null ||
		return 1
	ceph-mon -c "$CEPH_CONF" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/mon.a.keyring" \
		>"$dir/mkfs.out" 2>&1 || { ceph_log "mon mkfs failed"; cat "$dir/mkfs.out" >&2; return 1; }
	ceph-mon -c "$CEPH_CONF" -i a -f >"$dir/mon.a.out" 2>&1 &
	CEPH_MON_PID=$!
	for _ in $(seq 1 60); do
		ceph_cli mon stat >/dev/null 2>&1 && break
		kill -0 "$CEPH_MON_PID" 2>/dev/null || { ceph_log "mon exited"; tail "$dir/mon.a.out" >&2; return 1; }
		sleep 0.5
	done
	ceph_cli auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
		-o "$dir/mgr.x/keyring" >/dev/null 2>&1 || { ceph_log "mgr key failed"; return 1; }
	ceph-mgr -c "$CEPH_CONF" -i x -f >"$dir/mgr.x.out" 2>&1 &
	CEPH_MGR_PID=$!
	osd_uuid=$(cat /proc/sys/kernel/random/uuid)
	ceph_cli osd new "$osd_uuid" >/dev/null || { ceph_log "osd new failed"; return 1; }
	ceph_cli auth get-or-create osd.0 osd 'allow *' mon 'allow profile osd' \
		mgr 'allow profile osd' -o "$dir/osd.0/keyring" >/dev/null || return 1
	ceph-osd -c "$CEPH_CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$dir/osd.0.out" 2>&1 ||
		{ ceph_log "osd mkfs failed"; tail "$dir/osd.0.out" >&2; return 1; }
	ceph_osd_start
	ceph_cli osd pool create rbd 8 >/dev/null 2>&1 || { ceph_log "pool create failed"; return 1; }
	ceph_cli osd pool application enable rbd rbd >/dev/null 2>&1 || return 1
	ceph_wait_osd_up || { ceph_log "osd not up"; tail "$dir/osd.0.out" >&2; return 1; }
	return 0
}

# ceph_stop: kill every daemon by PID and wait for it.
ceph_stop() {
	local p

	for p in $CEPH_OSD_PID $CEPH_MGR_PID $CEPH_MON_PID; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	CEPH_OSD_PID='' CEPH_MGR_PID='' CEPH_MON_PID=''
}
