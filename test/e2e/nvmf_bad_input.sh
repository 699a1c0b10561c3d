#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Hostile NVMe/TCP clients (python3 on 127.0.0.1): garbage, a truncated PDU, a wrong PDU length,
# an unknown PDU type, a second ICReq, header and data digest mismatches. Each such connection
# must be terminated (C2HTermReq or close) and logged, while a well-behaved client connected at
# the same time keeps doing verified I/O, and usk_tgt keeps running.
set -u
NAME=nvmf_bad_input
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
skip_unless_ready

PORT=$(free_port)
tcp_config "$PORT" "$MALLOC_BDEV" >"$TMP/tgt.json"
start_tgt "$TMP/tgt.json"

# the good client runs I/O for the whole test, with digests on
timeout 120 python3 "$CLIENT" "$PORT" "$NQN" good --hdgst --ddgst --seconds 12 >"$TMP/good.log" 2>&1 &
GOOD_PID=$!
BG_PIDS+=("$GOOD_PID")
sleep 1

for kind in garbage truncated plen type icreq2 hdgst ddgst; do
	timeout 30 python3 "$CLIENT" "$PORT" "$NQN" bad "$kind" >"$TMP/bad-$kind.log" 2>&1
	rc=$?
	cat "$TMP/bad-$kind.log"
	[ "$rc" -eq 0 ] || fail "bad client '$kind': connection was not terminated as expected"
	tgt_alive || fail "usk_tgt died after bad client '$kind'"
	pass "bad client '$kind' terminated"
done

wait "$GOOD_PID"
rc=$?
cat "$TMP/good.log"
[ "$rc" -eq 0 ] || fail "the well-behaved client failed while bad clients were connected"
pass "well-behaved client kept working"

# every protocol error is logged with its reason
for why in "unexpected PDU type" "plen" "ICReq after connection initialization" \
	"header digest mismatch" "data digest mismatch"; do
	grep -q "$why" "$TMP/tgt.log" || fail "usk_tgt log has no line about '$why'"
done
pass "usk_tgt logged each protocol error"

# all those connections are gone
for _ in $(seq 1 50); do
	n=$(rpc nvmf_subsystem_get_qpairs nqn="$NQN" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
	[ "$n" = 0 ] && break
	sleep 0.2
done
[ "$n" = 0 ] || fail "$n qpairs left after all clients closed"
pass "no qpairs left"
tgt_alive || fail "usk_tgt died"
stop_tgt
pass "usk_tgt stopped cleanly (SIGTERM, exit 0, no sanitizer report)"
echo "nvmf_bad_input: all checks passed"
exit 0
