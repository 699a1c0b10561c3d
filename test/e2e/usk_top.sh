#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# usk_top against a usk_tgt serving an NVMe/TCP host doing I/O: batch mode (-b -n 2) prints
# every tab with the busy poll group thread, the busy bdev (mean IOPS of the two screens within
# 1.5x of bdev_get_iostat's own rate over the same seconds; p99 read and write latency of the
# interval non-zero and at most the max) and the host's connections (the I/O qpair with the host
# NQN and IOPS within 1.5x of the bdev's); then the interactive view under tmux: keys switch tabs
# (send-keys), the screen (capture-pane) shows the same, q quits with 0. At the end the iostat
# histograms count every completed read and write once.
set -u
NAME=usk_top
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
TOP=$BUILD_DIR/app/usk_top/usk_top
skip_unless_ready
[ -x "$TOP" ] || fail "$TOP not built (libncurses-dev missing?)"
command -v tmux >/dev/null || { echo "SKIP: tmux missing"; exit 77; }
TMUX_SOCK=usk-e2e-top-$$
tmux_q() { tmux -L "$TMUX_SOCK" "$@"; }
e2e_on_exit 'tmux_q kill-server 2>/dev/null'

PORT=$(free_port)
tcp_config "$PORT" "$MALLOC_BDEV" >"$TMP/tgt.json"
start_tgt "$TMP/tgt.json"
python3 "$CLIENT" "$PORT" "$NQN" good --seconds 40 >"$TMP/client.log" 2>&1 &
CL_PID=$!
BG_PIDS+=("$CL_PID")
sleep 2
kill -0 "$CL_PID" 2>/dev/null || { cat "$TMP/client.log" >&2; fail "NVMe/TCP client ended early"; }

# column N of the row whose first field is KEY in FILE
col() { awk -v k="$1" -v n="$2" '$1 == k { print $n; exit }' "$3"; }
iostat_reads() {
	rpc bdev_get_iostat name=Malloc0 | python3 -c 'import json,sys; print(json.load(sys.stdin)["bdevs"][0]["num_read_ops"])'
}

# check_p99 FILE WHERE: Malloc0's R_P99_us and W_P99_us (columns 7, 9) are non-zero and at
# most its R_MAX_us / W_MAX_us (10, 11) plus the histogram's bucket width (6.25 %)
check_p99() {
	rp99=$(col Malloc0 7 "$1")
	wp99=$(col Malloc0 9 "$1")
	awk -v p="${rp99:-x}" -v mx="$(col Malloc0 10 "$1")" 'BEGIN { exit !(p + 0 > 0 && p <= mx * 1.0625 + 0.1) }' ||
		{ cat "$1" >&2; fail "$2: Malloc0 R_P99_us '$rp99' not in (0, R_MAX_us]"; }
	awk -v p="${wp99:-x}" -v mx="$(col Malloc0 11 "$1")" 'BEGIN { exit !(p + 0 > 0 && p <= mx * 1.0625 + 0.1) }' ||
		{ cat "$1" >&2; fail "$2: Malloc0 W_P99_us '$wp99' not in (0, W_MAX_us]"; }
}
# check_ioq FILE WHERE R_IOPS W_IOPS: the qid 1 row has the host NQN and IOPS > 0, within 1.5x of
# the bdev's read + write IOPS over the same interval (if given)
check_ioq() {
	local row
	row=$(awk -v n="$NQN" '$1 == n && $3 == 1 && $4 == "enabled" { print; exit }' "$1")
	[ -n "$row" ] || { cat "$1" >&2; fail "$2: no I/O qpair row"; }
	qiops=$(echo "$row" | awk '{ print $6 }')
	echo "$row" | awk '{ exit !($9 ~ /^nqn\.2014-08\.org\.nvmexpress:uuid:[0-9a-f-]+$/ && length($9) == 68) }' ||
		fail "$2: I/O qpair row lacks the host NQN: $row"
	awk -v q="${qiops:-x}" 'BEGIN { exit !(q + 0 > 0) }' || { cat "$1" >&2; fail "$2: I/O qpair IOPS '$qiops'"; }
	if [ -n "${3:-}" ]; then
		awk -v q="$qiops" -v b="$(($3 + $4))" 'BEGIN { exit !(q > b / 1.5 && q < b * 1.5) }' ||
			fail "$2: I/O qpair IOPS $qiops vs Malloc0's R+W IOPS $(($3 + $4))"
	fi
}

