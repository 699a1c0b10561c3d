# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh source=../harness/guest/lib.sh
# Guest side of vhost_fault.sh: keep /dev/vda busy with direct writes until QEMU is killed.
. /harness/lib.sh
wait_for /dev/vda 10
echo "WRITER-STARTED"
# Rewrite the first 64 MiB over and over (one pass of a fixed size would end by itself, on a fast
# host before the kill); only a failed write ends the loop, and the host fails on WRITER-ENDED.
while dd if=/dev/zero of=/dev/vda bs=64k count=1024 oflag=direct 2>/dev/null; do :; done
echo "WRITER-ENDED (a write failed)"
summary
