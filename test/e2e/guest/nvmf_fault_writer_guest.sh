# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh source=../harness/guest/lib.sh
# Guest side of nvmf_fault.sh (1): connect and write until the host kills this guest.
. /harness/lib.sh
nvmf_connect "$NVME_TCP_TRADDR" "$NVME_TCP_TRSVCID" "$NVME_TCP_NQN" || { fail "connect: $NVMF_ERR"; summary; exit 1; }
wait_for "/dev/nvme${NVMF_INSTANCE}n1" 10
DEV=$(nvmf_ns_dev "$NVMF_INSTANCE")
echo "WRITING to $DEV"
while :; do
	dd if=/dev/zero of="$DEV" bs=128k count=512 oflag=direct 2>/dev/null
done
