#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# POSIX vs io_uring socket backend of the NVMe/TCP target, alternating in one invocation.
# For every workload and connection count each backend gets a fresh usk_tgt (core 0, null bdev,
# sock_set_default_impl IMPL) and nvmf_tcp_load processes on core 1 (one connection each, all at
# the same QD). Prints IOPS, MB/s, the target's busy reactor time per I/O (thread_get_stats busy
# ticks: wall time of polls that did work, so it includes time the reactor was preempted in
# them), its on-CPU time per I/O (sum_exec_runtime of all its threads from
# /proc/PID/task/*/schedstat, ns-exact; idle polling included in polled mode), the share of the
# window its reactor waited for a CPU (schedstat run_delay / wall: other processes on core 0), its
# syscalls per I/O (perf stat -e raw_syscalls:sys_enter, or strace -c -f), the 1-min load, and a
# raw TCP loopback stream (iperf3) before and after the rows for scale. Before each workload a
# "tcp-floor" row: tcp_floor, a target that does nothing but the socket I/O of that workload on
# one connection in the same mode (spinning or sleeping, host polling or not): the kernel's
# share, under which no target using the kernel's TCP can go on this machine. Each row ends with
# where the hypervisor had put the two vCPUs (usk_pingpong before and after the row: near = one
# L3, far = two; far roughly doubles every figure, floor included): compare rows of one class.
#   sock_impl_bench.sh [BUILD_DIR] [SECONDS]
# IMPLS="posix uring" WORKLOADS="read:4096:1 ..." (rw:size:qd) CONNS="1 4 16" ROUNDS=1
# INTR=1: usk_tgt --interrupt-mode (busy time is then the work done, syscalls exclude idle polls).
# TGT_BIN=/path/usk_tgt: another target binary. BASE_TGT=/path/usk_tgt: A/B against an older
# build: every row runs first with BASE_TGT (impl shown as IMPL-base), then with TGT.
# BUSY_LOAD=1: the load generators busy-poll (-B, like spdk_nvme_perf: the target's sends then
# wake no sleeping initiator; one core, so only sensible with few connections).
# SOCK_OPTS='"enable_zerocopy_send_server": true': posix sock_impl_set_options params.
set -u
. "$(dirname "$0")/../lib/common.sh"
BUILD_DIR=${1:-${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}}
SECS=${2:-4}
TGT=${TGT_BIN:-$BUILD_DIR/app/usk_tgt/usk_tgt}
RPC=$BUILD_DIR/app/usk_rpc/usk_rpc
LOAD=$BUILD_DIR/bench/nvmf/nvmf_tcp_load
FLOOR=$BUILD_DIR/bench/nvmf/tcp_floor
PINGPONG=$BUILD_DIR/bench/vhost/usk_pingpong
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
bench_require "$TGT" "$RPC" "$LOAD" "$FLOOR"
SYSCNT=none
if perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
	SYSCNT=perf
elif command -v strace >/dev/null; then
	SYSCNT=strace
fi

