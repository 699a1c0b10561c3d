# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
# The one helper library of the e2e tests (test/e2e/*.sh source it; the runner never runs it).
# Two ways to start, both give TMP (a fresh temp dir), SOCK (a unique RPC socket path) and an EXIT
# trap that cleans up:
#   NAME=my_test; . "$(dirname "$0")/lib/common.sh"      # init at once (the nvmf tests' way)
#   . "$(dirname "$0")/lib/common.sh"; e2e_init my_test   # init later (the bdev tests' way)
#
# Every usk process a test starts must end the way it should, and only this file decides that:
#   - stop_tgt / e2e_stop_tgt [SIG]: SIGTERM (or the SIG given, e.g. INT) to usk_tgt; it must exit
#     with status 0 within E2E_STOP_TIMEOUT (30) s and remove its RPC socket, else the test fails
#     (and only then is usk_tgt SIGKILLed);
#   - e2e_run CMD...: a usk tool run to completion (hello_bdev, usk_bdevperf, a usk_tgt that must
#     refuse to start): a timeout (124/137) or a death by signal fails the test; other statuses
#     are returned for the caller to check;
#   - a log with a sanitizer report (E2E_SANITIZER_RE: ASan error, LeakSanitizer, UBSan runtime
#     error) fails the test, whatever the exit status;
#   - usk_tgt still running when a passing test exits is stopped the same checked way.
# Other background processes (clients, QEMU) go in BG_PIDS and are SIGKILLed on exit. A test
# with more to undo on exit (a mount, a tracefs instance, a daemon of its own) registers it with
# e2e_on_exit instead of setting its own EXIT trap: a trap of its own would run before
# e2e_cleanup and hide the test's exit status from it.
#
# Functions: e2e_init fail pass e2e_require e2e_require_python skip_unless_ready skip_unless_guest
# start_tgt e2e_start_tgt stop_tgt e2e_stop_tgt tgt_wait_exit tgt_alive e2e_stop_pid e2e_reap
# e2e_check_log rpc e2e_rpc e2e_run free_port tcp_config malloc_aio_config run_guest.

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT_DIR=$(cd "$E2E_DIR/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT_DIR/build}
TGT=$BUILD_DIR/app/usk_tgt/usk_tgt
RPC=$BUILD_DIR/app/usk_rpc/usk_rpc
# shellcheck disable=SC2034 # the names the nvmf tests use
{
	RPC_BIN=$RPC
	CLIENT=$E2E_DIR/nvmf_lib/nvmf_tcp_client.py
}
HARNESS=$E2E_DIR/harness
NQN=nqn.2016-06.io.spdk:cnode1
MALLOC_BDEV='{"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 262144, "block_size": 512}}'
# Seconds a usk process has to exit after SIGTERM/SIGINT (or after spdk_kill_instance).
E2E_STOP_TIMEOUT=${E2E_STOP_TIMEOUT:-30}
# Seconds usk_tgt has to answer on its RPC socket after start.
E2E_START_TIMEOUT=${E2E_START_TIMEOUT:-60}
E2E_SANITIZER_RE='ERROR: AddressSanitizer|LeakSanitizer|runtime error:'
# Lines of $TMP/out.log that fail() shows.
E2E_LOG_TAIL=${E2E_LOG_TAIL:-30}
TMP=
SOCK=
TGT_PID=
PID=
BG_PIDS=()
E2E_EXIT_HOOKS=()

# e2e_on_exit CMD: run CMD (a string for eval) in the EXIT cleanup, after the usk processes are
# stopped (nothing holds a file in a mount any more) and before TMP is removed.
e2e_on_exit() { E2E_EXIT_HOOKS+=("$1"); }

# e2e_init NAME: a fresh temp dir, a unique RPC socket path, cleanup of both on exit.
e2e_init() {
	SOCK=/tmp/usk-e2e-$1-$$.sock
	TMP=$(mktemp -d "/tmp/usk-e2e-$1-XXXXXX") || { echo "FAIL: mktemp" >&2; exit 1; }
	trap e2e_cleanup EXIT
}

# EXIT trap: a passing test that left usk_tgt running gets it stopped (checked, may turn the
# result into a failure); a failing one gets it SIGKILLed. Background helpers are SIGKILLed.
e2e_cleanup() {
	local rc=$? p h

	for p in "${BG_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$TGT_PID" ] && [ "$rc" -eq 0 ]; then
		echo "usk_tgt still running at the end of the test: stopping it with SIGTERM" >&2
		if ! e2e_stop_pid "$TGT_PID" "$TMP/tgt.log" usk_tgt TERM; then
			echo "FAIL: usk_tgt did not stop cleanly at the end of the test" >&2
			tail -40 "$TMP/tgt.log" >&2
			rc=1
		fi
		TGT_PID=
	fi
	for p in "$TGT_PID" "$PID"; do
		[ -n "$p" ] || continue
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	# After every process is gone (nothing holds files in a mount), before TMP goes.
	for h in "${E2E_EXIT_HOOKS[@]}"; do
		eval "$h"
	done
	[ -n "$TMP" ] && [ -z "${KEEP_TMP:-}" ] && rm -rf "$TMP"
	[ -n "$SOCK" ] && rm -f "$SOCK"
	exit "$rc"
}

