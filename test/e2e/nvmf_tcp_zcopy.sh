#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# nvmf_tcp_basic with MSG_ZEROCOPY sends (posix sock impl, enable_zerocopy_send_server, threshold
# 4 KiB so that every read response goes out zero-copy): the guest's md5 checks show data
# integrity, and nvmf_get_stats must report zero-copy sends and their completions.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
USK_SOCK_IMPL=posix USK_SOCK_ZEROCOPY=4096 exec "$HERE/nvmf_tcp_basic.sh"
