#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Run every usk test: cmocka unit tests (each case counted), end-to-end tests with real clients
# (test/e2e/*.sh: usk_tgt, usk_rpc, QEMU guest with the Linux nvme-tcp initiator), and each
# libFuzzer target for a short while. Everything is built with AddressSanitizer + UBSan.
# Ends with "N passed, N failed"; exits non-zero if anything failed.
#   USK_FUZZ_SECONDS   seconds per fuzz target (default 30; 0 skips fuzzing)
#   USK_E2E_FILTER     run only e2e tests whose name matches this regex
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/deps.sh test || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }

pass=0 fail=0 skip=0
failed_names=()
count() { # name rc
	case $2 in
	0) pass=$((pass + 1)); echo "PASS: $1" ;;
	77) skip=$((skip + 1)); echo "SKIP: $1" ;;
	*) fail=$((fail + 1)); failed_names+=("$1"); echo "FAIL: $1 (rc=$2)" ;;
	esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/test/lsan.supp}

build=$root/build-test
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false -Dtests=enabled \
		>"$root/build-test.setup.log" 2>&1 || { cat "$root/build-test.setup.log"; count "meson setup" 1; }
fi
if ! ninja -C "$build" >"$root/build-test.log" 2>&1; then
	tail -50 "$root/build-test.log"
	count "build (asan+ubsan)" 1
	echo "$pass passed, $fail failed"
	exit 1
fi

# Unit tests: meson runs them (TAP); every "ok"/"not ok" line is one case.
echo "=== unit tests"
meson test -C "$build" --suite unit --print-errorlogs >"$root/build-test.unit.log" 2>&1
python3 - "$build/meson-logs/testlog.json" >"$root/build-test.unit.counts" <<'PY'
import json, re, sys
p = f = 0
for line in open(sys.argv[1]):
    t = json.loads(line)  # only the unit suite ran
    ok = len(re.findall(r'^ok \d+', t.get('stdout', ''), re.M))
    nok = len(re.findall(r'^not ok \d+', t.get('stdout', ''), re.M))
    if t['result'] not in ('OK', 'EXPECTEDFAIL', 'SKIP') and nok == 0:
        nok = 1  # crashed or timed out before reporting
    for _ in range(ok): print('PASS', t['name'])
    for _ in range(nok): print('FAIL', t['name'])
    p += ok; f += nok
PY
while read -r res name; do
	if [ "$res" = PASS ]; then pass=$((pass + 1)); else count "unit: $name" 1; fi
done <"$root/build-test.unit.counts"
grep -E '^(not ok|ok) ' "$root/build-test.unit.log" | grep -c '^ok' | sed 's/^/unit cases ok: /'
grep -B2 -A20 -E 'not ok|FAIL|ERROR' "$root/build-test.unit.log" | head -80

# End-to-end tests (the QEMU guest kernel and initramfs are built once into ~/.cache/usk-guest).
echo "=== e2e tests"
if ! "$root/test/e2e/harness/build-guest.sh" >"$root/build-test.guest.log" 2>&1; then
	tail -20 "$root/build-test.guest.log"
	count "guest build" 1
fi
export BUILD_DIR=$build
for t in "$root"/test/e2e/*.sh; do
	[ -x "$t" ] || continue
	name=$(basename "$t" .sh)
	if [ -n "${USK_E2E_FILTER:-}" ] && ! [[ $name =~ $USK_E2E_FILTER ]]; then continue; fi
	log=$root/build-test.e2e.$name.log
	start=$(date +%s)
	timeout -k 10 900 "$t" >"$log" 2>&1
	rc=$?
	echo "--- $name: rc=$rc ($(( $(date +%s) - start )) s)"
	[ $rc -ne 0 ] && [ $rc -ne 77 ] && tail -40 "$log"
	count "e2e: $name" $rc
done

# Fuzz targets: clang + libFuzzer, a short run each.
fuzz_s=${USK_FUZZ_SECONDS:-30}
if [ "$fuzz_s" -gt 0 ]; then
	echo "=== fuzz targets (${fuzz_s}s each)"
	fbuild=$root/build-fuzz
	if [ ! -f "$fbuild/build.ninja" ]; then
		CC=clang meson setup "$fbuild" -Dfuzz=true -Dtests=disabled -Db_sanitize=address,undefined \
			-Db_lundef=false >"$root/build-fuzz.setup.log" 2>&1 || { cat "$root/build-fuzz.setup.log"; count "fuzz setup" 1; }
	fi
	if ninja -C "$fbuild" >"$root/build-fuzz.log" 2>&1; then
		for f in $(find "$fbuild/test/fuzz" -type f -name '*_fuzz' -perm -u+x 2>/dev/null | sort); do
			name=$(basename "$f")
			corpus=$root/test/fuzz/$(basename "$(dirname "$f")")/corpus
			work=$(mktemp -d)
			[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
			"$f" -max_total_time="$fuzz_s" -max_len=65536 -print_final_stats=0 "$work" \
				>"$root/build-test.fuzz.$name.log" 2>&1
			rc=$?
			[ $rc -ne 0 ] && tail -30 "$root/build-test.fuzz.$name.log"
			rm -rf "$work"
			count "fuzz: $name" $rc
		done
	else
		tail -30 "$root/build-fuzz.log"
		count "fuzz build" 1
	fi
fi

echo
[ ${#failed_names[@]} -gt 0 ] && printf 'failed: %s\n' "${failed_names[@]}"
[ $skip -gt 0 ] && echo "skipped: $skip"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
