#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Build usk and run usk_tgt on its defaults in the foreground: a 256 MiB RAM disk (malloc bdev)
# served as nqn.2016-06.io.usk:cnode1 over NVMe/TCP on 127.0.0.1:4420, plus discovery.
# Extra arguments go to usk_tgt (e.g. -m 0x3 --interrupt-mode). Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
[ -f build/build.ninja ] || meson setup build --buildtype=release -Dtests=disabled >/dev/null
ninja -C build >/dev/null
exec build/app/usk_tgt/usk_tgt --json etc/usk_tgt_nvmf.json "$@"
