#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Clients for the metrics e2e test (127.0.0.1 only).

  metrics_probe.py bad PORT          malformed request line: want a 400 reply, then EOF
  metrics_probe.py big PORT          request head over 8 KiB: want a 431 reply, then EOF
  metrics_probe.py slow PORT MAX_S   half a request, then silence: want EOF within MAX_S s
  metrics_probe.py get PORT          GET /metrics: print the body (exit 1 unless 200)
  metrics_probe.py query PPORT EXPR [TIME]              Prometheus instant query: one value per line
  metrics_probe.py range PPORT EXPR START END STEP      Prometheus range query: values, one per line
Exit 0 when the behaviour matched, 1 otherwise (with a message on stderr).
"""
import json
import socket
import sys
import time
import urllib.parse
import urllib.request


def die(msg):
    print("metrics_probe: " + msg, file=sys.stderr)
    sys.exit(1)


def read_all(s, limit_s):
    """Read until EOF; returns (data, seconds). Dies if the peer keeps the connection open."""
    start = time.monotonic()
    s.settimeout(0.5)
    data = b""
    while True:
        if time.monotonic() - start > limit_s:
            die("connection still open after %.1f s" % limit_s)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data, time.monotonic() - start
        if not chunk:
            return data, time.monotonic() - start
        data += chunk


def send_expect(port, payload, status):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data, _ = read_all(s, 5)
    s.close()
    line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    if not line.startswith("HTTP/1.1 %d " % status):
        die("want HTTP %d, got %r" % (status, line))
    print(line)


def get(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data, _ = read_all(s, 10)
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200 "):
        die("GET /metrics: %r" % head[:80])
    sys.stdout.write(body.decode())


def prom(pport, path, params):
    url = "http://127.0.0.1:%d/api/v1/%s?%s" % (pport, path, urllib.parse.urlencode(params))
    with urllib.request.urlopen(url, timeout=10) as r:
        res = json.load(r)
    if res.get("status") != "success":
        die("prometheus: %r" % res)
    return res["data"]["result"]


def main():
    if len(sys.argv) < 3:
        die(__doc__)
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "bad":
        send_expect(port, b"GARBAGE\x01\xff /metrics\r\n\r\n", 400)
    elif cmd == "big":
        send_expect(port, b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 9000, 431)
    elif cmd == "slow":
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /metr")
        _, secs = read_all(s, float(sys.argv[3]))
        s.close()
        print("closed after %.1f s" % secs)
    elif cmd == "get":
        get(port)
    elif cmd == "query":
        params = {"query": sys.argv[3]}
        if len(sys.argv) > 4:
            params["time"] = sys.argv[4]
        for r in prom(port, "query", params):
            print(r["value"][1])
    elif cmd == "range":
        params = {"query": sys.argv[3], "start": sys.argv[4], "end": sys.argv[5],
                  "step": sys.argv[6]}
        for r in prom(port, "query_range", params):
            for _, v in r["values"]:
                print(v)
    else:
        die("unknown command " + cmd)


if __name__ == "__main__":
    main()
