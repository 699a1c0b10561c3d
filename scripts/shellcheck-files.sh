#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Print the shell scripts that scripts/test.sh runs shellcheck over, one a line: every *.sh under
# scripts/ and test/, and every other file there whose first line is a sh/bash shebang.
# Options for shellcheck itself are in .shellcheckrc.
set -euo pipefail
cd "$(dirname "$0")/.."
find scripts test .ci -type f ! -path '*/corpus/*' -print 2>/dev/null | sort | while read -r f; do
	case $f in
	*.sh) echo "$f" ;;
	*) head -n1 "$f" 2>/dev/null | grep -qE '^#!.*[/ ](ba|da)?sh\b' && echo "$f" ;;
	esac
done
exit 0
