#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Where usk_tgt's time goes: perf record -g of the target (core 0, null bdev) while one
# nvmf_tcp_load (core 1) runs a workload, then the top of perf report (self time, no children).
#   perf_profile.sh BUILD_DIR IMPL RW SIZE QD [SECONDS] [TOP]
# e.g. perf_profile.sh build posix read 4096 32. INTR=1: --interrupt-mode (no idle polling in the
# profile: only the work per I/O).
set -u
. "$(dirname "$0")/../lib/common.sh"
[ $# -ge 5 ] || { sed -n 3,6p "$0"; exit 2; }
BUILD_DIR=$1 IMPL=$2 RW=$3 SIZE=$4 QD=$5 SECS=${6:-6} TOP=${7:-25}
TGT=$BUILD_DIR/app/usk_tgt/usk_tgt
RPC=$BUILD_DIR/app/usk_rpc/usk_rpc
LOAD=$BUILD_DIR/bench/nvmf/nvmf_tcp_load
NQN=nqn.2016-06.io.spdk:cnode1
TMP=$(mktemp -d /tmp/usk-perf-prof-XXXXXX)
PID=
trap '[ -n "$PID" ] && kill -KILL $PID 2>/dev/null; rm -rf "$TMP"' EXIT
PORT=$(bench_free_port)
bench_nvmf_tgt_json "$TMP/tgt.json" "$PORT" "$NQN" "$IMPL"
"$TGT" -m 0x1 ${INTR:+--interrupt-mode} -r "$TMP/rpc.sock" --json "$TMP/tgt.json" >"$TMP/tgt.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
	"$RPC" -s "$TMP/rpc.sock" -t 2 rpc_get_methods >/dev/null 2>&1 && break
	sleep 0.1
done
taskset -c 1 "$LOAD" -p "$PORT" -n "$NQN" -w "$RW" -s "$SIZE" -q "$QD" -t "$SECS" >"$TMP/load" 2>&1 &
LPID=$!
sleep 1
perf record -g -o "$TMP/perf.data" -p "$PID" -- sleep $((SECS - 2)) >/dev/null 2>&1
wait $LPID
cat "$TMP/load"
perf report -i "$TMP/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null |
	grep -E '^ +[0-9]' | head -"$TOP"
