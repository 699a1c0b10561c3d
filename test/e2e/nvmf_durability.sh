#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# NVMe/TCP Flush and FUA writes from the Linux initiator (nvme-cli in a QEMU guest) reach the
# backing file of an aio namespace, and no sync runs on the target's reactor. The host counts
# the syncs of the file with the ext4:ext4_sync_file_enter tracepoint (lib/sync_trace.sh): the
# guest sends its commands one at a time, so each Flush and each FUA write (a write and a flush
# in the bdev layer) is exactly one sync, and the plain writes none:
#   syncs == flushes + FUA writes.
# The guest also checks that the kernel sees a volatile write cache with FUA (Identify VWC,
# queue/write_cache, queue/fua): otherwise it would never send either.
set -u
NAME=nvmf_durability
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
skip_unless_ready
skip_unless_guest
NVME_BIN=$(command -v nvme) || { echo "SKIP: nvme-cli not installed"; exit 77; }
. "$E2E_DIR/lib/sync_trace.sh"
sync_trace_init

FLUSHES=8
FUAS=8
PLAIN=8
PORT=$(free_port)
F=$SYNC_DATA/ns.img
truncate -s 64M "$F"
cat >"$TMP/tgt.json" <<JSON
{"subsystems": [
 {"subsystem": "bdev", "config": [
  {"method": "bdev_aio_create", "params": {"name": "Aio0", "filename": "$F", "block_size": 512}}
 ]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN", "allow_any_host": true}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NQN", "namespace": {"bdev_name": "Aio0"}}},
  {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$NQN",
     "listen_address": {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "$PORT"}}}
 ]}
]}
JSON
start_tgt "$TMP/tgt.json"
sync_trace_start "$F"
run_guest "$PORT" "$E2E_DIR/guest/nvmf_durability_guest.sh" --bin "$NVME_BIN" \
	--env "NVMF_FLUSHES=$FLUSHES" --env "NVMF_FUAS=$FUAS" --env "NVMF_PLAIN=$PLAIN"
RC=$?
sync_trace_stop
tr -d '\r' <"$TMP/guest-1.log" | grep -E "^(PASS|FAIL):|passed,|^vwc |^write_cache"
[ "$RC" -eq 0 ] || fail "guest script failed (rc=$RC)"
tgt_alive || fail "usk_tgt died"
syncs=$(sync_trace_count)
echo "syncs of the backing file: $syncs (flushes $FLUSHES, FUA writes $FUAS, plain writes $PLAIN)"
[ "$syncs" -eq $((FLUSHES + FUAS)) ] ||
	fail "$syncs syncs reached the file for $FLUSHES flushes + $FUAS FUA writes (expected one each)"
sync_trace_check_threads "nvmf"
# The target must exit cleanly (SIGTERM: status 0 within E2E_STOP_TIMEOUT s, no sanitizer report).
stop_tgt TERM
echo "PASS: nvmf_durability: every Flush and FUA write from the Linux initiator synced the file, off the reactor"
exit 0
