#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Run every usk test: lint (shellcheck over scripts/ and test/, clang-format --check over the C
# sources), cmocka unit tests (each case counted), end-to-end tests with real clients
# (test/e2e/*.sh: usk_tgt, usk_rpc, QEMU guest with the Linux nvme-tcp initiator), and each
# libFuzzer target for a short while. Everything is built with AddressSanitizer + UBSan.
# Ends with "N passed, N failed"; exits non-zero if anything failed.
#   USK_FUZZ_SECONDS   seconds per fuzz target (default 30; 0 skips fuzzing)
#   USK_E2E_FILTER     run only e2e tests whose name matches this regex
#   CI=true            a skipped test (exit 77: a tool or the guest missing) counts as a failure
# Nothing may vanish silently: a failing `meson test`, a missing or unreadable testlog.json, a
# unit test program that reports fewer cases than its TAP plan, a unit test meson registered that
# did not run, an e2e script without its run bit, and a fuzz target declared in meson that does
# not build or run each count as failures.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit
scripts/deps.sh test || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }

pass=0 fail=0 skip=0
failed_names=()
skipped_names=()
count() { # name rc [why]
	case $2 in
	0)
		pass=$((pass + 1))
		echo "PASS: $1"
		;;
	77)
		if [ "${CI:-}" = true ]; then
			fail=$((fail + 1))
			failed_names+=("$1 (skipped, and CI=true allows no skip)")
			echo "FAIL: $1 (skipped; in CI nothing may be skipped)${3:+: $3}"
		else
			skip=$((skip + 1))
			skipped_names+=("$1")
			echo "SKIP: $1${3:+: $3}"
		fi
		;;
	*)
		fail=$((fail + 1))
		failed_names+=("$1")
		echo "FAIL: $1 (rc=$2)${3:+: $3}"
		;;
	esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/test/lsan.supp}

