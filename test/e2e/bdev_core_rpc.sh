#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# bdev core + malloc/null RPCs on a running usk_tgt: bad inputs fail with a JSON-RPC error that
# names the field and change nothing; bdev_get_bdevs / iostat / QoS / buf stats answer with
# SPDK's fields; save_config replays (usk_tgt --json) to the same bdevs, UUIDs and QoS limits.
set -u

# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
e2e_init bdev_core_rpc
e2e_require "$TGT"
e2e_require_python

# The checks, as a small JSON-RPC client; exit 1 with a message on the first failed check.
cat >"$TMP/check.py" <<'EOF'
import json, sys

sys.path.insert(0, sys.argv[-1])
from rpc_client import RpcClient

sock_path, phase, saved = sys.argv[1], sys.argv[2], sys.argv[3]
rpc = RpcClient(sock_path, 10)
call, ok, err, names = rpc.call, rpc.ok, rpc.err, rpc.names

if phase == "first":
    assert ok("bdev_malloc_create", {"num_blocks": 256, "block_size": 512, "name": "M0",
               "uuid": "12345678-1234-1234-1234-123456789abc"}) == "M0"
    assert ok("bdev_malloc_create", {"num_blocks": 64, "block_size": 4096}) == "Malloc0"
    assert ok("bdev_null_create", {"name": "N0", "num_blocks": 1024, "block_size": 4096}) == "N0"
    before = names()
    err("bdev_malloc_create", {"num_blocks": 16, "block_size": 500}, "block_size")
    err("bdev_malloc_create", {"num_blocks": 16, "block_size": 0}, "block_size")
    err("bdev_malloc_create", {"num_blocks": 0, "block_size": 512}, "num_blocks")
    err("bdev_malloc_create", {"num_blocks": "x", "block_size": 512}, "num_blocks")
    err("bdev_malloc_create", {"block_size": 512}, "num_blocks")
    err("bdev_malloc_create", {"num_blocks": 16, "block_size": 512, "name": "M0"}, "name")
    err("bdev_malloc_create", {"num_blocks": 16, "block_size": 512, "uuid": "nope"}, "uuid")
    err("bdev_malloc_create", {"num_blocks": 16, "block_size": 512,
         "uuid": "12345678-1234-1234-1234-123456789abc"}, "uuid")
    err("bdev_malloc_create", {"num_blocks": 16, "block_size": 512, "bogus": 1}, "bogus")
    err("bdev_malloc_create", [1, 2], "params")
    err("bdev_null_create", {"num_blocks": 16, "block_size": 512}, "name")
    err("bdev_null_create", {"name": "N1", "num_blocks": 16, "block_size": 100}, "block_size")
    err("bdev_null_create", {"name": "N0", "num_blocks": 16, "block_size": 512}, "name")
    err("bdev_null_delete", {"name": "M0"}, "name")
    err("bdev_malloc_delete", {"name": "nope"}, "name")
    err("bdev_malloc_delete", {}, "name")
    err("bdev_get_bdevs", {"name": "nope"}, "name")
    err("bdev_get_bdevs", {"name": 5}, "name")
    err("bdev_get_bdevs", {"name": "nope", "timeout": 100}, "name")
    err("bdev_set_qos_limit", {"name": "M0", "rw_ios_per_sec": 1500}, "rw_ios_per_sec")
    err("bdev_set_qos_limit", {"name": "M0", "rw_mbytes_per_sec": -1}, "rw_mbytes_per_sec")
    err("bdev_set_qos_limit", {"name": "nope", "rw_ios_per_sec": 1000}, "name")
    err("bdev_set_qos_limit", {"rw_ios_per_sec": 1000}, "name")
    err("bdev_get_iostat", {"name": "nope"}, "name")
    err("bdev_reset_iostat", {"mode": "some"}, "mode")
    err("bdev_null_resize", {"name": "N0", "new_size": 0}, "new_size")
    if names() != before:
        raise SystemExit("bad requests changed the bdev list: %s -> %s" % (before, names()))

    b = ok("bdev_get_bdevs", {"name": "M0"})[0]
    for f in ("name", "aliases", "product_name", "block_size", "num_blocks", "uuid",
              "assigned_rate_limits", "claimed", "zoned", "supported_io_types", "driver_specific"):
        if f not in b:
            raise SystemExit("bdev_get_bdevs lacks " + f)
    assert b["block_size"] == 512 and b["num_blocks"] == 256 and b["zoned"] is False
    assert b["uuid"] == "12345678-1234-1234-1234-123456789abc"
    assert b["supported_io_types"]["write_zeroes"] and b["supported_io_types"]["unmap"]
    # Lookup by UUID works too.
    assert ok("bdev_get_bdevs", {"name": b["uuid"]})[0]["name"] == "M0"
    assert ok("bdev_set_qos_limit", {"name": "M0", "rw_ios_per_sec": 20000,
              "w_mbytes_per_sec": 10}) is True
    lim = ok("bdev_get_bdevs", {"name": "M0"})[0]["assigned_rate_limits"]
    assert lim["rw_ios_per_sec"] == 20000 and lim["w_mbytes_per_sec"] == 10, lim
    st = ok("bdev_get_iostat", {"name": "M0"})
    assert "tick_rate" in st and st["bdevs"][0]["name"] == "M0"
    for f in ("bytes_read", "num_read_ops", "bytes_written", "num_write_ops", "bytes_unmapped",
              "num_unmap_ops", "read_latency_ticks", "max_read_latency_ticks",
              "min_read_latency_ticks", "write_latency_ticks", "unmap_latency_ticks"):
        assert f in st["bdevs"][0], f
    assert len(ok("bdev_get_iostat", {"per_channel": True})["bdevs"]) == 3
    assert ok("bdev_reset_iostat", {"mode": "maxmin"}) is True
    bs = ok("bdev_get_buf_stats")
    assert bs["small_pool"]["size"] > 0 and bs["large_pool"]["size"] > 0
    assert ok("bdev_wait_for_examine") is True
    assert ok("bdev_null_resize", {"name": "N0", "new_size": 8}) is True
    assert ok("bdev_get_bdevs", {"name": "N0"})[0]["num_blocks"] == 2048
    # Delete and re-create with the same name.
    assert ok("bdev_malloc_delete", {"name": "Malloc0"}) is True
    assert "Malloc0" not in names()
    assert ok("bdev_malloc_create", {"num_blocks": 64, "block_size": 4096}) == "Malloc0"
    cfg = ok("save_config")
    bdev_cfg = [x for x in cfg["subsystems"] if x["subsystem"] == "bdev"][0]["config"]
    methods = [c["method"] for c in bdev_cfg]
    assert methods[0] == "bdev_set_options" and methods[-1] == "bdev_wait_for_examine", methods
    assert methods.count("bdev_malloc_create") == 2 and "bdev_null_create" in methods, methods
    assert "bdev_set_qos_limit" in methods, methods
    json.dump(cfg, open(saved, "w"))
else:
    assert names() == ["M0", "Malloc0", "N0"], names()
    b = ok("bdev_get_bdevs", {"name": "M0"})[0]
    assert b["uuid"] == "12345678-1234-1234-1234-123456789abc"
    assert b["assigned_rate_limits"]["rw_ios_per_sec"] == 20000
    assert b["assigned_rate_limits"]["w_mbytes_per_sec"] == 10
    assert ok("bdev_get_bdevs", {"name": "N0"})[0]["num_blocks"] == 2048
    # Runtime-only options are refused after start.
    r = call("bdev_set_options", {"bdev_io_pool_size": 1024})
    assert "error" in r, r
print("ok", phase)
EOF

e2e_start_tgt 0x1
timeout 60 python3 "$TMP/check.py" "$SOCK" first "$TMP/saved.json" "$E2E_DIR/lib" || fail "first phase"
e2e_stop_tgt INT
e2e_start_tgt 0x1 --json "$TMP/saved.json"
timeout 60 python3 "$TMP/check.py" "$SOCK" replay "$TMP/saved.json" "$E2E_DIR/lib" || fail "replay phase"
e2e_stop_tgt INT
echo "PASS: bdev_core_rpc"
exit 0
