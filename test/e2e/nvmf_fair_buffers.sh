#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Issue 9 (2, 3, 4) against a real usk_tgt with hand-written NVMe/TCP hosts on 127.0.0.1:
#  - a hoarding host (5 I/O qpairs x 128 writes of 128 KiB needing R2T, data never sent) gets
#    only its share of the data buffer pool (set here to the whole floor of 511, so that the
#    pool must grow; the automatic share, half of the pool, is in tcp_transport_ut); a
#    well-behaved host beside it gets its R2T within a second and does verified I/O; the pool
#    grows from num_shared_buffers toward max_shared_buffers; the hoarder's writes fail with a
#    transient transport error after
#    r2t_timeout_ms and its connections are closed with a log line naming the (escaped) host;
#  - one command more than the negotiated SQSIZE + 1 is a fatal transport error (counted);
#  - NQNs from Connect reach the log escaped (no forged lines);
#  - a connection that never sends ICReq is closed after connect_timeout_ms;
#  - a listener keeps at most max_connections_per_listener connections, and logs the refusal.
set -u
NAME=nvmf_fair_buffers
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
skip_unless_ready

PORT=$(free_port)
cat >"$TMP/tgt.json" <<JSON
{"subsystems": [
 {"subsystem": "bdev", "config": [ $MALLOC_BDEV ]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "TCP", "num_shared_buffers": 511,
     "max_shared_buffers": 1023, "r2t_timeout_ms": 40000, "connect_timeout_ms": 2000,
     "max_connections_per_listener": 16, "max_r2t_buffers_per_qpair": 255,
     "max_r2t_buffers_per_ctrlr": 511}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN", "allow_any_host": true,
     "serial_number": "USK00000000000001", "model_number": "usk e2e ctrl"}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NQN", "namespace": {"bdev_name": "Malloc0"}}},
  {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$NQN",
     "listen_address": {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "$PORT"}}}
 ]}
]}
JSON
start_tgt "$TMP/tgt.json"

stat() {
	rpc nvmf_get_stats | python3 -c "import json,sys
d=json.load(sys.stdin)
print(sum(t.get('$1', 0) for g in d['poll_groups'] for t in g['transports']))"
}

# save_config / nvmf_get_transports carry the new options
rpc nvmf_get_transports >"$TMP/transports.json" || fail "nvmf_get_transports"
for k in '"max_shared_buffers": 1023' '"r2t_timeout_ms": 40000' '"connect_timeout_ms": 2000' \
	'"max_connections_per_listener": 16'; do
	grep -q "$k" "$TMP/transports.json" || fail "nvmf_get_transports lacks $k"
done
rpc save_config | grep -q '"max_shared_buffers": 1023' || fail "save_config lacks max_shared_buffers"
pass "transport options reported"

timeout 150 python3 "$CLIENT" "$PORT" "$NQN" hoard 5 128 131072 >"$TMP/hoard.log" 2>&1 &
HOARD_PID=$!
BG_PIDS+=("$HOARD_PID")
# the hoarder has sent its 640 writes and holds its share
for _ in $(seq 1 50); do
	[ "$(stat r2t_share_waiting)" -gt 0 ] && break
	sleep 0.1
done
[ "$(stat r2t_share_waiting)" -gt 0 ] || fail "the hoarder never hit its share"
held=$(stat shared_buffers)
pass "hoarder capped: $(stat r2t_share_waiting) writes wait for their share; pool now $held buffers"

# the hoarder still holds everything it got (r2t_timeout_ms is 40 s) when the probe starts
[ "$(stat r2t_timeouts)" -eq 0 ] || fail "the hoarder timed out before the probe started"
timeout 30 python3 "$CLIENT" "$PORT" "$NQN" probe 1 >"$TMP/probe.log" 2>&1
rc=$?
cat "$TMP/probe.log"
[ "$rc" -eq 0 ] || fail "the well-behaved host did not get its R2T within 1 s / its I/O failed"
[ "$(stat r2t_timeouts)" -eq 0 ] || fail "the hoarder timed out during the probe (machine too slow?)"
[ "$(stat shared_buffer_grows)" -ge 1 ] || fail "the pool never grew"
pass "well-behaved host served while the hoarder holds its share; the pool grew to $(stat shared_buffers)"

