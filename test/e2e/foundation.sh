#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# End-to-end test of the framework: usk_tgt start/stop, JSON-RPC over the unix socket (usk_rpc and
# a raw SPDK-style client), error handling per connection, save_config -> --json round trip.
set -u

# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
e2e_init foundation
e2e_require "$TGT" "$RPC"
e2e_require_python

# Raw JSON-RPC client in the style of SPDK's rpc.py (python3 socket, raw_decode framing).
cat >"$TMP/client.py" <<'PY'
import json, socket, sys, time

sock_path = sys.argv[1]

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock_path)
    return s

def recv_values(s, count):
    dec = json.JSONDecoder()
    buf, out = "", []
    while len(out) < count:
        data = s.recv(65536)
        if not data:
            break
        buf += data.decode()
        while True:
            buf = buf.lstrip()
            if not buf:
                break
            try:
                obj, idx = dec.raw_decode(buf)
            except ValueError:
                break
            out.append(obj)
            buf = buf[idx:]
    return out

def req(method, params=None, id=1):
    r = {"jsonrpc": "2.0", "method": method, "id": id}
    if params is not None:
        r["params"] = params
    return json.dumps(r).encode()

def closed(s):
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        return True

def check(cond, msg):
    if not cond:
        print("client check failed: " + msg, file=sys.stderr)
        sys.exit(1)

test = sys.argv[2]
if test == "framing":
    s = connect()
    # one request split into single bytes
    for b in req("spdk_get_version", id=11):
        s.sendall(bytes([b]))
        time.sleep(0.0005)
    (r,) = recv_values(s, 1)
    check(r["id"] == 11 and r["result"]["version"].startswith("usk"), "byte-by-byte: %r" % r)
    # two requests in one write; replies in order
    s.sendall(req("rpc_get_methods", id=1) + b"\n" + req("spdk_get_version", id=2))
    r = recv_values(s, 2)
    check([x["id"] for x in r] == [1, 2], "two in one read: %r" % r)
    # batch with a notification, an unknown method and a valid call
    batch = [json.loads(req("spdk_get_version", id=5)), {"jsonrpc": "2.0", "method": "spdk_get_version"},
             json.loads(req("no_such_method", id=6))]
    s.sendall(json.dumps(batch).encode())
    (r,) = recv_values(s, 1)
    check(isinstance(r, list) and len(r) == 2, "batch: %r" % r)
    check(r[1]["error"]["code"] == -32601 and "no_such_method" in r[1]["error"]["message"], "batch error: %r" % r)
    # invalid request keeps the connection
    s.sendall(b'{"jsonrpc":"2.0","id":9}')
    (r,) = recv_values(s, 1)
    check(r["error"]["code"] == -32600, "invalid request: %r" % r)
    s.sendall(req("spdk_get_version", id=10))
    (r,) = recv_values(s, 1)
    check(r["id"] == 10, "after invalid request: %r" % r)
    s.close()
elif test == "malformed":
    other = connect()
    bad = connect()
    bad.sendall(b'{"jsonrpc":"2.0","method":"spdk_get_version","id":1,,}')
    (r,) = recv_values(bad, 1)
    check(r["error"]["code"] == -32700, "malformed: %r" % r)
    check(closed(bad), "malformed: connection not closed")
    other.sendall(req("spdk_get_version", id=3))
    (r,) = recv_values(other, 1)
    check(r["id"] == 3 and "result" in r, "other client after malformed: %r" % r)
    # oversized request: error, then close; the other client still works
    big = connect()
    try:
        big.sendall(b'{"jsonrpc":"2.0","method":"x","params":{"a":"' + b"a" * (1100 * 1024))
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = recv_values(big, 1)
    check(len(r) == 1 and r[0]["error"]["code"] in (-32600, -32700), "oversized: %r" % r)
    check(closed(big), "oversized: connection not closed")
    # clients that vanish mid-reply
    for i in range(50):
        c = connect()
        c.sendall(req("rpc_get_methods", id=i))
        c.close()
    other.sendall(req("spdk_get_version", id=4))
    (r,) = recv_values(other, 1)
    check(r["id"] == 4, "after vanished clients: %r" % r)
    other.close()
elif test == "concurrent":
    import threading
    errors = []
    def worker(n):
        try:
            c = connect()
            # pipeline 40 requests per client, then read all replies in order
            c.sendall(b"".join(req("spdk_get_version", id=n * 1000 + i) for i in range(40)))
            r = recv_values(c, 40)
            if [x["id"] for x in r] != [n * 1000 + i for i in range(40)]:
                errors.append("client %d: replies out of order or missing" % n)
            c.close()
        except Exception as e:
            errors.append("client %d: %r" % (n, e))
    ts = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in ts: t.start()
    for t in ts: t.join(30)
    check(not errors, "; ".join(errors))
else:
    sys.exit("unknown test " + test)
PY

# ---- 1. start, methods, reactors ----
e2e_start_tgt 0x3
perm=$(stat -c %a "$SOCK")
[ "$perm" = "600" ] || fail "socket mode $perm, expected 600"
rpc rpc_get_methods >"$TMP/methods.json" || fail "rpc_get_methods"
for m in rpc_get_methods spdk_get_version framework_get_reactors save_config framework_start_init \
	 thread_get_stats log_set_flag spdk_kill_instance; do
	grep -q "\"$m\"" "$TMP/methods.json" || fail "rpc_get_methods lacks $m"
