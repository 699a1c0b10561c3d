#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# vhost-user-blk benchmark (prints figures, never pass/fail): usk_bdevperf on a virtio-user bdev
# (bdev_virtio_attach_controller, one queue of 256 entries, indirect descriptors so QD 128 is
# really in flight) -> a vhost-user-blk back-end on a null device of 4 KiB blocks, 4 KiB
# randread QD 128; back-end pinned to core 0, initiator on core 1. Back-ends, alternating in
# each round of the same run:
#   usk:  usk_tgt -m 0x1 -S DIR, bdev_null_create (4 KiB blocks), vhost_create_blk_controller
#   usk-intr: the same with --interrupt-mode (the target sleeps on the kick eventfds: its CPU
#         per I/O is then what it really spends, comparable with qsd's)
#   qsd:  qemu-storage-daemon --blockdev driver=null-co,...,read-zeroes=off
#         --export type=vhost-user-blk,...,logical-block-size=4096 (pinned with taskset -c 0)
# Reports IOPS per round, the median, the usk/qsd ratio and the back-end's CPU time per I/O
# (its utime+stime over the run / I/Os done; a polled usk_tgt burns its whole core whatever the
# load, so its figure is 1 core / IOPS).
# Usage: bench/vhost/vhost_bench.sh [BUILD_DIR] [seconds per run (10)] [rounds (3)]
# Build with -Dbuildtype=release and no sanitizers for meaningful figures.
set -u

. "$(dirname "$0")/../lib/common.sh"
BUILD_DIR=${1:-${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}}
T=${2:-10}
ROUNDS=${3:-3}
PERF=$BUILD_DIR/app/usk_bdevperf/usk_bdevperf
TGT=$BUILD_DIR/app/usk_tgt/usk_tgt
RPC=$BUILD_DIR/app/usk_rpc/usk_rpc
PINGPONG=$BUILD_DIR/bench/vhost/usk_pingpong
QSD=$(command -v qemu-storage-daemon || true)
TMP=$(mktemp -d /tmp/usk-bench-vhost-XXXXXX)
BPID=
SOCK=$TMP/vhost.0

cleanup() {
	if [ -n "$BPID" ] && kill -0 "$BPID" 2>/dev/null; then
		kill -KILL "$BPID" 2>/dev/null
		wait "$BPID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

for b in "$PERF" "$TGT" "$RPC"; do
	[ -x "$b" ] || { echo "$b not built" >&2; exit 1; }
done
[ -n "$QSD" ] || echo "qemu-storage-daemon not installed: usk only"

cpu_secs() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null
}

wait_sock() {
	for _ in $(seq 1 100); do
		[ -S "$1" ] && return 0
		kill -0 "$BPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# start_usk [usk_tgt args]: usk_tgt on core 0 serving a null bdev as vhost.0.
start_usk() {
	mkdir -p "$TMP/vdir"
	rm -f "$TMP/vdir/vhost.0" "$TMP/rpc.sock"
	"$TGT" -m 0x1 --no-huge -S "$TMP/vdir" -r "$TMP/rpc.sock" "$@" >"$TMP/usk.log" 2>&1 &
	BPID=$!
	wait_sock "$TMP/rpc.sock" || return 1
	"$RPC" -s "$TMP/rpc.sock" bdev_null_create name=Null0 num_blocks=262144 block_size=4096 \
		>/dev/null || return 1
	"$RPC" -s "$TMP/rpc.sock" vhost_create_blk_controller ctrlr=vhost.0 dev_name=Null0 \
		cpumask=0x1 >/dev/null || return 1
	SOCK=$TMP/vdir/vhost.0
	wait_sock "$SOCK"
}

start_qsd() {
	rm -f "$TMP/qsd.sock"
	taskset -c 0 "$QSD" --blockdev driver=null-co,node-name=null0,size=1073741824,read-zeroes=off \
		--export type=vhost-user-blk,id=exp0,node-name=null0,addr.type=unix,addr.path="$TMP/qsd.sock",writable=on,logical-block-size=4096 \
		>"$TMP/qsd.log" 2>&1 &
	BPID=$!
	SOCK=$TMP/qsd.sock
	wait_sock "$SOCK"
}

stop_backend() {
	[ -n "$BPID" ] || return 0
	kill -TERM "$BPID" 2>/dev/null
	wait "$BPID" 2>/dev/null
	BPID=
}

# Busy TSC ticks of all usk_tgt threads and the tick rate ("- -" for qsd, which has no RPC).
busy_ticks() {
	if [ "$1" = qsd ]; then
		echo "- -"
		return
	fi
	"$RPC" -s "$TMP/rpc.sock" thread_get_stats | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(sum(t["busy"] for t in s["threads"]), s["tick_rate"])'
}

# run_one NAME: one measurement against the running back-end; prints
# "IOPS CPU_US_PER_IO BUSY_US_PER_IO" (busy: thread_get_stats busy ticks, "-" for qsd).
run_one() {
	local name=$1 c0 c1 b0 b1 iops log=$TMP/$1.perf.log
	cat >"$TMP/virtio.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_virtio_attach_controller","params":{"name":"VirtioBlk0","trtype":"user",
  "traddr":"$SOCK","dev_type":"blk","vq_count":1,"vq_size":256}}
]}]}
JSON
	c0=$(cpu_secs "$BPID")
	b0=$(busy_ticks "$name")
	"$PERF" --no-huge -m 0x2 --json "$TMP/virtio.json" -q 128 -o 4096 -w randread -t "$T" \
		>"$log" 2>&1
	local rc=$?
	c1=$(cpu_secs "$BPID")
	b1=$(busy_ticks "$name")
	if [ $rc -ne 0 ]; then
		echo "$name: usk_bdevperf failed ($rc)" >&2
		tail -15 "$log" >&2
		return 1
	fi
	iops=$(awk -F: '/^ Total/ { split($2, f, " "); print f[1] }' "$log")
	# The back-end's CPU over the whole usk_bdevperf run (start-up included: ~0.1 s).
	awk -v i="$iops" -v c0="$c0" -v c1="$c1" -v t="$T" -v b0="${b0% *}" -v b1="${b1% *}" \
		-v hz="${b1#* }" 'BEGIN {
			busy = (b0 == "-") ? "-" : sprintf("%.3f", (b1 - b0) * 1e6 / hz / (i * t))
			printf "%.0f %.3f %s\n", i, (c1 - c0) * 1e6 / (i * t), busy }'
}

