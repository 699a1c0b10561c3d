#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Flush and FUA reach stable storage on aio and uring bdevs, and no sync runs on a reactor.
#
# The syncs that reach the backing file are counted with the ext4:ext4_sync_file_enter
# tracepoint (lib/sync_trace.sh says how and why; the test skips without tracefs and ext4),
# which also names the thread of each sync: the reactor is the usk_bdevperf main thread, and
# never may sync. The sync-thread path (aio when the kernel refuses IOCB_CMD_FDSYNC) is forced
# with an LD_PRELOAD shim (lib/aio_no_fdsync.c) and checked with strace -f as well: every
# fdatasync must come from another thread than the reactor's.
#
# Expected counts, per bdevperf job (one channel):
#   FUA writes at depth 1: syncs == FUA writes (the bdev layer follows each with a flush)
#   writes with a flush every 3, depth 8: ceil(flushes / 8) <= syncs <= flushes (coalesced:
#     a sync serves every flush submitted before it started, at most the 8 in flight)
#   plain writes: no sync at all
# (FUA at depth 1 is run in interrupt mode too.)
set -u

. "$(dirname "$0")/lib/common.sh"
e2e_init bdev_durability
PERF=$BUILD_DIR/app/usk_bdevperf/usk_bdevperf
e2e_require "$PERF"
. "$(dirname "$0")/lib/sync_trace.sh"
sync_trace_init
DATA=$SYNC_DATA

write_cfg() { # module name file
	cat >"$TMP/$2.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_$1_create","params":{"name":"$2","filename":"$3","block_size":4096}}
]}]}
JSON
}

# perf NAME [usk_bdevperf args]: one run on bdev NAME, must exit 0 within 60 s (e2e_run fails a
# timeout, a signal and a sanitizer report); sets FLUSHES and FUAS from its report (each must be
# there).
perf() {
	local name=$1 rc

	shift
	e2e_run timeout -k 5 60 "${PREFIX[@]}" "$PERF" -m 0x1 --json "$TMP/$name.json" -o 4096 -t 2 "$@"
	rc=$?
	[ $rc -eq 0 ] || fail "usk_bdevperf $* on $name exited with $rc"
	FLUSHES=$(sed -nE "s/^[[:space:]]+${name}[[:space:]]+: flushes ([0-9]+), FUA writes ([0-9]+)$/\1/p" "$TMP/out.log")
	FUAS=$(sed -nE "s/^[[:space:]]+${name}[[:space:]]+: flushes ([0-9]+), FUA writes ([0-9]+)$/\2/p" "$TMP/out.log")
	# The line is there for --fua and flushing runs only; the callers require the count they need.
	FLUSHES=${FLUSHES:-0}
	FUAS=${FUAS:-0}
}

PREFIX=()
for mod in aio uring; do
	f=$DATA/$mod.img
	truncate -s 64M "$f"
	write_cfg "$mod" D0 "$f"

	sync_trace_start "$f"
	perf D0 -q 1 -w write --fua
	sync_trace_stop
	syncs=$(sync_trace_count)
	[ "$FUAS" -gt 0 ] || fail "$mod: no FUA write completed"
	[ "$syncs" -eq "$FUAS" ] || fail "$mod: $FUAS FUA writes at depth 1 but $syncs syncs reached the file"
	sync_trace_check_threads "$mod FUA"
	echo "ok: $mod: $FUAS FUA writes, $syncs syncs of the file, none on the reactor"

	sync_trace_start "$f"
	perf D0 -q 8 -w randwrite --flush-every 3
	sync_trace_stop
	syncs=$(sync_trace_count)
	[ "$FLUSHES" -gt 0 ] || fail "$mod: no flush completed"
	[ "$syncs" -le "$FLUSHES" ] || fail "$mod: $syncs syncs for $FLUSHES flushes (more than one each)"
	[ "$syncs" -ge $(((FLUSHES + 7) / 8)) ] ||
		fail "$mod: $syncs syncs cannot cover $FLUSHES flushes at depth 8 (a flush completed without its own sync)"
	sync_trace_check_threads "$mod flush"
	echo "ok: $mod: $FLUSHES flushes at depth 8 took $syncs syncs, none on the reactor"

	# Interrupt mode: the reactor sleeps, the completion of the sync wakes it.
	sync_trace_start "$f"
	perf D0 --interrupt-mode -q 1 -w write --fua
	sync_trace_stop
	syncs=$(sync_trace_count)
	if [ "$FUAS" -eq 0 ] || [ "$syncs" -ne "$FUAS" ]; then
		fail "$mod interrupt mode: $FUAS FUA writes at depth 1 but $syncs syncs"
	fi
	sync_trace_check_threads "$mod FUA interrupt mode"
	echo "ok: $mod interrupt mode: $FUAS FUA writes, $syncs syncs"

	sync_trace_start "$f"
	perf D0 -q 4 -w write
	sync_trace_stop
	syncs=$(sync_trace_count)
	[ "$syncs" -eq 0 ] || fail "$mod: $syncs syncs without any flush or FUA write"
	echo "ok: $mod: plain writes cause no sync"
