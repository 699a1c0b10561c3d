#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# examples/hello_bdev writes "Hello World!" to block 0 of a bdev and reads it back; asked for a
# bdev that does not exist it fails at once with a message naming it (a timeout is a failure:
# e2e_run fails the test on rc 124/137, a signal or a sanitizer report).
set -u

# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
e2e_init bdev_hello
HELLO=$BUILD_DIR/examples/hello_bdev/hello_bdev
e2e_require "$HELLO"

run_hello() {
	e2e_run timeout -k 5 30 "$HELLO" "$@"
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

# An unknown bdev is an error (exit 1 with a message naming it), not a hang or a crash.
run_hello --json "$TMP/malloc.json" -b NoSuchBdev
rc=$?
[ "$rc" -eq 1 ] || fail "hello_bdev -b NoSuchBdev: exit status $rc, expected 1"
grep -q "Could not open bdev: NoSuchBdev" "$TMP/out.log" ||
	fail "hello_bdev -b NoSuchBdev did not say it could not open NoSuchBdev"
grep -q "Hello World!" "$TMP/out.log" && fail "hello_bdev -b NoSuchBdev wrote anyway"
echo "PASS: hello_bdev"
exit 0
