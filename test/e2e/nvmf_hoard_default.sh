#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Issue 9's hoarding host against the default TCP transport (fixed pool of 511 buffers of
# 128 KiB, automatic shares): 5 I/O qpairs x 128 writes of 128 KiB that need an R2T, data never
# sent. It may hold at most half of the pool (its controller's share), so another host still
# gets its R2T within a second and verified I/O runs; after r2t_timeout_ms (15 s here) each
# hoarding qpair holding R2Ts is failed and closed. See nvmf_fair_buffers.sh for the growing pool and the other limits.
set -u
NAME=nvmf_hoard_default
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
skip_unless_ready

PORT=$(free_port)
# the defaults, but a 15 s R2T timeout: the probe must run while the hoarder still holds
tcp_config "$PORT" "$MALLOC_BDEV" |
	sed 's/"params": {"trtype": "TCP"}/"params": {"trtype": "TCP", "r2t_timeout_ms": 15000}/' \
	>"$TMP/tgt.json"
grep -q '"r2t_timeout_ms": 15000' "$TMP/tgt.json" || fail "config"
start_tgt "$TMP/tgt.json"

stat() {
	rpc nvmf_get_stats | python3 -c "import json,sys
d=json.load(sys.stdin)
print(sum(t.get('$1', 0) for g in d['poll_groups'] for t in g['transports']))"
}

timeout 90 python3 "$CLIENT" "$PORT" "$NQN" hoard 5 128 131072 >"$TMP/hoard.log" 2>&1 &
HOARD_PID=$!
BG_PIDS+=("$HOARD_PID")
for _ in $(seq 1 50); do
	[ "$(stat r2t_share_waiting)" -gt 0 ] && break
	sleep 0.1
done
[ "$(stat r2t_share_waiting)" -gt 0 ] || fail "the hoarder never hit its share"
free=$(stat shared_buffers_free)
[ "$free" -ge 255 ] || fail "only $free of 511 buffers left while the hoarder holds its share"
pass "hoarder capped at its share: $free of 511 buffers free, $(stat r2t_share_waiting) writes waiting"
[ "$(stat r2t_timeouts)" -eq 0 ] || fail "the hoarder timed out before the probe started"
timeout 30 python3 "$CLIENT" "$PORT" "$NQN" probe 1 >"$TMP/probe.log" 2>&1
rc=$?
cat "$TMP/probe.log"
[ "$rc" -eq 0 ] || fail "the well-behaved host did not get its R2T within 1 s / its I/O failed"
pass "well-behaved host served beside the hoarder"
# the first wave of its qpairs (those holding R2Ts) is failed and closed after 15 s
for _ in $(seq 1 300); do
	[ "$(stat r2t_timeouts)" -ge 3 ] && break
	sleep 0.1
done
[ "$(stat r2t_timeouts)" -ge 3 ] || fail "the hoarding qpairs were not timed out"
grep -q "no data for cid .* within 15000 ms of its R2T" "$TMP/tgt.log" || fail "no R2T timeout log line"
pass "hoarding qpairs failed and closed after r2t_timeout_ms"
kill "$HOARD_PID" 2>/dev/null
wait "$HOARD_PID" 2>/dev/null
cat "$TMP/hoard.log"
[ "$(stat shared_buffers)" -eq 511 ] || fail "a fixed pool changed size"
[ "$(stat shared_buffer_grows)" -eq 0 ] || fail "a fixed pool grew"
tgt_alive || fail "usk_tgt died"
stop_tgt TERM
echo "nvmf_hoard_default: all checks passed"
exit 0