done
rpc spdk_get_version | grep -q '"usk v0.1.0"' || fail "spdk_get_version"
rpc framework_get_reactors >"$TMP/reactors.json" || fail "framework_get_reactors"
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["reactors"]))' "$TMP/reactors.json")
[ "$n" = 2 ] || fail "framework_get_reactors: $n reactors, expected 2"
rpc thread_get_stats | grep -q '"app_thread"' || fail "thread_get_stats"
rpc thread_get_pollers | grep -q '"timed_pollers"' || fail "thread_get_pollers"
rpc thread_set_cpumask id=1 cpumask=0x2 2>"$TMP/err" && fail "app thread moved"
grep -q "app thread" "$TMP/err" || fail "thread_set_cpumask error: $(cat "$TMP/err")"
rpc thread_set_cpumask id=1 cpumask=0x10000 2>"$TMP/err" && fail "cpumask without reactors accepted"
grep -q "cpumask" "$TMP/err" || fail "thread_set_cpumask mask error: $(cat "$TMP/err")"

# ---- 2. invalid params name the field ----
rpc log_set_flag bogus_field=1 2>"$TMP/err" && fail "unknown param accepted"
if ! grep -q -- "code -32602:" "$TMP/err" || ! grep -q "bogus_field" "$TMP/err"; then
	fail "invalid params message: $(cat "$TMP/err")"
fi
rpc log_set_level 2>"$TMP/err" && fail "missing param accepted"
grep -q "level" "$TMP/err" || fail "missing field not named: $(cat "$TMP/err")"
rpc no_such_method 2>"$TMP/err" && fail "unknown method accepted"
grep -q -- "-32601" "$TMP/err" || fail "unknown method: $(cat "$TMP/err")"
rpc log_set_print_level --json '{"level":"INFO"}' >/dev/null || fail "--json params"
[ "$(rpc log_get_print_level)" = '"INFO"' ] || fail "log_get_print_level"
rpc framework_start_init 2>"$TMP/err" && fail "framework_start_init allowed at runtime"
grep -q -- "code -1:" "$TMP/err" || fail "invalid state code: $(cat "$TMP/err")"

# ---- 3. raw clients: framing, malformed input, oversized input, vanishing clients ----
python3 "$TMP/client.py" "$SOCK" framing || fail "framing checks"
python3 "$TMP/client.py" "$SOCK" malformed || fail "malformed/oversized checks"
python3 "$TMP/client.py" "$SOCK" concurrent || fail "concurrent clients"
tgt_alive || fail "usk_tgt died during bad-client checks"

# ---- 4. save_config -> restart with --json -> same config ----
rpc log_set_print_level level=NOTICE >/dev/null || fail "log_set_print_level"
# Give the round trip some content when the bdev layer is linked in.
if grep -q '"bdev_malloc_create"' "$TMP/methods.json"; then
	rpc bdev_malloc_create name=Malloc0 num_blocks=2048 block_size=512 >/dev/null ||
		fail "bdev_malloc_create"
fi
rpc save_config >"$TMP/config.json" || fail "save_config"
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert isinstance(c["subsystems"], list)' \
	"$TMP/config.json" || fail "save_config output shape"
stop_tgt TERM

e2e_start_tgt 0x3 --json "$TMP/config.json"
rpc save_config >"$TMP/config2.json" || fail "save_config after --json"
python3 - "$TMP/config.json" "$TMP/config2.json" <<'PY' || fail "config differs after --json round trip"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
sys.exit(0 if a == b else 1)
PY
stop_tgt INT

# ---- 5. bad --json file: start-up fails with a message naming the problem ----
echo '{"subsystems":[{"subsystem":"x","config":[{"method":"no_such_method"}]}]}' >"$TMP/bad.json"
e2e_run timeout -k 5 30 "$TGT" -m 0x1 -r "$SOCK" --json "$TMP/bad.json"
rc=$?
[ "$rc" -eq 1 ] || fail "usk_tgt with a failing --json: exit status $rc, expected 1"
grep -q "no_such_method" "$TMP/out.log" || fail "--json error does not name the method: $(cat "$TMP/out.log")"
[ -e "$SOCK" ] && fail "socket left behind after failed start"

# ---- 6. --wait-for-rpc: runtime methods refused until framework_start_init ----
e2e_start_tgt 0x3 --wait-for-rpc
rpc framework_get_reactors 2>"$TMP/err" && fail "runtime method allowed before init"
grep -q "Method may only be called at runtime" "$TMP/err" || fail "state error: $(cat "$TMP/err")"
rpc framework_start_init >/dev/null || fail "framework_start_init"
rpc framework_wait_init >/dev/null || fail "framework_wait_init"
rpc framework_get_reactors >/dev/null || fail "runtime method after init"
rpc spdk_kill_instance sig_name=SIGTERM >/dev/null || fail "spdk_kill_instance"
tgt_wait_exit spdk_kill_instance

# ---- 7. interrupt mode starts, answers and stops ----
e2e_start_tgt 0x3 --interrupt-mode
rpc framework_get_reactors >/dev/null || fail "interrupt mode: framework_get_reactors"
rpc thread_get_stats | grep -q '"app_thread"' || fail "interrupt mode: thread_get_stats"
python3 "$TMP/client.py" "$SOCK" framing || fail "interrupt mode: framing checks"
python3 "$TMP/client.py" "$SOCK" malformed || fail "interrupt mode: malformed/oversized checks"
python3 "$TMP/client.py" "$SOCK" concurrent || fail "interrupt mode: concurrent clients"
stop_tgt TERM

echo "foundation: PASS"
exit 0