# ---- batch mode
r0=$(iostat_reads)
t0=$(date +%s.%N)
timeout 30 "$TOP" -r "$SOCK" -b -n 2 -d 2 >"$TMP/batch.txt" 2>"$TMP/batch.err" || { cat "$TMP/batch.err" >&2; fail "usk_top -b exited non-zero"; }
r1=$(iostat_reads)
t1=$(date +%s.%N)
[ "$(grep -c '^=== usk_top ' "$TMP/batch.txt")" -eq 2 ] || fail "-n 2 did not print 2 screens"
for tab in threads pollers cores bdevs nvmf; do
	[ "$(grep -c "^--- $tab ---" "$TMP/batch.txt")" -eq 2 ] || fail "batch output lacks tab $tab twice"
done
# the second screen
sed -n '/^=== usk_top 2 /,$p' "$TMP/batch.txt" >"$TMP/screen2.txt"
sed -n '/^=== usk_top 1 /,/^=== usk_top 2 /p' "$TMP/batch.txt" >"$TMP/screen1.txt"
busy=$(col nvmf_tgt_poll_group_000 4 "$TMP/screen2.txt")
riops=$(col Malloc0 2 "$TMP/screen2.txt")
riops1=$(col Malloc0 2 "$TMP/screen1.txt")
wiops=$(col Malloc0 3 "$TMP/screen2.txt")
# The two screens cover the ~4 s between the iostat reads: their mean is that span's rate.
rate=$(awk -v a="$r0" -v b="$r1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.0f", (b - a) / (e - s) }')
mean=$(awk -v a="${riops1:-0}" -v b="${riops:-0}" 'BEGIN { printf "%.0f", (a + b) / 2 }')
awk -v b="${busy:-x}" 'BEGIN { exit !(b + 0 > 1 && b + 0 <= 100) }' || fail "poll group BUSY% '$busy' implausible"
awk -v r="$mean" -v x="$rate" 'BEGIN { exit !(r > 0 && r > x / 1.5 && r < x * 1.5) }' ||
	fail "Malloc0 R_IOPS mean '$mean' ($riops1, $riops) vs bdev_get_iostat's $rate/s over the same time"
awk -v w="${wiops:-0}" 'BEGIN { exit !(w > 0) }' || fail "Malloc0 W_IOPS '$wiops'"
grep -Eq "^  $NQN .* enabled +[0-9]+ +[0-9]+ +nvmf_tgt_poll_group_000 +127\.0\.0\.1:[0-9]+ +nqn\.2014-08\.org\.nvmexpress:uuid:" "$TMP/screen2.txt" ||
	fail "nvmf tab lacks the host's connections"
[ "$(grep -c "^  $NQN " "$TMP/screen2.txt")" -eq 2 ] || fail "want 2 connections (admin + I/O) in the nvmf tab"
# p99 of the interval: non-zero, at most the bucket-rounded max latency (R_MAX is since start)
check_p99 "$TMP/screen2.txt" batch
# the I/O connection (qid 1): the host's NQN, IOPS close to the bdev's (the only host)
check_ioq "$TMP/screen2.txt" batch "$riops" "$wiops"
grep -q "^poll_group_poll  *nvmf_tgt_poll_group_000  *active" "$TMP/screen2.txt" || fail "pollers tab lacks poll_group_poll"
grep -Eq "^ +0 +[0-9.]+ +2 +poll " "$TMP/screen2.txt" || fail "cores tab: core 0 with 2 threads in poll mode"
pass "batch: poll group ${busy}% busy, Malloc0 $riops1, $riops read IOPS (iostat says $rate/s), ${wiops} write IOPS, p99 read $rp99 us write $wp99 us, 2 connections, I/O qpair $qiops IOPS"
"$TOP" -r "$SOCK" -b -t bogus >/dev/null 2>&1 && fail "-t bogus accepted"
"$TOP" -r "$TMP/nonexistent.sock" -b >/dev/null 2>"$TMP/err.txt" && fail "missing socket accepted"
grep -q "cannot connect" "$TMP/err.txt" || fail "missing socket: no 'cannot connect' message"
# sort: -s IDLE% orders the threads by that column, largest first; -R reverses
# sorted_by FILE COL DIR: the rows under the THREAD header are ordered by column COL (DIR 1 desc)
sorted_by() {
	awk -v c="$2" -v d="$3" 'f && NF > 1 { v = $c + 0; if (n++ && (d ? v > last : v < last)) bad++; last = v }
		/^THREAD/ { f = 1 } END { exit !(n >= 2 && bad == 0) }' "$1"
}
"$TOP" -r "$SOCK" -b -t threads -s IDLE% -d 0.5 >"$TMP/sort.txt" || fail "-s IDLE% failed"
sorted_by "$TMP/sort.txt" 5 1 || { cat "$TMP/sort.txt" >&2; fail "-s IDLE% did not sort by IDLE% descending"; }
grep -q 'IDLE%\*' "$TMP/sort.txt" || fail "sort column not marked"
"$TOP" -r "$SOCK" -b -t threads -s IDLE% -R -d 0.5 >"$TMP/sort.txt" || fail "-R failed"
sorted_by "$TMP/sort.txt" 5 0 || { cat "$TMP/sort.txt" >&2; fail "-R did not reverse the order"; }
"$TOP" -r "$SOCK" -b -t threads -s THREAD -d 0.5 >"$TMP/sort.txt" || fail "-s THREAD failed"
[ "$(awk 'f { print $1; exit } /^THREAD/ { f = 1 }' "$TMP/sort.txt")" = app_thread ] ||
	fail "-s THREAD did not sort by name"
