#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# save_config keeps the metrics listener: usk_tgt --metrics 127.0.0.1:PORT, save_config has
# framework_set_metrics_listener with that address (subsystem "metrics"); usk_tgt restarted with
# only --json of the saved file serves GET /metrics on the same port, and saves it again; closed
# by RPC, it leaves save_config; opened by RPC on port 0, save_config has the port it got.
# (The tracepoint group mask is a command-line setting, -e, and is not saved: docs/observability.md.)
set -u
NAME=metrics_save_config
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
PROBE=$E2E_DIR/lib/metrics_probe.py
skip_unless_ready

# saved_listener FILE: the address of framework_set_metrics_listener in a save_config file (or
# "none"); fails unless it sits in the "metrics" subsystem
saved_listener() {
	python3 - "$1" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
found = []
for s in cfg["subsystems"]:
    for e in s.get("config") or []:
        if e["method"] == "framework_set_metrics_listener":
            if s["subsystem"] != "metrics":
                sys.exit("framework_set_metrics_listener in subsystem %s" % s["subsystem"])
            found.append(e["params"]["address"])
if len(found) > 1:
    sys.exit("listener saved %d times" % len(found))
print(found[0] if found else "none")
PY
}
scrape() { python3 "$PROBE" get "$1" >"$TMP/metrics.txt" && grep -q '^usk_build_info{' "$TMP/metrics.txt"; }

MPORT=$(free_port)
cat >"$TMP/tgt.json" <<JSON
{"subsystems": [{"subsystem": "bdev", "config": [ $MALLOC_BDEV ]}]}
JSON
start_tgt "$TMP/tgt.json" --metrics "127.0.0.1:$MPORT"
scrape "$MPORT" || fail "GET /metrics on --metrics 127.0.0.1:$MPORT failed"
rpc save_config >"$TMP/saved.json" || fail "save_config"
a=$(saved_listener "$TMP/saved.json") || fail "save_config: $a"
[ "$a" = "127.0.0.1:$MPORT" ] || fail "save_config has listener '$a', want 127.0.0.1:$MPORT"
stop_tgt
pass "save_config keeps --metrics 127.0.0.1:$MPORT as framework_set_metrics_listener"

# restart from the saved file alone
start_tgt "$TMP/saved.json"
grep -q "metrics: serving http://127.0.0.1:$MPORT/metrics" "$TMP/tgt.log" || fail "--json did not open the listener"
scrape "$MPORT" || fail "GET /metrics after --json replay failed"
grep -q '^usk_bdev_read_ops_total{bdev="Malloc0"}' "$TMP/metrics.txt" || fail "replayed config lacks Malloc0's metrics"
rpc save_config >"$TMP/saved2.json" || fail "save_config after replay"
a=$(saved_listener "$TMP/saved2.json") || fail "save_config: $a"
[ "$a" = "127.0.0.1:$MPORT" ] || fail "second save_config has listener '$a'"
pass "usk_tgt --json saved.json serves /metrics on $MPORT and saves it again"

# closed by RPC: not saved; opened by RPC on port 0: the bound port is saved
rpc framework_set_metrics_listener --json '{"address": ""}' >/dev/null || fail "closing the listener"
scrape "$MPORT" 2>/dev/null && fail "listener still open after address=\"\""
rpc save_config >"$TMP/saved3.json" || fail "save_config"
a=$(saved_listener "$TMP/saved3.json") || fail "save_config: $a"
[ "$a" = none ] || fail "closed listener still saved: '$a'"
rpc framework_set_metrics_listener address=127.0.0.1:0 >"$TMP/rpc.out" || fail "listener on port 0"
p=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$TMP/rpc.out") || fail "no port in $(cat "$TMP/rpc.out")"
rpc save_config >"$TMP/saved4.json" || fail "save_config"
a=$(saved_listener "$TMP/saved4.json") || fail "save_config: $a"
[ "$a" = "127.0.0.1:$p" ] || fail "port-0 listener saved as '$a', want 127.0.0.1:$p"
scrape "$p" || fail "GET /metrics on the RPC-opened port $p"
stop_tgt
pass "closed listener not saved; RPC-opened port 0 saved as the bound port $p; usk_tgt exited 0"
