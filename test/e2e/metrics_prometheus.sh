#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Prometheus metrics end to end. (1) A real Prometheus server (Debian's package) scrapes
# usk_bdevperf --metrics every second while it reads a null bdev; through Prometheus's HTTP API
# rate(usk_bdev_read_ops_total[5s]) must be non-zero and, point by point, within 25% of the
# IOPS bdevperf itself reports for the same 5 s (-S 1), and the last scraped counter must
# match bdevperf's op count. Meanwhile a malformed
# request, an oversized one and a slow client are each closed, and the scrapes go on (up == 1
# throughout). (2) usk_tgt: framework_set_metrics_listener by RPC, NVMe/TCP connections counted
# per subsystem and transport, a fatal PDU error counted, the listener closed by RPC.
set -u
NAME=metrics_prometheus
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
PERF=$BUILD_DIR/app/usk_bdevperf/usk_bdevperf
PROBE=$E2E_DIR/lib/metrics_probe.py
skip_unless_ready
[ -x "$PERF" ] || fail "$PERF not built"
command -v prometheus >/dev/null || { echo "SKIP: prometheus missing (scripts/deps.sh test)"; exit 77; }

check_sanitizers() {
	if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$1"; then
		grep -E -A5 "ERROR: |runtime error:" "$1" | head -30 >&2
		fail "sanitizer report in $1"
	fi
}

MPORT=$(free_port)
PPORT=$(free_port)
cat >"$TMP/perf.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_null_create","params":{"name":"Null0","num_blocks":262144,"block_size":512}}
]}]}
JSON

RUNTIME=30
# bdevperf's per-second IOPS lines (-S 1) are time-stamped as they arrive, to compare with
# Prometheus's rate over the same seconds.
stamp() { while IFS= read -r l; do printf '%s %s\n' "$(date +%s.%N)" "$l"; done; }
timeout -k 5 90 "$PERF" -m 0x1 -r "$SOCK" --json "$TMP/perf.json" --metrics "127.0.0.1:$MPORT" \
	-q 16 -o 4096 -w randread -t $RUNTIME -T Null0 -S 1 \
	> >(tee "$TMP/perf.log" | stamp >"$TMP/perf_ts.log") 2>&1 &
PERF_PID=$!
BG_PIDS+=("$PERF_PID")
T_START=$(date +%s)
for _ in $(seq 1 100); do
	python3 "$PROBE" get "$MPORT" >"$TMP/first.txt" 2>/dev/null && break
	kill -0 "$PERF_PID" 2>/dev/null || { cat "$TMP/perf.log" >&2; fail "usk_bdevperf exited early"; }
	sleep 0.1
done
grep -q '^usk_bdev_read_ops_total{bdev="Null0"} ' "$TMP/first.txt" || fail "no usk_bdev_read_ops_total for Null0"
grep -q '^# TYPE usk_thread_busy_seconds_total counter$' "$TMP/first.txt" || fail "no thread busy counter"
grep -q '^usk_reactor_busy_seconds_total{core="0"} ' "$TMP/first.txt" || fail "no reactor busy counter"
pass "GET /metrics answers ($(grep -c '^usk_' "$TMP/first.txt") samples)"

cat >"$TMP/prom.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: usk
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
YML
prometheus --config.file="$TMP/prom.yml" --storage.tsdb.path="$TMP/prom" \
	--web.listen-address="127.0.0.1:$PPORT" >"$TMP/prom.log" 2>&1 &
PROM_PID=$!
BG_PIDS+=("$PROM_PID")
for _ in $(seq 1 150); do
	curl -sf "http://127.0.0.1:$PPORT/-/ready" >/dev/null 2>&1 && break
	kill -0 "$PROM_PID" 2>/dev/null || { tail -20 "$TMP/prom.log" >&2; fail "prometheus exited"; }
	sleep 0.1
done
curl -sf "http://127.0.0.1:$PPORT/-/ready" >/dev/null || fail "prometheus not ready within 15 s"

