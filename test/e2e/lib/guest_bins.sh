# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
# Running usk's own (dynamically linked, maybe sanitizer-built) tools inside the busybox QEMU
# guest. Sourced by e2e scripts (bash). guest-run.sh --bin copies a binary to /harness/bin and
# every shared library ldd lists (jansson, aio, uring, isal, ssl, uuid, libasan, the loader) to
# the same path in the guest, so nothing needs a static build.
#   guest_bins_args TOOL_PATH...   fills the array GUEST_BIN_ARGS with --bin for each built tool
#                                  and --env for the sanitizer options; GUEST_BINS_MISSING lists
#                                  the tools that are not built (the guest script checks -x).

guest_bins_args() {
	local b
	GUEST_BIN_ARGS=()
	GUEST_BINS_MISSING=""
	for b in "$@"; do
		if [ -x "$b" ]; then
			GUEST_BIN_ARGS+=(--bin "$b")
		else
			GUEST_BINS_MISSING="$GUEST_BINS_MISSING $(basename "$b")"
		fi
	done
	# The guest has no /proc/self/exe symbolizer setup: plain reports, leak check on.
	GUEST_BIN_ARGS+=(--env "ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:halt_on_error=1}"
			 --env "UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}")
}
