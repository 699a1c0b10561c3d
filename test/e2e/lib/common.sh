# SPDX-License-Identifier: BSD-3-Clause
# Shared start of the bdev / framework e2e scripts (sourced, not run): build dir, temp dir,
# cleanup trap, fail(), starting and stopping usk_tgt, the usk_rpc wrapper, background runs.
# Usage, right after `set -u`:
#   . "$(dirname "$0")/lib/common.sh"
#   e2e_init <name>          # TMP, SOCK=/tmp/usk-e2e-<name>-$$.sock, PID, trap EXIT
# The runner only runs test/e2e/*.sh, so this file is never run as a test itself.

BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
TGT=$BUILD_DIR/app/usk_tgt/usk_tgt
RPC=$BUILD_DIR/app/usk_rpc/usk_rpc
PID=

e2e_cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$TMP"
	rm -f "$SOCK"
}

# e2e_init NAME: a fresh temp dir, a unique RPC socket path, cleanup of both and of $PID on exit.
e2e_init() {
	SOCK=/tmp/usk-e2e-$1-$$.sock
	TMP=$(mktemp -d "/tmp/usk-e2e-$1-XXXXXX")
	trap e2e_cleanup EXIT
}

# Lines of $TMP/out.log that fail() shows.
E2E_LOG_TAIL=30

# fail MESSAGE: print it and the logs there are (last usk_rpc stderr, usk_tgt log, tool output)
# and exit 1.
fail() {
	echo "FAIL: $*" >&2
	if [ -f "$TMP/err" ]; then
		echo "--- last usk_rpc stderr ---" >&2
		cat "$TMP/err" >&2
	fi
	if [ -f "$TMP/tgt.log" ]; then
		echo "--- usk_tgt log ---" >&2
		tail -30 "$TMP/tgt.log" >&2
	fi
	[ -f "$TMP/out.log" ] && tail -"$E2E_LOG_TAIL" "$TMP/out.log" >&2
	exit 1
}

# e2e_require FILE...: each must be a built executable.
e2e_require() {
	local b

	for b in "$@"; do
		[ -x "$b" ] || fail "$b not built"
	done
}

e2e_require_python() {
	command -v python3 >/dev/null || fail "python3 missing"
}

# e2e_start_tgt MASK [usk_tgt args...]: start usk_tgt in the background (log $TMP/tgt.log) and
# wait up to 10 s for its RPC socket.
e2e_start_tgt() {
	local mask=$1

	shift
	rm -f "$SOCK"
	"$TGT" -m "$mask" -r "$SOCK" "$@" >"$TMP/tgt.log" 2>&1 &
	PID=$!
	for _ in $(seq 1 100); do
		[ -S "$SOCK" ] && return 0
		kill -0 "$PID" 2>/dev/null || fail "usk_tgt exited during start-up"
		sleep 0.1
	done
	fail "RPC socket $SOCK did not appear within 10 s"
}

# e2e_stop_tgt [SIG]: signal usk_tgt (default TERM); it must exit 0 within 10 s and remove its
# socket.
e2e_stop_tgt() {
	local sig=${1:-TERM} rc

	kill -"$sig" "$PID" || fail "cannot signal usk_tgt"
	for _ in $(seq 1 100); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$PID" 2>/dev/null && fail "usk_tgt did not exit within 10 s of SIG$sig"
	wait "$PID"
	rc=$?
	PID=
	[ "$rc" -eq 0 ] || fail "usk_tgt exit code $rc after SIG$sig (expected 0)"
	[ -e "$SOCK" ] && fail "socket file $SOCK left behind after SIG$sig"
	return 0
}

# e2e_rpc METHOD [key=value...]: usk_rpc on $SOCK, bounded in time.
e2e_rpc() {
	timeout -k 2 20 "$RPC" -s "$SOCK" -t 10 "$@"
}

# e2e_run CMD...: run CMD in the background (so cleanup can kill it) with its output in
# $TMP/out.log; returns its exit code. Bound it with `timeout` in CMD.
e2e_run() {
	local rc

	"$@" >"$TMP/out.log" 2>&1 &
	PID=$!
	wait "$PID"
	rc=$?
	PID=
	return $rc
}
