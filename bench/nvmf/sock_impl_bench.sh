#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# POSIX vs io_uring socket backend of the NVMe/TCP target, alternating in one invocation.
# For every workload and connection count each backend gets a fresh usk_tgt (core 0, null bdev,
# sock_set_default_impl IMPL) and nvmf_tcp_load processes on core 1 (one connection each, all at
# the same QD). Prints IOPS, MB/s, the target's busy reactor time per I/O (thread_get_stats busy
# ticks; and its CPU time per I/O from /proc/PID/stat, which excludes time preempted), its
# syscalls per I/O (perf stat -e raw_syscalls:sys_enter, or strace -c -f) and, once, a
# raw TCP loopback stream (iperf3) for scale.
#   sock_impl_bench.sh [BUILD_DIR] [SECONDS]
# IMPLS="posix uring" WORKLOADS="read:4096:1 ..." (rw:size:qd) CONNS="1 4 16" ROUNDS=1
# INTR=1: usk_tgt --interrupt-mode (busy time is then the work done, syscalls exclude idle polls).
set -u
. "$(dirname "$0")/../lib/common.sh"
BUILD_DIR=${1:-${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}}
SECS=${2:-4}
TGT=$BUILD_DIR/app/usk_tgt/usk_tgt
RPC=$BUILD_DIR/app/usk_rpc/usk_rpc
LOAD=$BUILD_DIR/bench/nvmf/nvmf_tcp_load
NQN=nqn.2016-06.io.spdk:cnode1
IMPLS=${IMPLS:-"posix uring"}
WORKLOADS=${WORKLOADS:-"read:4096:1 read:4096:32 read:4096:128 write:4096:1 write:4096:32 write:4096:128 read:131072:32"}
CONNS=${CONNS:-"1 4 16"}
ROUNDS=${ROUNDS:-1}
TMP=$(mktemp -d /tmp/usk-sock-bench-XXXXXX)
SOCK=$TMP/rpc.sock
PID=
PERF_PID=
IPERF_PID=
LOAD_PIDS=()
cleanup() {
	local p
	for p in "${LOAD_PIDS[@]}" $PERF_PID $IPERF_PID $PID; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
bench_require "$TGT" "$RPC" "$LOAD"
SYSCNT=none
if perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
	SYSCNT=perf
elif command -v strace >/dev/null; then
	SYSCNT=strace
fi

start_tgt() {
	local impl=$1
	PORT=$(bench_free_port)
	bench_nvmf_tgt_json "$TMP/tgt.json" "$PORT" "$NQN" "$impl"
	rm -f "$SOCK"
	"$TGT" -m 0x1 ${INTR:+--interrupt-mode} -r "$SOCK" --json "$TMP/tgt.json" >"$TMP/tgt.log" 2>&1 &
	PID=$!
	bench_wait_rpc "$RPC" "$SOCK" "$PID" "$TMP/tgt.log"
	"$RPC" -s "$SOCK" nvmf_get_stats 2>/dev/null | grep -q '"sock_impl": "'"$impl"'"' || {
		echo "target does not run sock impl $impl"; "$RPC" -s "$SOCK" nvmf_get_stats; exit 1; }
}

stop_tgt() {
	kill -TERM "$PID" 2>/dev/null
	for _ in $(seq 1 50); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	PID=
}

# busy ticks of all threads, and the tick rate
busy_ticks() {
	"$RPC" -s "$SOCK" thread_get_stats | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(sum(t["busy"] for t in s["threads"]), s["tick_rate"])'
}

# utime + stime of the target in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
CLK=$(getconf CLK_TCK)

# run_one IMPL RW SIZE QD CONNS
run_one() {
	local impl=$1 rw=$2 size=$3 qd=$4 nc=$5 i b0 b1 c0 c1 hz sys ios iops mbs
	start_tgt "$impl"
	LOAD_PIDS=()
	for i in $(seq 1 "$nc"); do
		taskset -c 1 "$LOAD" -p "$PORT" -n "$NQN" -w "$rw" -s "$size" -q "$qd" -t "$SECS" \
			>"$TMP/load.$i" 2>&1 &
		LOAD_PIDS+=($!)
	done
	# the connections come up within a few hundred ms; count from then on
	sleep 0.3
	read -r b0 hz < <(busy_ticks)
	c0=$(cpu_ticks)
	case $SYSCNT in
	perf) perf stat -x, -e raw_syscalls:sys_enter -p "$PID" -o "$TMP/sys" -- sleep $((SECS - 1)) \
		>/dev/null 2>&1 & PERF_PID=$! ;;
	strace) timeout $((SECS - 1)) strace -c -f -p "$PID" -o "$TMP/sys" >/dev/null 2>&1 &
		PERF_PID=$! ;;
	esac
	[ -n "$PERF_PID" ] && wait "$PERF_PID"
	PERF_PID=
	read -r b1 hz < <(busy_ticks)
	c1=$(cpu_ticks)
	for i in "${LOAD_PIDS[@]}"; do
		wait "$i"
	done
	LOAD_PIDS=()
	stop_tgt
	# I/Os in the counting window: IOPS x window (the generators report their whole run)
	iops=$(cat "$TMP"/load.* | sed -n 's/.*: \([0-9]*\) IOPS.*/\1/p' | awk '{s += $1} END {print s + 0}')
	mbs=$(awk -v i="$iops" -v s="$size" 'BEGIN {printf "%.0f", i * s / 1e6}')
	ios=$(awk -v i="$iops" -v w="$((SECS - 1))" 'BEGIN {print i * w}')
	sys=-
	if [ "$SYSCNT" = perf ]; then
		sys=$(awk -F, '/raw_syscalls/ {print $1}' "$TMP/sys")
	elif [ "$SYSCNT" = strace ]; then
		sys=$(awk '$NF == "total" {print $3}' "$TMP/sys")
	fi
	awk -v impl="$impl" -v w="$rw $size QD$qd x$nc" -v iops="$iops" -v mbs="$mbs" \
	    -v b="$((b1 - b0))" -v hz="$hz" -v wall="$((SECS - 1))" -v ios="$ios" -v sys="$sys" \
	    -v cpu="$((c1 - c0))" -v clk="$CLK" \
	    -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
		busy = ios > 0 ? b / hz * 1e6 / ios : 0
		# busy ticks over the same window as the syscall count (wall), I/Os from the IOPS
		spi = (ios > 0 && sys != "-" && sys != "") ? sprintf("%.2f", sys / ios) : "-"
		cpi = ios > 0 ? cpu / clk * 1e6 / ios : 0
		printf "%-6s %-24s %10d %8d %10.2f %10.2f %8s %6s\n", impl, w, iops, mbs, busy, cpi, spi, load }'
}

echo "usk_tgt -m 0x1${INTR:+ --interrupt-mode} (null bdev) <- nvmf_tcp_load x CONNS on core 1," \
	"${SECS}s per run, syscalls via $SYSCNT"
printf '%-6s %-24s %10s %8s %10s %10s %8s %6s\n' impl workload IOPS MB/s "busy-us/IO" "cpu-us/IO" "sys/IO" load
for _ in $(seq 1 "$ROUNDS"); do
	for w in $WORKLOADS; do
		IFS=: read -r rw size qd <<<"$w"
		for nc in $CONNS; do
			for impl in $IMPLS; do
				run_one "$impl" "$rw" "$size" "$qd" "$nc"
			done
		done
	done
done

bench_iperf_loopback 3