median() {
	sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# report ROUND NAME "IOPS CPU BUSY" PINGPONG_NS_BEFORE/AFTER
report() {
	local f
	read -r -a f <<<"$3"
	printf 'round %s %-8s IOPS %9s  target CPU %s us/IO  busy %s us/IO  (load %s, pingpong %s ns)\n' \
		"$1" "$2:" "${f[0]}" "${f[1]}" "${f[2]}" "$(cut -d' ' -f1 /proc/loadavg)" "$4"
}

# summary NAME FILE
summary() {
	local busy
	[ -s "$2" ] || return 0
	busy=$(cut -d' ' -f3 "$2" | grep -v -- - | median)
	[ -n "$busy" ] && [ "$busy" != 0 ] || busy=-
	printf '%-9s median IOPS %9s  target CPU %s us/IO  busy %s us/IO\n' "$1" \
		"$(cut -d' ' -f1 "$2" | median | xargs printf '%.0f')" "$(cut -d' ' -f2 "$2" | median)" "$busy"
}

echo "== host: $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== usk_bdevperf -m 0x2 -q 128 -o 4096 -w randread -t $T on virtio-user (vq_size 256, indirect)"
echo "== target CPU: utime+stime of the back-end / I/Os; busy: usk_tgt's thread_get_stats busy ticks / I/Os"
: >"$TMP/usk.res"
: >"$TMP/qsd.res"
: >"$TMP/uski.res"
: >"$TMP/ratio.res"
rm -f "$TMP/ratio.near" "$TMP/ratio.far"
for r in $(seq 1 "$ROUNDS"); do
	ures=''
	qres=''
	pp=$(bench_pingpong "$PINGPONG") # before the back-end starts: a polled one would share core 0 with it
	if start_usk; then
		ures=$(run_one usk)
		stop_backend
		pp="$pp/$(bench_pingpong "$PINGPONG")"
		[ -n "$ures" ] && echo "$ures $(bench_placement "$pp")" >>"$TMP/usk.res" && report "$r" usk "$ures" "$pp"
	else
		echo "usk_tgt vhost set-up failed:" >&2
		tail -10 "$TMP/usk.log" >&2
	fi
	stop_backend
	pp=$(bench_pingpong "$PINGPONG")
	if start_usk --interrupt-mode; then
		res=$(run_one usk-intr)
		stop_backend
		pp="$pp/$(bench_pingpong "$PINGPONG")"
		[ -n "$res" ] && echo "$res $(bench_placement "$pp")" >>"$TMP/uski.res" && report "$r" usk-intr "$res" "$pp"
	fi
	stop_backend
	if [ -n "$QSD" ]; then
		pp=$(bench_pingpong "$PINGPONG")
		if start_qsd; then
			qres=$(run_one qsd)
			stop_backend
			pp="$pp/$(bench_pingpong "$PINGPONG")"
		[ -n "$qres" ] && echo "$qres $(bench_placement "$pp")" >>"$TMP/qsd.res" && report "$r" qsd "$qres" "$pp"
		else
			echo "qemu-storage-daemon start failed:" >&2
			tail -10 "$TMP/qsd.log" >&2
		fi
		stop_backend
	fi
	if [ -n "$ures" ] && [ -n "$qres" ]; then
		up=$(tail -1 "$TMP/usk.res" | cut -d' ' -f4)
		qp=$(tail -1 "$TMP/qsd.res" | cut -d' ' -f4)
		if [ "$up" = "$qp" ] && [ "$up" != mixed ]; then
			awk -v u="${ures%% *}" -v q="${qres%% *}" 'BEGIN { if (q > 0) printf "%.2f\n", u / q }' \
				>>"$TMP/ratio.$up"
		fi
		awk -v u="${ures%% *}" -v q="${qres%% *}" -v r="$r" \
			'BEGIN { if (q > 0) { printf "%.2f\n", u / q > "/dev/stderr"; printf "round %s ratio usk/qsd: %.2f\n", r, u / q } }' \
			2>>"$TMP/ratio.res"
	fi
done
summary usk "$TMP/usk.res"
summary usk-intr "$TMP/uski.res"
summary qsd "$TMP/qsd.res"
if [ -s "$TMP/qsd.res" ]; then
	awk -v u="$(cut -d' ' -f1 "$TMP/usk.res" | median)" -v q="$(cut -d' ' -f1 "$TMP/qsd.res" | median)" \
		'BEGIN { if (q > 0) printf "ratio of medians usk/qsd: %.2f\n", u / q }'
	echo "per-round ratios, lowest first: $(sort -n "$TMP/ratio.res" | tr '\n' ' ')"
	for c in near far; do
		[ -s "$TMP/ratio.$c" ] && echo "per-round ratios with both runs $c (pingpong): $(sort -n "$TMP/ratio.$c" | tr '\n' ' ')"
	done
fi
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
