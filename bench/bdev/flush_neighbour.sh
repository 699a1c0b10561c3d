#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Latency of a job while another job on the same reactor (core) flushes a file bdev: a malloc
# bdev M0 alone, then beside an aio (A0) or uring (U0) bdev on a file, all in one usk_bdevperf
# on one core (-m 0x1), every job 4 KiB random writes with a flush after every 4 writes. Before
# the flush went asynchronous, each flush of A0 ran fdatasync on the reactor and M0's I/O
# waited behind it: A0's flush latency is what every such stall would have cost M0.
# Prints the report rows. Usage: bench/bdev/flush_neighbour.sh [BUILD_DIR] [SECONDS] [DIR]
set -eu
BUILD=${1:-build}
SECS=${2:-5}
DIR=${3:-/var/tmp}
PERF=$BUILD/app/usk_bdevperf/usk_bdevperf
TMP=$(mktemp -d "$DIR/usk-flush-neighbour-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
truncate -s 256M "$TMP/file.img"
malloc='{"method":"bdev_malloc_create","params":{"name":"M0","num_blocks":65536,"block_size":4096}}'
for case in alone aio uring; do
	cfg="$malloc"
	case $case in
	aio) cfg="$cfg,{\"method\":\"bdev_aio_create\",\"params\":{\"name\":\"A0\",\"filename\":\"$TMP/file.img\",\"block_size\":4096}}" ;;
	uring) cfg="$cfg,{\"method\":\"bdev_uring_create\",\"params\":{\"name\":\"U0\",\"filename\":\"$TMP/file.img\",\"block_size\":4096}}" ;;
	esac
	echo "{\"subsystems\":[{\"subsystem\":\"bdev\",\"config\":[$cfg]}]}" >"$TMP/$case.json"
	echo "== M0 $case (load $(cut -d' ' -f1-3 /proc/loadavg))"
	"$PERF" -m 0x1 --json "$TMP/$case.json" -q 4 -o 4096 -w randwrite --flush-every 4 -t "$SECS" 2>&1 |
		grep -E '^[[:space:]]+(M0|A0|U0)[[:space:]]+:'
done
