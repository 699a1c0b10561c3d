#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Tracepoints end to end: usk_tgt -e nvmf_tcp,bdev with an NVMe/TCP host doing I/O; usk_trace -p
# shows every tracepoint of both groups with per-object latencies (bdev I/O start to done,
# request new to done, poller runs over a threshold with the poller's name) and a summary whose
# counts pair up; a copy of the file reads the same
# with -f; the RPCs report and change the group mask; the file goes away at exit; without -e
# there is no file and trace_enable_tpoint_group says so.
set -u
NAME=trace
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
TRACE=$BUILD_DIR/app/usk_trace/usk_trace
skip_unless_ready
[ -x "$TRACE" ] || fail "$TRACE not built"

PORT=$(free_port)
tcp_config "$PORT" "$MALLOC_BDEV" >"$TMP/tgt.json"
# rings big enough that 2 s of I/O never wraps them (a wrapped ring loses the oldest records,
# and the new/done counts below would differ)
start_tgt "$TMP/tgt.json" -e nvmf_tcp,bdev --num-trace-entries 1048576
SHM=/dev/shm/usk_tgt_trace.pid$TGT_PID
[ -f "$SHM" ] || fail "no $SHM"
rpc trace_get_tpoint_group_mask >"$TMP/mask.json" || fail "trace_get_tpoint_group_mask"
grep -q '"tpoint_group_mask": "0x3"' "$TMP/mask.json" || fail "mask not 0x3: $(cat "$TMP/mask.json")"
grep -q "\"path\": \"$SHM\"" "$TMP/mask.json" || fail "path not reported"

python3 "$CLIENT" "$PORT" "$NQN" good --seconds 2 >"$TMP/client.log" 2>&1 || { cat "$TMP/client.log" >&2; fail "client failed"; }
"$TRACE" -p "$TGT_PID" >"$TMP/trace.txt" 2>"$TMP/trace.err" || { cat "$TMP/trace.err" >&2; fail "usk_trace -p failed"; }
for tp in BDEV_IO_START BDEV_IO_DONE TCP_PDU_RECV TCP_PDU_SEND TCP_REQ_NEW TCP_REQ_EXEC TCP_REQ_DONE; do
	grep -q "^ *[0-9.]\+ \+0  $tp " "$TMP/trace.txt" || fail "no $tp record"
done
cnt() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/trace.txt"; }
s=$(cnt BDEV_IO_START); d=$(cnt BDEV_IO_DONE)
[ -n "$s" ] && [ "$s" -gt 100 ] || fail "only '$s' bdev I/O starts"
[ "$s" -eq "$d" ] || fail "bdev I/O starts $s != dones $d (the client finished all I/O)"
n=$(cnt TCP_REQ_NEW); e=$(cnt TCP_REQ_DONE)
[ "$n" -eq "$e" ] || fail "requests new $n != done $e"
# per-object latency: every BDEV_IO_DONE line carries one, and the summary averages them
awk '$3 == "BDEV_IO_DONE" { if ($NF !~ /^[0-9]+\.[0-9]+$/ || $NF + 0 <= 0) bad++; n++ } END { exit !(n > 0 && bad == 0) }' "$TMP/trace.txt" ||
	fail "BDEV_IO_DONE lines without a latency"
grep -Eq "^latency bdev I/O \(start to done\): $d samples, avg [0-9.]+ us" "$TMP/trace.txt" ||
	fail "no bdev latency summary over $d samples"
# timestamps in µs, non-decreasing
awk '$3 ~ /^[A-Z_]+$/ && $1 ~ /^[0-9.]+$/ { if ($1 + 0 < last) bad++; last = $1 + 0 } END { exit bad > 0 }' "$TMP/trace.txt" ||
	fail "timestamps not in order"
pass "usk_trace -p: $s bdev I/O with latency, $n requests, all tracepoints"