done

# ---- aio with the kernel refusing IOCB_CMD_FDSYNC: the sync thread, seen by strace
command -v strace >/dev/null || fail "strace missing (scripts/deps.sh test installs it)"
command -v cc >/dev/null || fail "no C compiler for the LD_PRELOAD shim"
cc -shared -fPIC -O2 -o "$TMP/aio_no_fdsync.so" "$(dirname "$0")/lib/aio_no_fdsync.c" -ldl ||
	fail "cannot build the shim"
f=$DATA/aio.img
write_cfg aio D0 "$f"
# LeakSanitizer stops the world with ptrace, which strace already holds: leaks are checked
# by the runs above.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0:detect_leaks=0"
for args in "-q 1 -w write --fua" "-q 8 -w randwrite --flush-every 3"; do
	PREFIX=(env LD_PRELOAD="$TMP/aio_no_fdsync.so" strace -f -qq -o "$TMP/strace.log"
		-e "trace=execve,fdatasync,fsync")
	sync_trace_start "$f"
	# shellcheck disable=SC2086 # args is a list of options
	perf D0 $args
	sync_trace_stop
	PREFIX=()
	grep -q "syncs run on a helper thread" "$TMP/out.log" ||
		fail "aio did not fall back to the sync thread ($args)"
	main=$(awk '/execve\(/ {print $1; exit}' "$TMP/strace.log")
	[ -n "$main" ] || fail "aio sync thread ($args): strace log names no main thread"
	calls=$(grep -cE '^[0-9]+ +f(data)?sync\(' "$TMP/strace.log")
	on_reactor=$(grep -cE "^$main +f(data)?sync\(" "$TMP/strace.log")
	syncs=$(sync_trace_count)
	[ "$on_reactor" -eq 0 ] || fail "aio sync thread ($args): $on_reactor fdatasync calls on the reactor thread $main"
	[ "$calls" -eq "$syncs" ] || fail "aio sync thread ($args): strace saw $calls syncs, the tracepoint $syncs"
	if [ "$FUAS" -gt 0 ]; then
		[ "$syncs" -eq "$FUAS" ] || fail "aio sync thread: $FUAS FUA writes at depth 1, $syncs syncs"
	else
		if [ "$FLUSHES" -eq 0 ] || [ "$syncs" -lt 1 ] || [ "$syncs" -gt "$FLUSHES" ]; then
			fail "aio sync thread: $syncs syncs for $FLUSHES flushes"
		fi
	fi
	bad=$(grep 'ext4_sync_file_enter:' "$TMP/trace.txt" | awk '{print $1}' | grep -vc '^usk_fsync-')
	[ "$bad" -eq 0 ] || fail "aio sync thread ($args): $bad syncs not on the usk_fsync thread"
	echo "ok: aio sync thread ($args): $calls fdatasync calls (FUA $FUAS, flushes $FLUSHES), none by reactor $main"
done
echo "PASS: flushes and FUA writes sync the file, coalesced, never on the reactor"
exit 0