# fail MESSAGE: print it and the logs there are (last usk_rpc stderr, usk_tgt log, tool output)
# and exit 1.
fail() {
	echo "FAIL: $*" >&2
	if [ -s "$TMP/err" ]; then
		echo "--- last usk_rpc stderr ---" >&2
		cat "$TMP/err" >&2
	fi
	if [ -f "$TMP/tgt.log" ]; then
		echo "--- usk_tgt log (tail) ---" >&2
		tail -40 "$TMP/tgt.log" >&2
	fi
	if [ -f "$TMP/out.log" ]; then
		echo "--- last tool output (tail) ---" >&2
		tail -"$E2E_LOG_TAIL" "$TMP/out.log" >&2
	fi
	exit 1
}
pass() { echo "PASS: $*"; }

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

skip_unless_ready() {
	e2e_require "$TGT" "$RPC"
	e2e_require_python
}

# Exit 77 (skip) when the QEMU guest cannot run; scripts/test.sh counts a skip as a failure in CI.
skip_unless_guest() {
	local gd=${GUEST_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/usk-guest}
	if [ ! -f "$gd/vmlinuz" ] || [ ! -f "$gd/initramfs.cpio.gz" ]; then
		echo "SKIP: guest kernel not built (run test/e2e/harness/build-guest.sh)"
		exit 77
	fi
	command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 missing"; exit 77; }
}

# e2e_check_log LOG WHAT: fail if LOG holds a sanitizer report.
e2e_check_log() {
	local hits

	[ -f "$1" ] || return 0
	hits=$(grep -E -m 5 "$E2E_SANITIZER_RE" "$1") || return 0
	echo "--- sanitizer report in $2's log ---" >&2
	grep -E -A 30 -m 1 "$E2E_SANITIZER_RE" "$1" >&2
	fail "$2 reported: $(echo "$hits" | head -1)"
}

# e2e_reap PID LOG WHAT WHY: wait up to E2E_STOP_TIMEOUT s for PID to exit (WHY: what should make
# it exit, for the message); it must exit with status 0 and LOG must hold no sanitizer report.
# Returns 0, or prints the reason and returns 1 (a process still running is SIGKILLed first).
e2e_reap() {
	local pid=$1 log=$2 what=$3 why=$4 rc deadline

	deadline=$((SECONDS + E2E_STOP_TIMEOUT))
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "$what (pid $pid) did not exit within $E2E_STOP_TIMEOUT s of $why: SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			return 1
		fi
		sleep 0.1
	done
	wait "$pid"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		if [ "$rc" -gt 128 ]; then
			echo "$what (pid $pid) was killed by signal $((rc - 128)) after $why" >&2
		else
			echo "$what (pid $pid) exited with status $rc after $why (expected 0)" >&2
		fi
		return 1
	fi
	if grep -q -E "$E2E_SANITIZER_RE" "$log" 2>/dev/null; then
		echo "$what (pid $pid) log $log holds a sanitizer report:" >&2
		grep -E -A 30 -m 1 "$E2E_SANITIZER_RE" "$log" >&2
		return 1
	fi
	return 0
}

# e2e_stop_pid PID LOG WHAT [SIG]: send SIG (default TERM) and e2e_reap. Returns 0 or 1.
e2e_stop_pid() {
	local pid=$1 log=$2 what=$3 sig=${4:-TERM}

	if ! kill -"$sig" "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null
		echo "$what (pid $pid) was gone before SIG$sig (exit status $?)" >&2
		return 1
	fi
	e2e_reap "$pid" "$log" "$what" "SIG$sig"
}

# e2e_launch_tgt ARGS...: usk_tgt -r $SOCK ARGS in the background (log $TMP/tgt.log); wait until
# it answers rpc_get_methods (at most E2E_START_TIMEOUT s).
e2e_launch_tgt() {
	local deadline

	[ -z "$TGT_PID" ] || fail "usk_tgt (pid $TGT_PID) already running"
	rm -f "$SOCK"
	"$TGT" -r "$SOCK" "$@" >"$TMP/tgt.log" 2>&1 &
	TGT_PID=$!
	PID=$TGT_PID
	deadline=$((SECONDS + E2E_START_TIMEOUT))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if [ -S "$SOCK" ] && "$RPC" -s "$SOCK" -t 5 rpc_get_methods >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$TGT_PID" 2>/dev/null || fail "usk_tgt exited during start-up"
		sleep 0.1
	done
	fail "usk_tgt did not answer on $SOCK within $E2E_START_TIMEOUT s"
}

