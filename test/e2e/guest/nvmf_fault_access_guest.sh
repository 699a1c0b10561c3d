# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh source=../harness/guest/lib.sh
# Guest side of nvmf_fault.sh (2): with allow_any_host false the connect with host NQN
# $NVMF_HOSTNQN is refused; after the host adds it (nvmf_subsystem_add_host) it connects and works.
. /harness/lib.sh
OPTS="hostnqn=$NVMF_HOSTNQN"
if nvmf_connect "$NVME_TCP_TRADDR" "$NVME_TCP_TRSVCID" "$NVME_TCP_NQN" "$OPTS"; then
	fail "connect of a host that is not allowed succeeded"
	nvmf_disconnect_all
else
	pass "connect refused for a host that is not allowed ($NVMF_ERR)"
fi
echo "REFUSED"
OK=0
for _ in $(seq 1 60); do
	if nvmf_connect "$NVME_TCP_TRADDR" "$NVME_TCP_TRSVCID" "$NVME_TCP_NQN" "$OPTS" >/dev/null 2>&1; then
		OK=1
		break
	fi
	sleep 0.5
done
check "connect accepted after nvmf_subsystem_add_host" test "$OK" = 1
if [ "$OK" = 1 ]; then
	wait_for "/dev/nvme${NVMF_INSTANCE}n1" 10
	DEV=$(nvmf_ns_dev "$NVMF_INSTANCE")
	dd if=/dev/urandom of=/root/pat bs=1M count=4 2>/dev/null
	check "write 4 MiB" dd if=/root/pat of="$DEV" bs=1M seek=2 count=4 oflag=direct
	R=$(dd if="$DEV" bs=1M skip=2 count=4 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
	check "read back md5 matches" test "$(md5sum /root/pat | cut -d' ' -f1)" = "$R"
	nvmf_disconnect_all
fi
summary
