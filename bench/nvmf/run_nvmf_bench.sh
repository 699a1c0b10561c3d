#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# NVMe/TCP target benchmark: usk_tgt on core 0 with a null bdev (malloc if null is missing),
# bench/nvmf/nvmf_tcp_load on core 1 over 127.0.0.1; prints IOPS / MiB/s, the target's CPU time
# per I/O and RSS, and a raw TCP loopback stream (iperf3) measured in the same run.
#   run_nvmf_bench.sh [BUILD_DIR] [SECONDS]
# BUSY=1: the generator busy-polls its socket. INTR=1: usk_tgt runs with --interrupt-mode, so its
# CPU time per I/O is the work done (a polling reactor burns its whole core by design).
# WORKLOADS="read:4096:32 read:4096:128": only these (rw:size:qd, space separated). NOIPERF=1: skip
# the raw TCP loopback line. TRANSPORT_PARAMS='"io_unit_size": 8192': extra nvmf_create_transport
# params. TGT_BIN / LOAD_BIN: other usk_tgt / nvmf_tcp_load binaries (A/B runs).
set -u
. "$(dirname "$0")/../lib/common.sh"
BUILD_DIR=${1:-${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}}
SECS=${2:-10}
TGT=${TGT_BIN:-$BUILD_DIR/app/usk_tgt/usk_tgt}
RPC=$BUILD_DIR/app/usk_rpc/usk_rpc
LOAD=${LOAD_BIN:-$BUILD_DIR/bench/nvmf/nvmf_tcp_load}
NQN=nqn.2016-06.io.spdk:cnode1
SOCK=/tmp/usk-bench-nvmf-$$.sock
TMP=$(mktemp -d /tmp/usk-bench-nvmf-XXXXXX)
PID=
IPERF_PID=
trap bench_cleanup EXIT
bench_require "$TGT" "$RPC" "$LOAD"
PORT=$(bench_free_port)
bench_nvmf_tgt_json "$TMP/tgt.json" "$PORT" "$NQN" "" "${TRANSPORT_PARAMS:-}"
"$TGT" -m 0x1 ${INTR:+--interrupt-mode} -r "$SOCK" --json "$TMP/tgt.json" >"$TMP/tgt.log" 2>&1 &
PID=$!
bench_wait_rpc "$RPC" "$SOCK" "$PID" "$TMP/tgt.log"
if ! grep -q Null0 <("$RPC" -s "$SOCK" bdev_get_bdevs 2>/dev/null); then
	echo "null bdev unavailable"; cat "$TMP/tgt.log"; exit 1
fi

cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK)
echo "usk NVMe/TCP target (usk_tgt -m 0x1${INTR:+ --interrupt-mode}, null bdev) <- nvmf_tcp_load on core 1, ${SECS}s each"
printf '%-22s %12s %10s %12s %14s %15s\n' workload IOPS MiB/s "lat(us)" "tgt-CPU/IO(us)" "host-CPU/IO(us)"
WORKLOADS=${WORKLOADS:-"read:4096:32 read:4096:128 read:131072:32 write:4096:32 write:131072:32"}
for w in $WORKLOADS; do
	w=${w//:/ }
	# shellcheck disable=SC2086 # split the workload into its fields
	set -- $w
	c0=$(cpu_ticks)
	out=$(taskset -c 1 "$LOAD" -p "$PORT" -n "$NQN" -w "$1" -s "$2" -q "$3" -t "$SECS" -c 1 ${BUSY:+-B})
	c1=$(cpu_ticks)
	iops=$(echo "$out" | sed -n 's/.*: \([0-9]*\) IOPS.*/\1/p')
	mibs=$(echo "$out" | sed -n 's/.*IOPS \([0-9.]*\) MiB.*/\1/p')
	lat=$(echo "$out" | sed -n 's/.*latency \([0-9.]*\) us.*/\1/p')
	ios=$(echo "$out" | sed -n 's/.*(\([0-9]*\) I\/Os.*/\1/p')
	hcpu=$(echo "$out" | sed -n 's/.*host CPU \([0-9.]*\) us.*/\1/p')
	cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v n="$ios" 'BEGIN{ if (n > 0) printf "%.2f", (b-a)/hz*1e6/n; else print "-" }')
	printf '%-22s %12s %10s %12s %14s %15s\n' "$1 $2 QD$3" "$iops" "$mibs" "$lat" "$cpu" "${hcpu:--}"
done
note="(busy-polling reactor: CPU/IO includes idle polling)"
[ -n "${INTR:-}" ] && note="(interrupt mode: CPU/IO is the work done)"
echo "usk_tgt RSS: $(awk '/VmRSS/ {print $2, $3}' "/proc/$PID/status")  $note"

bench_iperf_loopback
