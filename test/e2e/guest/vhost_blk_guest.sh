# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh source=../harness/guest/lib.sh
# Guest side of vhost_blk.sh: the guest's virtio_blk driver on vhost-user-blk-pci disks served by
# usk_tgt. VHOST_DISKS="dev:label:queues:checks ..." (checks: a comma list of "discard",
# "zeroes"); each disk gets an 8 MiB random pattern written with O_DIRECT and read back (md5).
# Env: VHOST_MB (8), VHOST_SEEK_MIB (1).
. /harness/lib.sh
MB=${VHOST_MB:-8}
SEEK=${VHOST_SEEK_MIB:-1}
UBLKDISCARD=/harness/bin/blkdiscard	# util-linux (has -z); busybox's has not

for spec in $VHOST_DISKS; do
	IFS=: read -r dev label queues checks <<EOF2
$spec
EOF2
	DEV=/dev/$dev
	wait_for "$DEV" 10
	check "[$label] $DEV present" test -b "$DEV"
	[ -b "$DEV" ] || continue
	# shellcheck disable=SC2012 # sysfs queue names are plain numbers
	nq=$(ls "/sys/block/$dev/mq" | wc -l)
	echo "[$label] size=$(cat /sys/block/"$dev"/size) sectors queues=$nq ro=$(cat /sys/block/"$dev"/ro)" \
		"discard_max=$(cat /sys/block/"$dev"/queue/discard_max_bytes)" \
		"wz_max=$(cat /sys/block/"$dev"/queue/write_zeroes_max_bytes)"
	check "[$label] $queues queue(s)" test "$nq" = "$queues"
	case ",$checks," in *,ro,*)
		check "[$label] read-only device" test "$(cat /sys/block/"$dev"/ro)" = 1
		if dd if=/dev/zero of="$DEV" bs=4k count=1 oflag=direct 2>/dev/null; then
			fail "[$label] a write to the read-only disk succeeded"
		else
			pass "[$label] write to the read-only disk refused"
		fi
		check "[$label] reads work" dd if="$DEV" of=/dev/null bs=1M count=4 iflag=direct
		continue
	;; esac
	dd if=/dev/urandom of=/root/pat bs=1M count="$MB" 2>/dev/null
	P=$(md5sum /root/pat | cut -d' ' -f1)
	check "[$label] write $MB MiB O_DIRECT" dd if=/root/pat of="$DEV" bs=1M seek="$SEEK" count="$MB" oflag=direct conv=fsync
	echo 3 > /proc/sys/vm/drop_caches
	R=$(dd if="$DEV" bs=1M skip="$SEEK" count="$MB" iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
	check "[$label] read back, md5 matches ($P)" test "$P" = "$R"
	# many small direct I/Os in flight: 4 KiB writes from two writers at once, then read back
	dd if=/dev/urandom of=/root/small bs=4k count=64 2>/dev/null
	S=$(( (SEEK + MB) * 256 + 8 ))
	dd if=/root/small of="$DEV" bs=4k seek=$S count=32 oflag=direct 2>/dev/null &
	dd if=/root/small of="$DEV" bs=4k skip=32 seek=$((S + 32)) count=32 oflag=direct 2>/dev/null
	wait
	R=$(dd if="$DEV" bs=4k skip=$S count=64 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
	check "[$label] 4 KiB direct writes read back" test "$(md5sum /root/small | cut -d' ' -f1)" = "$R"
	echo "PATTERN_MD5 $label $SEEK $P"
	case ",$checks," in *,discard,*)
		check "[$label] discard advertised" test "$(cat /sys/block/"$dev"/queue/discard_max_bytes)" -gt 0
		check "[$label] blkdiscard 1 MiB" blkdiscard -o "$(( (SEEK + MB + 4) * 1048576 ))" -l 1048576 "$DEV"
	;; esac
	case ",$checks," in *,zeroes,*)
		check "[$label] write zeroes advertised" test "$(cat /sys/block/"$dev"/queue/write_zeroes_max_bytes)" -gt 0
		# zero the second MiB of the pattern
		check "[$label] blkdiscard -z 1 MiB" "$UBLKDISCARD" -z -o $(( (SEEK + 1) * 1048576 )) -l 1048576 "$DEV"
		Z=$(dd if="$DEV" bs=1M skip=$((SEEK + 1)) count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
		check "[$label] zeroed MiB reads as zeroes" test "$Z" = "$(dd if=/dev/zero bs=1M count=1 2>/dev/null | md5sum | cut -d' ' -f1)"
		F=$(dd if="$DEV" bs=1M skip="$SEEK" count="$MB" iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
		echo "FINAL_MD5 $label $SEEK $F"
	;; esac
done
summary
