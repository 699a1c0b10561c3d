#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The virtio-user initiator (bdev_virtio_attach_controller) against qemu-storage-daemon's
# vhost-user-blk export of a file, without hugepages (usk's memfd DMA memory):
#  - usk_bdevperf verify, polled on two cores with two queues (-C) and in interrupt mode, QD 128;
#  - data written through the virtio bdev is in qsd's backing file (every block holds its own
#    LBA; an aio bdev on the file finds usk_bdevperf's pattern), and data in the file reads back
#    through the virtio bdev; the read-only pass leaves the file's md5 unchanged;
#  - RPCs on usk_tgt: bad parameters fail naming the field, attach / bdev_get_bdevs / detach,
#    save_config replays the controller;
#  - qsd killed during I/O: usk_bdevperf's I/O fails and it exits (no hang), nothing else breaks;
#  - the same against usk's own vhost target (usk_tgt -S, vhost_create_blk_controller on aio):
#    verify polled (one queue, and two queues from two cores) and in interrupt mode, written
#    blocks found in the aio file.
set -u

# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
e2e_init bdev_virtio_user
E2E_LOG_TAIL=40
PERF=$BUILD_DIR/app/usk_bdevperf/usk_bdevperf
e2e_require "$PERF" "$TGT"
e2e_require_python
QSD=$(command -v qemu-storage-daemon) || { echo "SKIP: qemu-storage-daemon missing"; exit 77; }
QSD_PID=
VSOCK=$TMP/vhost.0

# On exit (common.sh's trap, which keeps the test's exit status): a qsd still running is killed.
# shellcheck disable=SC2317 # run by e2e_cleanup (e2e_on_exit)
kill_qsd() {
	if [ -n "$QSD_PID" ]; then
		kill -KILL "$QSD_PID" 2>/dev/null
		wait "$QSD_PID" 2>/dev/null
	fi
	QSD_PID=
}
e2e_on_exit kill_qsd

# start_qsd FILE: export FILE as vhost-user-blk with two queues on $VSOCK.
start_qsd() {
	rm -f "$VSOCK"
	"$QSD" --blockdev driver=file,node-name=file0,filename="$1" \
		--export type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path="$VSOCK",writable=on,num-queues=2 \
		>"$TMP/qsd.log" 2>&1 &
	QSD_PID=$!
	for _ in $(seq 1 100); do
		[ -S "$VSOCK" ] && return 0
		kill -0 "$QSD_PID" 2>/dev/null || { cat "$TMP/qsd.log"; fail "qemu-storage-daemon exited"; }
		sleep 0.1
	done
	fail "qemu-storage-daemon socket did not appear"
}

# stop_qsd: SIGTERM; qsd must exit 0 within E2E_STOP_TIMEOUT s.
stop_qsd() {
	local pid=$QSD_PID

	QSD_PID=
	e2e_stop_pid "$pid" "$TMP/qsd.log" qemu-storage-daemon TERM || fail "qemu-storage-daemon did not stop cleanly"
}

# virtio_json FILE VQ_COUNT [VQ_SIZE]: a usk config with one virtio-blk controller VirtioBlk0 on
# $VSOCK (256-entry queues by default).
virtio_json() {
	cat >"$1" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_virtio_attach_controller","params":{"name":"VirtioBlk0","trtype":"user",
  "traddr":"$VSOCK","dev_type":"blk","vq_count":$2,"vq_size":${3:-256}}}
]}]}
JSON
}

# check_run RC WHAT: the last e2e_run (which fails a timeout, a signal and a sanitizer report)
# exited 0 and had no failed I/O.
check_run() {
	local rc=$1 what=$2 line fails

	[ "$rc" -eq 0 ] || fail "$what: usk_bdevperf exited with $rc"
	line=$(grep -E "^ Total" "$TMP/out.log") || fail "$what: no Total row"
	awk -v v="$(echo "$line" | awk -F: '{print $2}' | awk '{print $1}')" 'BEGIN { exit !(v > 0) }' ||
		fail "$what: IOPS 0"
	fails=$(echo "$line" | awk -F: '{print $2}' | awk '{print $3}')
	awk -v v="$fails" 'BEGIN { exit !(v == 0) }' || fail "$what: Fail/s $fails"
}