cp "$SHM" "$TMP/saved.trace"
"$TRACE" -f "$TMP/saved.trace" -q >"$TMP/saved.txt" || fail "usk_trace -f failed"
grep -q "^BDEV_IO_START  *$s$" "$TMP/saved.txt" || fail "saved copy reads differently"
head -c 100 "$TMP/saved.trace" >"$TMP/short.trace"
"$TRACE" -f "$TMP/short.trace" >/dev/null 2>"$TMP/err.txt" && fail "truncated file accepted"
grep -q "not a usk trace file\|too short" "$TMP/err.txt" || fail "truncated file: no message"
pass "usk_trace -f on a copy (and a truncated file refused)"

rpc trace_enable_tpoint_group name=thread poller_threshold_us=2 >/dev/null || fail "trace_enable_tpoint_group thread"
rpc trace_get_tpoint_group_mask | grep -q '"tpoint_group_mask": "0x7"' || fail "mask not 0x7 after enabling thread"
# An RPC runs inside the RPC poller: with a 2 µs threshold that run is recorded, named.
rpc bdev_malloc_create name=Big num_blocks=524288 block_size=512 >/dev/null || fail "bdev_malloc_create Big"
"$TRACE" -p "$TGT_PID" >"$TMP/slow.txt" || fail "usk_trace after the slow RPC"
awk '$3 == "POLLER_SLOW" && $5 ~ /^rpc_subsystem_po/ && $NF + 0 >= 2 { ok = 1 } END { exit !ok }' "$TMP/slow.txt" ||
	{ grep POLLER_SLOW "$TMP/slow.txt" | tail -5 >&2; fail "no POLLER_SLOW record of the RPC poller >= 2 us"; }
grep -q "OBJECT_NAME" "$TMP/slow.txt" && ! grep -q "^ *[0-9.]\+ \+[0-9]\+  OBJECT_NAME" "$TMP/slow.txt" ||
	fail "OBJECT_NAME records should be counted, not listed"
slow=$(awk '$3 == "POLLER_SLOW" && $5 ~ /^rpc_subsystem_po/ { v = $NF } END { print v }' "$TMP/slow.txt")
pass "thread group: POLLER_SLOW rpc_subsystem_poll ran $slow us for bdev_malloc_create"
rpc trace_disable_tpoint_group name=bdev >/dev/null || fail "trace_disable_tpoint_group bdev"
rpc trace_get_tpoint_group_mask | grep -q '"tpoint_group_mask": "0x6"' || fail "mask not 0x6 after disabling bdev"
"$TRACE" -p "$TGT_PID" -q >"$TMP/before.txt"
python3 "$CLIENT" "$PORT" "$NQN" good --seconds 1 >"$TMP/client.log" 2>&1 || fail "second client failed"
"$TRACE" -p "$TGT_PID" -q >"$TMP/after.txt"
[ "$(awk '$1 == "BDEV_IO_START" { print $2 }' "$TMP/after.txt")" = "$(awk '$1 == "BDEV_IO_START" { print $2 }' "$TMP/before.txt")" ] ||
	fail "bdev records kept coming after trace_disable_tpoint_group bdev"
rpc trace_enable_tpoint_group name=bogus >"$TMP/rpc.out" 2>&1 && fail "bogus group accepted"
grep -q "(name)" "$TMP/rpc.out" || fail "error does not name the field"
pass "RPCs: mask 0x3 -> 0x7 -> 0x6, disabled group stops recording, bad name refused"

kill -TERM "$TGT_PID"
wait "$TGT_PID"
rc=$?
TGT_PID=
[ "$rc" -eq 0 ] || fail "usk_tgt exit code $rc"
[ -e "$SHM" ] && fail "$SHM left behind"
grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$TMP/tgt.log" && fail "sanitizer report"

start_tgt "$TMP/tgt.json"
[ -e "/dev/shm/usk_tgt_trace.pid$TGT_PID" ] && fail "trace file created without -e"
rpc trace_enable_tpoint_group name=bdev >"$TMP/rpc.out" 2>&1 && fail "enable without -e accepted"
grep -q "start the app with -e" "$TMP/rpc.out" || fail "no hint to use -e"
"$TRACE" -p "$TGT_PID" >/dev/null 2>&1 && fail "usk_trace -p found a file without -e"
stop_tgt
pass "file removed at exit; no -e: no file, RPC explains"
