# SPDX-License-Identifier: BSD-3-Clause
# Shared host-side helpers of the test/e2e/nvmf_*.sh tests (sourced, not run by the e2e runner).
# The sourcing script sets NAME first. Provides: TMP, SOCK, fail, free_port, start_tgt, stop_tgt,
# rpc, tcp_config, run_guest. Everything started here is killed by PID on exit.

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT_DIR=$(cd "$E2E_DIR/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT_DIR/build}
TGT=$BUILD_DIR/app/usk_tgt/usk_tgt
RPC_BIN=$BUILD_DIR/app/usk_rpc/usk_rpc
HARNESS=$E2E_DIR/harness
CLIENT=$E2E_DIR/nvmf_lib/nvmf_tcp_client.py
NQN=nqn.2016-06.io.spdk:cnode1
SOCK=/tmp/usk-e2e-$NAME-$$.sock
TMP=$(mktemp -d /tmp/usk-e2e-$NAME-XXXXXX)
TGT_PID=
BG_PIDS=()

nvmf_cleanup() {
	local p
	for p in "${BG_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$TGT_PID" ] && kill -0 "$TGT_PID" 2>/dev/null; then
		kill -KILL "$TGT_PID" 2>/dev/null
		wait "$TGT_PID" 2>/dev/null
	fi
	rm -rf "$TMP"
	rm -f "$SOCK"
}
trap nvmf_cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	if [ -f "$TMP/tgt.log" ]; then
		echo "--- usk_tgt log (tail) ---" >&2
		tail -40 "$TMP/tgt.log" >&2
	fi
	exit 1
}
pass() { echo "PASS: $*"; }

skip_unless_ready() {
	local b
	for b in "$TGT" "$RPC_BIN"; do
		[ -x "$b" ] || fail "$b not built"
	done
	command -v python3 >/dev/null || fail "python3 missing"
}

skip_unless_guest() {
	local gd=${GUEST_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/usk-guest}
	if [ ! -f "$gd/vmlinuz" ] || [ ! -f "$gd/initramfs.cpio.gz" ]; then
		echo "SKIP: guest kernel not built (run test/e2e/harness/build-guest.sh)"
		exit 77
	fi
	command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 missing"; exit 77; }
}

# A free TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# sock_impl_config CONFIG.json IMPL: rewrite CONFIG.json so that its first subsystem is "sock"
# with sock_set_default_impl IMPL (replayed before the transports are created).
sock_impl_config() {
	python3 - "$1" "$2" <<'PY' || fail "cannot add sock_set_default_impl to $1"
import json, sys
path, impl = sys.argv[1], sys.argv[2]
cfg = json.load(open(path))
subs = [s for s in cfg.get("subsystems", []) if s.get("subsystem") != "sock"]
subs.insert(0, {"subsystem": "sock", "config": [
    {"method": "sock_set_default_impl", "params": {"impl_name": impl}}]})
cfg["subsystems"] = subs
json.dump(cfg, open(path, "w"), indent=1)
PY
}

# start_tgt CONFIG.json [extra usk_tgt args]: start and wait for the RPC socket.
# USK_SOCK_IMPL=posix|uring: the target's default socket implementation (sock_set_default_impl).
start_tgt() {
	local cfg=$1
	shift
	if [ -n "${USK_SOCK_IMPL:-}" ]; then
		sock_impl_config "$cfg" "$USK_SOCK_IMPL"
	fi
	"$TGT" -m 0x1 -r "$SOCK" --json "$cfg" "$@" >"$TMP/tgt.log" 2>&1 &
	TGT_PID=$!
	for _ in $(seq 1 100); do
		if [ -S "$SOCK" ] && "$RPC_BIN" -s "$SOCK" -t 5 rpc_get_methods >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$TGT_PID" 2>/dev/null || fail "usk_tgt exited during start-up"
		sleep 0.1
	done
	fail "usk_tgt RPC socket did not come up within 10 s"
}

stop_tgt() {
	[ -n "$TGT_PID" ] || return 0
	kill -TERM "$TGT_PID" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$TGT_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$TGT_PID" 2>/dev/null
	wait "$TGT_PID" 2>/dev/null
	TGT_PID=
}

tgt_alive() { kill -0 "$TGT_PID" 2>/dev/null; }

rpc() { "$RPC_BIN" -s "$SOCK" -t 30 "$@"; }

# tcp_config PORT BDEV_JSON_ENTRY [allow_any_host] [extra nvmf entries]: print a usk_tgt --json
# config with the bdev entry, a TCP transport, subsystem $NQN (serial USK00000000000001,
# model "usk e2e ctrl") with namespace Malloc0 and a listener on 127.0.0.1:PORT.
tcp_config() {
	local port=$1 bdev=$2 any=${3:-true} extra=${4:-}
	cat <<JSON
{"subsystems": [
 {"subsystem": "bdev", "config": [ $bdev ]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN", "allow_any_host": $any,
     "serial_number": "USK00000000000001", "model_number": "usk e2e ctrl"}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NQN", "namespace": {"bdev_name": "Malloc0"}}},
  {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$NQN",
     "listen_address": {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "$port"}}}
  $extra
 ]}
]}
JSON
}

MALLOC_BDEV='{"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 262144, "block_size": 512}}'

# run_guest PORT SCRIPT [guest-run.sh args...]: boot the guest with the kernel initiator aimed at
# 10.0.2.2:PORT/$NQN; the serial log goes to $GUEST_LOG (default $TMP/guest-1.log; set it per
# run when a test boots several guests). Returns the script's rc.
run_guest() {
	local port=$1 script=$2
	shift 2
	"$HARNESS/guest-run.sh" --quiet --timeout 150 --nvme-tcp "10.0.2.2:$port:$NQN" \
		--log "${GUEST_LOG:-$TMP/guest-1.log}" --script "$script" "$@"
}

# malloc_aio_config PORT AIO_FILE NQN2: a --json config with Malloc0 in $NQN and an aio bdev on
# AIO_FILE (created, 64 MiB) as the namespace of NQN2, both listening on 127.0.0.1:PORT.
malloc_aio_config() {
	local port=$1 aio_file=$2 nqn2=$3 aio extra
	truncate -s 64M "$aio_file"
	aio="{\"method\": \"bdev_aio_create\", \"params\": {\"name\": \"Aio0\", \"filename\": \"$aio_file\", \"block_size\": 512}}"
	extra=",{\"method\": \"nvmf_create_subsystem\", \"params\": {\"nqn\": \"$nqn2\", \"allow_any_host\": true}},
 {\"method\": \"nvmf_subsystem_add_ns\", \"params\": {\"nqn\": \"$nqn2\", \"namespace\": {\"bdev_name\": \"Aio0\"}}},
 {\"method\": \"nvmf_subsystem_add_listener\", \"params\": {\"nqn\": \"$nqn2\",
   \"listen_address\": {\"trtype\": \"TCP\", \"adrfam\": \"IPv4\", \"traddr\": \"127.0.0.1\", \"trsvcid\": \"$port\"}}}"
	tcp_config "$port" "$MALLOC_BDEV, $aio" true "$extra"
}
