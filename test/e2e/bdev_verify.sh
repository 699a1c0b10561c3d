#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# usk_bdevperf -w verify for 5 s on malloc, aio, uring and on split/passthru/delay stacked on
# malloc, all in one run on two cores. The vbdevs are listed before their bases in the config,
# so they are built through examine when the base appears.
set -u

# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
e2e_init bdev_verify
E2E_LOG_TAIL=40
PERF=$BUILD_DIR/app/usk_bdevperf/usk_bdevperf
e2e_require "$PERF"

truncate -s 64M "$TMP/aio.img"
truncate -s 64M "$TMP/uring.img"

cat >"$TMP/bdev.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_passthru_create","params":{"base_bdev_name":"Malloc2","name":"PT0"}},
 {"method":"bdev_split_create","params":{"base_bdev":"Malloc1","split_count":2}},
 {"method":"bdev_malloc_create","params":{"name":"Malloc0","num_blocks":32768,"block_size":512}},
 {"method":"bdev_malloc_create","params":{"name":"Malloc1","num_blocks":32768,"block_size":512}},
 {"method":"bdev_malloc_create","params":{"name":"Malloc2","num_blocks":32768,"block_size":512}},
 {"method":"bdev_malloc_create","params":{"name":"Malloc3","num_blocks":32768,"block_size":512}},
 {"method":"bdev_delay_create","params":{"base_bdev_name":"Malloc3","name":"Delay0",
   "avg_read_latency":50,"p99_read_latency":200,"avg_write_latency":50,"p99_write_latency":200}},
 {"method":"bdev_aio_create","params":{"name":"AIO0","filename":"$TMP/aio.img","block_size":512}},
 {"method":"bdev_uring_create","params":{"name":"URING0","filename":"$TMP/uring.img"}}
]}]}
JSON

e2e_run timeout -k 5 60 "$PERF" --json "$TMP/bdev.json" -m 0x3 -q 32 -o 4096 -w verify -t 5
rc=$?
[ $rc -eq 0 ] || fail "usk_bdevperf verify exited with $rc"

for b in Malloc0 AIO0 URING0 Malloc1p0 Malloc1p1 PT0 Delay0; do
	line=$(grep -E "^[[:space:]]+${b}[[:space:]]+:" "$TMP/out.log") || fail "no result row for $b"
	iops=$(echo "$line" | awk -F: '{print $2}' | awk '{print $2}')
	fails=$(echo "$line" | awk -F: '{print $2}' | awk '{print $4}')
	awk -v v="$iops" 'BEGIN { exit !(v > 0) }' || fail "$b: IOPS $iops"
	awk -v v="$fails" 'BEGIN { exit !(v == 0) }' || fail "$b: Fail/s $fails"
done
grep -q "^ Total" "$TMP/out.log" || fail "no Total row"
grep -q "Verification LBA range" "$TMP/out.log" || fail "no verification range line"
# The bases are claimed by the vbdevs: no job may run on them.
for b in Malloc1 Malloc2 Malloc3; do
	if grep -qE "^[[:space:]]+${b}[[:space:]]+:" "$TMP/out.log"; then
		fail "a job ran on claimed base $b"
	fi
done
# Interrupt mode: aio / uring completions arrive through their eventfds, delay through a timer.
cat >"$TMP/intr.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_malloc_create","params":{"name":"Malloc3","num_blocks":32768,"block_size":512}},
 {"method":"bdev_delay_create","params":{"base_bdev_name":"Malloc3","name":"Delay0",
   "avg_read_latency":50,"p99_read_latency":200,"avg_write_latency":50,"p99_write_latency":200}},
 {"method":"bdev_aio_create","params":{"name":"AIO0","filename":"$TMP/aio.img","block_size":512}},
 {"method":"bdev_uring_create","params":{"name":"URING0","filename":"$TMP/uring.img"}}
]}]}
JSON
e2e_run timeout -k 5 60 "$PERF" --interrupt-mode --json "$TMP/intr.json" -q 16 -o 4096 \
	-w verify -t 2
rc=$?
[ $rc -eq 0 ] || fail "usk_bdevperf verify in interrupt mode exited with $rc"
for b in AIO0 URING0 Delay0; do
	line=$(grep -E "^[[:space:]]+${b}[[:space:]]+:" "$TMP/out.log") || fail "interrupt mode: no row for $b"
	iops=$(echo "$line" | awk -F: '{print $2}' | awk '{print $2}')
	awk -v v="$iops" 'BEGIN { exit !(v > 0) }' || fail "interrupt mode: $b IOPS $iops"
done
echo "PASS: verify on malloc, aio, uring, split, passthru, delay (polled and interrupt mode)"
exit 0
