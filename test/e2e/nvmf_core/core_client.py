#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""NVMe-oF target core checks over NVMe/TCP (127.0.0.1 only, no digests), for nvmf_core_rpc.sh.

  core_client.py PORT discover HOSTNQN EXPECT_NQN[,...] ABSENT_NQN[,...]
  core_client.py PORT refused  HOSTNQN SUBNQN STATUS_HEX     Connect must fail with STATUS
  core_client.py PORT io       HOSTNQN SUBNQN SN NSID        admin + I/O queue, identify, I/O
Exits 0 when every check passed, 1 otherwise (the reason is printed).
"""
import os
import socket
import struct
import sys

HOSTID = bytes.fromhex("6a1e0b6c2f4d4e0fa8d1c3b2a4e5f601")


class Fail(Exception):
    pass


class Queue:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.cid = 0
        self.s.sendall(struct.pack("<BBBBI", 0, 0, 128, 0, 128) + struct.pack("<HBBI", 0, 0, 0, 0)
                       + bytes(112))
        ptype, _, hdr, _ = self.recv_pdu()
        if ptype != 1:
            raise Fail("expected ICResp, got PDU type %d" % ptype)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise Fail("connection closed by the target")
            buf += chunk
        return buf

    def recv_pdu(self):
        ch = self.recv_exact(8)
        ptype, flags, hlen, pdo, plen = struct.unpack("<BBBBI", ch)
        pdu = ch + self.recv_exact(plen - 8)
        data = pdu[pdo:plen] if pdo else b""
        return ptype, flags, pdu[:hlen], data

    def command(self, sqe, data=b"", read_len=0):
        """sqe: 64 bytes without cid/SGL; returns (status, cdw0, data)."""
        self.cid = (self.cid + 1) & 0xFFFF
        b = bytearray(sqe)
        struct.pack_into("<H", b, 2, self.cid)
        if data:
            struct.pack_into("<QI3xB", b, 24, 0, len(data), 0x01)   # in-capsule, offset
        else:
            struct.pack_into("<QI3xB", b, 24, 0, read_len, 0x5A)    # transport data block
        hlen = 72
        plen = hlen + len(data)
        self.s.sendall(struct.pack("<BBBBI", 4, 0, hlen, hlen if data else 0, plen) + bytes(b) + data)
        out = b""
        while True:
            ptype, flags, hdr, pdata = self.recv_pdu()
            if ptype == 7:
                out += pdata
                if flags & 8:
                    return 0, 0, out
            elif ptype == 5:
                cdw0, _, _, _, cid, status = struct.unpack_from("<IIHHHH", hdr, 8)
                if cid != self.cid:
                    raise Fail("completion for cid %d, expected %d" % (cid, self.cid))
                return status >> 1, cdw0, out
            else:
                raise Fail("unexpected PDU type %d" % ptype)

    def connect(self, subnqn, hostnqn, qid, sqsize, cntlid=0xFFFF):
        cmd = bytearray(64)
        cmd[0] = 0x7F
        cmd[4] = 0x01
        struct.pack_into("<HHHBx", cmd, 40, 0, qid, sqsize - 1, 0)
        struct.pack_into("<I", cmd, 48, 0)
        data = bytearray(1024)
        data[0:16] = HOSTID
        struct.pack_into("<H", data, 16, cntlid)
        data[256:256 + len(subnqn)] = subnqn.encode()
        data[512:512 + len(hostnqn)] = hostnqn.encode()
        return self.command(cmd, bytes(data))

    def prop_get(self, ofst, size8=False):
        cmd = bytearray(64)
        cmd[0], cmd[4], cmd[40] = 0x7F, 0x04, 1 if size8 else 0
        struct.pack_into("<I", cmd, 44, ofst)
        return self.command(cmd)

    def prop_set(self, ofst, value):
        cmd = bytearray(64)
        cmd[0], cmd[4] = 0x7F, 0x00
        struct.pack_into("<IQ", cmd, 44, ofst, value)
        return self.command(cmd)

    def admin(self, opc, nsid=0, cdw10=0, cdw11=0, cdw12=0, cdw13=0, read_len=0, data=b""):
        cmd = bytearray(64)
        struct.pack_into("<BBHI", cmd, 0, opc, 0, 0, nsid)
        struct.pack_into("<IIII", cmd, 40, cdw10, cdw11, cdw12, cdw13)
        return self.command(cmd, data, read_len)


def check(cond, what):
    if not cond:
        raise Fail(what)
    print("PASS: " + what, flush=True)


def enable(q):
    st, _, _ = q.prop_set(0x14, 1 | (6 << 16) | (4 << 20))
    check(st == 0, "Property Set CC.EN")
    st, _, _ = q.prop_get(0x1c)
    check(st == 0, "Property Get CSTS")


def admin_up(port, subnqn, hostnqn):
    q = Queue(port)
    st, cdw0, _ = q.connect(subnqn, hostnqn, 0, 32)
    check(st == 0, "Connect admin queue of %s as %s" % (subnqn, hostnqn))
    enable(q)
    return q, cdw0 & 0xFFFF


def discover(port, hostnqn, expect, absent):
    q, _ = admin_up(port, "nqn.2014-08.org.nvmexpress.discovery", hostnqn)
    st, _, data = q.admin(0x02, cdw10=0x70 | (255 << 16), read_len=1024)
    check(st == 0, "Get Log Page discovery header")
    genctr, numrec = struct.unpack_from("<QQ", data, 0)
    size = 1024 * (numrec + 1)
    st, _, data = q.admin(0x02, cdw10=0x70 | (((size // 4 - 1) & 0xFFFF) << 16),
                          cdw11=(size // 4 - 1) >> 16, read_len=size)
    check(st == 0 and len(data) == size, "Get Log Page discovery, %d records" % numrec)
    nqns = []
    for i in range(numrec):
        e = data[1024 * (i + 1):1024 * (i + 2)]
        trtype, adrfam, subtype, treq, portid, cntlid, asqsz = struct.unpack_from("<BBBBHHH", e, 0)
        trsvcid = e[32:64].decode().strip(" \0")
        subnqn = e[256:512].split(b"\0")[0].decode()
        traddr = e[512:768].decode().strip(" \0")
        check(trtype == 3 and adrfam == 1 and cntlid == 0xFFFF and traddr == "127.0.0.1",
              "entry %d: TCP IPv4 127.0.0.1:%s %s subtype %d" % (i, trsvcid, subnqn, subtype))
        nqns.append(subnqn)
    for n in expect:
        check(n in nqns, "%s listed for %s" % (n, hostnqn))
    for n in absent:
        check(n not in nqns, "%s not listed for %s" % (n, hostnqn))


def refused(port, hostnqn, subnqn, status):
    q = Queue(port)
    st, _, _ = q.connect(subnqn, hostnqn, 0, 32)
    st &= 0x7FF     # SCT and SC; DNR/More are not compared
    check(st == status, "Connect %s as %s refused with 0x%x (got 0x%x)" % (subnqn, hostnqn, status, st))


def io(port, hostnqn, subnqn, sn, nsid):
    q, cntlid = admin_up(port, subnqn, hostnqn)
    st, _, cd = q.admin(0x06, cdw10=1, read_len=4096)
    check(st == 0 and len(cd) == 4096, "Identify Controller")
    check(cd[4:24].decode().rstrip() == sn, "serial number %s" % sn)
    check(cd[768:1024].split(b"\0")[0].decode() == subnqn, "SUBNQN in identify data")
    check(struct.unpack_from("<H", cd, 78)[0] == cntlid, "CNTLID %d" % cntlid)
    st, _, ns = q.admin(0x06, nsid=nsid, cdw10=0, read_len=4096)
    nsze = struct.unpack_from("<Q", ns, 0)[0]
    bs = 1 << ns[128 + 2]
    check(st == 0 and nsze > 0, "Identify Namespace %d: %d blocks of %d bytes" % (nsid, nsze, bs))
    nlb = 4096 // bs
    st, cdw0, _ = q.admin(0x09, cdw10=0x07, cdw11=0x00010001)
    check(st == 0, "Set Features number of queues -> 0x%x" % cdw0)
    st, _, _ = q.admin(0x80)
    check(st & 0x7FF == 0x01, "Format NVM is Invalid Opcode (0x%x)" % st)
    ioq = Queue(port)
    st, _, _ = ioq.connect(subnqn, hostnqn, 1, 64, cntlid)
    check(st == 0, "Connect I/O queue 1")
    pattern = os.urandom(4096)
    cmd = bytearray(64)
    struct.pack_into("<BBHI", cmd, 0, 0x01, 0, 0, nsid)
    struct.pack_into("<III", cmd, 40, 16, 0, nlb - 1)
    st, _, _ = ioq.command(cmd, pattern)
    check(st == 0, "Write %d blocks at LBA 16" % nlb)
    cmd[0] = 0x02
    st, _, back = ioq.command(cmd, read_len=4096)
    check(st == 0 and back == pattern, "Read back %d blocks, data matches" % nlb)
    struct.pack_into("<III", cmd, 40, (nsze - nlb + 1) if nlb > 1 else nsze, 0, nlb - 1)
    st, _, _ = ioq.command(cmd, read_len=4096)
    check(st & 0x7FF == 0x80, "Read beyond the end is LBA Out of Range (0x%x)" % st)
    st, _, _ = ioq.admin(0x7e, nsid=nsid)
    check(st & 0x7FF == 0x01, "Unknown I/O opcode is Invalid Opcode (0x%x)" % st)
    ioq.s.close()
    q.s.close()


def main():
    port = int(sys.argv[1])
    mode = sys.argv[2]
    try:
        if mode == "discover":
            discover(port, sys.argv[3], [n for n in sys.argv[4].split(",") if n],
                     [n for n in sys.argv[5].split(",") if n])
        elif mode == "refused":
            refused(port, sys.argv[3], sys.argv[4], int(sys.argv[5], 16))
        elif mode == "io":
            io(port, sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))
        else:
            raise Fail("unknown mode " + mode)
    except (Fail, OSError, struct.error) as e:
        print("FAIL: %s" % e, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
