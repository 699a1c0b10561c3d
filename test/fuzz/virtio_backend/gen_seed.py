#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Writes the seed input corpus/handshake_and_ring: a well-formed back-end reply stream for the whole
# attach handshake, then used-ring records completing every head (and one stale id).
import os
import struct

OK = 1 | 4  # version 1 | REPLY


def rep(req, payload):
    return struct.pack("<III", req, OK, len(payload)) + payload


feat = (1 << 32) | (1 << 28) | (1 << 30) | (1 << 2) | (1 << 6) | (1 << 9) | (1 << 12) | \
       (1 << 13) | (1 << 14)
a = rep(1, struct.pack("<Q", feat)) + rep(15, struct.pack("<Q", 1 | 8 | (1 << 9)))
a += rep(17, struct.pack("<Q", 2)) + rep(3, struct.pack("<Q", 0))
cfg = struct.pack("<QII4sI8sBBHIIIIIB3s", 32768, 0, 126, b"\0" * 4, 512, b"\0" * 8, 0, 0, 2,
                  32768, 1, 1, 32768, 1, 1, b"\0" * 3)
assert len(cfg) == 60
a += rep(24, struct.pack("<III", 0, 60, 0) + cfg) + rep(2, struct.pack("<Q", 0))
a += rep(5, struct.pack("<Q", 0))
b = b""
for i in range(16):
    b += struct.pack("<IIB", 15 - i, 1, 1)
b += struct.pack("<IIB", 3, 1, 1)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "handshake_and_ring")
open(out, "wb").write(struct.pack("<H", len(a)) + a + b)
