#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The user-space NVMe/TCP host driver against a foreign target: the Linux kernel's nvmet-tcp in a
# QEMU guest (harness tests/nvmet-target.sh, 64 MiB RAM disk), forwarded to 127.0.0.1. With
# header and data digests on: usk_identify shows the kernel's controller ("Linux" model),
# usk_nvme_perf runs randrw, usk_bdevperf -w verify passes on the nvme bdev.
set -u
NAME=nvme_tcp_kernel_target
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
skip_unless_ready
skip_unless_guest
IDENTIFY=$BUILD_DIR/app/usk_identify/usk_identify
PERF=$BUILD_DIR/app/usk_nvme_perf/usk_nvme_perf
BDEVPERF=$BUILD_DIR/app/usk_bdevperf/usk_bdevperf
for b in "$IDENTIFY" "$PERF" "$BDEVPERF"; do
	[ -x "$b" ] || fail "$b not built"
done

PORT=$(free_port)
STOP_PORT=$(free_port)
"$HARNESS/guest-run.sh" --quiet --log "$TMP/target.log" --smp 1 --timeout 280 \
	--hostfwd "tcp:127.0.0.1:$PORT-:4420" --hostfwd "tcp:127.0.0.1:$STOP_PORT-:7777" \
	--env NVMET_NQN="$NQN" --env NVMET_MB=64 --env NVMET_LIFETIME=240 \
	--script "$HARNESS/tests/nvmet-target.sh" >"$TMP/guest-run.log" 2>&1 &
GPID=$!
BG_PIDS+=("$GPID")
for _ in $(seq 1 1800); do
	grep -q TARGET-READY "$TMP/target.log" 2>/dev/null && break
	kill -0 "$GPID" 2>/dev/null || break
	sleep 0.1
done
grep -q TARGET-READY "$TMP/target.log" 2>/dev/null || fail "kernel target guest did not come up: $(tail -20 "$TMP/target.log" "$TMP/guest-run.log" 2>/dev/null)"
TRID="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:$NQN"

timeout -k 2 60 "$IDENTIFY" -H -D -r "$TRID" >"$TMP/id.log" 2>&1 || fail "usk_identify: $(tail "$TMP/id.log")"
grep -q "^Model Number: *Linux" "$TMP/id.log" || fail "not the kernel's controller: $(head -20 "$TMP/id.log")"
grep -q "^Namespace ID:1$" "$TMP/id.log" || fail "no namespace 1"
grep -q "^Size (in LBAs): *131072 " "$TMP/id.log" || fail "64 MiB namespace expected: $(grep Size "$TMP/id.log")"
pass "usk_identify against the kernel nvmet-tcp target (digests on)"

timeout -k 2 60 "$PERF" -c 0x2 -q 16 -o 4096 -w randrw -M 50 -t 3 -H -I -r "$TRID" >"$TMP/perf.log" 2>&1 ||
	fail "usk_nvme_perf: $(tail "$TMP/perf.log")"
total=$(awk -F: '/^Total/ {print $2}' "$TMP/perf.log" | awk '{print $1}')
awk -v v="${total:-0}" 'BEGIN { exit !(v > 0) }' || fail "perf Total IOPS '${total:-}'"
pass "usk_nvme_perf randrw with digests: $total IOPS (TCG guest)"

cat >"$TMP/bp.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_nvme_attach_controller","params":{"name":"Nvme0","trtype":"TCP","adrfam":"IPv4",
   "traddr":"127.0.0.1","trsvcid":"$PORT","subnqn":"$NQN","hdgst":true,"ddgst":true}}
]}]}
JSON
timeout -k 5 90 "$BDEVPERF" --json "$TMP/bp.json" -r "$TMP/bp.sock" -m 0x2 -q 8 -o 65536 -w verify -t 3 \
	>"$TMP/bp.log" 2>&1 || fail "bdevperf verify: $(tail -20 "$TMP/bp.log")"
line=$(grep -E "^[[:space:]]+Nvme0n1[[:space:]]+:" "$TMP/bp.log") || fail "no Nvme0n1 row"
fails=$(echo "$line" | awk -F: '{print $2}' | awk '{print $4}')
awk -v v="$fails" 'BEGIN { exit !(v == 0) }' || fail "verify Fail/s $fails"
pass "usk_bdevperf verify (64 KiB, R2T/H2CData and C2HData) on the kernel target"

# stop the target guest
python3 -c "import socket; s=socket.create_connection(('127.0.0.1', $STOP_PORT)); s.sendall(b'stop'); s.close()" 2>/dev/null
for _ in $(seq 1 300); do kill -0 "$GPID" 2>/dev/null || break; sleep 0.1; done
exit 0
