# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh source=../harness/guest/lib.sh
# Guest side of vhost_fault.sh: keep /dev/vda busy with direct writes until QEMU is killed.
. /harness/lib.sh
wait_for /dev/vda 10
echo "WRITER-STARTED"
dd if=/dev/zero of=/dev/vda bs=64k count=100000 oflag=direct 2>&1
echo "WRITER-ENDED"
summary
