#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Interrupt mode end to end: usk_tgt -m 0x3 --interrupt-mode serves a malloc and an aio namespace
# to the Linux kernel nvme-tcp initiator in a QEMU guest (plain, digests, 2 I/O queues; 8 MiB
# O_DIRECT write + read back, md5), and sleeps when idle: its reactors use next to no CPU before
# the guest connects and after it has gone.
set -u
NAME=nvmf_interrupt
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
skip_unless_ready
skip_unless_guest

# cpu_ticks: user+system clock ticks the target has used so far
cpu_ticks() { awk '{print $14 + $15}' "/proc/$TGT_PID/stat"; }
# idle_check LABEL: the target must use under 5 % of one core over 3 s while nobody talks to it
idle_check() {
	local a b hz
	hz=$(getconf CLK_TCK)
	sleep 1
	a=$(cpu_ticks)
	sleep 3
	b=$(cpu_ticks)
	[ $((b - a)) -le $((hz * 3 * 5 / 100)) ] || fail "$1: idle target used $((b - a)) ticks in 3 s"
	pass "$1: idle target used $((b - a)) clock ticks in 3 s"
}

PORT=$(free_port)
NQN2=nqn.2016-06.io.spdk:cnode2
AIO_FILE=$TMP/aio.img
malloc_aio_config "$PORT" "$AIO_FILE" "$NQN2" >"$TMP/tgt.json"
start_tgt "$TMP/tgt.json" -m 0x3 --interrupt-mode
pass "usk_tgt -m 0x3 --interrupt-mode listening on 127.0.0.1:$PORT"
idle_check "before the guest"

run_guest "$PORT" "$E2E_DIR/guest/nvmf_basic_guest.sh" --env "NVMF_NQN2=$NQN2" --env NVMF_MB=8
RC=$?
grep -E "^(PASS|FAIL):|PATTERN_MD5|passed," "$TMP/guest-1.log" | tr -d '\r'
[ "$RC" -eq 0 ] || fail "guest script failed in interrupt mode (rc=$RC)"
tgt_alive || fail "usk_tgt died"
if grep -q "has no interrupt mode" "$TMP/tgt.log"; then
	grep "has no interrupt mode" "$TMP/tgt.log" >&2
	fail "a poller kept a thread busy-polling in interrupt mode"
fi
# the guest powered off without disconnecting: wait for keep-alive to clean up, then idle again
for _ in $(seq 1 40); do
	n=$(rpc nvmf_subsystem_get_qpairs nqn="$NQN" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
	[ "$n" = 0 ] && break
	sleep 1
done
[ "$n" = 0 ] || fail "$n qpairs of the powered-off guest left after 40 s"
idle_check "after the guest"
stop_tgt
GUEST_MD5=$(tr -d '\r' <"$TMP/guest-1.log" | awk '$1 == "PATTERN_MD5" && $2 == "aio" {print $4}')
HOST_MD5=$(dd if="$AIO_FILE" bs=1M skip=1 count=8 2>/dev/null | md5sum | cut -d' ' -f1)
[ -n "$GUEST_MD5" ] || fail "guest did not report the aio pattern"
[ "$HOST_MD5" = "$GUEST_MD5" ] || fail "aio file md5 $HOST_MD5 differs from the guest's '$GUEST_MD5'"
pass "aio backing file holds the guest's data (md5 $HOST_MD5)"
echo "nvmf_interrupt: all checks passed"
exit 0
