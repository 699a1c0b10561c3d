#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# rbd benchmark (prints figures, never pass/fail): usk_bdevperf on an rbd bdev against fio's own
# rbd engine (fio --ioengine=rbd) on the same image of the same throw-away single-node cluster
# (test/e2e/lib/ceph.sh), in one run: 4 KiB randwrite and randread at QD 1 and 32; IOPS,
# p50 / p99 latency, and CPU (user + sys, all threads, librbd's included) per I/O.
# Usage: bench/rbd/rbd_bench.sh [BUILD_DIR] [seconds per run (default 10)]
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${1:-${BUILD_DIR:-$ROOT/build}}
T=${2:-10}
PERF=$BUILD_DIR/app/usk_bdevperf/usk_bdevperf
TMP=$(mktemp -d /tmp/usk-bench-rbd-XXXXXX)
. "$ROOT/test/e2e/lib/ceph.sh"

cleanup() {
	ceph_stop
	rm -rf "$TMP"
}
trap cleanup EXIT

[ -x "$PERF" ] || { echo "usk_bdevperf not built at $PERF" >&2; exit 1; }
command -v fio >/dev/null || { echo "fio missing" >&2; exit 1; }
ceph_have || { echo "Ceph packages missing" >&2; exit 1; }
mkdir -p "$TMP/ceph"
ceph_start "$TMP/ceph" || { echo "cluster did not start" >&2; exit 1; }
export CEPH_CONF
# Durable writes for both: without this librbd's writeback cache answers fio's writes in ~7 us
# (its engine enables writeback) while usk's stay writethrough until the first flush.
printf '[client]\nrbd cache = false\n' >>"$CEPH_CONF"
rbd_cli create --size 256 rbd/bench || exit 1
# Prefill so reads hit allocated objects (an unwritten object reads as zeros without a disk read).
fio --name=fill --ioengine=rbd --clientname=admin --pool=rbd --rbdname=bench --rw=write --bs=1M \
	--iodepth=8 --size=256M >"$TMP/fill.log" 2>&1 || { tail "$TMP/fill.log"; exit 1; }

cat >"$TMP/bdev.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_rbd_register_cluster","params":{"name":"c0","user_id":"admin","config_file":"$CEPH_CONF"}},
 {"method":"bdev_rbd_create","params":{"name":"Rbd0","cluster_name":"c0","pool_name":"rbd","rbd_name":"bench","block_size":4096}}
]}]}
JSON

# cpu_of CMD...: run CMD, print "user+sys seconds" of it and its children on fd 3.
cpu_of() {
	local TIMEFORMAT='%U %S'
	{ time "$@" >"$TMP/run.log" 2>&1; } 2>"$TMP/time"
	awk '{ printf "%.3f", $1 + $2 }' "$TMP/time"
}

printf "%-10s %3s | %-10s %9s %9s %9s %9s\n" workload qd tool IOPS "p50(us)" "p99(us)" "CPU us/IO"
for rw in randwrite randread; do
	for qd in 1 32; do
		cpu=$(cpu_of fio --name=b --ioengine=rbd --clientname=admin --pool=rbd --rbdname=bench \
			--rw=$rw --bs=4k --iodepth=$qd --time_based --runtime="$T" --ramp_time=1 \
			--lat_percentiles=1 --output-format=json)
		cp "$TMP/run.log" "$TMP/fio-$rw-$qd.json"
		python3 - "$TMP/fio-$rw-$qd.json" "$cpu" "$rw" "$qd" <<'PY'
import json, sys
txt = open(sys.argv[1]).read()
j = json.loads(txt[txt.index("{"):])["jobs"][0]
d = j["write" if sys.argv[3] == "randwrite" else "read"]
# Submission + completion (lat_ns), as usk_bdevperf measures; clat_ns alone leaves out
# the time spent inside rbd_aio_write / rbd_aio_read.
pct = d["lat_ns"]["percentile"]
ios = d["total_ios"]
print("%-10s %3s | %-10s %9.0f %9.0f %9.0f %9.1f" % (sys.argv[3], sys.argv[4], "fio", d["iops"],
      pct["50.000000"] / 1000, pct["99.000000"] / 1000, float(sys.argv[2]) / ios * 1e6))
PY
		for mode in polled intr; do
		flag=
		[ $mode = intr ] && flag=--interrupt-mode
		cpu=$(cpu_of "$PERF" --json "$TMP/bdev.json" -m 0x1 $flag -q $qd -o 4096 -w $rw -t "$T" \
			--lat-percentiles)
		cp "$TMP/run.log" "$TMP/usk-$rw-$qd-$mode.log"
		awk -v rw=$rw -v qd=$qd -v cpu="$cpu" -v t="$T" -v tool="usk-$mode" '
			/^[[:space:]]+Rbd0[[:space:]]+:/ { split($0, a, ":"); split(a[2], f, " "); iops = f[2]; rt = f[1] }
			/Latency percentiles/ { p50 = $4; p99 = $6 }
			END { printf "%-10s %3s | %-10s %9.0f %9.0f %9.0f %9.1f\n", rw, qd, tool, iops, p50, p99,
			      (iops > 0 ? cpu / (iops * rt) * 1e6 : 0) }' "$TMP/usk-$rw-$qd-$mode.log"
		done
	done
done
echo "(CPU per I/O: user+sys of the whole process over its run, start-up and librbd threads included)"