pass "batch: bad tab and missing socket refused; -s/-R sort"

# ---- interactive under tmux
tmux_q new-session -d -s top -x 200 -y 50 "$TOP -r $SOCK -d 0.5; echo \$? >$TMP/top.rc" ||
	fail "cannot start tmux"
screen() { tmux_q capture-pane -p -t top >"$TMP/screen.txt" 2>/dev/null; }
# wait_screen REGEX: until the pane shows REGEX (5 s)
wait_screen() {
	for _ in $(seq 1 50); do
		screen && grep -Eq "$1" "$TMP/screen.txt" && return 0
		sleep 0.1
	done
	cat "$TMP/screen.txt" >&2
	fail "screen never showed /$1/"
}
wait_screen "^nvmf_tgt_poll_group_000 +2 +0 +[0-9]"
sleep 1.2 # a refresh with rates
screen
busy=$(col nvmf_tgt_poll_group_000 4 "$TMP/screen.txt")
awk -v b="${busy:-x}" 'BEGIN { exit !(b + 0 > 1 && b + 0 <= 100) }' || { cat "$TMP/screen.txt" >&2; fail "tmux: BUSY% '$busy'"; }
grep -q "\[1\] threads" "$TMP/screen.txt" || fail "tmux: no tab bar"
tmux_q send-keys -t top 4
wait_screen "^BDEV +R_IOPS"
sleep 1.2
screen
riops=$(col Malloc0 2 "$TMP/screen.txt")
awk -v r="${riops:-0}" 'BEGIN { exit !(r > 0) }' || { cat "$TMP/screen.txt" >&2; fail "tmux: Malloc0 R_IOPS '$riops'"; }
grep -q "R_P99_us" "$TMP/screen.txt" || fail "tmux: no R_P99_us column"
check_p99 "$TMP/screen.txt" tmux
cp "$TMP/screen.txt" "$TMP/tmux_bdevs.txt"
tmux_q send-keys -t top 5
wait_screen "^  $NQN +1 +1 +enabled"
sleep 1.2 # a refresh with rates
screen
check_ioq "$TMP/screen.txt" tmux
cp "$TMP/screen.txt" "$TMP/tmux_nvmf.txt"
tmux_q send-keys -t top 2
wait_screen "^poll_group_poll +nvmf_tgt_poll_group_000"
tmux_q send-keys -t top Tab
wait_screen "^CORE +BUSY%"
tmux_q send-keys -t top q
for _ in $(seq 1 50); do
	[ -s "$TMP/top.rc" ] && break
	sleep 0.1
done
[ "$(cat "$TMP/top.rc" 2>/dev/null)" = 0 ] || fail "usk_top did not quit with 0 on q (rc '$(cat "$TMP/top.rc" 2>/dev/null)')"
pass "tmux: threads ${busy}% busy, bdevs Malloc0 ${riops} IOPS p99 read $rp99 us write $wp99 us, I/O qpair $qiops IOPS, pollers/cores tabs by key, q quits 0"

wait "$CL_PID" || { cat "$TMP/client.log" >&2; fail "NVMe/TCP client failed"; }
# I/O has stopped: every completed read and write is counted once in its histogram
rpc bdev_get_iostat name=Malloc0 | python3 -c '
import json, sys
b = json.load(sys.stdin)["bdevs"][0]
h = b["latency_histogram"]
for kind, ops in (("read", "num_read_ops"), ("write", "num_write_ops")):
    n = sum(c for _, c in h[kind])
    if n != b[ops] or n == 0:
        sys.exit("%s histogram counts %d, %s %d" % (kind, n, ops, b[ops]))
    if not 0 < b[kind + "_latency_p99_ticks"] <= b["max_%s_latency_ticks" % kind] * 1.0625 + 1:
        sys.exit("%s_latency_p99_ticks %d vs max %d" % (kind, b[kind + "_latency_p99_ticks"], b["max_%s_latency_ticks" % kind]))
