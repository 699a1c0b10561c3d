#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A JSON-RPC client that sends many requests and never reads a reply must not keep its
# connection (and the replies queued for it) forever: usk_tgt closes it once the unread output
# passes the bound, logs why, and keeps serving other clients.
set -u
NAME=rpc_unread_replies
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
skip_unless_ready

echo '{"subsystems": []}' >"$TMP/tgt.json"
start_tgt "$TMP/tgt.json"

timeout 120 python3 - "$SOCK" >"$TMP/client.log" 2>&1 <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
req = b"".join(b'{"jsonrpc":"2.0","method":"rpc_get_methods","id":%d}' % i for i in range(200))
sent = 0
t0 = time.time()
s.settimeout(5)
try:
    while time.time() - t0 < 90:
        s.sendall(req)
        sent += 200
except (BrokenPipeError, ConnectionResetError) as e:
    print("closed by the server after %d requests, %.1f s: %r" % (sent, time.time() - t0, e))
    sys.exit(0)
except socket.timeout:
    # the server stopped reading us: it must close us now that we send more
    pass
try:
    s.setblocking(True)
    s.settimeout(10)
    # drain what the kernel holds, then expect EOF
    while True:
        d = s.recv(1 << 20)
        if not d:
            print("EOF after %d requests, %.1f s" % (sent, time.time() - t0))
            sys.exit(0)
except socket.timeout:
    print("connection still open after %d requests" % sent)
    sys.exit(1)
except ConnectionResetError:
    print("reset after %d requests" % sent)
    sys.exit(0)
PY
rc=$?
cat "$TMP/client.log"
[ "$rc" -eq 0 ] || fail "a client that never reads its replies kept its connection"
grep -q "has .* bytes of replies unread (limit" "$TMP/tgt.log" || fail "no log line for the closed client"
rpc rpc_get_methods >/dev/null || fail "usk_tgt stopped serving RPC"
tgt_alive || fail "usk_tgt died"
pass "non-reading RPC client closed, others served"
stop_tgt TERM
echo "rpc_unread_replies: all checks passed"
exit 0
