#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A/B rounds of run_nvmf_bench.sh: every round runs each configuration once, alternating, so a
# shared machine's load drift hits all configurations alike. One line per run with the load
# average beside it.
#   ab_nvmf_bench.sh BUILD_DIR ROUNDS SECONDS "label|VAR=value VAR2=value" ...
# e.g. ab_nvmf_bench.sh build 3 4 "old|LOAD_BIN=/tmp/old_load BUSY=1" "new|BUSY=1"
# WL="read:4096:32 read:4096:128" (default) selects the workloads.
set -u
[ $# -ge 4 ] || { sed -n 3,8p "$0"; exit 2; }
BUILD_DIR=$1 ROUNDS=$2 SECS=$3
shift 3
BENCH=$(cd "$(dirname "$0")" && pwd)/run_nvmf_bench.sh
for r in $(seq 1 "$ROUNDS"); do
	for cfg in "$@"; do
		label=${cfg%%|*}
		envs=${cfg#*|}
		[ "$envs" = "$cfg" ] && envs=
		# shellcheck disable=SC2086
		out=$(env $envs NOIPERF=1 WORKLOADS="${WL:-read:4096:32 read:4096:128}" \
			"$BENCH" "$BUILD_DIR" "$SECS" 2>&1 | awk '
			/QD/ { printf "%s %s %s IOPS lat %sus tgt %sus/IO host %sus/IO | ", $2, $3, $4, $6, $7, $8 }
			/RSS/ { printf "RSS %s kB", $3 }')
		echo "r$r $(date +%H:%M:%S) load=$(cut -d' ' -f1 /proc/loadavg) $label: $out"
	done
done
