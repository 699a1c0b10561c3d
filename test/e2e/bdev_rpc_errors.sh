#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Bad RPC inputs to the aio/uring/split/passthru/delay/error modules on a running usk_tgt
# (through usk_rpc) fail with a message naming the field and change nothing; the good paths
# work, vbdevs appear in save_config, and a vbdev goes away when its base is hot-removed.
set -u

# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
e2e_init bdev_rpc_errors
e2e_require "$TGT" "$RPC"
e2e_require_python

rpc() {
	e2e_rpc "$@" >"$TMP/out" 2>"$TMP/err"
}

# expect_err FIELD METHOD ARGS...: the call must fail and its message must name FIELD.
expect_err() {
	local field=$1
	shift
	local rc

	rpc "$@"
	rc=$?
	[ "$rc" -ne 0 ] || fail "'$*' succeeded, expected an error naming $field"
	[ "$rc" -eq 1 ] || fail "'$*': usk_rpc exit status $rc (timeout or crash), expected 1"
	grep -q "failed: code -" "$TMP/err" || fail "'$*': no JSON-RPC error reply"
	grep -q -- "$field" "$TMP/err" || fail "'$*': error does not name '$field'"
}

bdev_names() {
	rpc bdev_get_bdevs || fail "bdev_get_bdevs failed"
	python3 -c 'import json,sys; print(" ".join(sorted(b["name"] for b in json.load(sys.stdin))))' <"$TMP/out"
}

e2e_start_tgt 0x1

rpc bdev_malloc_create name=Malloc0 num_blocks=8192 block_size=512 || fail "malloc create"
rpc bdev_malloc_create name=Malloc1 num_blocks=8192 block_size=512 || fail "malloc create"
truncate -s 4M "$TMP/f.img"
before=$(bdev_names)

# aio
expect_err filename bdev_aio_create name=A0
expect_err name bdev_aio_create filename="$TMP/f.img"
expect_err filename bdev_aio_create name=A0 filename=123
expect_err filename bdev_aio_create name=A0 filename=/nonexistent/usk.img
expect_err block_size bdev_aio_create name=A0 filename="$TMP/f.img" block_size=513
expect_err block_size bdev_aio_create name=A0 filename="$TMP/f.img" block_size=abc
expect_err name bdev_aio_create name=Malloc0 filename="$TMP/f.img"
expect_err bogus bdev_aio_create name=A0 filename="$TMP/f.img" bogus=1
expect_err name bdev_aio_delete name=NoSuch
expect_err name bdev_aio_rescan name=NoSuch
# uring
expect_err filename bdev_uring_create name=U0
expect_err filename bdev_uring_create name=U0 filename=/nonexistent/usk.img
expect_err name bdev_uring_create name=Malloc1 filename="$TMP/f.img"
expect_err name bdev_uring_delete name=NoSuch
# split
expect_err split_count bdev_split_create base_bdev=Malloc1
expect_err split_count bdev_split_create base_bdev=Malloc1 split_count=0
expect_err split_count bdev_split_create base_bdev=Malloc1 split_count=two
expect_err split_size_mb bdev_split_create base_bdev=Malloc1 split_count=4 split_size_mb=4096
expect_err base_bdev bdev_split_delete base_bdev=NoSuch
# passthru
expect_err base_bdev_name bdev_passthru_create name=PT0
expect_err name bdev_passthru_create base_bdev_name=Malloc0 name=Malloc1
expect_err name bdev_passthru_delete name=NoSuch
# delay
expect_err avg_write_latency bdev_delay_create base_bdev_name=Malloc0 name=D0 avg_read_latency=1 p99_read_latency=2 p99_write_latency=3
expect_err p99_read_latency bdev_delay_create base_bdev_name=Malloc0 name=D0 avg_read_latency=10 p99_read_latency=2 avg_write_latency=1 p99_write_latency=3
expect_err avg_read_latency bdev_delay_create base_bdev_name=Malloc0 name=D0 avg_read_latency=-5 p99_read_latency=2 avg_write_latency=1 p99_write_latency=3
expect_err delay_bdev_name bdev_delay_update_latency delay_bdev_name=NoSuch latency_type=avg_read latency_us=5
expect_err name bdev_delay_delete name=NoSuch
# error
expect_err base_name bdev_error_create
expect_err name bdev_error_inject_error name=NoSuch io_type=read error_type=failure
expect_err name bdev_error_delete name=NoSuch

