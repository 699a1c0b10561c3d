# SPDX-License-Identifier: BSD-3-Clause
"""A minimal JSON-RPC 2.0 client over usk's unix socket for e2e checks written in Python.

    import sys; sys.path.insert(0, "<test/e2e/lib>"); from rpc_client import RpcClient
    c = RpcClient(path, timeout); c.ok(method, params); c.err(method, params, field)

Every failure raises SystemExit with a message naming the method, so the check script exits
non-zero with the reason.
"""
import json
import socket


class RpcClient:
    def __init__(self, sock_path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(timeout)
        self.s.connect(sock_path)
        self.n = 0

    def call(self, method, params=None):
        self.n += 1
        req = {"jsonrpc": "2.0", "method": method, "id": self.n}
        if params is not None:
            req["params"] = params
        self.s.sendall(json.dumps(req).encode())
        buf = b""
        while True:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise SystemExit("connection closed during " + method)
            buf += chunk
            try:
                return json.loads(buf)
            except ValueError:
                pass

    def ok(self, method, params=None):
        r = self.call(method, params)
        if "error" in r:
            raise SystemExit("%s %s failed: %s" % (method, params, r["error"]))
        return r["result"]

    def err(self, method, params, field):
        """The call must fail with an error message that names field."""
        r = self.call(method, params)
        if "error" not in r:
            raise SystemExit("%s %s succeeded, expected an error naming %s" % (method, params, field))
        if field not in r["error"]["message"]:
            raise SystemExit("%s %s: error %r does not name %s" % (method, params, r["error"], field))

    def names(self):
        return sorted(b["name"] for b in self.ok("bdev_get_bdevs"))