# Misbehaving clients while the scrapes and the I/O go on.
sleep 2
python3 "$PROBE" bad "$MPORT" || fail "malformed request not answered 400 and closed"
python3 "$PROBE" big "$MPORT" || fail "oversized request not answered 431 and closed"
st() { python3 "$PROBE" status "$MPORT" "$1" "$2"; }
[ "$(st GET /)" = "200 58 58" ] || fail "GET /: $(st GET /)"
[ "$(st GET /nope | cut -d' ' -f1)" = 404 ] || fail "GET /nope not 404"
[ "$(st POST /metrics | cut -d' ' -f1)" = 405 ] || fail "POST not 405"
read -r code blen clen < <(st HEAD /metrics)
[ "$code" = 200 ] && [ "$blen" = 0 ] && [ "$clen" -gt 1000 ] || fail "HEAD /metrics: $code $blen $clen"
python3 "$PROBE" slow "$MPORT" 13 >"$TMP/slow.txt" &
SLOW_PID=$!
BG_PIDS+=("$SLOW_PID")
sleep 1
python3 "$PROBE" get "$MPORT" >/dev/null || fail "GET /metrics failed while a slow client was connected"
wait "$SLOW_PID" || fail "slow client not closed"
# The close must come from the target's deadline, not from the app going away.
kill -0 "$PERF_PID" 2>/dev/null || fail "usk_bdevperf ended before the slow client was closed"
grep -q "metrics: closing .*no complete exchange within" "$TMP/perf.log" || fail "slow client close not logged"
pass "malformed, oversized and slow clients closed ($(cat "$TMP/slow.txt")); serving went on"

wait "$PERF_PID"
rc=$?
T_END=$(date +%s)
sleep 1 # let tee and stamp drain
[ "$rc" -eq 0 ] || { tail -20 "$TMP/perf.log" >&2; fail "usk_bdevperf exit code $rc"; }
check_sanitizers "$TMP/perf.log"
grep -q "metrics: closing .*malformed request" "$TMP/perf.log" || fail "no log line for the malformed request"
grep -q 'GARBAGE\\x01\\xff' "$TMP/perf.log" || fail "malformed request not logged escaped"

IOPS=$(awk -F: '/^[[:space:]]+Null0[[:space:]]+:/ {split($2, a, " "); print a[2]}' "$TMP/perf.log" | tail -1)
RUN_S=$(awk -F: '/^[[:space:]]+Null0[[:space:]]+:/ {split($2, a, " "); print a[1]}' "$TMP/perf.log" | tail -1)
[ -n "$IOPS" ] || { cat "$TMP/perf.log" >&2; fail "no IOPS in the bdevperf output"; }

# Prometheus's view: rate over 5 s windows inside the run (skip the ramp at both ends).
python3 "$PROBE" range "$PPORT" 'rate(usk_bdev_read_ops_total{bdev="Null0"}[5s])' \
	$((T_START + 8)) $((T_END - 3)) 1 >"$TMP/rates.txt" || fail "range query failed"
