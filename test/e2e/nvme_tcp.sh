#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The user-space NVMe/TCP host driver against usk_tgt on loopback, digests off and on:
# usk_identify (model, serial, namespace), bad transport IDs (the message names the key),
# usk_nvme_perf (randrw 4 KiB, 256 KiB reads split at MDTS), usk_bdevperf -w verify on an
# nvme bdev (bdev_nvme_attach_controller from the config), bdev_nvme RPCs and save_config.
set -u
NAME=nvme_tcp
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
skip_unless_ready
IDENTIFY=$BUILD_DIR/app/usk_identify/usk_identify
PERF=$BUILD_DIR/app/usk_nvme_perf/usk_nvme_perf
BDEVPERF=$BUILD_DIR/app/usk_bdevperf/usk_bdevperf
for b in "$IDENTIFY" "$PERF" "$BDEVPERF"; do
	[ -x "$b" ] || fail "$b not built"
done

# no_sanitizer_reports LOG: UBSan/ASan/LSan reports fail the test even when the exit code is 0.
no_sanitizer_reports() {
	if grep -qE "runtime error:|AddressSanitizer|LeakSanitizer" "$1"; then
		cat "$1" >&2
		fail "sanitizer report in $1"
	fi
}

PORT=$(free_port)
tcp_config "$PORT" "$MALLOC_BDEV" >"$TMP/tgt.json"
start_tgt "$TMP/tgt.json"
TRID="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:$NQN"

# ---- usk_identify ----
for dg in "" "-H -D"; do
	# shellcheck disable=SC2086
	timeout -k 2 30 "$IDENTIFY" $dg -r "$TRID" >"$TMP/id.log" 2>&1 || fail "usk_identify $dg: rc $?: $(tail -5 "$TMP/id.log")"
	no_sanitizer_reports "$TMP/id.log"
	grep -q "^Model Number: *usk e2e ctrl$" "$TMP/id.log" || fail "identify $dg: model missing"
	grep -q "^Serial Number: *USK00000000000001$" "$TMP/id.log" || fail "identify $dg: serial missing"
	grep -q "^NVM Subsystem NQN: *$NQN$" "$TMP/id.log" || fail "identify $dg: subnqn missing"
	grep -q "^Namespace ID:1$" "$TMP/id.log" || fail "identify $dg: namespace 1 missing"
	grep -q "^Size (in LBAs): *262144 " "$TMP/id.log" || fail "identify $dg: capacity wrong"
	grep -q "^LBA Format #00: Data Size: *512" "$TMP/id.log" || fail "identify $dg: LBA format wrong"
done
pass "usk_identify (digests off and on)"

# ---- bad transport IDs: the message names the bad key or value ----
check_bad_trid() {
	local trid=$1 want=$2
	if timeout 10 "$IDENTIFY" -r "$trid" >"$TMP/bad.log" 2>&1; then
		fail "usk_identify accepted '$trid'"
	fi
	grep -qF -- "$want" "$TMP/bad.log" || fail "bad trid '$trid': expected '$want' in: $(cat "$TMP/bad.log")"
}
check_bad_trid "trtype:TCP traddrx:127.0.0.1" "unknown key 'traddrx'"
check_bad_trid "trtype:TCPX traddr:127.0.0.1" "bad value 'TCPX' for key 'trtype'"
check_bad_trid "trtype:TCP adrfam:IPv5 traddr:127.0.0.1" "bad value 'IPv5' for key 'adrfam'"
check_bad_trid "trtype:TCP traddr:127.0.0.1 trsvcid:99999" "bad value '99999' for key 'trsvcid'"
check_bad_trid "trtype:TCP traddr" "key 'traddr' has no value"
if timeout 10 "$PERF" -q 1 -o 4096 -w read -t 1 -r "trtype:tcp traddr:127.0.0.1 subnqn:x nsid:1" >"$TMP/bad.log" 2>&1; then
	fail "usk_nvme_perf accepted key nsid"
fi
grep -qF "unknown key 'nsid'" "$TMP/bad.log" || fail "perf bad trid message: $(cat "$TMP/bad.log")"
pass "bad transport IDs name the key"

