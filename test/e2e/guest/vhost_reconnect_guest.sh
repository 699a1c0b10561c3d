# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh source=../harness/guest/lib.sh
# Guest side of vhost_reconnect.sh: write a first pattern, announce PHASE1-DONE, then write a
# second pattern while the host kills and restarts usk_tgt; both must read back intact.
. /harness/lib.sh
DEV=/dev/vda
wait_for "$DEV" 10
dd if=/dev/urandom of=/root/a bs=1M count=4 2>/dev/null
dd if=/dev/urandom of=/root/b bs=1M count=24 2>/dev/null
A=$(md5sum /root/a | cut -d' ' -f1)
B=$(md5sum /root/b | cut -d' ' -f1)
check "pattern A written" dd if=/root/a of="$DEV" bs=1M seek=1 count=4 oflag=direct conv=fsync
echo "PHASE1-DONE"
T0=$(now_ms)
# four writers of 6 MiB each, so that several requests are in flight when the back-end dies
PIDS=
for i in 0 1 2 3; do
	dd if=/root/b of="$DEV" bs=64k skip=$((i * 96)) seek=$((128 + i * 96)) count=96 oflag=direct 2>/dev/null &
	PIDS="$PIDS $!"
done
RCS=0
for p in $PIDS; do
	wait "$p" || RCS=$((RCS + 1))
done
check "pattern B written across the back-end restart (4 writers)" test "$RCS" = 0
echo "pattern B took $(( $(now_ms) - T0 )) ms"
echo 3 > /proc/sys/vm/drop_caches
RA=$(dd if="$DEV" bs=1M skip=1 count=4 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
RB=$(dd if="$DEV" bs=1M skip=8 count=24 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
check "pattern A intact ($A)" test "$A" = "$RA"
check "pattern B intact ($B)" test "$B" = "$RB"
echo "PATTERN_B_MD5 $B"
summary
