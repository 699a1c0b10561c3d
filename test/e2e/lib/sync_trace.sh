# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# Counting the syncs that reach one file (sourced by bdev_durability.sh and nvmf_durability.sh,
# after the script's common.sh, whose fail() and $TMP it uses).
#
# With io_uring (IORING_OP_FSYNC) and Linux AIO (IOCB_CMD_FDSYNC) the kernel runs the sync in
# its own threads (io-wq, a kworker), so strace of the process sees none of them. The ext4
# tracepoint ext4:ext4_sync_file_enter fires once per fsync/fdatasync of a file, in the context
# of the thread that does it: in a tracefs instance of our own, filtered on the backing file's
# device and inode, it counts the syncs of that file and names the thread of each. The file
# must then be on ext4: $TMP when it is, else a loop-mounted ext4 image. When neither tracefs
# with ext4 events nor ext4 is available the test skips (77).
#   sync_trace_init            sets SYNC_DATA (an ext4 directory), or exits 77; registers
#                              sync_trace_cleanup with e2e_on_exit (no EXIT trap of its own)
#   sync_trace_start FILE      count the syncs of FILE from now on
#   sync_trace_stop            stop; fails if events were lost
#   sync_trace_count           syncs seen
#   sync_trace_check_threads WHAT   fail unless every sync ran on a kernel thread (kworker,
#                              io-wq) or usk's sync thread, never on a reactor
SYNC_TR=/sys/kernel/tracing
SYNC_INST=$SYNC_TR/instances/usk-e2e-sync-$$
SYNC_EV=$SYNC_INST/events/ext4/ext4_sync_file_enter
SYNC_MNT=

sync_trace_cleanup() {
	if [ -d "$SYNC_INST" ]; then
		echo 0 >"$SYNC_EV/enable" 2>/dev/null
		rmdir "$SYNC_INST" 2>/dev/null
	fi
	[ -n "$SYNC_MNT" ] && umount "$SYNC_MNT" 2>/dev/null
	SYNC_MNT=
}

sync_trace_skip() {
	echo "SKIP: $*"
	sync_trace_cleanup
	exit 77
}

sync_trace_init() {
	# Undone by common.sh's EXIT trap, after the usk processes are stopped.
	e2e_on_exit sync_trace_cleanup
	[ -d "$SYNC_TR/events" ] || mount -t tracefs nodev "$SYNC_TR" 2>/dev/null
	[ -d "$SYNC_TR/events/ext4/ext4_sync_file_enter" ] ||
		sync_trace_skip "no tracefs with ext4 events at $SYNC_TR"
	mkdir "$SYNC_INST" 2>/dev/null || sync_trace_skip "cannot create a tracefs instance (not root?)"
	echo 16384 >"$SYNC_INST/buffer_size_kb" || fail "cannot size the trace buffer"
	# shellcheck disable=SC2034 # read by the sourcing test
	SYNC_DATA=$TMP
	if [ "$(stat -f -c %T "$TMP")" != "ext2/ext3" ]; then
		command -v mkfs.ext4 >/dev/null || sync_trace_skip "$TMP is not ext4 and mkfs.ext4 is missing"
		truncate -s 128M "$TMP/fs.img"
		mkfs.ext4 -q -F "$TMP/fs.img" >/dev/null 2>&1 || sync_trace_skip "mkfs.ext4 failed"
		mkdir "$TMP/mnt"
		mount -o loop "$TMP/fs.img" "$TMP/mnt" 2>/dev/null ||
			sync_trace_skip "$TMP is $(stat -f -c %T "$TMP"), and a loop mount of ext4 failed"
		SYNC_MNT=$TMP/mnt
		# shellcheck disable=SC2034 # read by the sourcing test
		SYNC_DATA=$SYNC_MNT
	fi
}

sync_trace_start() {
	local d ino maj min

	d=$(stat -c %d "$1")
	ino=$(stat -c %i "$1")
	# stat's st_dev is the user-space encoding; the event's dev is the kernel's (major << 20).
	maj=$(((d >> 8) & 0xfff))
	min=$(((d & 0xff) | ((d >> 12) & 0xfff00)))
	echo "dev == $(((maj << 20) | min)) && ino == $ino" >"$SYNC_EV/filter" || fail "filter refused"
	echo >"$SYNC_INST/trace"
	echo 1 >"$SYNC_EV/enable" || fail "cannot enable $SYNC_EV"
}

sync_trace_stop() {
	echo 0 >"$SYNC_EV/enable"
	cp "$SYNC_INST/trace" "$TMP/trace.txt"
	if grep -qE '^overrun: [1-9]' "$SYNC_INST"/per_cpu/cpu*/stats; then
		fail "trace buffer overran: the sync count would be wrong"
	fi
}

sync_trace_count() {
	grep -c 'ext4_sync_file_enter:' "$TMP/trace.txt"
}

sync_trace_check_threads() {
	local bad

	bad=$(grep 'ext4_sync_file_enter:' "$TMP/trace.txt" | awk '{print $1}' |
		grep -vE '^(kworker/[^ ]*|iou-wrk-[0-9]+|usk_fsync)-[0-9]+$' | sort | uniq -c)
	[ -z "$bad" ] || fail "$1: syncs ran on these threads (a reactor must never sync): $bad"
}
