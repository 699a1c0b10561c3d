#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# usk_tgt restarted under a running guest: QEMU's chardev has reconnect=1 and usk offers
# INFLIGHT_SHMFD. The guest writes a 24 MiB pattern with O_DIRECT from four writers to a delay
# bdev (300 ms per write) over an aio file; in the middle usk_tgt is killed with SIGKILL and started
# again on the same socket. The restarted target must resubmit the requests the inflight region
# shows in flight, the guest's writes must finish, both patterns must read back intact in the
# guest, and the aio file must hold them. Run once on a split ring and once on a packed ring
# (packed=on: the region's packed layout, whose positions replace SET_VRING_BASE after a restart).
set -u
NAME=vhost_reconnect
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
skip_unless_ready
skip_unless_guest

VDIR=$TMP/vh
mkdir -p "$VDIR"
AIO_FILE=$TMP/aio.img
truncate -s 64M "$AIO_FILE"
# $1: true | false (the controller offers RING_PACKED only with packed_ring)
write_config() {
	cat >"$TMP/tgt.json" <<JSON
{"subsystems": [
 {"subsystem": "bdev", "config": [
  {"method": "bdev_aio_create", "params": {"name": "Aio0", "filename": "$AIO_FILE", "block_size": 512}},
  {"method": "bdev_delay_create", "params": {"base_bdev_name": "Aio0", "name": "Delay0",
   "avg_read_latency": 1000, "p99_read_latency": 1000, "avg_write_latency": 300000, "p99_write_latency": 300000}}
 ]},
 {"subsystem": "vhost_blk", "config": [
  {"method": "vhost_create_blk_controller", "params": {"ctrlr": "vhost.r", "dev_name": "Delay0", "packed_ring": $1}}
 ]}
]}
JSON
}

# $1: split | packed
run_case() {
	local kind=$1 packed=off rc b hb
	[ "$kind" = packed ] && packed=on
	write_config "$([ "$kind" = packed ] && echo true || echo false)"
	truncate -s 0 "$AIO_FILE"
	truncate -s 64M "$AIO_FILE"
	start_tgt "$TMP/tgt.json" -S "$VDIR" --print-level INFO -L vhost
	# guest-run's --vhost-user-blk has no chardev options: build the device by hand (memfd RAM)
	"$HARNESS/guest-run.sh" --quiet --timeout 280 --log "$TMP/guest-$kind.log" --append no_timer_check \
		--qemu-arg -object --qemu-arg "memory-backend-memfd,id=mem0,size=1024M,share=on" \
		--qemu-arg -machine --qemu-arg memory-backend=mem0 \
		--qemu-arg -chardev --qemu-arg "socket,id=vr0,path=$VDIR/vhost.r,reconnect=1" \
		--qemu-arg -device --qemu-arg "vhost-user-blk-pci,chardev=vr0,num-queues=1,packed=$packed" \
		--script "$E2E_DIR/guest/vhost_reconnect_guest.sh" >/dev/null 2>&1 &
	GR=$!
	BG_PIDS+=("$GR")
	for _ in $(seq 1 2000); do
		grep -q PHASE1-DONE "$TMP/guest-$kind.log" 2>/dev/null && break
		kill -0 "$GR" 2>/dev/null || break
		sleep 0.1
	done
	grep -q PHASE1-DONE "$TMP/guest-$kind.log" || { tail -20 "$TMP/guest-$kind.log"; fail "$kind: guest did not finish phase 1"; }
	sleep 2
	rpc bdev_get_iostat name=Delay0 >"$TMP/st.json" || fail "bdev_get_iostat"
	# The kill is the point of the test; the killed instance must still have run without a
	# sanitizer report (its log is kept as tgt-$kind-1.log; the restarted one writes tgt.log).
	kill -KILL "$TGT_PID" || fail "$kind: usk_tgt was gone before the SIGKILL"
	wait "$TGT_PID" 2>/dev/null
	rc=$?
	TGT_PID=
	PID=
	[ "$rc" -eq 137 ] || fail "$kind: the killed usk_tgt exited with $rc, not by the SIGKILL"
	mv "$TMP/tgt.log" "$TMP/tgt-$kind-1.log"
	e2e_check_log "$TMP/tgt-$kind-1.log" "$kind: the first usk_tgt (before its SIGKILL)"
	pass "$kind: usk_tgt killed during the guest's pattern B writes ($(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bdevs"][0]["num_write_ops"])' "$TMP/st.json") writes so far)"
	sleep 1
	start_tgt "$TMP/tgt.json" -S "$VDIR" --print-level INFO -L vhost
	wait "$GR"
	rc=$?
	tr -d '\r' <"$TMP/guest-$kind.log" | grep -E "^(PASS|FAIL):|passed,|took"
	grep -E "resubmits|front-end connected|inflight|started \(" "$TMP/tgt.log" | sed 's/^/  tgt: /'
	[ "$rc" -eq 0 ] || fail "$kind: guest failed across the restart (rc=$rc)"
	grep -q "queue 0 started ($kind ring" "$TMP/tgt.log" || fail "$kind: the restarted queue is not a $kind ring"
	# every write takes 300 ms in the delay bdev and four writers run: some were in flight at the
	# kill (30 and 100 ms were not always enough on a loaded host: a TCG guest or the target can
	# stall that long, and then every write has completed and the next ones wait in the ring)
	grep -q "queue 0 resubmits [1-9][0-9]* in-flight requests" "$TMP/tgt.log" ||
		fail "$kind: the restarted usk_tgt resubmitted nothing from the inflight region"
	tgt_alive || fail "$kind: restarted usk_tgt died"
	# The restarted instance is stopped the checked way (SIGTERM, exit 0, no sanitizer report).
	stop_tgt TERM
	b=$(tr -d '\r' <"$TMP/guest-$kind.log" | awk '$1 == "PATTERN_B_MD5" {print $2}')
	hb=$(dd if="$AIO_FILE" bs=1M skip=8 count=24 2>/dev/null | md5sum | cut -d' ' -f1)
	[ -n "$b" ] || fail "$kind: the guest did not report pattern B's md5"
	[ "$b" = "$hb" ] || fail "$kind: aio file pattern B md5 $hb differs from the guest's $b"
	pass "$kind: I/O resumed after the restart; nothing lost (guest and aio file agree: $hb)"
}

# VHOST_RECONNECT_CASES selects (default both)
for c in ${VHOST_RECONNECT_CASES:-split packed}; do
	run_case "$c"
done
echo "vhost_reconnect: all checks passed"
exit 0