' || fail "bdev_get_iostat histograms do not match the op counts"
pass "bdev_get_iostat: the read and write histograms count every completed I/O once"
# SPDK's bdev_get_histogram: base64 of the little-endian buckets, decoded as SPDK's
# scripts/histogram.py does, holds every read and write; its p99 bound is the iostat's
rpc bdev_get_iostat name=Malloc0 >"$TMP/iostat.json" || fail "bdev_get_iostat"
rpc bdev_get_histogram name=Malloc0 >"$TMP/hist.json" || fail "bdev_get_histogram"
python3 - "$TMP/hist.json" "$TMP/iostat.json" <<'PY' || fail "bdev_get_histogram does not match bdev_get_iostat"
import base64, json, sys
h = json.load(open(sys.argv[1]))
b = json.load(open(sys.argv[2]))["bdevs"][0]
raw = base64.b64decode(h["histogram"])
g, lo, hi = h["granularity"], h["min_range"], h["max_range"]
assert len(raw) == (hi - lo) << g << 3, len(raw)
counts = [int.from_bytes(raw[i:i + 8], "little") for i in range(0, len(raw), 8)]
total = sum(counts)
assert total == b["num_read_ops"] + b["num_write_ops"], (total, b["num_read_ops"], b["num_write_ops"])
# upper bounds as histogram.py computes them
ub = []
for i in range(hi - lo):
    for j in range(1 << g):
        ub.append(((1 << (i + g + lo - 1)) + ((j + 1) << (i + lo - 1))) if i > 0 else (j + 1) << lo)
cum, p99 = 0, None
for c, u in zip(counts, ub):
    cum += c
    if cum * 100 >= total * 99:
        p99 = u
        break
lo99 = min(b["read_latency_p99_ticks"], b["write_latency_p99_ticks"])
hi99 = max(b["read_latency_p99_ticks"], b["write_latency_p99_ticks"])
assert lo99 <= p99 <= hi99, (p99, lo99, hi99)
assert h["tsc_rate"] > 0
PY
# switched off: iostat says so, usk_top shows "off", save_config keeps it; on again
rpc bdev_enable_histogram name=Malloc0 enable=false >/dev/null || fail "bdev_enable_histogram enable=false"
rpc bdev_get_iostat name=Malloc0 | grep -q '"enabled": false' || fail "iostat does not say the histograms are off"
"$TOP" -r "$SOCK" -b -n 2 -d 0.3 -t bdevs >"$TMP/off.txt" || fail "usk_top -t bdevs with histograms off"
[ "$(col Malloc0 7 "$TMP/off.txt")" = off ] || { cat "$TMP/off.txt" >&2; fail "usk_top does not show R_P99 off"; }
grep -q "bdev_enable_histogram name=Malloc0 enable=true" "$TMP/off.txt" || fail "usk_top does not say how to turn them on"
rpc save_config | python3 -c '
import json, sys
c = json.load(sys.stdin)
b = [s for s in c["subsystems"] if s["subsystem"] == "bdev"][0]["config"]
assert {"method": "bdev_enable_histogram", "params": {"name": "Malloc0", "enable": False}} in b, b
' || fail "save_config does not keep the histograms off"
rpc bdev_enable_histogram name=Malloc0 enable=true >/dev/null || fail "bdev_enable_histogram enable=true"
rpc bdev_get_iostat name=Malloc0 | grep -q '"enabled": true' || fail "histograms not on again"
rpc bdev_enable_histogram name=Malloc0 >/dev/null 2>"$TMP/err" && fail "bdev_enable_histogram without enable accepted"
grep -q "enable" "$TMP/err" || fail "missing enable: error does not name the field"
rpc bdev_get_histogram name=Nope >/dev/null 2>"$TMP/err" && fail "bdev_get_histogram of a missing bdev"
grep -q "(name)" "$TMP/err" || fail "missing bdev: error does not name the field"
pass "bdev_get_histogram: SPDK's format, all reads and writes, p99 between the iostat's read and write p99; bdev_enable_histogram off (usk_top shows it, save_config keeps it) and on"
tgt_alive || fail "usk_tgt died"
stop_tgt
pass "usk_tgt exited 0"
