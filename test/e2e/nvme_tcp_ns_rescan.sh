#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Namespace rescan: bdev_nvme (in a second usk_tgt) attached over TCP to usk_tgt; a namespace
# added on the target by RPC (Namespace Attribute Changed AEN) shows up as a new bdev, and a
# removed one takes its bdev away, while the first namespace's bdev stays.
set -u
NAME=nvme_tcp_ns_rescan
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
skip_unless_ready

PORT=$(free_port)
tcp_config "$PORT" "$MALLOC_BDEV" >"$TMP/tgt.json"
start_tgt "$TMP/tgt.json"

SOCK2=$TMP/init.sock
"$TGT" -m 0x2 -r "$SOCK2" >"$TMP/init.log" 2>&1 &
INIT_PID=$!
BG_PIDS+=("$INIT_PID")
for _ in $(seq 1 100); do [ -S "$SOCK2" ] && break; sleep 0.1; done
[ -S "$SOCK2" ] || fail "initiator usk_tgt did not start: $(tail "$TMP/init.log")"
r2() { "$RPC_BIN" -s "$SOCK2" -t 30 "$@"; }

# wait_bdevs PRESENT|ABSENT NAME: up to 10 s for NAME to appear in / leave bdev_get_bdevs.
wait_bdev() {
	local want=$1 name=$2 out
	for _ in $(seq 1 100); do
		out=$(r2 bdev_get_bdevs 2>&1) || fail "bdev_get_bdevs: $out"
		if echo "$out" | grep -q "\"$name\""; then
			[ "$want" = present ] && return 0
		else
			[ "$want" = absent ] && return 0
		fi
		sleep 0.1
	done
	fail "$name still ${want/present/absent} after 10 s: $out"
}

out=$(r2 bdev_nvme_attach_controller name=Nvme1 trtype=TCP adrfam=IPv4 traddr=127.0.0.1 trsvcid="$PORT" \
	subnqn="$NQN" 2>&1) || fail "attach: $out"
echo "$out" | grep -q '"Nvme1n1"' || fail "attach did not return Nvme1n1: $out"
echo "$out" | grep -q '"Nvme1n2"' && fail "Nvme1n2 before the namespace exists: $out"

rpc bdev_malloc_create name=Malloc1 num_blocks=131072 block_size=512 >/dev/null || fail "bdev_malloc_create"
nsid=$(rpc nvmf_subsystem_add_ns nqn="$NQN" namespace.bdev_name=Malloc1) || fail "add_ns: $nsid"
[ "$nsid" = 2 ] || fail "add_ns returned nsid '$nsid', expected 2"
wait_bdev present Nvme1n2
out=$(r2 bdev_get_bdevs name=Nvme1n2 2>&1) || fail "bdev_get_bdevs Nvme1n2: $out"
echo "$out" | grep -q '"num_blocks": *131072' || fail "Nvme1n2 size: $out"
pass "namespace added on the target: Nvme1n2 (131072 blocks) appeared"

rpc nvmf_subsystem_remove_ns nqn="$NQN" nsid=2 >/dev/null || fail "remove_ns"
wait_bdev absent Nvme1n2
wait_bdev present Nvme1n1
grep -q "namespace 2 removed" "$TMP/init.log" || fail "no removal logged: $(tail "$TMP/init.log")"
pass "namespace removed on the target: Nvme1n2 went away, Nvme1n1 stayed"

# Added again (same nsid): a fresh bdev.
nsid=$(rpc nvmf_subsystem_add_ns nqn="$NQN" namespace.bdev_name=Malloc1) || fail "add_ns again: $nsid"
wait_bdev present "Nvme1n$nsid"
pass "namespace added again: Nvme1n$nsid"

r2 bdev_nvme_detach_controller name=Nvme1 >/dev/null 2>&1 || fail "detach"
kill -TERM "$INIT_PID"
for _ in $(seq 1 100); do kill -0 "$INIT_PID" 2>/dev/null || break; sleep 0.1; done
wait "$INIT_PID"
rc=$?
[ $rc -eq 0 ] || fail "initiator usk_tgt exit code $rc: $(tail "$TMP/init.log")"
if grep -qE "runtime error:|AddressSanitizer|LeakSanitizer" "$TMP/init.log"; then
	cat "$TMP/init.log" >&2
	fail "sanitizer report in the initiator's log"
fi
tgt_alive || fail "usk_tgt died"
stop_tgt
exit 0
