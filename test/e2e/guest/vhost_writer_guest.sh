# SPDX-License-Identifier: BSD-3-Clause
# Guest side of vhost_fault.sh: keep /dev/vda busy with direct writes until QEMU is killed.
. /harness/lib.sh
wait_for /dev/vda 10
echo "WRITER-STARTED"
# dd stops at the end of the disk (a few seconds at most on a fast back-end): start it again
while :; do
	dd if=/dev/zero of=/dev/vda bs=64k count=100000 oflag=direct 2>/dev/null
done
summary
