#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# clang-format (style: .clang-format) over usk's C sources: include lib module app test bench
# examples (*.c, *.h). test/e2e/harness/ is a copy of the shared QEMU harness and is left alone.
#   scripts/format.sh           reformat every file in place
#   scripts/format.sh --check   change nothing; list what clang-format would change, exit 1 if any
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v clang-format >/dev/null || { echo "clang-format not installed (scripts/deps.sh test)" >&2; exit 2; }

files() {
	find include lib module app test bench examples -path test/e2e/harness -prune -o \
		-type f \( -name '*.c' -o -name '*.h' \) -print0 2>/dev/null | sort -z
}

case ${1:-} in
"")
	files | xargs -0 clang-format -i
	;;
--check)
	# --dry-run -Werror prints every change it would make as an error and exits non-zero.
	files | xargs -0 clang-format --dry-run -Werror
	;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac
