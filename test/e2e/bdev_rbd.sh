#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# rbd bdev against a real single-node Ceph cluster (test/e2e/lib/ceph.sh):
#  - usk_bdevperf verify on a bdev of a registered cluster and on one with its own connection,
#    polled and interrupt mode;
#  - data usk writes is what `rbd export` reads (every block checked by --check-pattern on the
#    exported file, through an aio bdev), and an image made by `rbd import` is read by usk
#    (pattern check) and exported back byte-identical (md5);
#  - the RPCs on usk_tgt: register / info / create / resize (new size seen by the bdev layer) /
#    delete / unregister, errors naming the field, a resize by `rbd resize` followed, save_config
#    replayed by a second usk_tgt;
#  - an unreachable cluster fails bdev_rbd_register_cluster within seconds, naming the cluster
#    and the reason.
# Skips (77) when the Ceph packages are missing.
set -u

. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/ceph.sh"
e2e_init bdev_rbd
E2E_LOG_TAIL=40
PERF=$BUILD_DIR/app/usk_bdevperf/usk_bdevperf
e2e_require "$PERF" "$TGT" "$RPC"
ceph_have || { echo "SKIP: Ceph packages (ceph-mon ceph-mgr ceph-osd ceph-common) missing"; exit 77; }

e2e_on_exit ceph_stop

mkdir -p "$TMP/ceph"
ceph_start "$TMP/ceph" || fail "the Ceph cluster did not start (logs in $TMP/ceph)"
echo "ok: cluster up (mon $CEPH_MON_ADDR)"
rbd_cli create --size 16 rbd/v0 || fail "rbd create v0"
rbd_cli create --size 16 rbd/v1 || fail "rbd create v1"
rbd_cli create --size 4 rbd/w0 || fail "rbd create w0"

cluster_json='{"method":"bdev_rbd_register_cluster","params":{"name":"c0","user_id":"admin",
  "config_file":"'$CEPH_CONF'"}}'
own_json='"config":{"mon_host":"'$CEPH_MON_ADDR'","keyring":"'$CEPH_KEYRING'"}'

# perf_row NAME: the IOPS and Fail/s columns of bdev NAME's result row must be > 0 and 0.
perf_row() {
	local line iops fails

	line=$(grep -E "^[[:space:]]+$1[[:space:]]+:" "$TMP/out.log") || fail "no result row for $1"
	iops=$(echo "$line" | awk -F: '{print $2}' | awk '{print $2}')
	fails=$(echo "$line" | awk -F: '{print $2}' | awk '{print $4}')
	awk -v v="$iops" 'BEGIN { exit !(v > 0) }' || fail "$1: IOPS $iops"
	awk -v v="$fails" 'BEGIN { exit !(v == 0) }' || fail "$1: Fail/s $fails"
}

# --- verify, shared cluster and own connection
cat >"$TMP/verify.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[ $cluster_json,
 {"method":"bdev_rbd_create","params":{"name":"Rbd0","cluster_name":"c0","pool_name":"rbd",
   "rbd_name":"v0","block_size":512}},
 {"method":"bdev_rbd_create","params":{"name":"Rbd1","pool_name":"rbd","rbd_name":"v1",
   "block_size":4096, $own_json}}
]}]}
JSON
e2e_run timeout -k 5 120 "$PERF" --json "$TMP/verify.json" -m 0x1 -q 16 -o 4096 -w verify -t 5
rc=$?
[ $rc -eq 0 ] || fail "usk_bdevperf verify on rbd exited with $rc"
perf_row Rbd0
perf_row Rbd1
grep -q "ERROR" "$TMP/out.log" && fail "errors logged during verify"
e2e_run timeout -k 5 120 "$PERF" --interrupt-mode --json "$TMP/verify.json" -q 8 -o 4096 \
	-w verify -t 3
rc=$?
[ $rc -eq 0 ] || fail "usk_bdevperf verify on rbd in interrupt mode exited with $rc"
perf_row Rbd0
perf_row Rbd1
echo "ok: verify on rbd (registered cluster and own connection, polled and interrupt mode)"

# --- usk writes, rbd export reads: every block of the export holds usk's pattern
cat >"$TMP/w0.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[ $cluster_json,
 {"method":"bdev_rbd_create","params":{"name":"W0","cluster_name":"c0","pool_name":"rbd",
   "rbd_name":"w0","block_size":4096}}
]}]}
JSON
# 4 MiB = 1024 blocks: one sequential pass takes well under the 8 s run even when loaded.
e2e_run timeout -k 5 120 "$PERF" --json "$TMP/w0.json" -m 0x1 -q 16 -o 4096 -w write -t 8 \
	--check-pattern || fail "usk_bdevperf write on W0 failed"
perf_row W0
rbd_cli export rbd/w0 "$TMP/w0.exported" >/dev/null 2>&1 || fail "rbd export w0"
[ "$(stat -c %s "$TMP/w0.exported")" = 4194304 ] || fail "export of w0 is not 4 MiB"
cat >"$TMP/chk.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_aio_create","params":{"name":"X0","filename":"$TMP/w0.exported","block_size":4096}}
]}]}
JSON
e2e_run timeout -k 5 60 "$PERF" --json "$TMP/chk.json" -m 0x1 -q 16 -o 4096 -w read -t 1 \
	--check-pattern || fail "the export of what usk wrote does not hold usk's pattern"
md5_usk=$(md5sum <"$TMP/w0.exported" | cut -d' ' -f1)
echo "ok: rbd export of what usk wrote holds usk's pattern in every block (md5 $md5_usk)"

# --- rbd import, usk reads: the imported file is usk's pattern (from the export above)
rbd_cli import "$TMP/w0.exported" rbd/i0 >/dev/null 2>&1 || fail "rbd import"
cat >"$TMP/i0.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[ $cluster_json,
 {"method":"bdev_rbd_create","params":{"name":"I0","cluster_name":"c0","pool_name":"rbd",
   "rbd_name":"i0","block_size":4096}}
]}]}
JSON
e2e_run timeout -k 5 60 "$PERF" --json "$TMP/i0.json" -m 0x1 -q 16 -o 4096 -w read -t 2 \
	--check-pattern || fail "usk did not read the pattern back from the imported image"
perf_row I0
rbd_cli export rbd/i0 "$TMP/i0.exported" >/dev/null 2>&1 || fail "rbd export i0"
[ "$(md5sum <"$TMP/i0.exported" | cut -d' ' -f1)" = "$md5_usk" ] || fail "import/export md5 differs"
# A zeroed image must fail the same check (the checker is real).
rbd_cli create --size 4 rbd/z0 || fail "rbd create z0"
sed 's/"i0"/"z0"/; s/"I0"/"Z0"/' "$TMP/i0.json" >"$TMP/z0.json"
e2e_run timeout -k 5 60 "$PERF" --json "$TMP/z0.json" -m 0x1 -q 4 -o 4096 -w read -t 1 \
	--check-pattern && fail "a never written image passed the pattern check"
grep -q "Pattern mismatch" "$TMP/out.log" || fail "no mismatch message on the zeroed image"
echo "ok: an image made by rbd import is read by usk, block by block"

# --- RPCs on usk_tgt
e2e_start_tgt 0x1
e2e_rpc bdev_rbd_register_cluster name=c1 user_id=admin config_file="$CEPH_CONF" \
	>"$TMP/r" 2>"$TMP/err" || fail "register_cluster c1"
grep -q '"c1"' "$TMP/r" || fail "register_cluster did not answer the name"
e2e_rpc bdev_rbd_register_cluster name=c1 config_file="$CEPH_CONF" >/dev/null 2>"$TMP/err" &&
	fail "a second cluster c1 was accepted"
