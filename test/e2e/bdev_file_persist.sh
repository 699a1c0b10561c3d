#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Data written through an aio / uring bdev survives the process: one usk_bdevperf run writes
# its self-describing pattern to a file, a second process (the other engine) reads every block
# back and checks it (--check-pattern). A zeroed file must fail the check (the checker is real).
set -u

# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
e2e_init bdev_file_persist
PERF=$BUILD_DIR/app/usk_bdevperf/usk_bdevperf
e2e_require "$PERF"

# module name, bdev name, file
write_cfg() {
	cat >"$TMP/$2.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_$1_create","params":{"name":"$2","filename":"$3","block_size":4096}}
]}]}
JSON
}

# expected rc, then usk_bdevperf arguments
run_perf() {
	local expect=$1
	shift
	local rc

	e2e_run timeout -k 5 60 "$PERF" "$@"
	rc=$?
	if [ "$expect" = 0 ] && [ $rc -ne 0 ]; then
		fail "usk_bdevperf $* exited with $rc"
	fi
	if [ "$expect" != 0 ] && [ $rc -eq 0 ]; then
		fail "usk_bdevperf $* passed but should have failed"
	fi
}

for pair in "aio uring" "uring aio"; do
	read -r writer reader <<<"$pair"
	f=$TMP/$writer.img
	truncate -s 2M "$f"
	write_cfg "$writer" W0 "$f"
	write_cfg "$reader" R0 "$f"
	# 2 MiB = 512 blocks; a sequential write pass takes far less than the 3 s run.
	run_perf 0 --json "$TMP/W0.json" -q 16 -o 4096 -w write -t 3 --check-pattern
	run_perf 0 --json "$TMP/R0.json" -q 16 -o 4096 -w read -t 1 --check-pattern
	grep -qE "^[[:space:]]+R0[[:space:]]+:" "$TMP/out.log" || fail "no result row for R0"
	echo "ok: $writer wrote, $reader (another process) read back and checked every block"
done

# A file that was never written must fail the pattern check, naming the offset.
truncate -s 8M "$TMP/zero.img"
write_cfg aio Z0 "$TMP/zero.img"
run_perf 1 --json "$TMP/Z0.json" -q 4 -o 4096 -w read -t 1 --check-pattern
grep -q "Pattern mismatch" "$TMP/out.log" || fail "no mismatch message for a zeroed file"
grep -q "byte offset" "$TMP/out.log" || fail "mismatch message does not give the offset"
echo "PASS: aio/uring data persists across processes; bad data is reported"
exit 0
