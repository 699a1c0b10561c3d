#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Faults: a guest killed in the middle of writes leaves usk_tgt running and its qpairs are
# cleaned up; then, with allow_any_host false, a new guest's host NQN is refused until
# nvmf_subsystem_add_host allows it, after which it connects and does verified I/O.
set -u
NAME=nvmf_fault
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
skip_unless_ready
skip_unless_guest

PORT=$(free_port)
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:0f6c7b9e-4a1d-4d3e-8b2a-6e5f4c3b2a19
tcp_config "$PORT" "$MALLOC_BDEV" >"$TMP/tgt.json"
start_tgt "$TMP/tgt.json"

qpair_count() {
	rpc nvmf_subsystem_get_qpairs nqn="$NQN" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

# 1. a guest dies mid-write
run_guest "$PORT" "$E2E_DIR/guest/nvmf_fault_writer_guest.sh" --pidfile "$TMP/qemu.pid" \
	>"$TMP/writer.out" 2>&1 &
GUEST=$!
BG_PIDS+=("$GUEST")
for _ in $(seq 1 1200); do
	grep -q "^WRITING" "$TMP/guest-1.log" 2>/dev/null && break
	kill -0 "$GUEST" 2>/dev/null || fail "writer guest ended early"
	sleep 0.1
done
grep -q "^WRITING" "$TMP/guest-1.log" || fail "writer guest never started writing"
sleep 2
n=$(qpair_count)
[ "$n" -ge 2 ] || fail "expected the guest's qpairs while it writes, found $n"
pass "guest writing over $n qpairs"
QPID=$(cat "$TMP/qemu.pid")
kill -KILL "$QPID" || fail "cannot kill the guest's QEMU"
wait "$GUEST" 2>/dev/null
pass "guest killed mid-write"
tgt_alive || fail "usk_tgt died with its client"
for _ in $(seq 1 150); do
	n=$(qpair_count) || fail "nvmf_subsystem_get_qpairs failed"
	[ "$n" = 0 ] && break
	sleep 0.2
done
[ "$n" = 0 ] || fail "$n qpairs of the dead guest left after 30 s"
pass "qpairs of the dead guest cleaned up"

# 2. host access control
rpc nvmf_subsystem_allow_any_host nqn="$NQN" allow_any_host=false >/dev/null || fail "nvmf_subsystem_allow_any_host"
GUEST_LOG=$TMP/guest-2.log run_guest "$PORT" "$E2E_DIR/guest/nvmf_fault_access_guest.sh" --env "NVMF_HOSTNQN=$HOSTNQN" &
GUEST=$!
BG_PIDS+=("$GUEST")
for _ in $(seq 1 1200); do
	grep -q "^REFUSED" "$TMP/guest-2.log" 2>/dev/null && break
	kill -0 "$GUEST" 2>/dev/null || break
	sleep 0.1
done
grep -q "^REFUSED" "$TMP/guest-2.log" || fail "access guest did not reach the refused step"
rpc nvmf_subsystem_add_host nqn="$NQN" host="$HOSTNQN" >/dev/null || fail "nvmf_subsystem_add_host"
pass "host $HOSTNQN added"
wait "$GUEST"
RC=$?
tr -d '\r' <"$TMP/guest-2.log" | grep -E "^(PASS|FAIL):|passed,"
[ "$RC" -eq 0 ] || fail "access guest failed (rc=$RC)"
tgt_alive || fail "usk_tgt died"
stop_tgt
pass "usk_tgt stopped cleanly (SIGTERM, exit 0, no sanitizer report)"
echo "nvmf_fault: all checks passed"
exit 0
