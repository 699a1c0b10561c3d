#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# nvmf_tcp_basic with the io_uring socket backend (USK_SOCK_IMPL=uring: the target's config gets
# sock_set_default_impl "uring" first; the test asserts nvmf_get_stats reports sock_impl "uring"
# for every TCP poll group). Skipped where io_uring is unusable (the target would fall back).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -r /proc/sys/kernel/io_uring_disabled ] && [ "$(cat /proc/sys/kernel/io_uring_disabled)" = 2 ]; then
	echo "SKIP: io_uring disabled (kernel.io_uring_disabled=2)"
	exit 77
fi
USK_SOCK_IMPL=uring exec "$HERE/nvmf_tcp_basic.sh"
