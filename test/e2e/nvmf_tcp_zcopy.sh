#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# MSG_ZEROCOPY sends (posix sock impl, enable_zerocopy_send_server, threshold 4 KiB so that
# every read response goes out zero-copy):
#  1. host side: 4 nvmf_tcp_load connections, 128 KiB random reads at QD 32 for 3 s, must all
#     exit 0 (the target must never count a request whose response went out but whose
#     zero-copy completion is still pending against the host's SQ: it once refused hosts with
#     "more commands outstanding than SQSIZE + 1" when completions came out of order), and
#     nvmf_get_stats must report zero-copy sends and completions;
#  2. then nvmf_tcp_basic with zero-copy on: the guest's md5 checks show data integrity.
set -u
NAME=nvmf_tcp_zcopy
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
skip_unless_ready
LOAD=$BUILD_DIR/bench/nvmf/nvmf_tcp_load
[ -x "$LOAD" ] || fail "missing $LOAD (build with -Dtests=enabled)"

PORT=$(free_port)
tcp_config "$PORT" '{"method": "bdev_malloc_create",
  "params": {"name": "Malloc0", "num_blocks": 131072, "block_size": 512}}' >"$TMP/tgt.json"
USK_SOCK_IMPL=posix USK_SOCK_ZEROCOPY=4096 start_tgt "$TMP/tgt.json"
pass "usk_tgt listening on 127.0.0.1:$PORT with zero-copy sends"
LPIDS=()
for i in 1 2 3 4; do
	"$LOAD" -p "$PORT" -n "$NQN" -w read -s 131072 -q 32 -t 3 >"$TMP/load.$i" 2>&1 &
	LPIDS+=($!)
	BG_PIDS+=($!)
done
for i in 1 2 3 4; do
	wait "${LPIDS[$((i - 1))]}" || { cat "$TMP/load.$i"; fail "nvmf_tcp_load $i failed"; }
	grep -q "IOPS" "$TMP/load.$i" || fail "nvmf_tcp_load $i reported nothing"
done
pass "4 connections x 128 KiB reads QD 32: $(cat "$TMP"/load.* | sed -n 's/.*: \([0-9]*\) IOPS.*/\1/p' | tr '\n' ' ')IOPS"
rpc nvmf_get_stats >"$TMP/stats.json" || fail "nvmf_get_stats failed"
python3 - "$TMP/stats.json" <<'PY' || fail "no zero-copy sends or completions in nvmf_get_stats"
import json, sys
st = json.load(open(sys.argv[1]))
t = [t for g in st["poll_groups"] for t in g.get("transports", []) if t.get("trtype") == "TCP"]
zs, zd = sum(x["zcopy_sends"] for x in t), sum(x["zcopy_done"] for x in t)
assert zs > 100 and zd > 100 and sum(x["sq_overflows"] for x in t) == 0, t
print("zero-copy sends:", zs, "completed:", zd)
PY
tgt_alive || fail "usk_tgt died"
stop_tgt
pass "host-side zero-copy run"

skip_unless_guest
USK_SOCK_IMPL=posix USK_SOCK_ZEROCOPY=4096 "$(dirname "$0")/nvmf_tcp_basic.sh"
RC=$?
[ "$RC" -eq 0 ] || fail "nvmf_tcp_basic with zero-copy sends failed (rc=$RC)"
echo "nvmf_tcp_zcopy: all checks passed"
exit 0
