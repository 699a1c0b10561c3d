#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# NVMe-oF target core without a guest: usk_tgt starts from etc/usk_tgt_nvmf.json (port moved to a
# free one), the nvmf_* RPCs (good and bad input), discovery filtered by host, Connect refused for
# a host not on the allow list, identify + I/O over a minimal NVMe/TCP host, then save_config is
# replayed into a second usk_tgt that must report the same subsystems.
set -u
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
e2e_init nvmf_core_rpc
skip_unless_ready
CLIENT=$E2E_DIR/nvmf_core/core_client.py
NQN1=nqn.2016-06.io.usk:cnode1
NQN2=nqn.2016-06.io.usk:cnode2
DISC=nqn.2014-08.org.nvmexpress.discovery
HOSTA=nqn.2014-08.org.nvmexpress:uuid:0a0a0a0a-1111-2222-3333-444444444444
HOSTB=nqn.2014-08.org.nvmexpress:uuid:0b0b0b0b-1111-2222-3333-444444444444

# rpc_err METHOD JSON WORD: the call must fail and its message must name WORD.
rpc_err() {
	local out
	if out=$(rpc "$1" --json "$2" 2>&1); then
		fail "$1 $2 succeeded: $out"
	fi
	echo "$out" | grep -q "failed: code -" || fail "$1: no JSON-RPC error reply: $out"
	echo "$out" | grep -q -- "$3" || fail "$1 error does not name '$3': $out"
	pass "$1 rejected: $(echo "$out" | tail -1)"
}

client() { timeout 60 python3 "$CLIENT" "$PORT" "$@" || fail "core_client $*"; }

PORT=$(free_port)
sed "s/\"4420\"/\"$PORT\"/g" "$ROOT_DIR/etc/usk_tgt_nvmf.json" >"$TMP/default.json"
start_tgt "$TMP/default.json" -m 0x3
pass "usk_tgt started from etc/usk_tgt_nvmf.json on port $PORT"

rpc nvmf_get_subsystems >"$TMP/subs.json" || fail "nvmf_get_subsystems"
python3 - "$TMP/subs.json" "$PORT" <<'PY' || fail "default config not as expected"
import json, sys
subs = {s["nqn"]: s for s in json.load(open(sys.argv[1]))}
c = subs["nqn.2016-06.io.usk:cnode1"]
assert c["serial_number"] == "USK00000000000001" and c["model_number"] == "usk Controller", c
assert c["allow_any_host"] is True
assert [n["bdev_name"] for n in c["namespaces"]] == ["Malloc0"], c["namespaces"]
assert c["listen_addresses"][0]["trsvcid"] == sys.argv[2]
d = subs["nqn.2014-08.org.nvmexpress.discovery"]
assert d["subtype"] == "Discovery" and d["listen_addresses"][0]["trsvcid"] == sys.argv[2]
PY
pass "default config: cnode1 (Malloc0, serial, model) and the discovery listener"
[ "$(rpc nvmf_get_transports | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["trtype"])')" = TCP ] ||
	fail "nvmf_get_transports"
pass "nvmf_get_transports lists TCP"

# bad input names the field
rpc_err nvmf_create_subsystem '{"nqn": "nqn.2016-13.io.usk:x"}' nqn
rpc_err nvmf_create_subsystem "{\"nqn\": \"$NQN1\"}" "already exists"
rpc_err nvmf_create_subsystem '{"nqn": "nqn.2016-06.io.usk:y", "serial_number": "012345678901234567890123"}' serial_number
rpc_err nvmf_create_subsystem '{"nqn": "nqn.2016-06.io.usk:y", "bogus": 1}' bogus
rpc_err nvmf_create_subsystem '{"nqn": 5}' nqn
rpc_err nvmf_subsystem_add_ns "{\"nqn\": \"$NQN1\", \"namespace\": {\"bdev_name\": \"NoSuchBdev\"}}" bdev_name
rpc_err nvmf_subsystem_add_ns "{\"nqn\": \"$NQN1\", \"namespace\": {\"bdev_name\": \"Malloc0\", \"nguid\": \"xyz\"}}" nguid
rpc_err nvmf_subsystem_add_ns "{\"nqn\": \"nqn.2016-06.io.usk:none\", \"namespace\": {\"bdev_name\": \"Malloc0\"}}" nqn
rpc_err nvmf_subsystem_remove_ns "{\"nqn\": \"$NQN1\", \"nsid\": 7}" nsid
rpc_err nvmf_subsystem_add_listener "{\"nqn\": \"$NQN1\", \"listen_address\": {\"trtype\": \"RDMA\", \"traddr\": \"127.0.0.1\", \"trsvcid\": \"1\"}}" trtype
rpc_err nvmf_subsystem_add_listener "{\"nqn\": \"$NQN1\", \"listen_address\": {\"trtype\": \"TCP\", \"traddr\": \"127.0.0.1\"}}" trsvcid
rpc_err nvmf_subsystem_add_listener "{\"nqn\": \"$NQN1\", \"listen_address\": {\"trtype\": \"TCP\", \"adrfam\": \"X\", \"traddr\": \"127.0.0.1\", \"trsvcid\": \"1\"}}" adrfam
rpc_err nvmf_subsystem_add_host "{\"nqn\": \"$NQN1\", \"host\": \"not-an-nqn\"}" host
rpc_err nvmf_create_transport '{"trtype": "FOO"}' trtype
rpc_err nvmf_create_transport '{"trtype": "TCP"}' "already exists"
rpc_err nvmf_delete_subsystem "{\"nqn\": \"$DISC\"}" discovery

