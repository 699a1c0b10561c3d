#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Namespace hot-plug: while the kernel initiator in a QEMU guest is connected, a namespace added
# with nvmf_subsystem_add_ns appears in the guest (AER -> rescan) and a removed one disappears.
set -u
NAME=nvmf_ns_hotplug
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
skip_unless_ready
skip_unless_guest

PORT=$(free_port)
MALLOC1='{"method": "bdev_malloc_create", "params": {"name": "Malloc1", "num_blocks": 32768, "block_size": 512}}'
tcp_config "$PORT" "$MALLOC_BDEV, $MALLOC1" >"$TMP/tgt.json"
start_tgt "$TMP/tgt.json"

run_guest "$PORT" "$E2E_DIR/guest/nvmf_hotplug_guest.sh" &
GUEST=$!
BG_PIDS+=("$GUEST")
wait_log() {
	for _ in $(seq 1 600); do
		grep -q "^$1" "$TMP/guest-1.log" 2>/dev/null && return 0
		kill -0 "$GUEST" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
wait_log HOTPLUG-READY || fail "guest never connected"
rpc nvmf_subsystem_add_ns nqn="$NQN" namespace.bdev_name=Malloc1 namespace.nsid=2 >/dev/null \
	|| fail "nvmf_subsystem_add_ns"
pass "namespace 2 added"
wait_log NS2-SEEN || fail "guest stopped before namespace 2 was handled"
rpc nvmf_subsystem_remove_ns nqn="$NQN" nsid=2 >/dev/null || fail "nvmf_subsystem_remove_ns"
pass "namespace 2 removed"
wait "$GUEST"
RC=$?
tr -d '\r' <"$TMP/guest-1.log" | grep -E "^(PASS|FAIL):|passed,"
[ "$RC" -eq 0 ] || fail "guest script failed (rc=$RC)"
tgt_alive || fail "usk_tgt died"
stop_tgt
pass "usk_tgt stopped cleanly (SIGTERM, exit 0, no sanitizer report)"
echo "nvmf_ns_hotplug: all checks passed"
exit 0
