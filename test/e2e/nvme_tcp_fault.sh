#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Faults under the user-space NVMe/TCP host driver:
#  1. usk_tgt killed (SIGKILL) under usk_nvme_perf: outstanding I/O completes with
#     ABORTED - SQ DELETION, perf exits non-zero within seconds (no hang).
#  2. usk_tgt stopped (SIGSTOP: connection open, nothing answers): the host's keep-alive timeout
#     fails the controller, I/O is aborted, perf exits.
#  3. bdev_nvme under usk_bdevperf -w verify: the target is killed and started again on the same
#     port; the controller reconnects (ctrlr_loss_timeout_sec / reconnect_delay_sec) and no I/O
#     fails (I/O is queued while reconnecting and aborted I/O is retried).
set -u
NAME=nvme_tcp_fault
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
skip_unless_ready
PERF=$BUILD_DIR/app/usk_nvme_perf/usk_nvme_perf
BDEVPERF=$BUILD_DIR/app/usk_bdevperf/usk_bdevperf
for b in "$PERF" "$BDEVPERF"; do
	[ -x "$b" ] || fail "$b not built"
done

no_sanitizer_reports() {
	if grep -qE "runtime error:|AddressSanitizer|LeakSanitizer" "$1"; then
		cat "$1" >&2
		fail "sanitizer report in $1"
	fi
}

# wait_pid_exit PID SECONDS: 0 if PID exited within SECONDS.
wait_pid_exit() {
	local pid=$1 t=$2
	for _ in $(seq 1 $((t * 10))); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

PORT=$(free_port)
TRID="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:$NQN"
tcp_config "$PORT" "$MALLOC_BDEV" >"$TMP/tgt.json"

# ---- 1: target killed mid-I/O ----
start_tgt "$TMP/tgt.json"
"$PERF" -c 0x2 -q 32 -o 4096 -w randrw -M 50 -t 30 -r "$TRID" >"$TMP/perf1.log" 2>&1 &
P=$!
BG_PIDS+=("$P")
sleep 3
kill -0 "$P" 2>/dev/null || fail "perf exited early: $(cat "$TMP/perf1.log")"
kill -KILL "$TGT_PID"
wait "$TGT_PID" 2>/dev/null
TGT_PID=
t0=$(date +%s)
wait_pid_exit "$P" 15 || fail "usk_nvme_perf still running 15 s after the target was killed"
wait "$P"
rc=$?
echo "perf exited $(( $(date +%s) - t0 )) s after the kill with rc $rc"
[ $rc -ne 0 ] || fail "perf exited 0 although its I/O was aborted"
grep -q "ABORTED - SQ DELETION" "$TMP/perf1.log" || fail "no abort status reported: $(tail "$TMP/perf1.log")"
grep -q "connection closed by the controller\|receive failed" "$TMP/perf1.log" ||
	fail "no connection-loss log line: $(tail "$TMP/perf1.log")"
no_sanitizer_reports "$TMP/perf1.log"
pass "target killed: outstanding I/O aborted, perf exited"

# ---- 2: target stops answering (keep-alive timeout) ----
start_tgt "$TMP/tgt.json"
"$PERF" -c 0x2 -q 8 -o 4096 -w randread -t 30 -k 2000 -r "$TRID" >"$TMP/perf2.log" 2>&1 &
P=$!
BG_PIDS+=("$P")
sleep 2
kill -0 "$P" 2>/dev/null || fail "perf exited early: $(cat "$TMP/perf2.log")"
kill -STOP "$TGT_PID"
wait_pid_exit "$P" 15 || { kill -CONT "$TGT_PID"; fail "perf still running 15 s after the target stopped answering"; }
wait "$P"
rc=$?
kill -CONT "$TGT_PID"
[ $rc -ne 0 ] || fail "perf exited 0 although the controller died"
grep -q "no Keep Alive response within 2000 ms" "$TMP/perf2.log" || fail "no keep-alive timeout: $(tail "$TMP/perf2.log")"
grep -q "ABORTED - SQ DELETION" "$TMP/perf2.log" || fail "no abort status: $(tail "$TMP/perf2.log")"
no_sanitizer_reports "$TMP/perf2.log"
stop_tgt
pass "target silent: keep-alive timeout, I/O aborted"

# ---- 3: bdev_nvme reconnects; verify sees no failed I/O ----
truncate -s 64M "$TMP/aio.img"
AIO="{\"method\": \"bdev_aio_create\", \"params\": {\"name\": \"Malloc0\", \"filename\": \"$TMP/aio.img\", \"block_size\": 512}}"
tcp_config "$PORT" "$AIO" >"$TMP/tgt-aio.json"
start_tgt "$TMP/tgt-aio.json"
cat >"$TMP/bp.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_nvme_attach_controller","params":{"name":"Nvme0","trtype":"TCP","adrfam":"IPv4",
   "traddr":"127.0.0.1","trsvcid":"$PORT","subnqn":"$NQN","ctrlr_loss_timeout_sec":30,
   "reconnect_delay_sec":1}}
]}]}
JSON
"$BDEVPERF" --json "$TMP/bp.json" -r "$TMP/bp.sock" -m 0x2 -q 8 -o 4096 -w verify -t 14 >"$TMP/bp.log" 2>&1 &
P=$!
BG_PIDS+=("$P")
sleep 4
kill -0 "$P" 2>/dev/null || fail "bdevperf exited early: $(tail -20 "$TMP/bp.log")"
kill -KILL "$TGT_PID"
wait "$TGT_PID" 2>/dev/null
TGT_PID=
sleep 3
start_tgt "$TMP/tgt-aio.json"
wait_pid_exit "$P" 40 || fail "bdevperf did not finish"
wait "$P"
rc=$?
[ $rc -eq 0 ] || { cp "$TMP/bp.log" /tmp/nvt/bp-fail.log 2>/dev/null; fail "bdevperf rc $rc: $(grep -A30 -m1 "ERROR: AddressSanitizer\|runtime error" "$TMP/bp.log" || tail -20 "$TMP/bp.log")"; }
grep -q "controller lost; reconnecting" "$TMP/bp.log" || fail "the loss was not noticed: $(tail -20 "$TMP/bp.log")"
grep -q "Nvme0: controller reconnected" "$TMP/bp.log" || fail "no reconnect: $(tail -20 "$TMP/bp.log")"
line=$(grep -E "^[[:space:]]+Nvme0n1[[:space:]]+:" "$TMP/bp.log") || fail "no Nvme0n1 row"
fails=$(echo "$line" | awk -F: '{print $2}' | awk '{print $4}')
iops=$(echo "$line" | awk -F: '{print $2}' | awk '{print $2}')
awk -v v="$fails" 'BEGIN { exit !(v == 0) }' || fail "I/O failed during the reconnect: Fail/s $fails"
awk -v v="$iops" 'BEGIN { exit !(v > 0) }' || fail "IOPS $iops"
no_sanitizer_reports "$TMP/bp.log"
stop_tgt
pass "bdev_nvme reconnected after the target came back; no I/O failed"
exit 0