grep -q "already registered" "$TMP/err" || fail "duplicate cluster: wrong message"
e2e_rpc bdev_rbd_get_clusters_info name=c1 >"$TMP/r" 2>"$TMP/err" || fail "get_clusters_info"
grep -q "\"config_file\": \"$CEPH_CONF\"" "$TMP/r" || fail "clusters info lacks config_file"
e2e_rpc bdev_rbd_create name=R0 cluster_name=c1 pool_name=rbd rbd_name=v0 block_size=4096 \
	>"$TMP/r" 2>"$TMP/err" || fail "bdev_rbd_create R0"
e2e_rpc bdev_rbd_create name=R9 cluster_name=c1 pool_name=rbd rbd_name=nosuch block_size=4096 \
	>/dev/null 2>"$TMP/err" && fail "an image that does not exist was opened"
grep -q "rbd_name 'rbd/nosuch'" "$TMP/err" || fail "missing image: error does not name it"
e2e_rpc bdev_rbd_create name=R9 cluster_name=c1 pool_name=nopool rbd_name=v0 block_size=4096 \
	>/dev/null 2>"$TMP/err" && fail "a pool that does not exist was opened"
grep -q "pool_name 'nopool'" "$TMP/err" || fail "missing pool: error does not name it"
e2e_rpc bdev_rbd_create name=R9 cluster_name=c1 pool_name=rbd rbd_name=v0 block_size=1000 \
	>/dev/null 2>"$TMP/err" && fail "block_size 1000 accepted"
grep -q "block_size" "$TMP/err" || fail "bad block_size: error does not name the field"
e2e_rpc bdev_rbd_create name=R9 cluster_name=nocluster pool_name=rbd rbd_name=v0 block_size=512 \
	>/dev/null 2>"$TMP/err" && fail "an unknown cluster_name was accepted"
grep -q "cluster_name" "$TMP/err" || fail "unknown cluster: error does not name the field"
e2e_rpc bdev_rbd_unregister_cluster name=c1 >/dev/null 2>"$TMP/err" &&
	fail "a cluster with a bdev was unregistered"
e2e_rpc bdev_get_bdevs name=R0 >"$TMP/r" 2>"$TMP/err" || fail "bdev_get_bdevs R0"
grep -q '"num_blocks": 4096' "$TMP/r" || fail "R0 is not 16 MiB of 4 KiB blocks"
grep -q '"rbd_name": "v0"' "$TMP/r" || fail "R0's driver_specific lacks rbd_name"
e2e_rpc bdev_rbd_resize name=R0 new_size=32 >/dev/null 2>"$TMP/err" || fail "bdev_rbd_resize"
e2e_rpc bdev_get_bdevs name=R0 >"$TMP/r" 2>"$TMP/err" || fail "bdev_get_bdevs R0"
grep -q '"num_blocks": 8192' "$TMP/r" || fail "resize to 32 MiB not seen by the bdev layer"
rbd_cli info rbd/v0 | grep -q "size 32 MiB" || fail "the image itself was not resized"
# A resize by another client reaches the bdev layer through librbd's header watch.
rbd_cli resize --size 48 rbd/v0 >/dev/null 2>&1 || fail "rbd resize v0"
for _ in $(seq 1 100); do
	e2e_rpc bdev_get_bdevs name=R0 >"$TMP/r" 2>"$TMP/err" || fail "bdev_get_bdevs R0"
	grep -q '"num_blocks": 12288' "$TMP/r" && break
	sleep 0.2
done
grep -q '"num_blocks": 12288' "$TMP/r" || fail "rbd resize by another client not seen within 20 s"
e2e_rpc bdev_rbd_resize name=R0 new_size=8 >/dev/null 2>"$TMP/err" && fail "shrink accepted"
grep -q "new_size" "$TMP/err" || fail "shrink: error does not name new_size"
e2e_rpc bdev_rbd_create name=R1 pool_name=rbd rbd_name=v1 block_size=512 \
	config.mon_host="$CEPH_MON_ADDR" config.keyring="$CEPH_KEYRING" >/dev/null 2>"$TMP/err" ||
	fail "bdev_rbd_create R1 with its own connection"