# a second subsystem only HOSTB may use, on the same port
rpc nvmf_create_subsystem --json "{\"nqn\": \"$NQN2\", \"serial_number\": \"USK2\", \"max_namespaces\": 4}" >/dev/null ||
	fail "create $NQN2"
rpc nvmf_subsystem_add_host --json "{\"nqn\": \"$NQN2\", \"host\": \"$HOSTB\"}" >/dev/null || fail "add_host"
rpc_err nvmf_subsystem_add_host "{\"nqn\": \"$NQN2\", \"host\": \"$HOSTB\"}" "already"
rpc nvmf_subsystem_add_listener --json "{\"nqn\": \"$NQN2\", \"listen_address\": {\"trtype\": \"tcp\", \"adrfam\": \"ipv4\", \"traddr\": \"127.0.0.1\", \"trsvcid\": \"$PORT\"}}" >/dev/null ||
	fail "add_listener $NQN2"
rpc bdev_malloc_create --json '{"name": "Malloc1", "num_blocks": 2048, "block_size": 4096}' >/dev/null ||
	fail "bdev_malloc_create Malloc1"
NSID=$(rpc nvmf_subsystem_add_ns --json "{\"nqn\": \"$NQN2\", \"namespace\": {\"bdev_name\": \"Malloc1\", \"nsid\": 3, \"eui64\": \"0011223344556677\"}}") ||
	fail "add_ns Malloc1"
[ "$NSID" = 3 ] || fail "add_ns returned nsid '$NSID', expected 3"
pass "$NQN2 created: host $HOSTB only, namespace 3 = Malloc1"

client discover "$HOSTA" "$NQN1,$DISC" "$NQN2"
client discover "$HOSTB" "$NQN1,$NQN2" ""
client refused "$HOSTA" "$NQN2" 184
client refused "$HOSTA" "nqn.2016-06.io.usk:missing" 182
client io "$HOSTA" "$NQN1" USK00000000000001 1
client io "$HOSTB" "$NQN2" USK2 3

rpc nvmf_subsystem_allow_any_host --json "{\"nqn\": \"$NQN2\", \"allow_any_host\": true}" >/dev/null || fail "allow_any_host"
client discover "$HOSTA" "$NQN2" ""
rpc nvmf_subsystem_allow_any_host --json "{\"nqn\": \"$NQN2\", \"allow_any_host\": false}" >/dev/null || fail "allow_any_host"
client refused "$HOSTA" "$NQN2" 184

rpc nvmf_subsystem_get_controllers --json "{\"nqn\": \"$NQN1\"}" >/dev/null || fail "get_controllers"
rpc nvmf_subsystem_get_qpairs --json "{\"nqn\": \"$NQN1\"}" >/dev/null || fail "get_qpairs"
rpc nvmf_subsystem_get_listeners --json "{\"nqn\": \"$NQN2\"}" >"$TMP/listeners.json" || fail "get_listeners"
grep -q "\"$PORT\"" "$TMP/listeners.json" || fail "get_listeners does not list port $PORT"
rpc nvmf_get_stats | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert len(s["poll_groups"]) == 2, s
assert sum(g["admin_qpairs"] for g in s["poll_groups"]) >= 5, s
assert all(g["transports"][0]["trtype"] == "TCP" for g in s["poll_groups"])' || fail "nvmf_get_stats"
pass "get_controllers, get_qpairs, get_listeners, get_stats"

# save_config, restart from it, compare
rpc save_config >"$TMP/saved.json" || fail "save_config"
rpc nvmf_get_subsystems >"$TMP/before.json" || fail "nvmf_get_subsystems before restart"
stop_tgt
pass "usk_tgt stopped cleanly"
start_tgt "$TMP/saved.json" -m 0x3
rpc nvmf_get_subsystems >"$TMP/after.json" || fail "nvmf_get_subsystems after restart"
python3 - "$TMP/before.json" "$TMP/after.json" <<'PY' || fail "subsystems differ after replaying save_config"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a == b, (a, b)
PY
pass "save_config replayed: identical nvmf_get_subsystems"
client io "$HOSTB" "$NQN2" USK2 3

rpc nvmf_subsystem_remove_ns --json "{\"nqn\": \"$NQN2\", \"nsid\": 3}" >/dev/null || fail "remove_ns"
rpc nvmf_delete_subsystem --json "{\"nqn\": \"$NQN2\"}" >/dev/null || fail "delete_subsystem"
rpc nvmf_get_subsystems >"$TMP/subs.json" || fail "nvmf_get_subsystems after delete"
grep -q "$NQN1" "$TMP/subs.json" || fail "$NQN1 not listed after deleting $NQN2"
grep -q "$NQN2" "$TMP/subs.json" && fail "$NQN2 still listed"
client discover "$HOSTB" "$NQN1" "$NQN2"
pass "remove_ns, delete_subsystem"
stop_tgt
pass "usk_tgt stopped cleanly"
echo "nvmf_core_rpc: all checks passed"
exit 0