truncate -s 16M "$TMP/disk.img"
start_qsd "$TMP/disk.img"

# 1. verify: two cores, each with its own queue; then interrupt mode on one queue.
virtio_json "$TMP/vq2.json" 2
e2e_run timeout -k 5 60 "$PERF" --no-huge --json "$TMP/vq2.json" -m 0x3 -C -q 128 -o 4096 \
	-w verify -t 3
check_run $? "verify on 2 queues"
grep -q "2 queue(s) of 256, indirect descriptors" "$TMP/out.log" || fail "not 2 queues with indirect descriptors"
[ "$(grep -cE '^[[:space:]]+VirtioBlk0[[:space:]]+:' "$TMP/out.log")" -eq 2 ] || fail "expected a job per core"
# Both cores create their channel at the same moment: each must claim a queue of its own (two
# threads on one queue corrupt its rings; it showed in about one start in four). Short runs.
for i in 1 2 3 4 5 6 7 8; do
	e2e_run timeout -k 5 60 "$PERF" --no-huge --json "$TMP/vq2.json" -m 0x3 -C -q 128 -o 4096 \
		-w verify -t 1
	check_run $? "two-core start $i"
	! grep -qE "broke the used ring|does not own it" "$TMP/out.log" || fail "two-core start $i: channels shared a queue"
done
virtio_json "$TMP/vq1.json" 1
e2e_run timeout -k 5 60 "$PERF" --no-huge --interrupt-mode --json "$TMP/vq1.json" -q 128 \
	-o 4096 -w verify -t 2
check_run $? "verify in interrupt mode"
# A 16-entry ring under QD 128: I/O waits for ring space in order (verify, then unmap ranges).
virtio_json "$TMP/small.json" 1 16
e2e_run timeout -k 5 60 "$PERF" --no-huge --json "$TMP/small.json" -q 128 -o 4096 -w verify -t 2
check_run $? "verify on a 16-entry ring"
e2e_run timeout -k 5 60 "$PERF" --no-huge --json "$TMP/small.json" -q 64 -o 1M -w unmap -t 2
check_run $? "unmap on a 16-entry ring"
# Large I/O: 1 MiB in many segments.
e2e_run timeout -k 5 60 "$PERF" --no-huge --json "$TMP/vq1.json" -q 8 -o 1M -w verify -t 2
check_run $? "1 MiB verify"

# 2. Through the virtio bdev into the file, and back.
e2e_run timeout -k 5 60 "$PERF" --no-huge --json "$TMP/vq1.json" -q 32 -o 4096 -w write \
	--check-pattern -t 2
check_run $? "sequential write"
stop_qsd
timeout 60 python3 - "$TMP/disk.img" <<'EOF' || fail "backing file does not hold the written blocks"
import struct, sys
data = open(sys.argv[1], "rb").read()
assert len(data) == 16 << 20
for lba in range(len(data) // 512):
    w0, = struct.unpack_from("<Q", data, lba * 512)
    if w0 != lba:
        raise SystemExit("block %d holds LBA %d" % (lba, w0))
EOF
cat >"$TMP/aio.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_aio_create","params":{"name":"AIO0","filename":"$TMP/disk.img","block_size":512}}
]}]}
JSON
e2e_run timeout -k 5 60 "$PERF" --no-huge --json "$TMP/aio.json" -q 32 -o 4096 -w read \
	--check-pattern -t 1
check_run $? "aio read of the backing file with --check-pattern"
md5_before=$(md5sum <"$TMP/disk.img")
start_qsd "$TMP/disk.img"
e2e_run timeout -k 5 60 "$PERF" --no-huge --json "$TMP/vq1.json" -q 32 -o 4096 -w randread \
	--check-pattern -t 2
check_run $? "virtio read of the file with --check-pattern"
stop_qsd
[ "$(md5sum <"$TMP/disk.img")" = "$md5_before" ] || fail "a read-only run changed the file"

