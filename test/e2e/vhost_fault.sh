#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# vhost-user faults: a client sending garbage, one whose descriptor points outside guest memory
# and ones with a bad memory table (region count, region larger than its memfd) each get their connection closed with a log line while another
# controller serves a well-behaved client, and the same controller then serves a good client;
# QEMU killed with SIGKILL in the middle of writes: usk_tgt keeps running and a new QEMU on the
# same socket passes the md5 check.
set -u
NAME=vhost_fault
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
skip_unless_ready
CLIENT_PY=$E2E_DIR/vhost_lib/vhost_user_client.py

VDIR=$TMP/vh
mkdir -p "$VDIR"
cat >"$TMP/tgt.json" <<JSON
{"subsystems": [
 {"subsystem": "bdev", "config": [
  {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 131072, "block_size": 512}},
  {"method": "bdev_malloc_create", "params": {"name": "Malloc1", "num_blocks": 131072, "block_size": 512}}
 ]},
 {"subsystem": "vhost_blk", "config": [
  {"method": "vhost_create_blk_controller", "params": {"ctrlr": "vhost.a", "dev_name": "Malloc0"}},
  {"method": "vhost_create_blk_controller", "params": {"ctrlr": "vhost.b", "dev_name": "Malloc1"}}
 ]}
]}
JSON
start_tgt "$TMP/tgt.json" -S "$VDIR"

# a good client on vhost.b, over and over, while vhost.a is attacked
( for _ in $(seq 1 15); do timeout 20 python3 "$CLIENT_PY" "$VDIR/vhost.b" io || exit 1; done ) \
	>"$TMP/good.log" 2>&1 &
GOOD=$!
BG_PIDS+=("$GOOD")
for mode in garbage baddesc badmem shortmem; do
	timeout 20 python3 "$CLIENT_PY" "$VDIR/vhost.a" "$mode" || fail "$mode client: connection not closed"
done
wait "$GOOD" || { cat "$TMP/good.log"; fail "the good client on vhost.b failed while vhost.a was attacked"; }
tgt_alive || fail "usk_tgt died"
for why in "announces a" "descriptor outside guest memory" "SET_MEM_TABLE: 2 regions with 1 fds" \
	"beyond the end of its file"; do
	grep "vhost vhost.a: closing the connection: .*$why" "$TMP/tgt.log" >/dev/null ||
		fail "no log line for: $why"
done
grep -q "vhost vhost.b: closing the connection" "$TMP/tgt.log" && fail "vhost.b's connection was closed"
timeout 20 python3 "$CLIENT_PY" "$VDIR/vhost.a" io || fail "vhost.a does not serve a good client after the bad ones"
pass "bad clients closed and logged; vhost.b unaffected; vhost.a serves again"

GD=${GUEST_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/usk-guest}
if [ ! -f "$GD/vmlinuz" ] || ! command -v qemu-system-x86_64 >/dev/null; then
	stop_tgt TERM
	echo "SKIP: the QEMU part (no guest kernel or QEMU); the client part passed"
	exit 77
fi

# QEMU killed mid-write
"$HARNESS/guest-run.sh" --quiet --timeout 200 --log "$TMP/guest-1.log" --pidfile "$TMP/qemu.pid" \
	--vhost-user-blk "$VDIR/vhost.a" --script "$E2E_DIR/guest/vhost_writer_guest.sh" >/dev/null 2>&1 &
GR=$!
BG_PIDS+=("$GR")
for _ in $(seq 1 1500); do
	grep -q WRITER-STARTED "$TMP/guest-1.log" 2>/dev/null && break
	kill -0 "$GR" 2>/dev/null || break
	sleep 0.1
done
grep -q WRITER-STARTED "$TMP/guest-1.log" || fail "guest writer did not start"
rpc bdev_get_iostat name=Malloc0 >"$TMP/st1.json" || fail "bdev_get_iostat"
sleep 3
rpc bdev_get_iostat name=Malloc0 >"$TMP/st2.json" || fail "bdev_get_iostat"
python3 - "$TMP/st1.json" "$TMP/st2.json" <<'PY' || fail "no writes in flight before the kill"
import json, sys
a, b = (json.load(open(f))["bdevs"][0]["num_write_ops"] for f in sys.argv[1:3])
assert b > a, (a, b)
print("writes during the 3 s before the kill:", b - a)
PY
grep -q WRITER-ENDED "$TMP/guest-1.log" && fail "the guest writer stopped before the kill"
QPID=$(cat "$TMP/qemu.pid") || fail "no QEMU pid file: QEMU ended before the kill"
kill -KILL "$QPID" || fail "cannot kill QEMU"
wait "$GR" 2>/dev/null
for _ in $(seq 1 50); do
	grep -q "vhost vhost.a: front-end closed the connection" "$TMP/tgt.log" && break
	sleep 0.1
done
grep -q "vhost vhost.a: front-end closed the connection" "$TMP/tgt.log" || fail "usk_tgt did not notice QEMU's death"
tgt_alive || fail "usk_tgt died with QEMU"
pass "QEMU killed mid-write: usk_tgt noticed and keeps running"

"$HARNESS/guest-run.sh" --quiet --timeout 200 --log "$TMP/guest-2.log" \
	--vhost-user-blk "$VDIR/vhost.a,num-queues=2" --env "VHOST_DISKS=vda:after-kill:2:discard" \
	--script "$E2E_DIR/guest/vhost_blk_guest.sh"
RC=$?
tr -d '\r' <"$TMP/guest-2.log" | grep -E "^(PASS|FAIL):|passed,"
[ "$RC" -eq 0 ] || fail "a new QEMU on the same socket failed (rc=$RC)"
tgt_alive || fail "usk_tgt died"
pass "a new QEMU on the same socket works"

stop_tgt TERM
echo "vhost_fault: all checks passed"
exit 0
