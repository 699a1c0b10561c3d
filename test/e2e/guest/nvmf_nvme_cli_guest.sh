# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh source=../harness/guest/lib.sh
# Guest side of nvmf_nvme_cli.sh: Debian's nvme-cli (copied in with --bin) against usk_tgt:
# discover, connect, id-ctrl (serial/model set by RPC), id-ns, I/O, disconnect.
# Env: NVME_TCP_TRADDR/_TRSVCID/_NQN, NVMF_SN, NVMF_MN.
. /harness/lib.sh
mkdir -p /etc/nvme
echo "nqn.2014-08.org.nvmexpress:uuid:7d1f2a3b-5c6d-4e7f-8091-a2b3c4d5e6f7" > /etc/nvme/hostnqn
echo "7d1f2a3b-5c6d-4e7f-8091-a2b3c4d5e6f7" > /etc/nvme/hostid
[ -e /dev/nvme-fabrics ] || modprobe nvme-tcp
nvme version

nvme discover -t tcp -a "$NVME_TCP_TRADDR" -s "$NVME_TCP_TRSVCID" >/root/disc.txt 2>&1
echo "--- nvme discover ---"; cat /root/disc.txt
check "nvme discover lists $NVME_TCP_NQN" grep -Eq "subnqn: +$NVME_TCP_NQN\$" /root/disc.txt
check "discovery entry is TCP" grep -Eq "trtype: +tcp" /root/disc.txt

check "nvme connect" nvme connect -t tcp -a "$NVME_TCP_TRADDR" -s "$NVME_TCP_TRSVCID" -n "$NVME_TCP_NQN"
CTRL=
for c in /sys/class/nvme/nvme*; do
	[ -e "$c/subsysnqn" ] && [ "$(cat "$c/subsysnqn")" = "$NVME_TCP_NQN" ] && CTRL=/dev/${c##*/}
done
check "controller device found" test -n "$CTRL"
nvme id-ctrl "$CTRL" >/root/idctrl.txt 2>&1
grep -E "^(vid|sn|mn|fr|mdts|cntlid|ver|sgls|ioccsz|iorcsz|subnqn|nn) " /root/idctrl.txt
check "id-ctrl serial is '$NVMF_SN'" grep -Eq "^sn +: $NVMF_SN *\$" /root/idctrl.txt
check "id-ctrl model is '$NVMF_MN'" grep -Eq "^mn +: $NVMF_MN *\$" /root/idctrl.txt
check "id-ctrl subnqn" grep -Eq "^subnqn +: $NVME_TCP_NQN\$" /root/idctrl.txt
wait_for "${CTRL}n1" 10
check "nvme id-ns" sh -c "nvme id-ns ${CTRL}n1 | grep -E '^nsze'"
nvme list 2>&1 | head -5
dd if=/dev/urandom of=/root/pat bs=64k count=16 2>/dev/null
check "write through ${CTRL}n1" dd if=/root/pat of="${CTRL}n1" bs=64k count=16 oflag=direct
R=$(dd if="${CTRL}n1" bs=64k count=16 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
check "read back md5" test "$(md5sum /root/pat | cut -d' ' -f1)" = "$R"
check "nvme disconnect" sh -c "nvme disconnect -n $NVME_TCP_NQN | grep -q 'disconnected 1'"
summary
