#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# vhost-user-blk end to end: usk_tgt -S DIR serves four controllers (split ring with 2 queues on
# a malloc bdev, packed ring, an aio bdev, a read-only one) to the Linux virtio_blk driver of one
# QEMU guest: 8 MiB O_DIRECT pattern + concurrent 4 KiB writes read back (md5) on each, DISCARD
# reaches the bdev (iostat), WRITE_ZEROES zeroes the aio file, the aio file holds the guest's
# pattern; RPC errors name the field; save_config replays into a fresh usk_tgt, which runs in
# interrupt mode: a second guest's md5 checks pass and the idle target uses almost no CPU.
set -u
NAME=vhost_blk
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
  {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 131072, "block_size": 512}},
  {"method": "bdev_malloc_create", "params": {"name": "Malloc1", "num_blocks": 16384, "block_size": 4096}},
  {"method": "bdev_aio_create", "params": {"name": "Aio0", "filename": "$AIO_FILE", "block_size": 512}}
 ]},
 {"subsystem": "vhost_blk", "config": [
  {"method": "vhost_create_blk_controller", "params": {"ctrlr": "vhost.split", "dev_name": "Malloc0"}},
  {"method": "vhost_create_blk_controller", "params": {"ctrlr": "vhost.packed", "dev_name": "Malloc1", "packed_ring": true, "cpumask": "0x1"}},
  {"method": "vhost_create_blk_controller", "params": {"ctrlr": "vhost.aio", "dev_name": "Aio0"}},
  {"method": "vhost_create_blk_controller", "params": {"ctrlr": "vhost.ro", "dev_name": "Malloc0", "readonly": true}},
  {"method": "vhost_controller_set_coalescing", "params": {"ctrlr": "vhost.aio", "delay_base_us": 20, "iops_threshold": 10000}}
 ]}
]}
JSON
start_tgt "$TMP/tgt.json" -S "$VDIR"
for c in vhost.split vhost.packed vhost.aio vhost.ro; do
	[ -S "$VDIR/$c" ] || fail "socket $VDIR/$c missing"
done
pass "usk_tgt -S $VDIR: four controller sockets"

# RPC validation: each error names its field
expect_err() { # FIELD ARGS...
	local field=$1
	shift
	if rpc "$@" >"$TMP/rpc.out" 2>&1; then
		fail "rpc $* succeeded"
	fi
	grep -q "$field" "$TMP/rpc.out" || { cat "$TMP/rpc.out"; fail "rpc $* error does not name $field"; }
}
expect_err ctrlr vhost_create_blk_controller ctrlr=vhost.split dev_name=Malloc0
expect_err dev_name vhost_create_blk_controller ctrlr=vhost.x dev_name=NoSuchBdev
expect_err cpumask vhost_create_blk_controller ctrlr=vhost.x dev_name=Malloc0 cpumask=0x100
expect_err ctrlr vhost_create_blk_controller ctrlr=a/b dev_name=Malloc0
expect_err ctrlr vhost_delete_controller ctrlr=vhost.none
expect_err iops_threshold vhost_controller_set_coalescing ctrlr=vhost.split delay_base_us=10 iops_threshold=0
pass "RPC errors name the field"
rpc vhost_get_controllers >"$TMP/ctrlrs.json" || fail "vhost_get_controllers"
python3 - "$TMP/ctrlrs.json" "$VDIR" <<'PY' || fail "vhost_get_controllers output"
import json, sys
c = {x["ctrlr"]: x for x in json.load(open(sys.argv[1]))}
assert set(c) == {"vhost.split", "vhost.packed", "vhost.aio", "vhost.ro"}, c
assert c["vhost.packed"]["backend_specific"]["block"]["packed_ring"] is True
assert c["vhost.ro"]["backend_specific"]["block"]["readonly"] is True
assert c["vhost.aio"]["delay_base_us"] == 20 and c["vhost.aio"]["iops_threshold"] == 10000
assert c["vhost.split"]["socket"] == sys.argv[2] + "/vhost.split"
PY
pass "vhost_get_controllers"

# One guest, four disks: vda split 2 queues, vdb packed, vdc aio, vdd read-only
"$HARNESS/guest-run.sh" --quiet --timeout 200 --log "$TMP/guest-1.log" \
	--vhost-user-blk "$VDIR/vhost.split,num-queues=2" \
	--vhost-user-blk "$VDIR/vhost.packed,num-queues=1,packed=on" \
	--vhost-user-blk "$VDIR/vhost.aio,num-queues=1" \
	--vhost-user-blk "$VDIR/vhost.ro,num-queues=1" \
	--bin /usr/sbin/blkdiscard \
	--env "VHOST_DISKS=vda:split:2:discard vdb:packed:1:discard vdc:aio:1:zeroes vdd:ro:1:ro" \
	--script "$E2E_DIR/guest/vhost_blk_guest.sh"
RC=$?
tr -d '\r' <"$TMP/guest-1.log" | grep -E "^(PASS|FAIL):|^\[|PATTERN_MD5|ZEROED|passed,"
[ "$RC" -eq 0 ] || fail "guest script failed (rc=$RC)"
tgt_alive || fail "usk_tgt died"