start_tgt() {
	local impl=$1 bin=${2:-$TGT}
	PORT=$(bench_free_port)
	bench_nvmf_tgt_json "$TMP/tgt.json" "$PORT" "$NQN" "$impl"
	if [ -n "${SOCK_OPTS:-}" ]; then
		python3 - "$TMP/tgt.json" "$SOCK_OPTS" <<'PY' || exit 1
import json, sys
cfg = json.load(open(sys.argv[1]))
opts = dict(json.loads("{" + sys.argv[2] + "}"), impl_name="posix")
sock = [s for s in cfg["subsystems"] if s["subsystem"] == "sock"]
if not sock:
    sock = [{"subsystem": "sock", "config": []}]
    cfg["subsystems"].insert(0, sock[0])
sock[0]["config"].insert(0, {"method": "sock_impl_set_options", "params": opts})
json.dump(cfg, open(sys.argv[1], "w"))
PY
	fi
	rm -f "$SOCK"
	"$bin" -m 0x1 ${INTR:+--interrupt-mode} -r "$SOCK" --json "$TMP/tgt.json" >"$TMP/tgt.log" 2>&1 &
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

# I/O qpairs connected to the target now
io_qpairs() {
	"$RPC" -s "$SOCK" nvmf_get_stats | python3 -c '
import json, sys
print(sum(g.get("current_io_qpairs", 0) for g in json.load(sys.stdin)["poll_groups"]))'
}

# on-CPU ns of all the target's threads (io_uring workers included) and run-queue wait ns of
# its reactor (the main thread with -m 0x1), from schedstat
cpu_wait_ns() {
	local w
	w=$(awk '{print $2}' /proc/"$PID"/task/"$PID"/schedstat)
	cat /proc/"$PID"/task/*/schedstat 2>/dev/null |
		awk -v w="$w" '{c += $1} END {printf "%.0f %.0f\n", c, w}'
}

# run_one IMPL RW SIZE QD CONNS [TGT_BINARY LABEL]
run_one() {
	local impl=$1 rw=$2 size=$3 qd=$4 nc=$5 i b0 b1 c0 c1 w0 w1 t0 t1 hz sys ios iops mbs late
	local label=${7:-$1} pp
	pp=$(bench_pingpong "$PINGPONG") # before the target starts: a polled one spins on core 0
	start_tgt "$impl" "${6:-$TGT}"
	# IOPS are summed over load.*: a row with fewer connections than the one before must not
	# count that row's generators again
	rm -f "$TMP"/load.*
	LOAD_PIDS=()
	for i in $(seq 1 "$nc"); do
		# the generators outlast the counting window (SECS - 1 s after every connection is
		# up) by 2 s, so that the RPCs around it may be slow
		taskset -c 1 "$LOAD" -p "$PORT" -n "$NQN" -w "$rw" -s "$size" -q "$qd" -t "$((SECS + 2))" \
			${BUSY_LOAD:+-B} >"$TMP/load.$i" 2>&1 &
		LOAD_PIDS+=($!)
	done
	# count from when every connection is up (on a loaded machine 16 generators can take
	# seconds), then a little longer for the queues to fill
	for _ in $(seq 1 50); do
		[ "$(io_qpairs)" -ge "$nc" ] && break
		sleep 0.1
	done
	sleep 0.2
	read -r b0 hz < <(busy_ticks)
	read -r c0 w0 < <(cpu_wait_ns)
	t0=$(date +%s%N)
	case $SYSCNT in
	perf) perf stat -x, -e raw_syscalls:sys_enter -p "$PID" -o "$TMP/sys" -- sleep $((SECS - 1)) \
		>/dev/null 2>&1 & PERF_PID=$! ;;
	strace) timeout $((SECS - 1)) strace -c -f -p "$PID" -o "$TMP/sys" >/dev/null 2>&1 &
		PERF_PID=$! ;;
	esac
	[ -n "$PERF_PID" ] && wait "$PERF_PID"
	PERF_PID=
	read -r b1 hz < <(busy_ticks)
	read -r c1 w1 < <(cpu_wait_ns)
	t1=$(date +%s%N)
	# a saturated reactor answers RPCs late: if a generator finished inside the window, the
	# window missed part of the run and the per-I/O figures are not valid (marked "late")
	late=
	for i in "${LOAD_PIDS[@]}"; do
		kill -0 "$i" 2>/dev/null || late=" late"
	done
	for i in "${LOAD_PIDS[@]}"; do
		wait "$i"
	done
	LOAD_PIDS=()
	stop_tgt
	pp="$pp/$(bench_pingpong "$PINGPONG")"
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
	awk -v impl="$label" -v w="$rw $size QD$qd x$nc" -v iops="$iops" -v mbs="$mbs" \
	    -v b="$((b1 - b0))" -v hz="$hz" -v wall="$((SECS - 1))" -v ios="$ios" -v sys="$sys" \
	    -v cpu="$((c1 - c0))" -v wait="$((w1 - w0))" -v span="$((t1 - t0))" \
	    -v load="$(cut -d' ' -f1 /proc/loadavg)$late" -v place="$(bench_placement "$pp")" 'BEGIN {
		busy = ios > 0 ? b / hz * 1e6 / ios : 0
		# busy ticks over the same window as the syscall count (wall), I/Os from the IOPS
		spi = (ios > 0 && sys != "-" && sys != "") ? sprintf("%.2f", sys / ios) : "-"
		cpi = ios > 0 ? cpu / 1e3 / ios : 0
		printf "%-11s %-24s %10d %8d %10.2f %10.2f %7.0f%% %8s %6s %s\n", impl, w, iops, mbs, busy,
			cpi, (span > 0 ? wait / span * 100 : 0), spi, load, place }'
}

# floor_row RW SIZE QD: tcp_floor on cores 0 (target) and 1 (host), same modes as the rows
floor_row() {
	local out pp
	pp=$(bench_pingpong "$PINGPONG")
	out=$("$FLOOR" -w "$1" -s "$2" -q "$3" -t $((SECS - 1)) ${INTR:+-i} ${BUSY_LOAD:+-B}) ||
		{ echo "tcp_floor failed"; exit 1; }
	pp="$pp/$(bench_pingpong "$PINGPONG")"
	echo "$out" | awk -v w="$1 $2 QD$3 x1" -v load="$(cut -d' ' -f1 /proc/loadavg)" \
		-v place="$(bench_placement "$pp")" '{
		for (i = 1; i <= NF; i++) {
			if ($i == "replies/s") iops = $(i - 1)
			if ($i == "MB/s") mbs = $(i - 1)
			if ($i == "busy") busy = $(i + 1)
			if ($i == "cpu" && cpu == "") cpu = $(i + 1)
			if ($i == "syscalls/reply") sys = $(i - 1)
		}
		printf "%-11s %-24s %10d %8d %10.2f %10.2f %8s %8s %6s %s\n", "tcp-floor", w, iops, mbs,
			busy, cpu, "-", sys, load, place }'
}

bench_require ${BASE_TGT:+"$BASE_TGT"}
echo "usk_tgt -m 0x1${INTR:+ --interrupt-mode} (null bdev) <- nvmf_tcp_load${BUSY_LOAD:+ -B} x CONNS on core 1," \
	"counted over $((SECS - 1)) s per run, syscalls via $SYSCNT"
bench_iperf_loopback 3
printf '%-11s %-24s %10s %8s %10s %10s %8s %8s %6s %s\n' impl workload IOPS MB/s "busy-us/IO" "cpu-us/IO" \
	preempt "sys/IO" load place
for _ in $(seq 1 "$ROUNDS"); do
	for w in $WORKLOADS; do
		IFS=: read -r rw size qd <<<"$w"
		floor_row "$rw" "$size" "$qd"
		for nc in $CONNS; do
			for impl in $IMPLS; do
				if [ -n "${BASE_TGT:-}" ]; then
					run_one "$impl" "$rw" "$size" "$qd" "$nc" "$BASE_TGT" "$impl-base"
				fi
				run_one "$impl" "$rw" "$size" "$qd" "$nc"
			done
		done
	done
done

bench_iperf_loopback 3