# 3. RPCs on usk_tgt, save_config and replay.
start_qsd "$TMP/disk.img"
cat >"$TMP/check.py" <<'EOF'
import json, sys

sys.path.insert(0, sys.argv[-1])
from rpc_client import RpcClient

sock_path, phase, saved, vsock = sys.argv[1:5]
rpc = RpcClient(sock_path, 20)
call, ok, err, names = rpc.call, rpc.ok, rpc.err, rpc.names

good = {"name": "VirtioBlk0", "trtype": "user", "traddr": vsock, "dev_type": "blk",
        "vq_count": 2, "vq_size": 128}
def bad(**kw):
    p = dict(good)
    p.update(kw)
    return p

def check_bdev():
    b = ok("bdev_get_bdevs", {"name": "VirtioBlk0"})[0]
    assert b["block_size"] == 512 and b["num_blocks"] == 32768, b
    v = b["driver_specific"]["virtio_blk"]
    assert v["socket"] == vsock and v["vq_count"] == 2 and v["vq_size"] == 128, v
    assert v["indirect_desc"] is True and v["event_idx"] is True, v

if phase == "first":
    err("bdev_virtio_attach_controller", bad(trtype="pci"), "trtype")
    err("bdev_virtio_attach_controller", bad(dev_type="scsi"), "dev_type")
    err("bdev_virtio_attach_controller", bad(vq_size=100), "vq_size")
    err("bdev_virtio_attach_controller", bad(vq_count=0), "vq_count")
    err("bdev_virtio_attach_controller", {"name": "X", "trtype": "user", "dev_type": "blk"},
        "traddr")
    err("bdev_virtio_attach_controller", bad(traddr=vsock + ".missing"), vsock + ".missing")
    # qsd offers 2 queues.
    err("bdev_virtio_attach_controller", bad(vq_count=4), "VirtioBlk0")
    assert "VirtioBlk0" not in names()
    assert ok("bdev_virtio_attach_controller", good) == ["VirtioBlk0"]
    check_bdev()
    err("bdev_virtio_attach_controller", good, "VirtioBlk0")
    assert ok("bdev_virtio_detach_controller", {"name": "VirtioBlk0"}) is True
    assert "VirtioBlk0" not in names()
    err("bdev_virtio_detach_controller", {"name": "VirtioBlk0"}, "name")
    # The back-end takes a new front-end after the old one left.
    assert ok("bdev_virtio_attach_controller", good) == ["VirtioBlk0"]
    check_bdev()
    cfg = ok("save_config")
    bdev_cfg = [x for x in cfg["subsystems"] if x["subsystem"] == "bdev"][0]["config"]
    att = [c for c in bdev_cfg if c["method"] == "bdev_virtio_attach_controller"]
    assert len(att) == 1 and att[0]["params"] == good, att
    json.dump(cfg, open(saved, "w"))
else:
    check_bdev()
print("ok", phase)
EOF
e2e_start_tgt 0x1 --no-huge
timeout 90 python3 "$TMP/check.py" "$SOCK" first "$TMP/saved.json" "$VSOCK" "$E2E_DIR/lib" || fail "RPC phase"
e2e_stop_tgt INT
e2e_start_tgt 0x1 --no-huge --json "$TMP/saved.json"
timeout 60 python3 "$TMP/check.py" "$SOCK" replay "$TMP/saved.json" "$VSOCK" "$E2E_DIR/lib" || fail "replay phase"
e2e_stop_tgt INT