n=$(wc -l <"$TMP/rates.txt")
[ "$n" -ge 5 ] || fail "only $n rate points from Prometheus"
median=$(awk '{print $2}' "$TMP/rates.txt" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
awk -v m="$median" 'BEGIN { exit !(m > 0) }' || fail "rate(usk_bdev_read_ops_total[5s]) is $median"
read -r ratio npts < <(python3 "$PROBE" compare "$TMP/rates.txt" "$TMP/perf_ts.log") ||
	fail "cannot compare with bdevperf's per-second IOPS"
awk -v r="$ratio" 'BEGIN { exit !(r > 0.8 && r < 1.25) }' ||
	fail "Prometheus rate / bdevperf IOPS over the same 5 s: median ratio $ratio (want 0.8..1.25)"
pass "rate(usk_bdev_read_ops_total[5s]) median $median/s; vs bdevperf's own IOPS over the same 5 s: ratio $ratio ($npts points); run average $IOPS IOPS"

# The last value scraped is at most one scrape interval short of bdevperf's count.
last=$(python3 "$PROBE" query "$PPORT" 'max_over_time(usk_bdev_read_ops_total{bdev="Null0"}[60s])' "$T_END")
awk -v l="$last" -v i="$IOPS" -v t="$RUN_S" 'BEGIN { n = i * t; exit !(l <= n * 1.02 && l >= n * 0.85) }' ||
	fail "last scraped op count $last vs bdevperf $IOPS IOPS x $RUN_S s"
# Over the whole run, slow-client phase included (a loaded CI machine may delay some scrapes).
span=$((T_END - 2 - T_START))
up_min=$(python3 "$PROBE" query "$PPORT" "min_over_time(up{job=\"usk\"}[${span}s])" $((T_END - 2)))
up_n=$(python3 "$PROBE" query "$PPORT" "count_over_time(up{job=\"usk\"}[${span}s])" $((T_END - 2)))
[ "$up_min" = 1 ] || fail "a scrape failed during the run (min up $up_min)"
[ "${up_n:-0}" -ge $((span / 2)) ] || fail "only $up_n scrapes in the last $span s of the run"
busy=$(python3 "$PROBE" query "$PPORT" 'max(rate(usk_thread_busy_seconds_total{thread=~"bdevperf.*"}[5s]))' $((T_END - 3)))
awk -v b="$busy" 'BEGIN { exit !(b > 0.5 && b < 1.1) }' || fail "bdevperf thread busy rate $busy s/s"
pass "last scraped count $last (bdevperf ~$IOPS x $RUN_S); $up_n scrapes, all up; busy $busy s/s"

kill -TERM "$PROM_PID"
wait "$PROM_PID" 2>/dev/null

# (2) usk_tgt, the listener started by RPC, NVMe/TCP connection counts.
NPORT=$(free_port)
MPORT2=$(free_port)
tcp_config "$NPORT" "$MALLOC_BDEV" >"$TMP/tgt.json"
start_tgt "$TMP/tgt.json"
rpc framework_set_metrics_listener address=bogus >"$TMP/rpc.out" 2>&1 && fail "bogus address accepted"
grep -q "address" "$TMP/rpc.out" || fail "error does not name the address field"
rpc framework_set_metrics_listener address="127.0.0.1:$MPORT2" >"$TMP/rpc.out" || fail "framework_set_metrics_listener failed"
grep -q "\"port\": *$MPORT2" "$TMP/rpc.out" || fail "reply lacks the port: $(cat "$TMP/rpc.out")"
python3 "$CLIENT" "$NPORT" "$NQN" good --seconds 4 >"$TMP/client.log" 2>&1 &
CL_PID=$!
BG_PIDS+=("$CL_PID")
sleep 2
python3 "$PROBE" get "$MPORT2" >"$TMP/tgt_metrics.txt" || fail "GET /metrics on usk_tgt failed"
wait "$CL_PID" || { cat "$TMP/client.log" >&2; fail "NVMe/TCP client failed"; }
val() { awk -v k="$1" 'index($0, k) == 1 { s += $NF } END { print s + 0 }' "$2"; }
q=$(val "usk_nvmf_subsystem_qpairs{target=\"nvmf_tgt\",subsystem=\"$NQN\"}" "$TMP/tgt_metrics.txt")
[ "$q" -ge 2 ] || { grep nvmf "$TMP/tgt_metrics.txt" >&2; fail "usk_nvmf_subsystem_qpairs $q during a session (want >= 2)"; }
a=$(val "usk_nvmf_transport_accepted_qpairs_total{" "$TMP/tgt_metrics.txt")
[ "$a" -ge 2 ] || fail "usk_nvmf_transport_accepted_qpairs_total $a"
python3 "$CLIENT" "$NPORT" "$NQN" bad garbage >"$TMP/client.log" 2>&1 || fail "garbage PDU not refused"
python3 "$PROBE" get "$MPORT2" >"$TMP/tgt_metrics2.txt" || fail "GET /metrics after the bad client failed"
e=$(val "usk_nvmf_transport_fatal_pdu_errors_total{" "$TMP/tgt_metrics2.txt")
[ "$e" -ge 1 ] || fail "fatal PDU error not counted ($e)"
c=$(val "usk_nvmf_completed_nvme_io_total{" "$TMP/tgt_metrics2.txt")
[ "$c" -ge 1 ] || fail "no completed NVMe I/O counted"
pass "usk_tgt: $q qpairs in $NQN, $a accepted, $e fatal PDU errors, $c commands completed"
rpc framework_set_metrics_listener --json '{"address": ""}' >/dev/null || fail "closing the listener failed"
python3 "$PROBE" get "$MPORT2" >/dev/null 2>&1 && fail "listener still open after address=\"\""
kill -TERM "$TGT_PID"
wait "$TGT_PID"
rc=$?
TGT_PID=
[ "$rc" -eq 0 ] || fail "usk_tgt exit code $rc"
check_sanitizers "$TMP/tgt.log"
pass "listener closed by RPC; usk_tgt exited 0"

# (3) interrupt mode: the listener's timed poller runs off the thread's timerfd.
MPORT3=$(free_port)
start_tgt "$TMP/tgt.json" --interrupt-mode --metrics "127.0.0.1:$MPORT3"
python3 "$PROBE" get "$MPORT3" >"$TMP/intr.txt" || fail "GET /metrics in interrupt mode failed"
grep -q '^usk_bdev_read_ops_total{bdev="Malloc0"} ' "$TMP/intr.txt" || fail "interrupt mode: no bdev metrics"
python3 "$PROBE" bad "$MPORT3" >/dev/null || fail "interrupt mode: malformed request not closed"
kill -TERM "$TGT_PID"
wait "$TGT_PID"
rc=$?
TGT_PID=
[ "$rc" -eq 0 ] || fail "usk_tgt --interrupt-mode exit code $rc"
check_sanitizers "$TMP/tgt.log"
pass "--metrics in interrupt mode"
