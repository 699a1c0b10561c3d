#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Clients for the metrics e2e test (127.0.0.1 only).

  metrics_probe.py bad PORT          malformed request line: want a 400 reply, then EOF
  metrics_probe.py big PORT          request head over 8 KiB: want a 431 reply, then EOF
  metrics_probe.py slow PORT MAX_S   half a request, then silence: want EOF within MAX_S s
  metrics_probe.py get PORT          GET /metrics: print the body (exit 1 unless 200)
  metrics_probe.py status PORT METHOD PATH   print "STATUS BODY_BYTES CONTENT_LENGTH"
  metrics_probe.py query PPORT EXPR [TIME]              Prometheus instant query: one value per line
  metrics_probe.py range PPORT EXPR START END STEP      Prometheus range query: "TIME VALUE" lines
  metrics_probe.py compare RATES PERF_TS               median of Prometheus rate / bdevperf's
                                                        own per-second IOPS over the same 5 s
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


def compare(rates_file, perf_ts_file):
    """For each Prometheus point (t, rate over [t-5s, t]) the mean of the per-second IOPS lines
    bdevperf -S 1 printed (time-stamped on arrival) in (t-5, t]; print the median ratio."""
    perf = []
    with open(perf_ts_file) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "IOPS,":
                perf.append((float(parts[0]), float(parts[1])))
    ratios = []
    with open(rates_file) as f:
        for line in f:
            t, v = line.split()
            t, v = float(t), float(v)
            win = [x for ts, x in perf if t - 5 < ts <= t]
            if len(win) >= 3 and sum(win) > 0:
                ratios.append(v / (sum(win) / len(win)))
    if len(ratios) < 5:
        die("only %d comparable points" % len(ratios))
    ratios.sort()
    print("%.3f %d" % (ratios[len(ratios) // 2], len(ratios)))


def main():
    if len(sys.argv) < 3:
        die(__doc__)
    if sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
        return
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
    elif cmd == "status":
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(("%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (sys.argv[3], sys.argv[4])).encode())
        data, _ = read_all(s, 10)
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        clen = [l.split(":", 1)[1].strip() for l in lines[1:] if l.lower().startswith("content-length:")]
        print(lines[0].split(" ")[1], len(body), clen[0] if clen else "-")
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
            for t, v in r["values"]:
                print(t, v)
    else:
        die("unknown command " + cmd)


if __name__ == "__main__":
    main()
