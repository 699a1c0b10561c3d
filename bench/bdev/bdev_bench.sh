#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# bdev benchmarks (prints figures, never pass/fail):
#   1. usk_bdevperf on a null bdev, 4 KiB randread, QD 128, one core       (SPDK ~22 M IOPS)
#   2. usk_bdevperf on a 256 MiB malloc bdev, 4 KiB randread, QD 128, one core (SPDK 1.43 M)
#   3. uring bdev on a file in /dev/shm vs fio (ioengine=io_uring) on the same file, same block
#      size, depth and direct flag, measured in the same run; prints the ratio.
# Usage: bench/bdev/bdev_bench.sh [BUILD_DIR] [seconds per run (default 10)]
set -u

BUILD_DIR=${1:-${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}}
T=${2:-10}
PERF=$BUILD_DIR/app/usk_bdevperf/usk_bdevperf
TMP=$(mktemp -d /tmp/usk-bench-bdev-XXXXXX)
SHM=/dev/shm/usk-bench-bdev-$$.img
CORE=${BENCH_CORE:-0}
MASK=$(printf '0x%x' $((1 << CORE)))

cleanup() {
	rm -rf "$TMP"
	rm -f "$SHM"
}
trap cleanup EXIT

[ -x "$PERF" ] || { echo "usk_bdevperf not built at $PERF" >&2; exit 1; }

# IOPS of the Total row of a usk_bdevperf log.
total_iops() {
	awk -F: '/^ Total/ { split($2, f, " "); print f[1] }' "$1"
}

# CPU seconds (utime + stime) used so far by process $1.
cpu_secs() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null
}

# Runs usk_bdevperf; prints its result table and, because this box may be shared, the CPU time
# the process really got while the I/O ran: IOPS per CPU-second is what one dedicated core does.
run_perf() { # name json args...
	local name=$1 json=$2 pid c0 c1 t0 t1 rc
	shift 2
	"$PERF" --json "$json" -m "$MASK" "$@" >"$TMP/$name.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 2400); do
		grep -q "Running I/O" "$TMP/$name.log" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	c0=$(cpu_secs "$pid")
	t0=$(date +%s.%N)
	sleep "$(awk -v t="$T" 'BEGIN { print t - 0.3 }')"
	c1=$(cpu_secs "$pid")
	t1=$(date +%s.%N)
	wait "$pid"
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "$name: usk_bdevperf failed (rc $rc):" >&2
		tail -20 "$TMP/$name.log" >&2
		return 1
	fi
	sed -n '/Latency(us)/,/^ Total/p' "$TMP/$name.log"
	if [ -n "$c0" ] && [ -n "$c1" ]; then
		awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v iops="$(total_iops "$TMP/$name.log")" \
			'BEGIN { cpu = c1 - c0; wall = t1 - t0;
				 printf "   CPU share while running: %.0f%% of one core", 100 * cpu / wall;
				 if (cpu > 0) printf "; IOPS per CPU-second: %.0f", iops * wall / cpu;
				 printf "\n" }'
	fi
}

echo "== host: $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo

cat >"$TMP/null.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_null_create","params":{"name":"Null0","num_blocks":2097152,"block_size":4096}}
]}]}
JSON
echo "== 1. null bdev, 4 KiB randread, QD 128, 1 core, ${T}s"
echo "   $PERF --json null.json -m $MASK -q 128 -o 4096 -w randread -t $T"
run_perf null "$TMP/null.json" -q 128 -o 4096 -w randread -t "$T" &&
	echo "   null IOPS: $(total_iops "$TMP/null.log")  (goal > 26 M; SPDK bdevperf ~22 M)"
echo

cat >"$TMP/malloc.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_malloc_create","params":{"name":"Malloc0","num_blocks":65536,"block_size":4096}}
]}]}
JSON
echo "== 2. 256 MiB malloc bdev, 4 KiB randread, QD 128, 1 core, ${T}s"
echo "   $PERF --json malloc.json -m $MASK -q 128 -o 4096 -w randread -t $T"
run_perf malloc "$TMP/malloc.json" -q 128 -o 4096 -w randread -t "$T" &&
	echo "   malloc IOPS: $(total_iops "$TMP/malloc.log")  (SPDK bdevperf 1.43 M)"
echo

# 3. uring on /dev/shm vs fio
dd if=/dev/urandom of="$SHM" bs=1M count=1024 status=none
DIRECT=1
python3 -c "import os,sys; os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT))" "$SHM" 2>/dev/null || DIRECT=0
cat >"$TMP/uring.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_uring_create","params":{"name":"URING0","filename":"$SHM","block_size":4096}}
]}]}
JSON
echo "== 3. uring bdev on $SHM (1 GiB, O_DIRECT=$DIRECT) vs fio io_uring, 4 KiB randread, QD 128, 1 core, ${T}s"
echo "   $PERF --json uring.json -m $MASK -q 128 -o 4096 -w randread -t $T"
usk_iops=
if run_perf uring "$TMP/uring.json" -q 128 -o 4096 -w randread -t "$T"; then
	usk_iops=$(total_iops "$TMP/uring.log")
	echo "   usk uring IOPS: $usk_iops"
fi
if command -v fio >/dev/null; then
	# "pinned": fio on the reactor's one core (its io-wq worker then shares it, as usk's does).
	for variant in "plain:" "registered files + fixed buffers:--registerfiles=1 --fixedbufs=1" \
		"pinned to core $CORE:--cpus_allowed=$CORE"; do
		label=${variant%%:*}
		extra=${variant#*:}
		cmd="fio --name=shm --filename=$SHM --ioengine=io_uring --rw=randread --bs=4k --iodepth=128 --direct=$DIRECT --time_based --runtime=$T --numjobs=1 --output-format=json $extra"
		echo "   $cmd"
		fio_iops=$($cmd 2>/dev/null | python3 -c 'import json,sys; print("%.2f" % json.load(sys.stdin)["jobs"][0]["read"]["iops"])')
		echo "   fio ($label) IOPS: $fio_iops"
		if [ -n "$usk_iops" ] && [ -n "$fio_iops" ]; then
			awk -v u="$usk_iops" -v f="$fio_iops" -v l="$label" \
				'BEGIN { printf "   ratio usk/fio (%s): %.2f\n", l, u / f }'
		fi
	done
else
	echo "   fio not installed: no comparison"
fi
