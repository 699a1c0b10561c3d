#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Shared pieces of the NVMe/TCP benchmark scripts (bench/nvme, bench/nvmf). Source it:
#   . "$(dirname "$0")/../lib/common.sh"
# Functions only; nothing runs on sourcing. Servers bind 127.0.0.1 only.

# bench_require BIN...: exit 1 naming the first BIN that is not an executable.
bench_require() {
	local b
	for b in "$@"; do
		[ -x "$b" ] || { echo "missing $b (build first)"; exit 1; }
	done
}

# bench_cleanup: an EXIT trap for a script with one usk_tgt (PID), the iperf3 server
# (IPERF_PID) and its files (TMP folder, SOCK RPC socket): kills and reaps both, removes the files.
bench_cleanup() {
	[ -n "${PID:-}" ] && kill -KILL "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	[ -n "${IPERF_PID:-}" ] && kill -KILL "$IPERF_PID" 2>/dev/null && wait "$IPERF_PID" 2>/dev/null
	rm -rf "${TMP:-}" "${SOCK:-}"
}

# A free TCP port on 127.0.0.1.
bench_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bench_nvmf_tgt_json FILE PORT NQN [SOCK_IMPL] [TRANSPORT_PARAMS]
# Writes a usk_tgt --json config: a 1 GiB null bdev Null0 exported as namespace 1 of NQN (any host)
# on an NVMe/TCP listener 127.0.0.1:PORT. SOCK_IMPL (not empty, not "default") adds
# sock_set_default_impl; TRANSPORT_PARAMS ('"io_unit_size": 8192') extends nvmf_create_transport.
bench_nvmf_tgt_json() {
	local file=$1 port=$2 nqn=$3 impl=${4:-} tparams=${5:-} sockcfg=
	if [ -n "$impl" ] && [ "$impl" != default ]; then
		sockcfg='{"subsystem": "sock", "config": [
  {"method": "sock_set_default_impl", "params": {"impl_name": "'$impl'"}}]},'
	fi
	cat >"$file" <<JSON
{"subsystems": [ $sockcfg
 {"subsystem": "bdev", "config": [
  {"method": "bdev_null_create", "params": {"name": "Null0", "num_blocks": 2097152, "block_size": 512}}]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "TCP"${tparams:+, $tparams}}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$nqn", "allow_any_host": true}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$nqn", "namespace": {"bdev_name": "Null0"}}},
  {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$nqn",
    "listen_address": {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "$port"}}}
 ]}
]}
JSON
}

# bench_wait_rpc RPC SOCK PID LOG
# Waits up to ~10 s until usk_tgt PID answers rpc_get_methods on SOCK; if PID exits first, prints
# LOG and exits the script with status 1.
bench_wait_rpc() {
	local rpc=$1 sock=$2 pid=$3 log=$4
	for _ in $(seq 1 100); do
		"$rpc" -s "$sock" -t 2 rpc_get_methods >/dev/null 2>&1 && break
		kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
		sleep 0.1
	done
}

# bench_iperf_loopback [SECONDS]
# One raw TCP loopback stream (iperf3 server on core 0, client on core 1, SECONDS, default 5) as a
# reference line; skipped when NOIPERF is set or iperf3 is missing. The server's PID is kept in
# IPERF_PID while it runs, so that the caller's cleanup trap can kill it.
bench_iperf_loopback() {
	local iport secs=${1:-5}
	if [ -n "${NOIPERF:-}" ] || ! command -v iperf3 >/dev/null; then
		return 0
	fi
	iport=$(bench_free_port)
	taskset -c 0 iperf3 -s -B 127.0.0.1 -p "$iport" -1 >/dev/null 2>&1 &
	IPERF_PID=$!
	sleep 0.5
	taskset -c 1 iperf3 -c 127.0.0.1 -p "$iport" -t "$secs" -f g 2>&1 |
		awk '/receiver/ {print "raw TCP loopback (iperf3, 1 stream, core 1 -> core 0): " $7, $8}'
	wait "$IPERF_PID" 2>/dev/null
	IPERF_PID=
}

# bench_pingpong USK_PINGPONG: ns per cache-line round trip between cores 0 and 1 right now ("-"
# without the binary). Under this hypervisor the two vCPUs sit on one L3 or on two from run to
# run, which moves every two-core benchmark (shared-memory rings, loopback TCP alike) by ~2x.
bench_pingpong() {
	if [ -x "$1" ]; then
		"$1" 0 1 200000 | awk '{ print $3 }'
	else
		echo -
	fi
}

# bench_placement BEFORE/AFTER: "near" when both round trips were under 150 ns (the vCPUs shared
# a cache), "far" when both were over, "mixed" when the hypervisor moved them during the run.
bench_placement() {
	awk -F/ '{ if ($1 == "-" || $2 == "-") print "-"; else if ($1 < 150 && $2 < 150) print "near";
		else if ($1 >= 150 && $2 >= 150) print "far"; else print "mixed" }' <<<"$1"
}