# 4. The back-end dies during I/O: the I/O fails, usk_bdevperf ends on its own; polled (the
# socket watched by a timed poller) and in interrupt mode (the socket in the fd group).
for mode in "" --interrupt-mode; do
	[ -n "$QSD_PID" ] || start_qsd "$TMP/disk.img"
	# shellcheck disable=SC2086
	"$PERF" --no-huge $mode --json "$TMP/vq1.json" -q 128 -o 4096 -w randread -f -t 4 \
		>"$TMP/out.log" 2>&1 &
	PID=$!
	sleep 2
	kill -KILL "$QSD_PID"
	wait "$QSD_PID" 2>/dev/null
	QSD_PID=
	deadline=$((SECONDS + 15))
	while kill -0 "$PID" 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || fail "usk_bdevperf $mode still runs 15 s after the back-end died"
		sleep 0.1
	done
	wait "$PID"
	rc=$?
	PID=
	# -f: the run goes on through the failed I/O and ends at -t with status 0 (not by a signal,
	# no sanitizer report); the failures are counted in its Total row.
	[ "$rc" -eq 0 ] || fail "usk_bdevperf $mode exited with $rc after the back-end died (expected 0 with -f)"
	e2e_check_log "$TMP/out.log" "usk_bdevperf $mode after the back-end died"
	line=$(grep -E "^ Total" "$TMP/out.log") || fail "usk_bdevperf $mode: no Total row"
	awk -v v="$(echo "$line" | awk -F: '{print $2}' | awk '{print $3}')" 'BEGIN { exit !(v > 0) }' ||
		fail "usk_bdevperf $mode: no failed I/O counted after the back-end died"
	grep -q "vhost-user socket .* closed; failing I/O" "$TMP/out.log" ||
		fail "the lost back-end was not logged ($mode)"
done

# 5. usk's own vhost-user-blk target (usk_tgt -S, vhost_create_blk_controller on an aio bdev):
# verify polled and in interrupt mode, and the written blocks are in the aio file.
truncate -s 16M "$TMP/usk.img"
mkdir -p "$TMP/vdir"
VSOCK=$TMP/vdir/vhost.0
e2e_start_tgt 0x1 --no-huge -S "$TMP/vdir"
rpc bdev_aio_create name=AIO0 filename="$TMP/usk.img" block_size=512 >/dev/null ||
	fail "bdev_aio_create on usk_tgt"
rpc vhost_create_blk_controller ctrlr=vhost.0 dev_name=AIO0 cpumask=0x1 >/dev/null ||
	fail "vhost_create_blk_controller"
[ -S "$VSOCK" ] || fail "no vhost socket $VSOCK"
virtio_json "$TMP/usk.json" 1
# The initiator on core 1: usk_tgt polls core 0.
e2e_run timeout -k 5 60 "$PERF" --no-huge -m 0x2 --json "$TMP/usk.json" -q 128 -o 4096 -w verify -t 3
check_run $? "verify against usk_tgt's vhost target"
# Two queues from two cores (the core-0 job shares its core with the polling target: slow).
virtio_json "$TMP/usk2.json" 2
e2e_run timeout -k 5 60 "$PERF" --no-huge -m 0x3 -C --json "$TMP/usk2.json" -q 32 -o 4096 \
	-w verify -t 2
check_run $? "verify on 2 queues against usk_tgt"
[ "$(grep -cE '^[[:space:]]+VirtioBlk0[[:space:]]+:' "$TMP/out.log")" -eq 2 ] || fail "expected a job per core (usk_tgt)"
e2e_run timeout -k 5 60 "$PERF" --no-huge -m 0x2 --interrupt-mode --json "$TMP/usk.json" -q 128 \
	-o 4096 -w verify -t 2
check_run $? "verify against usk_tgt in interrupt mode"
e2e_run timeout -k 5 60 "$PERF" --no-huge -m 0x2 --json "$TMP/usk.json" -q 32 -o 4096 -w write \
	--check-pattern -t 2
check_run $? "sequential write against usk_tgt"
e2e_stop_tgt INT
[ -e "$VSOCK" ] && fail "vhost socket $VSOCK left behind after usk_tgt stopped"
timeout 60 python3 - "$TMP/usk.img" <<'EOF2' || fail "usk_tgt's aio file does not hold the written blocks"
import struct, sys
data = open(sys.argv[1], "rb").read()
for lba in range(len(data) // 512):
    w0, = struct.unpack_from("<Q", data, lba * 512)
    if w0 != lba:
        raise SystemExit("block %d holds LBA %d" % (lba, w0))
EOF2
echo "PASS: bdev_virtio_user (verify polled/interrupt, data in the qsd file, RPCs, replay, back-end loss, usk_tgt's vhost target)"
exit 0
