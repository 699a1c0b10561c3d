# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh source=../harness/guest/lib.sh
# Guest side of nvmf_ns_hotplug.sh: connect, announce HOTPLUG-READY, then wait for namespace 2
# to appear (AER -> rescan), use it, announce NS2-SEEN and wait for it to disappear.
. /harness/lib.sh
nvmf_connect "$NVME_TCP_TRADDR" "$NVME_TCP_TRSVCID" "$NVME_TCP_NQN" || { fail "connect: $NVMF_ERR"; summary; exit 1; }
C=nvme$NVMF_INSTANCE
wait_for "/dev/${C}n1" 10
check "namespace 1 present" test -b "/dev/${C}n1"
check "namespace 2 absent at first" test ! -e "/dev/${C}n2"
echo "HOTPLUG-READY"
wait_for "/dev/${C}n2" 30
check "namespace 2 appeared after nvmf_subsystem_add_ns" test -b "/dev/${C}n2"
if [ -b "/dev/${C}n2" ]; then
	echo "namespace 2: $(( $(cat "/sys/block/${C}n2/size") / 2048 )) MiB"
	dd if=/dev/urandom of=/root/p bs=64k count=4 2>/dev/null
	dd if=/root/p of="/dev/${C}n2" bs=64k count=4 oflag=direct 2>/dev/null
	R=$(dd if="/dev/${C}n2" bs=64k count=4 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
	check "I/O on namespace 2" test "$(md5sum /root/p | cut -d' ' -f1)" = "$R"
fi
echo "NS2-SEEN"
T=0
while [ -e "/dev/${C}n2" ] && [ $T -lt 300 ]; do sleep 0.1; T=$((T + 1)); done
check "namespace 2 disappeared after nvmf_subsystem_remove_ns" test ! -e "/dev/${C}n2"
check "namespace 1 still there" test -b "/dev/${C}n1"
dmesg | grep -i nvme | tail -5
nvmf_disconnect_all
summary
