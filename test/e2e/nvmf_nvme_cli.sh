#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# nvme-cli in a QEMU guest against usk_tgt: the subsystem, its serial/model, namespace and
# listeners are created over JSON-RPC; `nvme discover` lists it and `nvme id-ctrl` shows them.
set -u
NAME=nvmf_nvme_cli
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
skip_unless_ready
skip_unless_guest
NVME_BIN=$(command -v nvme) || { echo "SKIP: nvme-cli not installed"; exit 77; }

PORT=$(free_port)
SN=USKSN0123456789
MN="usk model by rpc"
cat >"$TMP/tgt.json" <<JSON
{"subsystems": [
 {"subsystem": "bdev", "config": [ $MALLOC_BDEV ]},
 {"subsystem": "nvmf", "config": [ {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}} ]}
]}
JSON
start_tgt "$TMP/tgt.json"
rpc nvmf_create_subsystem nqn="$NQN" allow_any_host=true serial_number="$SN" model_number="$MN" \
	>/dev/null || fail "nvmf_create_subsystem"
rpc nvmf_subsystem_add_ns nqn="$NQN" namespace.bdev_name=Malloc0 >/dev/null || fail "nvmf_subsystem_add_ns"
listen() {
	rpc nvmf_subsystem_add_listener --json "{\"nqn\": \"$1\", \"listen_address\": {\"trtype\": \"TCP\",
		\"adrfam\": \"IPv4\", \"traddr\": \"127.0.0.1\", \"trsvcid\": \"$PORT\"}}" >/dev/null
}
listen "$NQN" || fail "nvmf_subsystem_add_listener"
listen nqn.2014-08.org.nvmexpress.discovery 2>/dev/null \
	|| echo "(discovery listener RPC refused: relying on the default discovery listener)"
rpc nvmf_get_subsystems >"$TMP/subsystems.json" || fail "nvmf_get_subsystems"
grep -q "$SN" "$TMP/subsystems.json" || fail "serial number missing from nvmf_get_subsystems"
pass "subsystem configured over RPC"

run_guest "$PORT" "$E2E_DIR/guest/nvmf_nvme_cli_guest.sh" --bin "$NVME_BIN" \
	--env "NVMF_SN=$SN" --env "NVMF_MN=$MN"
RC=$?
tr -d '\r' <"$TMP/guest-1.log" | grep -E "^(PASS|FAIL):|passed,|^(sn|mn|subnqn) "
[ "$RC" -eq 0 ] || fail "guest script failed (rc=$RC)"
tgt_alive || fail "usk_tgt died"
stop_tgt
pass "usk_tgt stopped cleanly (SIGTERM, exit 0, no sanitizer report)"
echo "nvmf_nvme_cli: all checks passed"
exit 0