after=$(bdev_names)
[ "$before" = "$after" ] || fail "bdevs changed after failed calls: '$before' -> '$after'"
echo "ok: every bad call was refused by field name and nothing changed"

# Good paths, then errors that need an existing vbdev.
rpc bdev_passthru_create base_bdev_name=Malloc0 name=PT0 || fail "passthru create"
expect_err base_bdev_name bdev_delay_create base_bdev_name=Malloc0 name=D0 avg_read_latency=1 p99_read_latency=2 avg_write_latency=1 p99_write_latency=3
rpc bdev_split_create base_bdev=Malloc1 split_count=2 || fail "split create"
grep -q Malloc1p1 "$TMP/out" || fail "split create did not return the part names"
expect_err base_bdev bdev_split_create base_bdev=Malloc1 split_count=2
rpc bdev_malloc_create name=Malloc2 num_blocks=8192 block_size=512 || fail "malloc create"
rpc bdev_delay_create base_bdev_name=Malloc2 name=D0 avg_read_latency=10 p99_read_latency=20 avg_write_latency=10 p99_write_latency=20 || fail "delay create"
expect_err latency_type bdev_delay_update_latency delay_bdev_name=D0 latency_type=bogus latency_us=5
rpc bdev_delay_update_latency delay_bdev_name=D0 latency_type=p99_write latency_us=100 || fail "update latency"
rpc bdev_malloc_create name=Malloc3 num_blocks=8192 block_size=512 || fail "malloc create"
rpc bdev_error_create base_name=Malloc3 || fail "error create"
expect_err base_name bdev_error_create base_name=Malloc3
expect_err io_type bdev_error_inject_error name=EE_Malloc3 io_type=bogus error_type=failure
expect_err error_type bdev_error_inject_error name=EE_Malloc3 io_type=read error_type=bogus
expect_err corrupt_value bdev_error_inject_error name=EE_Malloc3 io_type=read error_type=corrupt_data
rpc bdev_error_inject_error name=EE_Malloc3 io_type=all error_type=failure num=3 || fail "inject"
rpc bdev_aio_create name=A0 filename="$TMP/f.img" || fail "aio create"
rpc bdev_uring_create name=U0 filename="$TMP/f.img" || fail "uring create"

rpc save_config || fail "save_config"
for m in bdev_passthru_create bdev_split_create bdev_delay_create bdev_error_create bdev_aio_create bdev_uring_create; do
	grep -q "\"$m\"" "$TMP/out" || fail "save_config lacks $m"
done
grep -q '"p99_write_latency": *100' "$TMP/out" || fail "save_config lacks the updated latency"
echo "ok: save_config lists every vbdev"

# Hot remove: deleting a base removes the vbdevs on it.
rpc bdev_malloc_delete name=Malloc0 || fail "malloc delete"
rpc bdev_malloc_delete name=Malloc1 || fail "malloc delete"
sleep 0.5
names=$(bdev_names)
for b in PT0 Malloc1p0 Malloc1p1; do
	case " $names " in *" $b "*) fail "$b survived the removal of its base" ;; esac
done
echo "ok: vbdevs follow their base's hot removal"

# Deletes of the remaining vbdevs.
rpc bdev_delay_delete name=D0 || fail "delay delete"
rpc bdev_error_delete name=EE_Malloc3 || fail "error delete"
rpc bdev_aio_delete name=A0 || fail "aio delete"
rpc bdev_uring_delete name=U0 || fail "uring delete"
rpc bdev_passthru_delete name=PT0 || fail "passthru delete of a deferred config"
rpc bdev_split_delete base_bdev=Malloc1 || fail "split delete of a deferred config"
names=$(bdev_names)
[ "$names" = "Malloc2 Malloc3" ] || fail "left bdevs: '$names'"

e2e_stop_tgt TERM
echo "PASS: bdev module RPC errors"
exit 0