# ---- usk_nvme_perf ----
run_perf() {
	local what=$1
	shift
	timeout -k 2 40 "$PERF" -c 0x2 -r "$TRID" "$@" >"$TMP/perf.log" 2>&1 || fail "perf $what: rc $?: $(tail -8 "$TMP/perf.log")"
	no_sanitizer_reports "$TMP/perf.log"
	local total
	total=$(awk -F: '/^Total/ {print $2}' "$TMP/perf.log" | awk '{print $1}')
	[ -n "$total" ] || fail "perf $what: no Total row: $(cat "$TMP/perf.log")"
	awk -v v="$total" 'BEGIN { exit !(v > 0) }' || fail "perf $what: Total IOPS $total"
	grep -q "NSID 1 from core  1" "$TMP/perf.log" || fail "perf $what: no per-namespace row"
}
run_perf "randrw 4k" -q 32 -o 4096 -w randrw -M 50 -t 2
run_perf "randrw 4k digests" -q 32 -o 4096 -w randrw -M 50 -t 2 -H -I
run_perf "read 256k (split at MDTS)" -q 4 -o 262144 -w read -t 2 -L
grep -q "^ *50.00000% :" "$TMP/perf.log" || fail "perf -L: no percentile summary"
run_perf "write 128k digests -LL" -q 8 -o 131072 -w write -t 1 -H -I -LL
grep -q "Range in us" "$TMP/perf.log" || fail "perf -LL: no histogram"
pass "usk_nvme_perf"

# ---- usk_bdevperf verify on an nvme bdev ----
for dg in false true; do
	cat >"$TMP/bp.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_nvme_attach_controller","params":{"name":"Nvme0","trtype":"TCP","adrfam":"IPv4",
   "traddr":"127.0.0.1","trsvcid":"$PORT","subnqn":"$NQN","hdgst":$dg,"ddgst":$dg}}
]}]}
JSON
	timeout -k 5 60 "$BDEVPERF" --json "$TMP/bp.json" -r "$TMP/bp.sock" -m 0x2 -q 16 -o 4096 -w verify -t 3 \
		>"$TMP/bp.log" 2>&1 || fail "bdevperf verify (digests $dg): rc $?: $(tail -20 "$TMP/bp.log")"
	no_sanitizer_reports "$TMP/bp.log"
	line=$(grep -E "^[[:space:]]+Nvme0n1[[:space:]]+:" "$TMP/bp.log") || fail "no Nvme0n1 row: $(tail "$TMP/bp.log")"
	iops=$(echo "$line" | awk -F: '{print $2}' | awk '{print $2}')
	fails=$(echo "$line" | awk -F: '{print $2}' | awk '{print $4}')
	awk -v v="$iops" 'BEGIN { exit !(v > 0) }' || fail "verify digests $dg: IOPS $iops"
	awk -v v="$fails" 'BEGIN { exit !(v == 0) }' || fail "verify digests $dg: Fail/s $fails"
	if grep -q "still registered" "$TMP/bp.log"; then
		fail "bdevperf left an io_device registered"
	fi
done
pass "usk_bdevperf verify on Nvme0n1 (digests off and on)"

# ---- interrupt mode: completions arrive through the qpair's socket fd ----
timeout -k 5 60 "$BDEVPERF" --interrupt-mode --json "$TMP/bp.json" -r "$TMP/bp.sock" -m 0x2 -q 4 -o 4096 \
	-w verify -t 3 >"$TMP/bpi.log" 2>&1 || fail "bdevperf --interrupt-mode verify: rc $?: $(tail -20 "$TMP/bpi.log")"
no_sanitizer_reports "$TMP/bpi.log"
line=$(grep -E "^[[:space:]]+Nvme0n1[[:space:]]+:" "$TMP/bpi.log") || fail "no Nvme0n1 row in interrupt mode"
iops=$(echo "$line" | awk -F: '{print $2}' | awk '{print $2}')
fails=$(echo "$line" | awk -F: '{print $2}' | awk '{print $4}')
awk -v v="$fails" 'BEGIN { exit !(v == 0) }' || fail "interrupt mode verify: Fail/s $fails"
# The channel's timer runs every 10 ms: more than 100 x QD (4) completions per second means the
# socket fd, not the timer, drove them.
awk -v v="$iops" 'BEGIN { exit !(v > 400) }' || fail "interrupt mode: $iops IOPS, completions not fd-driven?"
pass "usk_bdevperf --interrupt-mode verify on Nvme0n1 ($iops IOPS)"

