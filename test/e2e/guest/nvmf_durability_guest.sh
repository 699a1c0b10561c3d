# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh source=../harness/guest/lib.sh
# Guest side of nvmf_durability.sh: the Linux initiator sees a volatile write cache with FUA,
# then nvme-cli sends NVMF_FLUSHES Flush commands, NVMF_FUAS writes with FUA and NVMF_PLAIN
# plain writes, one at a time; the host counts the syncs that reached the backing file.
# Env: NVME_TCP_TRADDR/_TRSVCID/_NQN, NVMF_FLUSHES, NVMF_FUAS, NVMF_PLAIN.
. /harness/lib.sh
mkdir -p /etc/nvme
echo "nqn.2014-08.org.nvmexpress:uuid:1d2e3f40-5162-4738-8495-a6b7c8d9e0f1" > /etc/nvme/hostnqn
echo "1d2e3f40-5162-4738-8495-a6b7c8d9e0f1" > /etc/nvme/hostid
[ -e /dev/nvme-fabrics ] || modprobe nvme-tcp
check "nvme connect" nvme connect -t tcp -a "$NVME_TCP_TRADDR" -s "$NVME_TCP_TRSVCID" -n "$NVME_TCP_NQN"
CTRL=
for c in /sys/class/nvme/nvme*; do
	[ -e "$c/subsysnqn" ] && [ "$(cat "$c/subsysnqn")" = "$NVME_TCP_NQN" ] && CTRL=/dev/${c##*/}
done
check "controller device found" test -n "$CTRL"
NS=${CTRL}n1
wait_for "$NS" 10
BLK=/sys/block/${NS##*/}/queue
nvme id-ctrl "$CTRL" | grep -E "^vwc "
check "id-ctrl reports a volatile write cache" sh -c "nvme id-ctrl $CTRL | grep -Eq '^vwc +: 0x[0-9a-f]*[13579bdf]\$'"
echo "write_cache: $(cat "$BLK/write_cache"), fua: $(cat "$BLK/fua")"
check "the kernel treats it as write back" grep -q "write back" "$BLK/write_cache"
check "the kernel sends FUA" test "$(cat "$BLK/fua")" = 1
dd if=/dev/urandom of=/root/blk bs=512 count=1 2>/dev/null
ok=0
i=0
while [ $i -lt "$NVMF_FLUSHES" ]; do
	nvme flush "$NS" --namespace-id=1 >/dev/null 2>&1 && ok=$((ok + 1))
	i=$((i + 1))
done
check "$NVMF_FLUSHES flushes succeeded" test $ok -eq "$NVMF_FLUSHES"
ok=0
i=0
while [ $i -lt "$NVMF_FUAS" ]; do
	nvme write "$NS" --start-block=$((100 + i)) --block-count=0 --data-size=512 --data=/root/blk \
		--force-unit-access >/dev/null 2>&1 && ok=$((ok + 1))
	i=$((i + 1))
done
check "$NVMF_FUAS FUA writes succeeded" test $ok -eq "$NVMF_FUAS"
ok=0
i=0
while [ $i -lt "$NVMF_PLAIN" ]; do
	nvme write "$NS" --start-block=$((200 + i)) --block-count=0 --data-size=512 --data=/root/blk \
		>/dev/null 2>&1 && ok=$((ok + 1))
	i=$((i + 1))
done
check "$NVMF_PLAIN plain writes succeeded" test $ok -eq "$NVMF_PLAIN"
nvme read "$NS" --start-block=100 --block-count=0 --data-size=512 --data=/root/back >/dev/null 2>&1
check "a FUA write reads back" cmp -s /root/blk /root/back
check "nvme disconnect" sh -c "nvme disconnect -n $NVME_TCP_NQN | grep -q 'disconnected 1'"
summary
