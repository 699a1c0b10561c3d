#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# examples/hello_bdev writes "Hello World!" to block 0 of a bdev and reads it back.
set -u

BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
HELLO=$BUILD_DIR/examples/hello_bdev/hello_bdev
TMP=$(mktemp -d /tmp/usk-e2e-bdev_hello-XXXXXX)
PID=

cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	[ -f "$TMP/out.log" ] && tail -30 "$TMP/out.log" >&2
	exit 1
}

[ -x "$HELLO" ] || fail "$HELLO not built"

run_hello() {
	timeout -k 5 30 "$HELLO" "$@" >"$TMP/out.log" 2>&1 &
	PID=$!
	wait "$PID"
	local rc=$?
	PID=
	return $rc
}

cat >"$TMP/malloc.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_malloc_create","params":{"name":"Malloc0","num_blocks":2048,"block_size":512}}
]}]}
JSON
run_hello --json "$TMP/malloc.json" || fail "hello_bdev on Malloc0 exited non-zero"
grep -q "Hello World!" "$TMP/out.log" || fail "hello_bdev did not print Hello World!"

# -b on a file bdev: the string must really reach the file.
truncate -s 1M "$TMP/hello.img"
cat >"$TMP/aio.json" <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_aio_create","params":{"name":"AIO0","filename":"$TMP/hello.img"}}
]}]}
JSON
run_hello --json "$TMP/aio.json" -b AIO0 || fail "hello_bdev -b AIO0 exited non-zero"
grep -q "Hello World!" "$TMP/out.log" || fail "hello_bdev -b AIO0 did not print Hello World!"
[ "$(head -c 12 "$TMP/hello.img")" = "Hello World!" ] || fail "file does not start with Hello World!"

# An unknown bdev is an error, not a hang.
run_hello --json "$TMP/malloc.json" -b NoSuchBdev && fail "hello_bdev -b NoSuchBdev succeeded"
echo "PASS: hello_bdev"
exit 0
