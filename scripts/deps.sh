#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Install the Debian packages usk needs, only the missing ones.
#   scripts/deps.sh build   compile and run usk
#   scripts/deps.sh test    + unit/e2e/fuzz/lint test tools (cmocka, clang, QEMU guest,
#                           nvme-cli, fio, the linters clang-format and shellcheck)
set -euo pipefail
build_pkgs="gcc meson ninja-build pkg-config libjansson-dev libaio-dev liburing-dev libisal-dev
 libssl-dev uuid-dev librbd-dev librados-dev libncurses-dev"
test_pkgs="libcmocka-dev clang llvm python3 qemu-system-x86 qemu-utils qemu-system-common
 busybox-static cpio kmod nvme-cli fio iperf3 procps strace linux-perf e2fsprogs shellcheck clang-format
 ceph-mon ceph-mgr ceph-osd ceph-common prometheus curl tmux"
pkgs=$build_pkgs
[ "${1:-build}" = test ] && pkgs="$build_pkgs $test_pkgs"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
# shellcheck disable=SC2086 # $missing is a list of package names, one word each
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
