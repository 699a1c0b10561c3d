#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# NVMe/TCP host driver benchmark: usk_tgt (null bdev) on core 0, usk_nvme_perf on core 1, over
# 127.0.0.1. Prints IOPS, MiB/s, average latency and the initiator's CPU time per I/O for 4 KiB
# random reads at QD 1/32/128 and 128 KiB sequential reads at QD 32, then a raw TCP loopback
# stream (iperf3, same cores) measured in the same run as the reference.
#   run_nvme_perf_bench.sh [BUILD_DIR] [SECONDS]
# WORKLOADS="randread:4096:1 ..." (pattern:size:qd) selects workloads; NOIPERF=1 skips iperf3;
# PERF_ARGS="-H -I" adds perf options (digests). Build with -Dbuildtype=release -Db_sanitize=none.
# After each usk_nvme_perf run the same workload is run by bench/nvmf/nvmf_tcp_load (a minimal
# busy-polling NVMe/TCP initiator, sequential blocks) when it is built: a same-moment reference
# that makes figures from a loaded machine comparable (NOREF=1 skips it).
set -u
. "$(dirname "$0")/../lib/common.sh"
BUILD_DIR=${1:-${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}}
SECS=${2:-10}
TGT=$BUILD_DIR/app/usk_tgt/usk_tgt
RPC=$BUILD_DIR/app/usk_rpc/usk_rpc
PERF=$BUILD_DIR/app/usk_nvme_perf/usk_nvme_perf
LOAD=$BUILD_DIR/bench/nvmf/nvmf_tcp_load
NQN=nqn.2016-06.io.spdk:cnode1
SOCK=/tmp/usk-bench-nvme-$$.sock
TMP=$(mktemp -d /tmp/usk-bench-nvme-XXXXXX)
PID=
IPERF_PID=
trap bench_cleanup EXIT
bench_require "$TGT" "$RPC" "$PERF"
PORT=$(bench_free_port)
bench_nvmf_tgt_json "$TMP/tgt.json" "$PORT" "$NQN"
"$TGT" -m 0x1 -r "$SOCK" --json "$TMP/tgt.json" >"$TMP/tgt.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { echo "usk_tgt did not start"; cat "$TMP/tgt.log"; exit 1; }
sleep 0.5
TRID="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:$NQN"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
printf '%-22s %12s %10s %12s %16s\n' workload IOPS MiB/s "avg lat(us)" "host-CPU/IO(us)"
WORKLOADS=${WORKLOADS:-"randread:4096:1 randread:4096:32 randread:4096:128 read:131072:32"}
for w in $WORKLOADS; do
	w=${w//:/ }
	# shellcheck disable=SC2086 # split the workload into its fields
	set -- $w
	# shellcheck disable=SC2086
	out=$("$PERF" -c 0x2 -q "$3" -o "$2" -w "$1" -t "$SECS" -r "$TRID" ${PERF_ARGS:-} 2>&1)
	tot=$(echo "$out" | awk -F: '/^Total/ {print $2}')
	iops=$(echo "$tot" | awk '{print $1}')
	mibs=$(echo "$tot" | awk '{print $2}')
	lat=$(echo "$tot" | awk '{print $3}')
	cpu=$(echo "$out" | sed -n 's/.* \([0-9.]*\) us per I\/O.*/\1/p')
	printf '%-22s %12s %10s %12s %16s\n' "$1 $2 QD$3" "${iops:--}" "${mibs:--}" "${lat:--}" "${cpu:--}"
	if [ -z "${NOREF:-}" ] && [ -x "$LOAD" ]; then
		rw=${1#rand}
		ref=$(taskset -c 1 "$LOAD" -p "$PORT" -n "$NQN" -w "$rw" -s "$2" -q "$3" -t "$SECS" -c 1 -B 2>&1)
		riops=$(echo "$ref" | sed -n 's/.*: \([0-9]*\) IOPS.*/\1/p')
		rmibs=$(echo "$ref" | sed -n 's/.*IOPS \([0-9.]*\) MiB.*/\1/p')
		rlat=$(echo "$ref" | sed -n 's/.*latency \([0-9.]*\) us.*/\1/p')
		rcpu=$(echo "$ref" | sed -n 's/.*host CPU \([0-9.]*\) us.*/\1/p')
		printf '%-22s %12s %10s %12s %16s\n' "  ref nvmf_tcp_load" "${riops:--}" "${rmibs:--}" "${rlat:--}" "${rcpu:--}"
	fi
done
echo "(usk_nvme_perf busy-polls: its CPU per I/O is the polling core's time divided by the I/Os)"

bench_iperf_loopback
