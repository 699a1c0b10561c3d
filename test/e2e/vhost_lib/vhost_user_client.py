#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A small vhost-user-blk front-end for usk's e2e tests (guest memory in a memfd, one split ring).

  vhost_user_client.py SOCK io          handshake, read + write + read back 4 KiB: exit 0 if all OK
  vhost_user_client.py SOCK garbage     send garbage; exit 0 if the back-end closes the connection
  vhost_user_client.py SOCK baddesc     a request whose data descriptor points outside guest
                                        memory; exit 0 if the back-end closes the connection
  vhost_user_client.py SOCK badmem      SET_MEM_TABLE with 2 regions but 1 fd: closed?
  vhost_user_client.py SOCK shortmem    a region larger than its memfd: closed?
"""
import mmap, os, socket, struct, sys, time

GET_FEATURES, SET_FEATURES, SET_OWNER = 1, 2, 3
SET_MEM_TABLE, SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE = 5, 8, 9, 10
GET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL = 11, 12, 13
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, SET_VRING_ENABLE = 15, 16, 18
GET_CONFIG = 24
F_PROTOCOL_FEATURES, F_VERSION_1 = 1 << 30, 1 << 32
P_REPLY_ACK, P_CONFIG = 1 << 3, 1 << 9
NEED_REPLY = 1 << 3
MEM = 1 << 20
UVA = 0x7f1200000000          # the "front-end address" of guest memory
QSIZE = 16
DESC, AVAIL, USED = 0x0, 0x1000, 0x2000
HDR, STATUS, DATA = 0x3000, 0x3100, 0x10000


class Client:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(5)
        self.s.connect(path)
        self.fd = os.memfd_create("guest", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, MEM)
        self.m = mmap.mmap(self.fd, MEM)
        self.m16 = memoryview(self.m).cast("H")
        self.kick = os.eventfd(0, os.EFD_NONBLOCK)
        self.call = os.eventfd(0, os.EFD_NONBLOCK)
        self.avail_idx = 0

    def send(self, req, payload=b"", fds=(), flags=1):
        msg = struct.pack("<III", req, flags, len(payload)) + payload
        if fds:
            socket.send_fds(self.s, [msg], list(fds))
        else:
            self.s.sendall(msg)

    def recv(self):
        hdr = self._recvn(12)
        req, flags, size = struct.unpack("<III", hdr)
        assert flags & 4, "reply flag missing"
        return req, self._recvn(size)

    def _recvn(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError("back-end closed the connection")
            b += c
        return b

    def call_u64(self, req):
        self.send(req)
        r, p = self.recv()
        assert r == req
        return struct.unpack("<Q", p)[0]

    def ack(self, req, payload=b"", fds=()):
        self.send(req, payload, fds, flags=1 | NEED_REPLY)
        r, p = self.recv()
        assert r == req and struct.unpack("<Q", p)[0] == 0, (req, p)

    def setup(self):
        feats = self.call_u64(GET_FEATURES)
        assert feats & F_VERSION_1 and feats & F_PROTOCOL_FEATURES, hex(feats)
        self.ack_capable = False
        self.send(SET_FEATURES, struct.pack("<Q", F_VERSION_1 | F_PROTOCOL_FEATURES))
        pf = self.call_u64(GET_PROTOCOL_FEATURES)
        assert pf & P_REPLY_ACK and pf & P_CONFIG, hex(pf)
        self.send(SET_PROTOCOL_FEATURES, struct.pack("<Q", P_REPLY_ACK | P_CONFIG))
        self.ack(SET_OWNER)
        self.send(GET_CONFIG, struct.pack("<III", 0, 24, 0) + bytes(24))
        r, p = self.recv()
        off, size, _ = struct.unpack("<III", p[:12])
        self.capacity, = struct.unpack("<Q", p[12:20])
        self.blk_size, = struct.unpack("<I", p[12 + 20:12 + 24])
        assert size == 24 and self.capacity > 0, (size, self.capacity)
        self.ack(SET_MEM_TABLE, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, MEM, UVA, 0),
                 [self.fd])
        self.ack(SET_VRING_NUM, struct.pack("<II", 0, QSIZE))
        self.ack(SET_VRING_ADDR, struct.pack("<IIQQQQ", 0, 0, UVA + DESC, UVA + USED, UVA + AVAIL, 0))
        self.ack(SET_VRING_BASE, struct.pack("<II", 0, 0))
        self.ack(SET_VRING_CALL, struct.pack("<Q", 0), [self.call])
        self.ack(SET_VRING_KICK, struct.pack("<Q", 0), [self.kick])
        self.ack(SET_VRING_ENABLE, struct.pack("<II", 0, 1))

    def store16(self, off, val):
        """One 16-bit store, as a driver publishes avail->idx. struct.pack_into zero-fills its
        bytes before writing them, so the back-end could read a transient 0 (a torn index)."""
        self.m16[off // 2] = val

    def desc(self, i, addr, ln, flags, nxt):
        struct.pack_into("<QIHH", self.m, DESC + 16 * i, addr, ln, flags, nxt)

    def request(self, typ, sector, data_addr, ln, write_data=None):
        """Post one 3-descriptor request (head 0); wait for its completion; return (status, data)."""
        struct.pack_into("<IIQ", self.m, HDR, typ, 0, sector)
        self.m[STATUS] = 0xee
        if write_data is not None:
            self.m[DATA:DATA + ln] = write_data
        self.desc(0, HDR, 16, 1, 1)
        self.desc(1, data_addr, ln, 1 | (2 if typ == 0 else 0), 2)
        self.desc(2, STATUS, 1, 2, 0)
        self.store16(AVAIL + 4 + 2 * (self.avail_idx % QSIZE), 0)
        self.avail_idx += 1
        self.store16(AVAIL + 2, self.avail_idx & 0xffff)
        os.eventfd_write(self.kick, 1)
        deadline = time.time() + 5
        while time.time() < deadline:
            used, = struct.unpack_from("<H", self.m, USED + 2)
            if used == self.avail_idx & 0xffff:
                return self.m[STATUS], bytes(self.m[DATA:DATA + ln])
            time.sleep(0.001)
        raise TimeoutError("request not completed")

    def closed_by_peer(self, timeout=5):
        self.s.settimeout(timeout)
        try:
            while True:
                if not self.s.recv(4096):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


def main():
    path, mode = sys.argv[1], sys.argv[2]
    c = Client(path)
    if mode == "io":
        c.setup()
        pat = os.urandom(4096)
        st, _ = c.request(1, 64, DATA, 4096, write_data=pat)
        assert st == 0, "write status %d" % st
        c.m[DATA:DATA + 4096] = bytes(4096)
        st, data = c.request(0, 64, DATA, 4096)
        assert st == 0 and data == pat, "read back differs (status %d)" % st
        st, _ = c.request(0, c.capacity, DATA, 512)
        assert st == 1, "read past the end: status %d, expected IOERR" % st
        st, _ = c.request(77, 0, DATA, 512)
        assert st == 2, "unknown type: status %d, expected UNSUPP" % st
        # the ring position comes back with GET_VRING_BASE (after in-flight requests finished)
        c.send(GET_VRING_BASE, struct.pack("<II", 0, 0))
        r, p = c.recv()
        assert struct.unpack("<II", p) == (0, c.avail_idx), p
        print("io: write/read-back, IOERR past the end, UNSUPP, GET_VRING_BASE: OK")
        return 0
    if mode == "garbage":
        c.s.sendall(b"\x05\x00\x00\x00\xff\xff\xff\xffgarbage-garbage" + os.urandom(64))
        ok = c.closed_by_peer()
        print("garbage: connection closed by the back-end" if ok else "garbage: still open")
        return 0 if ok else 1
    if mode == "baddesc":
        c.setup()
        st, _ = c.request(0, 0, DATA, 4096)
        assert st == 0, "a valid read first: status %d" % st
        struct.pack_into("<IIQ", c.m, HDR, 0, 0, 0)
        c.desc(0, HDR, 16, 1, 1)
        c.desc(1, MEM + 0x100000, 4096, 1 | 2, 2)      # beyond guest memory
        c.desc(2, STATUS, 1, 2, 0)
        c.store16(AVAIL + 4 + 2 * (c.avail_idx % QSIZE), 0)
        c.avail_idx += 1
        c.store16(AVAIL + 2, c.avail_idx & 0xffff)
        os.eventfd_write(c.kick, 1)
        ok = c.closed_by_peer()
        print("baddesc: connection closed by the back-end" if ok else "baddesc: still open")
        return 0 if ok else 1
    if mode == "badmem":
        c.send(SET_MEM_TABLE, struct.pack("<II", 2, 0) + struct.pack("<QQQQ", 0, MEM, UVA, 0) +
               struct.pack("<QQQQ", MEM, MEM, UVA + MEM, 0), [c.fd])
        ok = c.closed_by_peer()
        print("badmem: connection closed by the back-end" if ok else "badmem: still open")
        return 0 if ok else 1
    if mode == "shortmem":
        # a region 4x larger than its memfd: mapping it would SIGBUS the back-end on access
        c.send(SET_MEM_TABLE, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, 4 * MEM, UVA, 0),
               [c.fd])
        ok = c.closed_by_peer()
        print("shortmem: connection closed by the back-end" if ok else "shortmem: still open")
        return 0 if ok else 1
    print("unknown mode", mode)
    return 2


if __name__ == "__main__":
    sys.exit(main())
