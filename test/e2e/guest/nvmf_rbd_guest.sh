# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh source=../harness/guest/lib.sh
# Guest side of nvmf_rbd.sh: the kernel nvme-tcp initiator writes a random pattern with O_DIRECT
# to the namespace (an RBD image behind usk_tgt), reads it back, and reports its md5 so the host
# can compare it with `rbd export`.
# Env: NVME_TCP_TRADDR/_TRSVCID/_NQN (guest-run.sh), NVMF_MB (8), NVMF_SEEK_MB (1).
. /harness/lib.sh
MB=${NVMF_MB:-8}
SEEK=${NVMF_SEEK_MB:-1}

if nvmf_connect "$NVME_TCP_TRADDR" "$NVME_TCP_TRSVCID" "$NVME_TCP_NQN" ""; then
	pass "connect"
else
	fail "connect: $NVMF_ERR"
	dmesg | grep -i nvme | tail -5
	summary
	exit 1
fi
C=/sys/class/nvme/nvme$NVMF_INSTANCE
wait_for "/dev/nvme${NVMF_INSTANCE}n1" 10
DEV=$(nvmf_ns_dev "$NVMF_INSTANCE")
check "namespace block device $DEV" test -b "$DEV"
dd if=/dev/urandom of=/root/pat bs=1M count="$MB" 2>/dev/null
P=$(md5sum /root/pat | cut -d' ' -f1)
check "write $MB MiB with O_DIRECT at $SEEK MiB" dd if=/root/pat of="$DEV" bs=1M seek="$SEEK" count="$MB" oflag=direct conv=fsync
echo 3 > /proc/sys/vm/drop_caches
R=$(dd if="$DEV" bs=1M skip="$SEEK" count="$MB" iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
check "read back, md5 matches ($P)" test "$P" = "$R"
dd if=/dev/urandom of=/root/small bs=4k count=33 2>/dev/null
check "4 KiB direct writes" dd if=/root/small of="$DEV" bs=4k seek=$(((SEEK + MB) * 256 + 3)) count=33 oflag=direct
R=$(dd if="$DEV" bs=4k skip=$(((SEEK + MB) * 256 + 3)) count=33 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
check "4 KiB direct reads match" test "$(md5sum /root/small | cut -d' ' -f1)" = "$R"
echo "PATTERN_MD5 rbd $SEEK $P"
echo 1 > "$C/delete_controller"
sleep 0.3
check "disconnected" test ! -e "$C"
summary
