# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh source=../harness/guest/lib.sh
# Guest side of nvmf_tcp_basic.sh: the kernel nvme-tcp initiator against usk_tgt, three connect
# variants (plain, header+data digests, 2 I/O queues) and optionally a second subsystem (aio).
# Env: NVME_TCP_TRADDR/_TRSVCID/_NQN (guest-run.sh), NVMF_MB (8), NVMF_NQN2 (aio subsystem).
. /harness/lib.sh
MB=${NVMF_MB:-8}

# run_case LABEL NQN OPTS SEEK_MIB [EXPECTED_QUEUE_COUNT]
run_case() {
	if nvmf_connect "$NVME_TCP_TRADDR" "$NVME_TCP_TRSVCID" "$2" "$3"; then
		pass "[$1] connect"
	else
		fail "[$1] connect: $NVMF_ERR"
		dmesg | grep -i nvme | tail -5
		return
	fi
	C=/sys/class/nvme/nvme$NVMF_INSTANCE
	echo "[$1] model='$(cat "$C/model")' serial='$(cat "$C/serial")' queue_count=$(cat "$C/queue_count") state=$(cat "$C/state")"
	wait_for "/dev/nvme${NVMF_INSTANCE}n1" 10
	DEV=$(nvmf_ns_dev "$NVMF_INSTANCE")
	check "[$1] namespace block device $DEV" test -b "$DEV"
	if [ -n "$5" ]; then
		check "[$1] queue_count is $5" test "$(cat "$C/queue_count")" = "$5"
	fi
	dd if=/dev/urandom of=/root/pat bs=1M count="$MB" 2>/dev/null
	P=$(md5sum /root/pat | cut -d' ' -f1)
	check "[$1] write $MB MiB with O_DIRECT" dd if=/root/pat of="$DEV" bs=1M seek="$4" count="$MB" oflag=direct conv=fsync
	echo 3 > /proc/sys/vm/drop_caches
	R=$(dd if="$DEV" bs=1M skip="$4" count="$MB" iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
	check "[$1] read back, md5 matches ($P)" test "$P" = "$R"
	# small unaligned-to-MiB I/O: 4 KiB writes go in-capsule, 128 KiB ones through R2T
	dd if=/dev/urandom of=/root/small bs=4k count=33 2>/dev/null
	check "[$1] 4 KiB direct writes" dd if=/root/small of="$DEV" bs=4k seek=$((($4 + MB) * 256 + 3)) count=33 oflag=direct
	R=$(dd if="$DEV" bs=4k skip=$((($4 + MB) * 256 + 3)) count=33 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
	check "[$1] 4 KiB direct reads match" test "$(md5sum /root/small | cut -d' ' -f1)" = "$R"
	echo "PATTERN_MD5 $1 $4 $P"
	echo 1 > "$C/delete_controller"
	sleep 0.3
	check "[$1] disconnected" test ! -e "$C"
}

run_case plain "$NVME_TCP_NQN" "" 16
run_case digests "$NVME_TCP_NQN" "hdr_digest,data_digest" 32
run_case ioq2 "$NVME_TCP_NQN" "nr_io_queues=2" 48 3
if [ -n "$NVMF_NQN2" ]; then
	run_case aio "$NVMF_NQN2" "hdr_digest" 1
fi
summary
