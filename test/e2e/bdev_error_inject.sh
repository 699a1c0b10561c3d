#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The error vbdev (EE_<base>) makes usk_bdevperf see failures: injected write failures stop the
# job with a non-zero exit and Fail/s > 0; with -f the run continues and still reports them;
# corrupt_data on reads is caught by verify; nomem is retried transparently.
set -u

# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
e2e_init bdev_error_inject
PERF=$BUILD_DIR/app/usk_bdevperf/usk_bdevperf
e2e_require "$PERF"

# io_type error_type num [corrupt_value]
write_cfg() {
	local extra=""
	[ $# -ge 4 ] && extra=",\"corrupt_offset\":100,\"corrupt_value\":$4"
	cat >"$TMP/cfg.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_malloc_create","params":{"name":"Malloc0","num_blocks":16384,"block_size":512}},
 {"method":"bdev_error_create","params":{"base_name":"Malloc0"}},
 {"method":"bdev_error_inject_error","params":{"name":"EE_Malloc0","io_type":"$1","error_type":"$2","num":$3$extra}}
]}]}
JSON
}

run_perf() {
	e2e_run timeout -k 5 60 "$PERF" --json "$TMP/cfg.json" -T EE_Malloc0 "$@"
}

fail_rate() {
	grep -E "^[[:space:]]+EE_Malloc0[[:space:]]+:" "$TMP/out.log" | awk -F: '{print $2}' | awk '{print $4}'
}

write_cfg write failure 5
run_perf -q 8 -o 4096 -w write -t 2 && fail "injected write failures did not fail the run"
r=$(fail_rate)
[ -n "$r" ] || fail "no result row for EE_Malloc0"
awk -v v="$r" 'BEGIN { exit !(v > 0) }' || fail "Fail/s is $r, expected > 0"
grep -q "fails" "$TMP/out.log" || fail "no failing task reported"
echo "ok: write failures stop the job (Fail/s $r)"

write_cfg read failure 100
run_perf -q 8 -o 4096 -w randread -t 2 -f || fail "-f run exited non-zero"
r=$(fail_rate)
awk -v v="$r" 'BEGIN { exit !(v > 0) }' || fail "-f: Fail/s is $r, expected > 0"
echo "ok: with -f failures are counted and the run continues (Fail/s $r)"

write_cfg read corrupt_data 1 255
run_perf -q 8 -o 4096 -w verify -t 2 && fail "corrupted read passed verify"
grep -q "mismatch" "$TMP/out.log" || fail "no mismatch message for corrupted data"
echo "ok: corrupt_data is caught by verify"

write_cfg write nomem 50
run_perf -q 8 -o 4096 -w verify -t 2 || fail "nomem injections were not retried"
echo "ok: nomem injections are retried"

# Unknown io_type in the config is rejected by name (the app refuses to start).
write_cfg bogus failure 1
run_perf -q 8 -o 4096 -w read -t 1 && fail "bad io_type in config accepted"
grep -q "io_type" "$TMP/out.log" || fail "error does not name io_type"
echo "PASS: error injection"
exit 0