# start_tgt CONFIG.json [usk_tgt args...]: usk_tgt -m 0x1 --json CONFIG (later args win).
# USK_SOCK_IMPL=posix|uring: the target's default socket implementation (sock_set_default_impl).
# USK_SOCK_ZEROCOPY=THRESHOLD: posix MSG_ZEROCOPY sends of at least THRESHOLD bytes
# (sock_impl_set_options enable_zerocopy_send_server).
start_tgt() {
	local cfg=$1

	shift
	if [ -n "${USK_SOCK_IMPL:-}" ] || [ -n "${USK_SOCK_ZEROCOPY:-}" ]; then
		sock_impl_config "$cfg" "${USK_SOCK_IMPL:-posix}" "${USK_SOCK_ZEROCOPY:-}"
	fi
	e2e_launch_tgt -m 0x1 --json "$cfg" "$@"
}

# e2e_check_sock_impl: with USK_SOCK_IMPL set, every TCP poll group of the running usk_tgt must
# report that socket implementation (a target that fell back to another one would make a run
# "on the uring backend" a second posix run). Called by stop_tgt.
e2e_check_sock_impl() {
	[ -n "${USK_SOCK_IMPL:-}" ] || return 0
	e2e_rpc nvmf_get_stats >"$TMP/sock_impl_stats.json" 2>&1 ||
		fail "nvmf_get_stats failed: $(head -c 300 "$TMP/sock_impl_stats.json")"
	python3 - "$TMP/sock_impl_stats.json" "$USK_SOCK_IMPL" <<'PY' || fail "TCP poll groups not on sock impl $USK_SOCK_IMPL"
import json, sys
st, impl = json.load(open(sys.argv[1])), sys.argv[2]
t = [t for g in st.get("poll_groups", []) for t in g.get("transports", []) if t.get("trtype") == "TCP"]
bad = [x.get("sock_impl") for x in t if x.get("sock_impl") != impl]
assert not bad, ("TCP poll groups on", bad, "instead of", impl)
PY
}

# sock_impl_config CONFIG.json IMPL [ZC_THRESHOLD]: rewrite CONFIG.json so that its first
# subsystem is "sock" with sock_set_default_impl IMPL (replayed before the transports are
# created) and, with ZC_THRESHOLD, posix zero-copy sends from that size on.
sock_impl_config() {
	python3 - "$1" "$2" "${3:-}" <<'PY' || fail "cannot add sock_set_default_impl to $1"
import json, sys
path, impl, zc = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = json.load(open(path))
subs = [s for s in cfg.get("subsystems", []) if s.get("subsystem") != "sock"]
sock = [{"method": "sock_set_default_impl", "params": {"impl_name": impl}}]
if zc:
    sock.insert(0, {"method": "sock_impl_set_options", "params": {
        "impl_name": "posix", "enable_zerocopy_send_server": True,
        "zerocopy_threshold": int(zc)}})
subs.insert(0, {"subsystem": "sock", "config": sock})
cfg["subsystems"] = subs
json.dump(cfg, open(path, "w"), indent=1)
PY
}

# e2e_start_tgt MASK [usk_tgt args...]
e2e_start_tgt() {
	local mask=$1

	shift
	e2e_launch_tgt -m "$mask" "$@"
}

# e2e_tgt_done WHY: after e2e_reap succeeded, the socket must be gone.
e2e_tgt_done() {
	TGT_PID=
	PID=
	[ -e "$SOCK" ] && fail "RPC socket $SOCK left behind after $1"
	return 0
}

# stop_tgt [SIG]: stop usk_tgt with SIG (TERM default; INT too): exit 0 within E2E_STOP_TIMEOUT s,
# no sanitizer report, socket removed; otherwise the test fails. A usk_tgt that exited by itself
# before (crash, early exit) fails too.
stop_tgt() {
	local sig=${1:-TERM}

	# Nothing started (or already stopped and checked): nothing to do. A usk_tgt that died on
	# its own still has TGT_PID set and fails below.
	[ -n "$TGT_PID" ] || return 0
	tgt_alive && e2e_check_sock_impl
	e2e_stop_pid "$TGT_PID" "$TMP/tgt.log" usk_tgt "$sig" || { TGT_PID=; PID=; fail "usk_tgt did not stop cleanly on SIG$sig"; }
	e2e_tgt_done "SIG$sig"
}
e2e_stop_tgt() { stop_tgt "$@"; }