wait "$HOARD_PID"
rc=$?
cat "$TMP/hoard.log"
[ "$rc" -eq 0 ] || fail "the hoarder's writes were not failed and its connections not closed"
[ "$(stat r2t_timeouts)" -ge 4 ] || fail "r2t_timeouts $(stat r2t_timeouts) < 4 (qpairs holding R2Ts)"
grep "no data for cid" "$TMP/tgt.log" | head -1
grep -q 'host nqn.2014-08.org.example:hoarder\\x0a\[ERROR\] forged\\x1b\[31m (127.0.0.1' \
	"$TMP/tgt.log" || fail "no R2T timeout log line naming the escaped host NQN"
if grep -q "^\[ERROR\] forged" "$TMP/tgt.log"; then fail "a forged log line got through"; fi
[ "$(stat shared_buffers)" -le 1023 ] || fail "the pool grew past max_shared_buffers"
pass "hoarder failed with a transport error and closed; pool grew to $(stat shared_buffers) (max 1023)"

timeout 30 python3 "$CLIENT" "$PORT" "$NQN" overflow 16 >"$TMP/overflow.log" 2>&1
rc=$?
cat "$TMP/overflow.log"
[ "$rc" -eq 0 ] || fail "17 commands on a 16-entry queue were not a fatal transport error"
[ "$(stat sq_overflows)" -eq 1 ] || fail "sq_overflows is $(stat sq_overflows), expected 1"
pass "SQSIZE + 1 enforced"

# wire strings reach the log escaped
timeout 10 python3 "$CLIENT" "$PORT" "$NQN" forge >"$TMP/forge.log" 2>&1 || {
	cat "$TMP/forge.log"; fail "forged Connect"; }
grep -qF 'connect: unknown subsystem nqn.2016-06.io.usk:x\x0a[ERROR] forged line\x1b[2J' \
	"$TMP/tgt.log" || fail "the forged subsystem NQN was not logged escaped"
if grep -q "^\[ERROR\] forged line" "$TMP/tgt.log"; then fail "a forged log line got through"; fi
pass "host-supplied NQNs are logged escaped"

timeout 10 python3 "$CLIENT" "$PORT" "$NQN" idle 4 >"$TMP/idle.log" 2>&1
rc=$?
cat "$TMP/idle.log"
[ "$rc" -eq 0 ] || fail "a connection without ICReq was not closed"
grep -q "no ICReq within 2000 ms" "$TMP/tgt.log" || fail "no log line for the idle connection"
pass "connect timeout"

# wait for the closed connections to be gone, then fill the listener
for _ in $(seq 1 50); do
	[ "$(stat current_qpairs)" -eq 0 ] && break
	sleep 0.1
done
timeout 20 python3 "$CLIENT" "$PORT" "$NQN" conncap 20 16 >"$TMP/cap.log" 2>&1
rc=$?
cat "$TMP/cap.log"
[ "$rc" -eq 0 ] || fail "max_connections_per_listener not enforced"
grep -q "max_connections_per_listener): refusing" "$TMP/tgt.log" || fail "no log line for a refused connection"
pass "listener connection cap"

# well-behaved I/O again once everything is closed
timeout 60 python3 "$CLIENT" "$PORT" "$NQN" good --seconds 1 >"$TMP/good.log" 2>&1 || {
	cat "$TMP/good.log"; fail "I/O after the tests failed"; }
tgt_alive || fail "usk_tgt died"
stop_tgt TERM
echo "nvmf_fair_buffers: all checks passed"
exit 0
