#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# NVMe/TCP end to end: usk_tgt (malloc and aio namespaces) and the Linux kernel nvme-tcp initiator
# in a QEMU guest: plain, header+data digest and 2-I/O-queue connections each write 8 MiB of
# random data with O_DIRECT and read it back (md5); the aio file on the host holds the same data.
set -u
NAME=nvmf_tcp_basic
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
skip_unless_ready
skip_unless_guest

PORT=$(free_port)
NQN2=nqn.2016-06.io.spdk:cnode2
AIO_FILE=$TMP/aio.img
malloc_aio_config "$PORT" "$AIO_FILE" "$NQN2" >"$TMP/tgt.json"
start_tgt "$TMP/tgt.json"
pass "usk_tgt listening on 127.0.0.1:$PORT"

run_guest "$PORT" "$E2E_DIR/guest/nvmf_basic_guest.sh" --env "NVMF_NQN2=$NQN2" --env NVMF_MB=8
RC=$?
grep -E "^(PASS|FAIL):|PATTERN_MD5|passed," "$TMP/guest-1.log" | tr -d '\r'
[ "$RC" -eq 0 ] || fail "guest script failed (rc=$RC)"
tgt_alive || fail "usk_tgt died"

# the aio namespace's data must be in the host file, at the same offset
GUEST_MD5=$(tr -d '\r' <"$TMP/guest-1.log" | awk '$1 == "PATTERN_MD5" && $2 == "aio" {print $4}')
[ -n "$GUEST_MD5" ] || fail "guest did not report the aio pattern"
rpc nvmf_get_stats >"$TMP/stats.json" || fail "nvmf_get_stats failed"
python3 - "$TMP/stats.json" <<'PY' || fail "nvmf_get_stats lacks the TCP transport statistics"
import json, os, sys
st = json.load(open(sys.argv[1]))
t = [t for g in st["poll_groups"] for t in g.get("transports", []) if t.get("trtype") == "TCP"]
assert t and all(k in t[0] for k in ("accepted_qpairs", "data_buffer_waits", "pending_data_buffer")), t
assert sum(x["accepted_qpairs"] for x in t) >= 8, t
impl = os.environ.get("USK_SOCK_IMPL")
assert not impl or all(x["sock_impl"] == impl for x in t), ("sock_impl", impl, t)
if os.environ.get("USK_SOCK_ZEROCOPY"):
    # the guest's reads went out zero-copy, and the kernel reported them released
    zs, zd = sum(x["zcopy_sends"] for x in t), sum(x["zcopy_done"] for x in t)
    assert zs > 0 and zd > 0, ("zcopy_sends", zs, "zcopy_done", zd)
    print("zero-copy sends:", zs, "completed:", zd)
print("TCP transport stats:", t)
PY
stop_tgt
HOST_MD5=$(dd if="$AIO_FILE" bs=1M skip=1 count=8 2>/dev/null | md5sum | cut -d' ' -f1)
[ "$HOST_MD5" = "$GUEST_MD5" ] || fail "aio file md5 $HOST_MD5 differs from the guest's $GUEST_MD5"
pass "aio backing file holds the guest's data (md5 $HOST_MD5)"
echo "nvmf_tcp_basic: all checks passed"
exit 0