# DISCARD reached the malloc bdevs
rpc bdev_get_iostat >"$TMP/iostat.json" || fail "bdev_get_iostat"
python3 - "$TMP/iostat.json" <<'PY' || fail "DISCARD did not reach the bdevs"
import json, sys
st = json.load(open(sys.argv[1]))
b = {x["name"]: x for x in st["bdevs"]}
for n in ("Malloc0", "Malloc1"):
    assert b[n]["num_unmap_ops"] >= 1 and b[n]["bytes_unmapped"] >= 1048576, (n, b[n])
print("unmap ops:", {n: b[n]["num_unmap_ops"] for n in ("Malloc0", "Malloc1")})
PY
pass "blkdiscard reached Malloc0 and Malloc1 (bdev_get_iostat)"

rpc save_config >"$TMP/saved.json" || fail "save_config"
python3 - "$TMP/saved.json" <<'PY' || fail "save_config lacks the vhost controllers"
import json, sys
cfg = json.load(open(sys.argv[1]))
v = [s for s in cfg["subsystems"] if s["subsystem"] == "vhost_blk"][0]["config"]
names = {e["params"]["ctrlr"]: e["params"] for e in v if e["method"] == "vhost_create_blk_controller"}
assert set(names) == {"vhost.split", "vhost.packed", "vhost.aio", "vhost.ro"}, names
assert names["vhost.packed"]["packed_ring"] and names["vhost.ro"]["readonly"], names
co = [e["params"] for e in v if e["method"] == "vhost_controller_set_coalescing"]
assert co == [{"ctrlr": "vhost.aio", "delay_base_us": 20, "iops_threshold": 10000}], co
PY
rpc vhost_delete_controller ctrlr=vhost.ro >/dev/null || fail "vhost_delete_controller"
[ -e "$VDIR/vhost.ro" ] && fail "socket of a deleted controller left behind"
pass "vhost_delete_controller removed vhost.ro and its socket"
stop_tgt TERM
for c in vhost.split vhost.packed vhost.aio; do
	[ -e "$VDIR/$c" ] && fail "socket $c left behind after shutdown"
done

# the aio file holds what the guest wrote (the pattern with its second MiB zeroed)
FINAL=$(tr -d '\r' <"$TMP/guest-1.log" | awk '$1 == "FINAL_MD5" && $2 == "aio" {print $4}')
[ -n "$FINAL" ] || fail "guest did not report the aio content"
HOST=$(dd if="$AIO_FILE" bs=1M skip=1 count=8 2>/dev/null | md5sum | cut -d' ' -f1)
[ "$HOST" = "$FINAL" ] || fail "aio file md5 $HOST differs from the guest's $FINAL"
ZERO=$(dd if="$AIO_FILE" bs=1M skip=2 count=1 2>/dev/null | md5sum | cut -d' ' -f1)
[ "$ZERO" = "$(head -c 1048576 /dev/zero | md5sum | cut -d' ' -f1)" ] || fail "zeroed MiB not zero in the aio file"
pass "aio backing file holds the guest's data (md5 $HOST), WRITE_ZEROES zeroed its MiB"

# replay the saved config (controllers come back, with their options), in interrupt mode
cp "$TMP/saved.json" "$TMP/replay.json"
start_tgt "$TMP/replay.json" -S "$VDIR" --interrupt-mode
rpc vhost_get_controllers >"$TMP/ctrlrs2.json" || fail "vhost_get_controllers after replay"
python3 - "$TMP/ctrlrs2.json" <<'PY' || fail "replayed controllers differ"
import json, sys
c = {x["ctrlr"]: x for x in json.load(open(sys.argv[1]))}
assert set(c) == {"vhost.split", "vhost.packed", "vhost.aio", "vhost.ro"}, c
assert c["vhost.packed"]["backend_specific"]["block"]["packed_ring"] is True
assert c["vhost.aio"]["delay_base_us"] == 20
PY
pass "save_config replays the controllers"

# interrupt mode: kick eventfds in the thread's fd group; idle controllers cost ~no CPU
cpu_ticks() { awk '{print $14 + $15}' "/proc/$TGT_PID/stat"; }
idle_check() {
	local a b hz
	hz=$(getconf CLK_TCK)
	a=$(cpu_ticks)
	sleep 3
	b=$(cpu_ticks)
	[ $((b - a)) -le $((hz * 3 * 10 / 100)) ] || fail "$1: idle usk_tgt used $((b - a)) ticks in 3 s"
	pass "$1: idle usk_tgt (interrupt mode) used $((b - a)) clock ticks in 3 s"
}
idle_check "before the guest"
"$HARNESS/guest-run.sh" --quiet --timeout 200 --log "$TMP/guest-2.log" \
	--vhost-user-blk "$VDIR/vhost.split,num-queues=2" --vhost-user-blk "$VDIR/vhost.packed,num-queues=1,packed=on" \
	--env "VHOST_DISKS=vda:intr-split:2: vdb:intr-packed:1:" --env VHOST_SEEK_MIB=20 \
	--script "$E2E_DIR/guest/vhost_blk_guest.sh"
RC=$?
tr -d '\r' <"$TMP/guest-2.log" | grep -E "^(PASS|FAIL):|passed,"
[ "$RC" -eq 0 ] || fail "guest in interrupt mode failed (rc=$RC)"
idle_check "after the guest"
stop_tgt TERM
echo "vhost_blk: all checks passed"
exit 0