# ---- bdev_nvme RPCs in a second usk_tgt (the initiator side) ----
SOCK2=$TMP/init.sock
"$TGT" -m 0x2 -r "$SOCK2" >"$TMP/init.log" 2>&1 &
INIT_PID=$!
BG_PIDS+=("$INIT_PID")
for _ in $(seq 1 100); do [ -S "$SOCK2" ] && break; sleep 0.1; done
r2() { "$RPC_BIN" -s "$SOCK2" -t 30 "$@"; }
out=$(r2 bdev_nvme_attach_controller name=Nvme1 trtype=TCP adrfam=IPv4 traddr=127.0.0.1 trsvcid="$PORT" \
	subnqn="$NQN" hdgst=true 2>&1) || fail "attach: $out"
echo "$out" | grep -q '"Nvme1n1"' || fail "attach did not return Nvme1n1: $out"
out=$(r2 bdev_nvme_attach_controller name=Nvme1 trtype=TCP traddr=127.0.0.1 trsvcid="$PORT" subnqn="$NQN" 2>&1) &&
	fail "duplicate name accepted: $out"
echo "$out" | grep -q "name" || fail "duplicate name error does not name the field: $out"
out=$(r2 bdev_nvme_attach_controller name=Nvme2 trtype=TCPX traddr=127.0.0.1 subnqn="$NQN" 2>&1) &&
	fail "bad trtype accepted"
echo "$out" | grep -q "trtype" || fail "bad trtype error does not name the field: $out"
out=$(r2 bdev_nvme_attach_controller name=Nvme3 trtype=TCP traddr=127.0.0.1 trsvcid=1 subnqn="$NQN" 2>&1) &&
	fail "attach to a closed port succeeded"
out=$(r2 bdev_nvme_get_controllers 2>&1) || fail "get_controllers: $out"
echo "$out" | grep -q '"state": *"enabled"' || fail "get_controllers state: $out"
echo "$out" | grep -q "\"trsvcid\": *\"$PORT\"" || fail "get_controllers trid: $out"
out=$(r2 bdev_get_bdevs 2>&1) || fail "bdev_get_bdevs: $out"
echo "$out" | grep -q '"num_blocks": *262144' || fail "Nvme1n1 size: $out"
out=$(r2 save_config 2>&1) || fail "save_config: $out"
echo "$out" | grep -q '"bdev_nvme_attach_controller"' || fail "save_config lacks the controller: $out"
echo "$out" | grep -q '"hdgst": *true' || fail "save_config lacks hdgst: $out"
out=$(r2 bdev_nvme_set_options ctrlr_loss_timeout_sec=5 reconnect_delay_sec=0 2>&1) &&
	fail "inconsistent set_options accepted"
echo "$out" | grep -q "reconnect_delay_sec" || fail "set_options error does not name the field: $out"
r2 bdev_nvme_set_options ctrlr_loss_timeout_sec=5 reconnect_delay_sec=1 >/dev/null 2>&1 || fail "set_options"
r2 bdev_nvme_detach_controller name=Nvme1 >/dev/null 2>&1 || fail "detach"
out=$(r2 bdev_get_bdevs 2>&1)
echo "$out" | grep -q Nvme1n1 && fail "Nvme1n1 still there after detach"
out=$(r2 bdev_nvme_detach_controller name=Nvme1 2>&1) && fail "second detach succeeded"
kill -TERM "$INIT_PID"
for _ in $(seq 1 100); do kill -0 "$INIT_PID" 2>/dev/null || break; sleep 0.1; done
wait "$INIT_PID"
rc=$?
[ $rc -eq 0 ] || fail "initiator usk_tgt exit code $rc: $(tail "$TMP/init.log")"
no_sanitizer_reports "$TMP/init.log"
pass "bdev_nvme RPCs"

tgt_alive || fail "usk_tgt died"
stop_tgt
exit 0
