#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Idle footprint of usk_tgt -m 0x3: resident memory (VmRSS) and CPU use over a window, polled mode
# and --interrupt-mode. Prints figures only (no pass/fail).
# Usage: BUILD_DIR=<build> bench/event/idle_footprint.sh [seconds (default 10)] [extra usk_tgt args]
set -u

BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
TGT=$BUILD_DIR/app/usk_tgt/usk_tgt
WINDOW=${1:-10}
shift || true
SOCK=/tmp/usk-bench-idle-$$.sock
PID=

cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -f "$SOCK"
}
trap cleanup EXIT

[ -x "$TGT" ] || { echo "usk_tgt not built: $TGT" >&2; exit 1; }
HZ=$(getconf CLK_TCK)

cpu_ticks() {
	# utime + stime of the whole process (fields 14 and 15 of /proc/PID/stat; comm has no spaces)
	awk '{print $14 + $15}' "/proc/$1/stat"
}

measure() {
	local label=$1
	shift
	"$TGT" -m 0x3 -r "$SOCK" "$@" >/dev/null 2>&1 &
	PID=$!
	for _ in $(seq 1 100); do
		[ -S "$SOCK" ] && break
		sleep 0.1
	done
	[ -S "$SOCK" ] || { echo "usk_tgt did not start" >&2; exit 1; }
	sleep 2
	local t0 t1 rss threads cpu
	t0=$(cpu_ticks "$PID")
	sleep "$WINDOW"
	t1=$(cpu_ticks "$PID")
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status")
	threads=$(awk '/^Threads:/ {print $2}' "/proc/$PID/status")
	cpu=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v w="$WINDOW" 'BEGIN {printf "%.1f", d * 100 / hz / w}')
	printf '%-16s RSS %6.1f MiB   CPU %6s %% of one core over %s s   (%s OS threads)\n' \
		"$label" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" "$cpu" "$WINDOW" "$threads"
	kill -TERM "$PID"
	wait "$PID"
	PID=
}

echo "usk_tgt -m 0x3 idle footprint ($(nproc) CPUs, $(uname -r))"
measure "polled" "$@"
measure "interrupt-mode" --interrupt-mode "$@"
