#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# usk_tgt restarted under a running guest: QEMU's chardev has reconnect=1 and usk offers
# INFLIGHT_SHMFD. The guest writes a 24 MiB pattern with O_DIRECT from four writers to a delay
# bdev (30 ms per write) over an aio file; in the middle usk_tgt is killed with SIGKILL and started
# again on the same socket. The restarted target must resubmit the requests the inflight region
# shows in flight, the guest's writes must finish, both patterns must read back intact in the
# guest, and the aio file must hold them.
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
cat >"$TMP/tgt.json" <<JSON
{"subsystems": [
 {"subsystem": "bdev", "config": [
  {"method": "bdev_aio_create", "params": {"name": "Aio0", "filename": "$AIO_FILE", "block_size": 512}},
  {"method": "bdev_delay_create", "params": {"base_bdev_name": "Aio0", "name": "Delay0",
   "avg_read_latency": 1000, "p99_read_latency": 1000, "avg_write_latency": 30000, "p99_write_latency": 30000}}
 ]},
 {"subsystem": "vhost_blk", "config": [
  {"method": "vhost_create_blk_controller", "params": {"ctrlr": "vhost.r", "dev_name": "Delay0"}}
 ]}
]}
JSON
start_tgt "$TMP/tgt.json" -S "$VDIR"

# guest-run's --vhost-user-blk has no chardev options: build the device by hand (same memfd RAM)
"$HARNESS/guest-run.sh" --quiet --timeout 280 --log "$TMP/guest-1.log" --append no_timer_check \
	--qemu-arg -object --qemu-arg "memory-backend-memfd,id=mem0,size=1024M,share=on" \
	--qemu-arg -machine --qemu-arg memory-backend=mem0 \
	--qemu-arg -chardev --qemu-arg "socket,id=vr0,path=$VDIR/vhost.r,reconnect=1" \
	--qemu-arg -device --qemu-arg "vhost-user-blk-pci,chardev=vr0,num-queues=1" \
	--script "$E2E_DIR/guest/vhost_reconnect_guest.sh" >/dev/null 2>&1 &
GR=$!
BG_PIDS+=("$GR")
for _ in $(seq 1 2000); do
	grep -q PHASE1-DONE "$TMP/guest-1.log" 2>/dev/null && break
	kill -0 "$GR" 2>/dev/null || break
	sleep 0.1
done
grep -q PHASE1-DONE "$TMP/guest-1.log" || { tail -20 "$TMP/guest-1.log"; fail "guest did not finish phase 1"; }
sleep 2
rpc bdev_get_iostat name=Delay0 >"$TMP/st.json" || fail "bdev_get_iostat"
# The kill is the point of the test; the killed instance must still have run without a
# sanitizer report (its log is kept as tgt-1.log; the restarted one writes tgt.log).
kill -KILL "$TGT_PID" || fail "usk_tgt was gone before the SIGKILL"
wait "$TGT_PID" 2>/dev/null
RC=$?
TGT_PID=
PID=
[ "$RC" -eq 137 ] || fail "the killed usk_tgt exited with $RC, not by the SIGKILL"
mv "$TMP/tgt.log" "$TMP/tgt-1.log"
e2e_check_log "$TMP/tgt-1.log" "the first usk_tgt (before its SIGKILL)"
pass "usk_tgt killed during the guest's pattern B writes ($(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bdevs"][0]["num_write_ops"])' "$TMP/st.json") writes so far)"
sleep 1
start_tgt "$TMP/tgt.json" -S "$VDIR"
wait "$GR"
RC=$?
tr -d '\r' <"$TMP/guest-1.log" | grep -E "^(PASS|FAIL):|passed,|took"
grep -E "resubmits|front-end connected|inflight" "$TMP/tgt.log" | sed 's/^/  tgt: /'
[ "$RC" -eq 0 ] || fail "guest failed across the restart (rc=$RC)"
# every write takes 30 ms in the delay bdev and four writers run: some were in flight at the kill
grep -q "queue 0 resubmits [1-9][0-9]* in-flight requests" "$TMP/tgt.log" ||
	fail "the restarted usk_tgt resubmitted nothing from the inflight region"
tgt_alive || fail "restarted usk_tgt died"
# The restarted instance is stopped the checked way (SIGTERM, exit 0, no sanitizer report).
stop_tgt TERM
B=$(tr -d '\r' <"$TMP/guest-1.log" | awk '$1 == "PATTERN_B_MD5" {print $2}')
HB=$(dd if="$AIO_FILE" bs=1M skip=8 count=24 2>/dev/null | md5sum | cut -d' ' -f1)
[ -n "$B" ] || fail "the guest did not report pattern B's md5"
[ "$B" = "$HB" ] || fail "aio file pattern B md5 $HB differs from the guest's $B"
pass "I/O resumed after the restart; nothing lost (guest and aio file agree: $HB)"
echo "vhost_reconnect: all checks passed"
exit 0