e2e_rpc save_config >"$TMP/saved.json" 2>"$TMP/err" || fail "save_config"
grep -q bdev_rbd_register_cluster "$TMP/saved.json" || fail "save_config lacks the cluster"
grep -q '"rbd_name": "v1"' "$TMP/saved.json" || fail "save_config lacks R1"
e2e_stop_tgt
# Replay in a second usk_tgt: the same bdevs and cluster come back.
e2e_start_tgt 0x1 --json "$TMP/saved.json"
for _ in $(seq 1 100); do
	e2e_rpc bdev_get_bdevs name=R1 >"$TMP/r" 2>/dev/null && break
	sleep 0.2
done
e2e_rpc bdev_get_bdevs name=R0 >"$TMP/r" 2>"$TMP/err" || fail "R0 not replayed"
grep -q '"num_blocks": 12288' "$TMP/r" || fail "replayed R0 has the wrong size"
e2e_rpc bdev_get_bdevs name=R1 >"$TMP/r" 2>"$TMP/err" || fail "R1 not replayed"
e2e_rpc bdev_rbd_get_clusters_info >"$TMP/r" 2>"$TMP/err" || fail "clusters info after replay"
grep -q '"cluster_name": "c1"' "$TMP/r" || fail "cluster c1 not replayed"
e2e_rpc bdev_rbd_delete name=R0 >/dev/null 2>"$TMP/err" || fail "bdev_rbd_delete R0"
e2e_rpc bdev_rbd_delete name=R0 >/dev/null 2>"$TMP/err" && fail "R0 deleted twice"
e2e_rpc bdev_rbd_unregister_cluster name=c1 >/dev/null 2>"$TMP/err" || fail "unregister c1"
e2e_rpc bdev_rbd_get_clusters_info name=c1 >/dev/null 2>"$TMP/err" && fail "c1 still listed"
echo "ok: RPCs (register, info, create, errors, resize, delete, unregister, save_config replay)"

# --- unreachable cluster: a clear error within seconds (client_mount_timeout 10 s by default)
start=$(date +%s)
timeout -k 2 40 "$RPC" -s "$SOCK" -t 35 bdev_rbd_register_cluster name=down user_id=admin \
	config_param.mon_host=127.0.0.1:1 config_param.keyring="$CEPH_KEYRING" \
	>/dev/null 2>"$TMP/err" && fail "an unreachable cluster was registered"
took=$(( $(date +%s) - start ))
grep -q "cluster 'down'" "$TMP/err" || fail "the error does not name the cluster"
grep -q "cannot connect" "$TMP/err" || fail "the error does not say why"
[ "$took" -le 30 ] || fail "the unreachable cluster took $took s to fail"
e2e_rpc bdev_rbd_get_clusters_info name=down >/dev/null 2>&1 && fail "a failed cluster is listed"
timeout -k 2 40 "$RPC" -s "$SOCK" -t 35 bdev_rbd_create name=D0 pool_name=rbd rbd_name=v1 block_size=512 \
	config.mon_host=127.0.0.1:1 config.keyring="$CEPH_KEYRING" >/dev/null 2>"$TMP/err" &&
	fail "a bdev on an unreachable cluster was created"
grep -q "bdev 'D0'" "$TMP/err" || fail "create on an unreachable cluster: error does not name the bdev"
echo "ok: unreachable cluster fails in $took s: $(head -c 300 "$TMP/err")"
e2e_stop_tgt
grep -q "AddressSanitizer\|runtime error" "$TMP/tgt.log" && fail "sanitizer report in usk_tgt log"
echo "PASS: rbd bdev against a real Ceph cluster"
exit 0
