#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Minimal NVMe/TCP host (127.0.0.1 only) for end-to-end tests of usk's NVMe-oF TCP target.

  nvmf_tcp_client.py PORT NQN good [--hdgst] [--ddgst] [--seconds N]   valid session + I/O
  nvmf_tcp_client.py PORT NQN bad  garbage|truncated|plen|hdgst|ddgst|type|icreq2
  nvmf_tcp_client.py PORT NQN hoard QPAIRS DEPTH SIZE   writes needing R2T, data never sent
  nvmf_tcp_client.py PORT NQN probe SECONDS           R2T within 1 s, then verified I/O
  nvmf_tcp_client.py PORT NQN overflow DEPTH          DEPTH + 1 commands on a DEPTH queue
  nvmf_tcp_client.py PORT NQN idle SECONDS            no ICReq: closed within SECONDS
  nvmf_tcp_client.py PORT NQN forge                   Connect to an NQN with a newline/ESC
  nvmf_tcp_client.py PORT NQN conncap COUNT OPEN      COUNT sockets, OPEN stay open
Exit 0 when the behaviour matched (good: I/O verified; bad: the target terminated the
connection, with a C2HTermReq where the protocol allows one), 1 otherwise.
"""
import os
import socket
import struct
import sys
import time

HOSTNQN = "nqn.2014-08.org.nvmexpress:uuid:5e2f6a52-0d4b-4c1e-9c39-4b7e6c1d7a01"
CRC32C_POLY = 0x82F63B78
_table = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ CRC32C_POLY if c & 1 else c >> 1
    _table.append(c)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = _table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def log(msg):
    print("[client] " + msg, flush=True)


class Term(Exception):
    pass


class Host:
    def __init__(self, port, hdgst=False, ddgst=False):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.hdgst = hdgst
        self.ddgst = ddgst
        self.cid = 0

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return buf

    def send_pdu(self, ptype, hdr_rest, data=b"", flags=0):
        hlen = 8 + len(hdr_rest)
        hd = 4 if (self.hdgst and ptype not in (0, 2)) else 0
        dd = 4 if (self.ddgst and data and ptype not in (0, 2)) else 0
        pdo = hlen + hd if data else 0
        plen = hlen + hd + len(data) + dd
        if hd:
            flags |= 1
        if dd:
            flags |= 2
        hdr = struct.pack("<BBBBI", ptype, flags, hlen, pdo, plen) + hdr_rest
        out = hdr
        if hd:
            out += struct.pack("<I", crc32c(hdr))
        out += data
        if dd:
            out += struct.pack("<I", crc32c(data))
        self.s.sendall(out)

    def recv_pdu(self):
        ch = self.recv_exact(8)
        ptype, flags, hlen, pdo, plen = struct.unpack("<BBBBI", ch)
        rest = self.recv_exact(plen - 8)
        pdu = ch + rest
        if ptype == 3:
            fes = struct.unpack_from("<H", pdu, 8)[0]
            fei = struct.unpack_from("<I", pdu, 10)[0]
            raise Term("C2HTermReq FES 0x%x FEI %d" % (fes, fei))
        hdr = pdu[:hlen]
        if flags & 1:
            if struct.unpack_from("<I", pdu, hlen)[0] != crc32c(hdr):
                raise RuntimeError("bad header digest from target")
        data = b""
        if pdo:
            dlen = plen - pdo - (4 if flags & 2 else 0)
            data = pdu[pdo:pdo + dlen]
            if flags & 2 and struct.unpack_from("<I", pdu, pdo + dlen)[0] != crc32c(data):
                raise RuntimeError("bad data digest from target")
        return ptype, flags, hdr, data

    def icreq(self):
        dgst = (1 if self.hdgst else 0) | (2 if self.ddgst else 0)
        self.send_pdu(0, struct.pack("<HBBI", 0, 0, dgst, 0) + bytes(112))
        ptype, _, hdr, _ = self.recv_pdu()
        assert ptype == 1, "expected ICResp, got type %d" % ptype
        pfv, cpda, rdgst, maxh2c = struct.unpack_from("<HBBI", hdr, 8)
        assert rdgst == dgst, "digests not accepted"
        self.maxh2c = maxh2c

    def sqe(self, opc, nsid=0, cdw10=0, cdw11=0, cdw12=0, sgl_len=0, icd=False, raw=None):
        self.cid = (self.cid + 1) & 0xFFFF
        if raw is not None:
            b = bytearray(raw)
            struct.pack_into("<H", b, 2, self.cid)
            return bytes(b)
        sgl = struct.pack("<QI3xB", 0, sgl_len, 0x01 if icd else 0x5A)
        return (struct.pack("<BBHI", opc, 0, self.cid, nsid) + bytes(16) + sgl +
                struct.pack("<IIIIII", cdw10, cdw11, cdw12, 0, 0, 0))

    def command(self, cmd, write_data=b"", read_len=0, icd_max=4096):
        """Send one command; handle R2T/H2CData and C2HData; return (cqe status, cdw0, data)."""
        cid = struct.unpack_from("<H", cmd, 2)[0]
        if write_data and len(write_data) <= icd_max:
            self.send_pdu(4, cmd, write_data)
        else:
            self.send_pdu(4, cmd)
        data = b""
        while True:
            ptype, flags, hdr, pdata = self.recv_pdu()
            if ptype == 9:  # R2T
                cccid, ttag, r2to, r2tl = struct.unpack_from("<HHII", hdr, 8)
                assert cccid == cid
                off = r2to
                while off < r2to + r2tl:
                    n = min(self.maxh2c, r2to + r2tl - off)
                    last = 4 if off + n == r2to + r2tl else 0
                    self.send_pdu(6, struct.pack("<HHII4x", cid, ttag, off, n),
                                  write_data[off:off + n], flags=last)
                    off += n
            elif ptype == 7:  # C2HData
                data += pdata
                if flags & 8:
                    return 0, 0, data
            elif ptype == 5:
                cdw0, _, _, _, rcid, status = struct.unpack_from("<IIHHHH", hdr, 8)
                assert rcid == cid, "completion for cid %d, expected %d" % (rcid, cid)
                return status >> 1, cdw0, data
            else:
                raise RuntimeError("unexpected PDU type %d" % ptype)

    def connect(self, nqn, qid, sqsize, cntlid=0xFFFF, hostnqn=None):
        cmd = bytearray(64)
        cmd[0] = 0x7F
        cmd[4] = 0x01
        struct.pack_into("<QI3xB", cmd, 24, 0, 1024, 0x01)
        struct.pack_into("<HHHBx", cmd, 40, 0, qid, sqsize - 1, 0)
        struct.pack_into("<I", cmd, 44 + 4, 30000 if qid == 0 else 0)
        data = bytearray(1024)
        data[0:16] = bytes.fromhex("5e2f6a520d4b4c1e9c394b7e6c1d7a01")
        struct.pack_into("<H", data, 16, cntlid)
        data[256:256 + len(nqn)] = nqn.encode()
        hn = (hostnqn or HOSTNQN).encode()
        data[512:512 + len(hn)] = hn
        st, cdw0, _ = self.command(self.sqe(0, raw=cmd), bytes(data))
        if st != 0:
            raise RuntimeError("Connect qid %d failed: status 0x%x" % (qid, st))
        return cdw0 & 0xFFFF

    def prop(self, get, offset, value=0, size8=False):
        cmd = bytearray(64)
        cmd[0] = 0x7F
        cmd[4] = 0x04 if get else 0x00
        cmd[40] = 1 if size8 else 0
        struct.pack_into("<I", cmd, 44, offset)
        if not get:
            struct.pack_into("<Q", cmd, 48, value)
        st, cdw0, _ = self.command(self.sqe(0, raw=cmd))
        if st != 0:
            raise RuntimeError("Property %s 0x%x failed: 0x%x" % ("Get" if get else "Set", offset, st))
        return cdw0

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def good(port, nqn, hdgst, ddgst, seconds):
    adm = Host(port, hdgst, ddgst)
    adm.icreq()
    cntlid = adm.connect(nqn, 0, 32)
    adm.prop(False, 0x14, 1 | (6 << 16) | (4 << 20))
    for _ in range(100):
        if adm.prop(True, 0x1C) & 1:
            break
        time.sleep(0.01)
    else:
        raise RuntimeError("CSTS.RDY never set")
    st, _, idc = adm.command(adm.sqe(0x06, cdw10=1, sgl_len=4096), read_len=4096)
    assert st == 0 and len(idc) == 4096, "Identify failed 0x%x" % st
    log("identify: serial '%s' model '%s' cntlid %d" % (idc[4:24].decode().strip(),
                                                        idc[24:64].decode().strip(), cntlid))
    st, _, idn = adm.command(adm.sqe(0x06, nsid=1, cdw10=0, sgl_len=4096), read_len=4096)
    assert st == 0, "Identify NS failed 0x%x" % st
    nsze = struct.unpack_from("<Q", idn, 0)[0]
    lbads = idn[128 + 4 * (idn[26] & 0xF) + 2]
    bs = 1 << lbads
    log("namespace 1: %d blocks of %d bytes" % (nsze, bs))
    io = Host(port, hdgst, ddgst)
    io.icreq()
    io.connect(nqn, 1, 32, cntlid)
    deadline = time.time() + seconds
    rounds = 0
    while True:
        for size in (512, 4096, 65536, 131072):
            if size < bs:
                continue
            lba = (rounds * 97) % max(1, nsze - size // bs)
            payload = os.urandom(size)
            st, _, _ = io.command(io.sqe(0x01, 1, lba, 0, size // bs - 1, sgl_len=size,
                                         icd=size <= 4096), payload)
            assert st == 0, "write failed 0x%x" % st
            st, _, back = io.command(io.sqe(0x02, 1, lba, 0, size // bs - 1, sgl_len=size),
                                     read_len=size)
            assert st == 0, "read failed 0x%x" % st
            assert back == payload, "read data differs (%d bytes at lba %d)" % (size, lba)
        rounds += 1
        if time.time() >= deadline:
            break
    log("%d rounds of write/read/verify OK (hdgst=%s ddgst=%s)" % (rounds, hdgst, ddgst))
    io.close()
    adm.close()
    return 0


def expect_termination(h, what):
    """The target must end the connection: C2HTermReq (then close) or a plain close."""
    try:
        while True:
            h.recv_pdu()
    except Term as e:
        log("%s: got %s" % (what, e))
        try:
            rest = h.s.recv(1)
            if rest:
                log("%s: data after C2HTermReq" % what)
                return 1
        except (socket.timeout, OSError):
            pass
        return 0
    except (EOFError, ConnectionResetError) as e:
        log("%s: connection closed (%s)" % (what, e))
        return 0
    except socket.timeout:
        log("%s: target did not terminate the connection" % what)
        return 1


def bad(port, nqn, kind):
    h = Host(port, hdgst=(kind == "hdgst"), ddgst=(kind == "ddgst"))
    if kind == "garbage":
        h.s.sendall(bytes(range(256)) * 4)
        return expect_termination(h, kind)
    if kind == "truncated":
        # half a CapsuleCmd, then the client goes away: the target must clean up quietly
        h.icreq()
        h.s.sendall(struct.pack("<BBBBI", 4, 0, 72, 0, 72) + bytes(20))
        time.sleep(0.2)
        h.s.shutdown(socket.SHUT_WR)
        return expect_termination(h, kind)
    if kind == "plen":
        h.icreq()
        h.s.sendall(struct.pack("<BBBBI", 4, 0, 72, 0, 40) + bytes(64))
        return expect_termination(h, kind)
    if kind == "type":
        h.icreq()
        h.s.sendall(struct.pack("<BBBBI", 0x0B, 0, 24, 0, 24) + bytes(16))
        return expect_termination(h, kind)
    if kind == "icreq2":
        h.icreq()
        h.s.sendall(struct.pack("<BBBBI", 0, 0, 128, 0, 128) + bytes(120))
        return expect_termination(h, kind)
    if kind == "hdgst":
        h.icreq()
        cmd = h.sqe(0x06, cdw10=1, sgl_len=4096)
        hdr = struct.pack("<BBBBI", 4, 1, 72, 0, 76) + cmd
        h.s.sendall(hdr + struct.pack("<I", crc32c(hdr) ^ 0x1))
        return expect_termination(h, kind)
    if kind == "ddgst":
        h.icreq()
        h.connect(nqn, 0, 32)
        cmd = h.sqe(0x7F, raw=bytes([0x7F, 0, 0, 0, 0]) + bytes(59))
        data = bytes(1024)
        hdr = struct.pack("<BBBBI", 4, 2, 72, 72, 72 + 1024 + 4) + cmd
        h.s.sendall(hdr + data + struct.pack("<I", crc32c(data) ^ 0xFFFF))
        return expect_termination(h, kind)
    log("unknown kind " + kind)
    return 1


def enable_ctrlr(port, nqn, hostnqn=None):
    adm = Host(port)
    adm.icreq()
    cntlid = adm.connect(nqn, 0, 32, hostnqn=hostnqn)
    adm.prop(False, 0x14, 1 | (6 << 16) | (4 << 20))
    for _ in range(200):
        if adm.prop(True, 0x1C) & 1:
            return adm, cntlid
        time.sleep(0.01)
    raise RuntimeError("CSTS.RDY never set")


def hoard(port, nqn, qpairs, depth, size):
    """A hostile host: depth writes of size per I/O qpair that need an R2T, data never sent.
    Passes when the target fails them with a transport error and closes every qpair."""
    hn = "nqn.2014-08.org.example:hoarder\n[ERROR] forged\x1b[31m"
    adm, cntlid = enable_ctrlr(port, nqn, hn)
    ios = []
    for q in range(qpairs):
        h = Host(port)
        h.icreq()
        h.connect(nqn, q + 1, depth, cntlid, hostnqn=hn)
        ios.append(h)
    for h in ios:
        out = b""
        for _ in range(depth):
            cmd = h.sqe(0x01, 1, 0, 0, size // 512 - 1, sgl_len=size)
            hlen = 8 + len(cmd)
            out += struct.pack("<BBBBI", 4, 0, hlen, 0, hlen) + cmd
        h.s.sendall(out)
    t0 = time.time()
    r2ts = [0] * qpairs
    closed = [None] * qpairs
    transport_errors = 0
    # what it holds at once: the R2Ts that came within the first second
    time.sleep(1)
    for q, h in enumerate(ios):
        h.s.settimeout(0.2)
        try:
            while True:
                ptype, _, _, _ = h.recv_pdu()
                r2ts[q] += ptype == 9
        except socket.timeout:
            pass
    held = sum(r2ts)
    log("hoarder: holds %d R2Ts at once (%s per qpair) of %d writes" %
        (held, r2ts, qpairs * depth))
    if held >= qpairs * depth:
        raise RuntimeError("no cap: every hoarded write got its buffers")
    for q, h in enumerate(ios):
        if r2ts[q] == 0:
            # held nothing (all over its share): nothing to time out, leave it
            h.close()
            continue
        h.s.settimeout(60)
        try:
            while True:
                ptype, _, hdr, _ = h.recv_pdu()
                if ptype == 9:
                    r2ts[q] += 1
                elif ptype == 5:
                    status = struct.unpack_from("<H", hdr, 22)[0] >> 1
                    if status & 0xFF == 0x22:
                        transport_errors += 1
        except (EOFError, ConnectionResetError, Term):
            closed[q] = time.time() - t0
        log("qpair %d: %d R2Ts, closed by the target after %.2f s" % (q + 1, r2ts[q], closed[q]))
    adm.close()
    log("hoarder: %d of %d writes got an R2T in all, %d transient transport errors" %
        (sum(r2ts), qpairs * depth, transport_errors))
    if transport_errors == 0:
        raise RuntimeError("no write failed with a transient transport error")
    return 0


def probe(port, nqn, seconds):
    """A well-behaved host beside a hoarder: its write's R2T must come within a second, then
    verified I/O keeps flowing."""
    adm, cntlid = enable_ctrlr(port, nqn)
    io = Host(port)
    io.icreq()
    io.connect(nqn, 1, 32, cntlid)
    payload = os.urandom(8192)
    cmd = io.sqe(0x01, 1, 4096, 0, 8192 // 512 - 1, sgl_len=8192)
    t0 = time.time()
    io.send_pdu(4, cmd)
    io.s.settimeout(10)
    ptype, _, hdr, _ = io.recv_pdu()
    dt = time.time() - t0
    if ptype != 9:
        raise RuntimeError("expected an R2T, got PDU type %d" % ptype)
    log("8 KiB write: R2T after %.3f s" % dt)
    if dt >= 1.0:
        raise RuntimeError("R2T took %.3f s (>= 1 s)" % dt)
    cccid, ttag, r2to, r2tl = struct.unpack_from("<HHII", hdr, 8)
    io.send_pdu(6, struct.pack("<HHII4x", cccid, ttag, 0, 8192), payload, flags=4)
    ptype, _, hdr, _ = io.recv_pdu()
    assert ptype == 5 and struct.unpack_from("<H", hdr, 22)[0] >> 1 == 0, "write failed"
    st, _, back = io.command(io.sqe(0x02, 1, 4096, 0, 15, sgl_len=8192), read_len=8192)
    assert st == 0 and back == payload, "read back differs"
    deadline = time.time() + seconds
    n = 0
    while time.time() < deadline:
        for size in (4096, 65536, 131072):
            lba = 8192 + (n * 256) % 65536
            data = os.urandom(size)
            st, _, _ = io.command(io.sqe(0x01, 1, lba, 0, size // 512 - 1, sgl_len=size,
                                         icd=size <= 4096), data)
            assert st == 0, "write failed 0x%x" % st
            st, _, back = io.command(io.sqe(0x02, 1, lba, 0, size // 512 - 1, sgl_len=size),
                                     read_len=size)
            assert st == 0 and back == data, "read back differs"
            n += 1
    log("well-behaved host: %d verified write/read pairs" % n)
    io.close()
    adm.close()
    return 0


def overflow(port, nqn, depth):
    """Connect an I/O queue of depth entries, then send depth + 1 commands: C2HTermReq."""
    adm, cntlid = enable_ctrlr(port, nqn)
    h = Host(port)
    h.icreq()
    h.connect(nqn, 1, depth, cntlid)
    out = b""
    for _ in range(depth + 1):
        cmd = h.sqe(0x01, 1, 0, 0, 7, sgl_len=4096)
        out += struct.pack("<BBBBI", 4, 0, 72, 0, 72) + cmd
    h.s.sendall(out)
    h.s.settimeout(10)
    r2ts = 0
    try:
        while True:
            ptype, _, _, _ = h.recv_pdu()
            r2ts += ptype == 9
    except Term as e:
        log("%d commands on a %d-entry queue: %s after %d R2Ts" % (depth + 1, depth, e, r2ts))
        adm.close()
        return 0 if r2ts == depth else 1
    except EOFError:
        pass
    log("no C2HTermReq")
    return 1


def forge(port):
    """Connect to a subsystem NQN carrying a newline and an ANSI escape: refused, and logged
    escaped (the script checks the log)."""
    h = Host(port)
    h.icreq()
    try:
        h.connect("nqn.2016-06.io.usk:x\n[ERROR] forged line\x1b[2J", 0, 32)
    except RuntimeError as e:
        log("forged Connect refused: %s" % e)
        return 0
    log("a Connect to a forged subsystem NQN succeeded")
    return 1


def idle(port, limit):
    """A TCP connection that never sends ICReq must be closed within limit seconds."""
    s = socket.create_connection(("127.0.0.1", port), timeout=limit)
    t0 = time.time()
    try:
        data = s.recv(1)
    except socket.timeout:
        log("still open after %.1f s" % limit)
        return 1
    except ConnectionResetError:
        data = b""
    log("idle connection closed by the target after %.2f s" % (time.time() - t0))
    return 0 if data == b"" else 1


def conncap(port, count, expect_open):
    """Open count sockets; exactly expect_open must stay open, the rest be closed at once."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
    time.sleep(1.0)
    open_n = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                continue
        except BlockingIOError:
            open_n += 1
        except ConnectionResetError:
            pass
    for s in socks:
        s.close()
    log("%d of %d connections kept open (expected %d)" % (open_n, count, expect_open))
    return 0 if open_n == expect_open else 1


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    port, nqn, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    args = sys.argv[4:]
    try:
        if mode == "hoard":
            return hoard(port, nqn, int(args[0]), int(args[1]), int(args[2]))
        if mode == "probe":
            return probe(port, nqn, float(args[0]))
        if mode == "overflow":
            return overflow(port, nqn, int(args[0]))
        if mode == "forge":
            return forge(port)
        if mode == "idle":
            return idle(port, float(args[0]))
        if mode == "conncap":
            return conncap(port, int(args[0]), int(args[1]))
        if mode == "good":
            secs = float(args[args.index("--seconds") + 1]) if "--seconds" in args else 0
            return good(port, nqn, "--hdgst" in args, "--ddgst" in args, secs)
        return bad(port, nqn, args[0])
    except Exception as e:  # noqa: BLE001 - report any failure as a test failure
        log("FAILED: %r" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