# tgt_wait_exit WHY: usk_tgt was told to exit some other way (spdk_kill_instance): same checks.
tgt_wait_exit() {
	e2e_reap "$TGT_PID" "$TMP/tgt.log" usk_tgt "$1" || { TGT_PID=; PID=; fail "usk_tgt did not exit cleanly after $1"; }
	e2e_tgt_done "$1"
}

tgt_alive() { [ -n "$TGT_PID" ] && kill -0 "$TGT_PID" 2>/dev/null; }

# rpc METHOD [key=value... | --json JSON]: usk_rpc on $SOCK, bounded in time.
# (A test may redefine rpc, e.g. to capture its output; the library itself never calls it.)
e2e_rpc() { timeout -k 2 40 "$RPC" -s "$SOCK" -t 30 "$@"; }
rpc() { e2e_rpc "$@"; }

# e2e_run CMD...: run CMD (bound it with `timeout` in CMD) in the background (so cleanup can kill
# it) with its output in $TMP/out.log. A timeout (124, 137), a death by signal or a sanitizer
# report fails the test; any other exit status is returned.
e2e_run() {
	local rc

	"$@" >"$TMP/out.log" 2>&1 &
	PID=$!
	wait "$PID"
	rc=$?
	PID=
	case $rc in
	124 | 137) fail "timed out (rc=$rc): $*" ;;
	esac
	[ "$rc" -gt 128 ] && fail "killed by signal $((rc - 128)): $*"
	e2e_check_log "$TMP/out.log" "'$*'"
	return "$rc"
}

# A free TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# tcp_config PORT BDEV_JSON_ENTRY [allow_any_host] [extra nvmf entries]: print a usk_tgt --json
# config with the bdev entry, a TCP transport, subsystem $NQN (serial USK00000000000001,
# model "usk e2e ctrl") with namespace Malloc0 and a listener on 127.0.0.1:PORT.
tcp_config() {
	local port=$1 bdev=$2 any=${3:-true} extra=${4:-}
	cat <<JSON
{"subsystems": [
 {"subsystem": "bdev", "config": [ $bdev ]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN", "allow_any_host": $any,
     "serial_number": "USK00000000000001", "model_number": "usk e2e ctrl"}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NQN", "namespace": {"bdev_name": "Malloc0"}}},
  {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$NQN",
     "listen_address": {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "$port"}}}
  $extra
 ]}
]}
JSON
}

# run_guest PORT SCRIPT [guest-run.sh args...]: boot the guest with the kernel initiator aimed at
# 10.0.2.2:PORT/$NQN; the serial log goes to $GUEST_LOG (default $TMP/guest-1.log; set it per
# run when a test boots several guests). Returns the script's rc (124: QEMU timed out).
run_guest() {
	local port=$1 script=$2
	shift 2
	"$HARNESS/guest-run.sh" --quiet --timeout 150 --nvme-tcp "10.0.2.2:$port:$NQN" \
		--log "${GUEST_LOG:-$TMP/guest-1.log}" --script "$script" "$@"
}

# malloc_aio_config PORT AIO_FILE NQN2: a --json config with Malloc0 in $NQN and an aio bdev on
# AIO_FILE (created, 64 MiB) as the namespace of NQN2, both listening on 127.0.0.1:PORT.
malloc_aio_config() {
	local port=$1 aio_file=$2 nqn2=$3 aio extra
	truncate -s 64M "$aio_file"
	aio="{\"method\": \"bdev_aio_create\", \"params\": {\"name\": \"Aio0\", \"filename\": \"$aio_file\", \"block_size\": 512}}"
	extra=",{\"method\": \"nvmf_create_subsystem\", \"params\": {\"nqn\": \"$nqn2\", \"allow_any_host\": true}},
 {\"method\": \"nvmf_subsystem_add_ns\", \"params\": {\"nqn\": \"$nqn2\", \"namespace\": {\"bdev_name\": \"Aio0\"}}},
 {\"method\": \"nvmf_subsystem_add_listener\", \"params\": {\"nqn\": \"$nqn2\",
   \"listen_address\": {\"trtype\": \"TCP\", \"adrfam\": \"IPv4\", \"traddr\": \"127.0.0.1\", \"trsvcid\": \"$port\"}}}"
	tcp_config "$port" "$MALLOC_BDEV, $aio" true "$extra"
}

# The nvmf tests set NAME before sourcing: initialise at once.
if [ -n "${NAME:-}" ]; then
	e2e_init "$NAME"
fi