# Lint: two tests, each over the whole tree.
echo "=== lint"
mapfile -t sh_files < <(scripts/shellcheck-files.sh)
if [ ${#sh_files[@]} -eq 0 ]; then
	count "lint: shellcheck" 1 "no shell files found"
else
	shellcheck "${sh_files[@]}" >"$root/build-test.shellcheck.log" 2>&1
	rc=$?
	[ $rc -ne 0 ] && head -60 "$root/build-test.shellcheck.log"
	count "lint: shellcheck (${#sh_files[@]} files)" $rc
fi
# An e2e test with an EXIT trap of its own hides its exit status from lib/common.sh's
# (e2e_on_exit is the way to undo more on exit).
traps=$(grep -lE '^[[:space:]]*trap[[:space:]]' test/e2e/*.sh 2>/dev/null)
[ -n "$traps" ] && echo "EXIT traps of their own (use e2e_on_exit): $traps"
count "lint: e2e tests without their own trap" "$([ -z "$traps" ] && echo 0 || echo 1)"
scripts/format.sh --check >"$root/build-test.format.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
	head -20 "$root/build-test.format.log"
	echo "($(grep -c 'error: code should be clang-formatted' "$root/build-test.format.log") places; scripts/format.sh reformats in place)"
fi
count "lint: clang-format" $rc

build=$root/build-test
# The meson.build files pick up test directories with fs.is_file(), which meson does not track:
# reconfigure every time so a test added or removed since the last run is seen.
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false -Dtests=enabled \
		>"$root/build-test.setup.log" 2>&1 || { cat "$root/build-test.setup.log"; count "meson setup" 1; }
else
	meson setup --reconfigure "$build" >"$root/build-test.setup.log" 2>&1 ||
		{ cat "$root/build-test.setup.log"; count "meson setup --reconfigure" 1; }
fi
if ! ninja -C "$build" >"$root/build-test.log" 2>&1; then
	tail -50 "$root/build-test.log"
	count "build (asan+ubsan)" 1
	echo "$pass passed, $fail failed"
	exit 1
fi

# Unit tests: meson runs them (TAP); every "ok"/"not ok" line is one case. The TAP plan (1..N) of
# each program and the list of unit tests meson registered say how many cases there must be.
echo "=== unit tests"
rm -f "$build/meson-logs/testlog.json"
meson test -C "$build" --suite unit --print-errorlogs >"$root/build-test.unit.log" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -B2 -A20 -E 'not ok|FAIL|ERROR|TIMEOUT' "$root/build-test.unit.log" | head -80
count "unit: meson test exit status" $rc
if ! meson test -C "$build" --suite unit --list >"$root/build-test.unit.list" 2>"$root/build-test.unit.list.err"; then
	cat "$root/build-test.unit.list.err"
	count "unit: meson test --list" 1
fi
python3 - "$build/meson-logs/testlog.json" "$root/build-test.unit.list" >"$root/build-test.unit.counts" <<'PY'
import json, re, sys
log, listing = sys.argv[1], sys.argv[2]
# `meson test --list` prints one test name a line (ninja may print its own lines first).
expected = [l.strip() for l in open(listing) if l.strip() and not l.startswith("ninja:")]
try:
    tests = [json.loads(l) for l in open(log) if l.strip()]
except (OSError, ValueError) as e:
    print("FAIL testlog.json missing or unreadable: %s" % e)
    tests = None
if tests == []:
    print("FAIL testlog.json holds no test")
tests = tests or []
seen = set()
for t in tests:
    name, out, res = t["name"], t.get("stdout") or "", t.get("result")
    seen.add(name)
    if res == "SKIP":
        print("SKIP %s the whole program skipped" % name)
        continue
    plan = sum(int(n) for n in re.findall(r"^1\.\.(\d+)", out, re.M))
    ok = len(re.findall(r"^ok \d+", out, re.M))
    nok = len(re.findall(r"^not ok \d+", out, re.M))
    for _ in range(ok):
        print("PASS %s" % name)
    for _ in range(nok):
        print("FAIL %s a case failed (not ok)" % name)
    if plan == 0:
        print("FAIL %s no TAP plan (1..N): the program reported nothing (result %s)" % (name, res))
    elif ok + nok < plan:
        for _ in range(plan - ok - nok):
            print("FAIL %s case missing: plan 1..%d, %d reported (result %s)" % (name, plan, ok + nok, res))
    elif ok + nok > plan:
        print("FAIL %s %d cases reported, plan says %d" % (name, ok + nok, plan))
    if res not in ("OK", "EXPECTEDFAIL") and nok == 0 and ok + nok >= plan > 0:
        print("FAIL %s result %s (exit status %s) with every case ok" % (name, res, t.get("returncode")))
for name in expected:
    if name not in seen:
        print("FAIL %s registered in meson but not in testlog.json" % name)
PY
rc=$?
[ $rc -ne 0 ] && count "unit: counting testlog.json" $rc
units_ok=0
while read -r res name why; do
	case $res in
	PASS) pass=$((pass + 1)); units_ok=$((units_ok + 1)) ;;
	SKIP) count "unit: $name" 77 "$why" ;;
	*) count "unit: $name" 1 "$why" ;;
	esac
done <"$root/build-test.unit.counts"
echo "unit cases ok: $units_ok (programs registered: $(grep -vc '^ninja:' "$root/build-test.unit.list"))"

# run_e2e SCRIPT LABEL [VAR=VALUE...]: one e2e test with the environment given, 900 s at most,
# its log in build-test.LABEL.NAME.log, counted as "LABEL: NAME".
run_e2e() {
	local t=$1 label=$2 name log start rc why

	shift 2
	name=$(basename "$t" .sh)
	log=$root/build-test.$label.$name.log
	start=$(date +%s)
	env "$@" timeout -k 10 900 "$t" >"$log" 2>&1
	rc=$?
	echo "--- $label $name: rc=$rc ($(($(date +%s) - start)) s)"
	[ $rc -ne 0 ] && [ $rc -ne 77 ] && tail -40 "$log"
	why=
	[ $rc -eq 124 ] || [ $rc -eq 137 ] && why="timed out after 900 s"
	[ $rc -eq 77 ] && why=$(grep -m1 '^SKIP' "$log")
	count "$label: $name" $rc "$why"
}

# End-to-end tests (the QEMU guest kernel and initramfs are built once into ~/.cache/usk-guest).
# Every test/e2e/*.sh is a test: one without its run bit (here or in git) is a failure.
echo "=== e2e tests"
if ! "$root/test/e2e/harness/build-guest.sh" >"$root/build-test.guest.log" 2>&1; then
	tail -20 "$root/build-test.guest.log"
	count "guest build" 1
fi
export BUILD_DIR=$build
in_git=false
git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1 && in_git=true
for t in "$root"/test/e2e/*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	if [ -n "${USK_E2E_FILTER:-}" ] && ! [[ $name =~ $USK_E2E_FILTER ]]; then continue; fi
	if [ ! -x "$t" ]; then
		count "e2e: $name" 1 "not executable (chmod +x, and commit the bit)"
		continue
	fi
	mode=
	$in_git && mode=$(git -C "$root" ls-files -s -- "test/e2e/$name.sh" | cut -d' ' -f1)
	if [ "$mode" = 100644 ]; then
		count "e2e: $name" 1 "git records it without its run bit (git update-index --chmod=+x)"
		continue
	fi
	run_e2e "$t" e2e
done

# The NVMe-oF/TCP target's tests once more on the io_uring socket backend (USK_SOCK_IMPL=uring
# rewrites each target config's sock subsystem, and stop_tgt checks that every TCP poll group ran
# on it). Not: the posix-only zero-copy test, nvmf_tcp_uring (that is this already), and the
# kernel-target test (no usk_tgt in it).
echo "=== e2e tests on the io_uring socket backend"
for t in "$root"/test/e2e/nvmf_*.sh "$root"/test/e2e/nvme_tcp*.sh; do
	[ -x "$t" ] || continue
	name=$(basename "$t" .sh)
	case $name in nvmf_tcp_zcopy | nvmf_tcp_uring | nvme_tcp_kernel_target) continue ;; esac
	if [ -n "${USK_E2E_FILTER:-}" ] && ! [[ $name =~ $USK_E2E_FILTER ]]; then continue; fi
	run_e2e "$t" "e2e[uring]" USK_SOCK_IMPL=uring
done

# Fuzz targets: clang + libFuzzer, a short run each. The targets are the ones meson declares
# (introspection of the fuzz build, and the list in test/fuzz/meson.build): each must build and
# run; what happens to be on disk does not count.
fuzz_s=${USK_FUZZ_SECONDS:-30}
if [ "$fuzz_s" -gt 0 ]; then
	echo "=== fuzz targets (${fuzz_s}s each)"
	fbuild=$root/build-fuzz
	if [ ! -f "$fbuild/build.ninja" ]; then
		CC=clang meson setup "$fbuild" -Dfuzz=true -Dtests=disabled -Db_sanitize=address,undefined \
			-Db_lundef=false >"$root/build-fuzz.setup.log" 2>&1 || { cat "$root/build-fuzz.setup.log"; count "fuzz setup" 1; }
	else
		# As for build-test: so the target list below is the current one.
		meson setup --reconfigure "$fbuild" >"$root/build-fuzz.setup.log" 2>&1 ||
			{ cat "$root/build-fuzz.setup.log"; count "fuzz setup --reconfigure" 1; }
	fi
	ninja -C "$fbuild" -k 0 >"$root/build-fuzz.log" 2>&1 || tail -30 "$root/build-fuzz.log"
	meson introspect --targets "$fbuild" >"$root/build-fuzz.targets.json" 2>/dev/null
	python3 - "$root/build-fuzz.targets.json" "$root" "$root/test/fuzz/meson.build" \
		>"$root/build-fuzz.targets" <<'PY'
import json, os, re, sys
targets_json, root, listing = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    targets = json.load(open(targets_json))
except (OSError, ValueError):
    targets = []
fuzzdir = os.path.join(root, "test", "fuzz") + os.sep
found = {}
for t in targets:
    if t.get("type") == "executable" and t.get("defined_in", "").startswith(fuzzdir):
        d = os.path.relpath(os.path.dirname(t["defined_in"]), fuzzdir.rstrip(os.sep))
        found[t["name"]] = (t["filename"][0], d)
# Every directory named in test/fuzz/meson.build must have given a target.
m = re.search(r"foreach\s+\w+\s*:\s*\[(.*?)\]", open(listing).read(), re.S)
declared = re.findall(r"'([^']+)'", m.group(1)) if m else []
dirs = {d for _, d in found.values()}
for d in declared:
    if d not in dirs:
        print("MISSING %s test/fuzz/%s declares no fuzz target" % (d, d))
for name, (path, d) in sorted(found.items()):
    print("TARGET %s %s %s" % (name, path, d))
if not found and not declared:
    print("MISSING fuzz no fuzz target found (meson introspect failed?)")
PY
	while read -r kind name path dir; do
		if [ "$kind" = MISSING ]; then
			count "fuzz: $name" 1 "$path $dir"
			continue
		fi
		# Build this one target: a target that does not build fails, even if an old binary exists.
		if ! ninja -C "$fbuild" "${path#"$fbuild"/}" >"$root/build-test.fuzz.$name.log" 2>&1; then
			tail -30 "$root/build-test.fuzz.$name.log"
			count "fuzz: $name" 1 "does not build"
			continue
		fi
		corpus=$root/test/fuzz/$dir/corpus
		work=$(mktemp -d)
		[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
		"$path" -max_total_time="$fuzz_s" -max_len=65536 -print_final_stats=0 "$work" \
			>"$root/build-test.fuzz.$name.log" 2>&1
		rc=$?
		rm -rf "$work"
		why=
		if [ $rc -eq 0 ] && ! grep -qE '^Done [0-9]+ runs' "$root/build-test.fuzz.$name.log"; then
			rc=1 why="exited 0 without libFuzzer's 'Done N runs'"
		fi
		[ $rc -ne 0 ] && tail -30 "$root/build-test.fuzz.$name.log"
		count "fuzz: $name" $rc "$why"
	done <"$root/build-fuzz.targets"
else
	count "fuzz" 77 "USK_FUZZ_SECONDS=0"
fi

echo
[ ${#failed_names[@]} -gt 0 ] && printf 'failed: %s\n' "${failed_names[@]}"
[ ${#skipped_names[@]} -gt 0 ] && printf 'skipped: %s\n' "${skipped_names[@]}"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
