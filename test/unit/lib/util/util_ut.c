/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for lib/util: log flags and levels, JSON decoders, cpusets, strings, iovecs, CRC32C.
 */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "usk/json.h"
#include "usk/log.h"
#include "usk/util.h"
#include "usk_internal/nvme_trid_names.h"

USK_LOG_REGISTER_COMPONENT(ut_alpha)
USK_LOG_REGISTER_COMPONENT(ut_beta)

static char g_captured[512];
static int g_captured_level = -1;

static void
capture_log(int level, const char *file, int line, const char *func, const char *fmt, va_list ap)
{
	g_captured_level = level;
	vsnprintf(g_captured, sizeof(g_captured), fmt, ap);
}

static void
test_log_flags(void **state)
{
	struct usk_log_flag *f;
	int n = 0;
	bool seen_alpha = false, seen_beta = false;

	assert_false(usk_log_get_flag("ut_alpha"));
	assert_int_equal(usk_log_set_flag("ut_alpha"), 0);
	assert_true(usk_log_get_flag("ut_alpha"));
	assert_false(usk_log_get_flag("ut_beta"));
	assert_int_equal(usk_log_set_flag("no_such_flag"), -EINVAL);
	assert_int_equal(usk_log_clear_flag("no_such_flag"), -EINVAL);
	assert_int_equal(usk_log_set_flag("all"), 0);
	assert_true(usk_log_get_flag("ut_beta"));
	assert_int_equal(usk_log_clear_flag("all"), 0);
	assert_false(usk_log_get_flag("ut_alpha"));
	assert_false(usk_log_get_flag("ut_beta"));

	usk_log_set_print_level(USK_LOG_NOTICE);
	assert_int_equal(usk_log_enable_debug("no_such_flag"), -EINVAL);
	assert_int_equal(usk_log_get_print_level(), USK_LOG_NOTICE);
	assert_int_equal(usk_log_enable_debug("ut_alpha"), 0);
	assert_true(usk_log_get_flag("ut_alpha"));
	assert_int_equal(usk_log_get_print_level(), USK_LOG_DEBUG);
	usk_log_set_print_level(USK_LOG_NOTICE);
	assert_int_equal(usk_log_clear_flag("ut_alpha"), 0);

	for (f = usk_log_get_next_flag(NULL); f != NULL; f = usk_log_get_next_flag(f)) {
		n++;
		seen_alpha |= strcmp(f->name, "ut_alpha") == 0;
		seen_beta |= strcmp(f->name, "ut_beta") == 0;
	}
	assert_true(n >= 2);
	assert_true(seen_alpha && seen_beta);
}

static void
test_log_levels_and_sink(void **state)
{
	enum usk_log_level lvl;

	assert_int_equal(usk_log_level_from_name("debug", &lvl), 0);
	assert_int_equal(lvl, USK_LOG_DEBUG);
	assert_int_equal(usk_log_level_from_name("WARNING", &lvl), 0);
	assert_int_equal(lvl, USK_LOG_WARN);
	assert_int_equal(usk_log_level_from_name("bogus", &lvl), -EINVAL);
	assert_string_equal(usk_log_level_name(USK_LOG_ERROR), "ERROR");
	usk_log_set_print_level(USK_LOG_INFO);
	assert_int_equal(usk_log_get_print_level(), USK_LOG_INFO);
	usk_log_set_level(USK_LOG_ERROR);
	assert_int_equal(usk_log_get_level(), USK_LOG_ERROR);

	usk_log_open(capture_log);
	g_captured[0] = '\0';
	USK_DEBUGLOG(ut_alpha, "hidden %d\n", 1);
	assert_string_equal(g_captured, "");
	usk_log_set_flag("ut_alpha");
	USK_DEBUGLOG(ut_alpha, "shown %d\n", 2);
	assert_string_equal(g_captured, "shown 2\n");
	assert_int_equal(g_captured_level, USK_LOG_DEBUG);
	USK_ERRLOG("bad thing %s\n", "x");
	assert_string_equal(g_captured, "bad thing x\n");
	assert_int_equal(g_captured_level, USK_LOG_ERROR);
	usk_log_clear_flag("ut_alpha");
	usk_log_close();
	usk_log_set_print_level(USK_LOG_NOTICE);
	usk_log_set_level(USK_LOG_NOTICE);
}

static void
test_log_stderr_format(void **state)
{
	char buf[512] = {0};
	regex_t re;
	FILE *tmp = tmpfile();
	int saved, line;

	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	usk_log_set_level(USK_LOG_DISABLED); /* no syslog from the test */
	usk_log_set_print_level(USK_LOG_NOTICE);
	line = __LINE__ + 1;
	USK_ERRLOG("disk %s is on fire\n", "nvme0");
	USK_INFOLOG(ut_alpha, "not printed: flag off\n");
	usk_log_set_print_level(USK_LOG_ERROR);
	USK_WARNLOG("not printed: below print level\n");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	usk_log_set_level(USK_LOG_NOTICE);
	usk_log_set_print_level(USK_LOG_NOTICE);

	rewind(tmp);
	assert_true(fread(buf, 1, sizeof(buf) - 1, tmp) > 0);
	fclose(tmp);
	assert_int_equal(regcomp(&re,
				 "^\\[[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\."
				 "[0-9]{6}\\] util_ut\\.c: *([0-9]+):test_log_stderr_format: "
				 "\\*ERROR\\*: disk nvme0 is on fire\n$",
				 REG_EXTENDED),
			 0);
	assert_int_equal(regexec(&re, buf, 0, NULL, 0), 0);
	regfree(&re);
	assert_non_null(strstr(buf, " util_ut.c:"));
	{
		char want[32];

		snprintf(want, sizeof(want), ":%4d:", line);
		assert_non_null(strstr(buf, want));
	}
}

struct ut_params {
	char *name;
	uint32_t block_size;
	uint64_t num_blocks;
	uint8_t u8;
	uint16_t u16;
	int32_t i32;
	bool flag;
	double d;
	json_t *extra;
};

static int
decode_block_size(const json_t *val, void *out, char *err, size_t err_len)
{
	uint32_t *bs = out;
	int rc = usk_json_decode_uint32(val, out, err, err_len);

	if (rc == 0 && (*bs < 512 || !USK_IS_POW2(*bs))) {
		snprintf(err, err_len, "must be a power of two >= 512");
		return -EINVAL;
	}
	return rc;
}

static const struct usk_json_object_decoder g_decoders[] = {
	{"name", offsetof(struct ut_params, name), usk_json_decode_string, false},
	{"block_size", offsetof(struct ut_params, block_size), decode_block_size, false},
	{"num_blocks", offsetof(struct ut_params, num_blocks), usk_json_decode_uint64, false},
	{"u8", offsetof(struct ut_params, u8), usk_json_decode_uint8, true},
	{"u16", offsetof(struct ut_params, u16), usk_json_decode_uint16, true},
	{"i32", offsetof(struct ut_params, i32), usk_json_decode_int32, true},
	{"flag", offsetof(struct ut_params, flag), usk_json_decode_bool, true},
	{"d", offsetof(struct ut_params, d), usk_json_decode_double, true},
	{"extra", offsetof(struct ut_params, extra), usk_json_decode_json, true},
};

static int
decode_str(const char *text, struct ut_params *p, char *err, size_t err_len)
{
	json_error_t jerr;
	json_t *obj = json_loads(text, 0, &jerr);
	int rc;

	assert_non_null(obj);
	memset(p, 0, sizeof(*p));
	rc = usk_json_decode_object(obj, g_decoders, USK_COUNTOF(g_decoders), p, err, err_len);
	json_decref(obj);
	return rc;
}

static void
free_params(struct ut_params *p)
{
	free(p->name);
	json_decref(p->extra);
}

static void
test_json_decode_ok(void **state)
{
	struct ut_params p;
	char err[256];

	assert_int_equal(decode_str("{\"name\":\"Malloc0\",\"block_size\":4096,\"num_blocks\":1024,"
				    "\"u8\":255,\"u16\":65535,\"i32\":-5,\"flag\":true,\"d\":1.5,"
				    "\"extra\":{\"a\":[1]}}",
				    &p, err, sizeof(err)),
			 0);
	assert_string_equal(p.name, "Malloc0");
	assert_int_equal(p.block_size, 4096);
	assert_int_equal(p.num_blocks, 1024);
	assert_int_equal(p.u8, 255);
	assert_int_equal(p.u16, 65535);
	assert_int_equal(p.i32, -5);
	assert_true(p.flag);
	assert_true(p.d == 1.5);
	assert_non_null(p.extra);
	assert_true(json_is_object(p.extra));
	free_params(&p);
}

static void
expect_err(const char *text, const char *msg)
{
	struct ut_params p;
	char err[256];

	assert_int_equal(decode_str(text, &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, msg);
	free_params(&p);
}

static void
test_json_decode_errors(void **state)
{
	char err[256];
	json_t *arr;
	int32_t i32;

	expect_err("{\"name\":\"a\",\"block_size\":512}", "num_blocks: missing required field");
	expect_err("{\"name\":\"a\",\"block_size\":512,\"num_blocks\":1,\"bogus\":1}",
		   "bogus: unknown member");
	expect_err("{\"name\":1,\"block_size\":512,\"num_blocks\":1}",
		   "name: wrong type: expected a string, got an integer");
	expect_err("{\"name\":\"a\",\"block_size\":500,\"num_blocks\":1}",
		   "block_size: must be a power of two >= 512");
	expect_err("{\"name\":\"a\",\"block_size\":512,\"num_blocks\":-1}",
		   "num_blocks: out of range: -1 is not in 0..9223372036854775807");
	expect_err("{\"name\":\"a\",\"block_size\":512,\"num_blocks\":1,\"u8\":256}",
		   "u8: out of range: 256 is not in 0..255");
	expect_err("{\"name\":\"a\",\"block_size\":512,\"num_blocks\":1,\"u16\":70000}",
		   "u16: out of range: 70000 is not in 0..65535");
	expect_err("{\"name\":\"a\",\"block_size\":512,\"num_blocks\":1,\"i32\":3000000000}",
		   "i32: out of range: 3000000000 is not in -2147483648..2147483647");
	expect_err("{\"name\":\"a\",\"block_size\":512,\"num_blocks\":1,\"flag\":\"yes\"}",
		   "flag: wrong type: expected a boolean, got a string");
	expect_err("{\"name\":\"a\",\"block_size\":512,\"num_blocks\":1,\"d\":null}",
		   "d: wrong type: expected a number, got null");
	expect_err("{\"name\":\"a\",\"block_size\":512,\"num_blocks\":1.5}",
		   "num_blocks: wrong type: expected an unsigned integer, got a number");
	expect_err("{\"name\":\"a\",\"block_size\":512,\"num_blocks\":1,\"extra\":3}",
		   "extra: wrong type: expected an object or an array, got an integer");

	/* Not an object at all. */
	arr = json_array();
	assert_int_equal(usk_json_decode_object(arr, g_decoders, 1, &i32, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "wrong type: expected an object, got an array");
	json_decref(arr);
}

static void
test_json_decode_relaxed_and_null(void **state)
{
	static const struct usk_json_object_decoder opt[] = {
		{"i32", 0, usk_json_decode_int32, true},
	};
	json_t *obj = json_pack("{s:i, s:s}", "i32", 7, "other", "x");
	char err[128];
	int32_t v = 0;

	assert_int_equal(usk_json_decode_object(obj, opt, 1, &v, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "other: unknown member");
	assert_int_equal(usk_json_decode_object_relaxed(obj, opt, 1, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 7);
	json_decref(obj);
	/* NULL params decode like {} */
	v = 3;
	assert_int_equal(usk_json_decode_object(NULL, opt, 1, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 3);
	assert_int_equal(usk_json_decode_object(NULL, g_decoders, 1, &v, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "name: missing required field");
}

static void
test_json_decode_trsvcid(void **state)
{
	json_t *v;
	char *out = NULL;
	char err[128];

	v = json_integer(4420);
	assert_int_equal(usk_json_decode_trsvcid(v, &out, err, sizeof(err)), 0);
	assert_string_equal(out, "4420");
	free(out);
	out = NULL;
	json_decref(v);
	v = json_string("nvme");
	assert_int_equal(usk_json_decode_trsvcid(v, &out, err, sizeof(err)), 0);
	assert_string_equal(out, "nvme");
	free(out);
	out = NULL;
	json_decref(v);
	v = json_integer(65536);
	assert_int_equal(usk_json_decode_trsvcid(v, &out, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "out of range: a port is 0..65535");
	assert_null(out);
	json_decref(v);
	v = json_integer(-1);
	assert_int_equal(usk_json_decode_trsvcid(v, &out, err, sizeof(err)), -EINVAL);
	json_decref(v);
	v = json_true();
	assert_int_equal(usk_json_decode_trsvcid(v, &out, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "wrong type: expected a string, got a boolean");
	assert_null(out);
	json_decref(v);
}

static void
test_json_config_add(void **state)
{
	json_t *arr = json_array();
	json_t *e;

	usk_json_config_add(arr, "bdev_malloc_create", json_pack("{s:s}", "name", "Malloc0"));
	usk_json_config_add(arr, "framework_start_init", NULL);
	assert_int_equal(json_array_size(arr), 2);
	e = json_array_get(arr, 0);
	assert_string_equal(json_string_value(json_object_get(e, "method")), "bdev_malloc_create");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(e, "params"), "name")),
		"Malloc0");
	assert_null(json_object_get(json_array_get(arr, 1), "params"));
	json_decref(arr);
}

static void
test_cpuset_parse(void **state)
{
	struct usk_cpuset s, t;

	assert_int_equal(usk_cpuset_parse(&s, "0x3"), 0);
	assert_int_equal(usk_cpuset_count(&s), 2);
	assert_true(usk_cpuset_get_cpu(&s, 0) && usk_cpuset_get_cpu(&s, 1));
	assert_string_equal(usk_cpuset_fmt(&s), "3");
	assert_int_equal(usk_cpuset_parse(&t, "3"), 0);
	assert_true(usk_cpuset_equal(&s, &t));
	assert_int_equal(usk_cpuset_parse(&t, "[0,1]"), 0);
	assert_true(usk_cpuset_equal(&s, &t));
	assert_int_equal(usk_cpuset_parse(&t, "0-1"), 0);
	assert_true(usk_cpuset_equal(&s, &t));
	assert_int_equal(usk_cpuset_parse(&s, "[0-3,5]"), 0);
	assert_int_equal(usk_cpuset_count(&s), 5);
	assert_false(usk_cpuset_get_cpu(&s, 4));
	assert_string_equal(usk_cpuset_fmt(&s), "2f");
	assert_int_equal(usk_cpuset_parse(&s, " [ 127 ] "), 0);
	assert_true(usk_cpuset_get_cpu(&s, 127));
	assert_string_equal(usk_cpuset_fmt(&s), "80000000000000000000000000000000");
	assert_int_equal(usk_cpuset_parse(&s, "0xF0"), 0);
	assert_string_equal(usk_cpuset_fmt(&s), "f0");
	assert_int_equal(usk_cpuset_parse(&s, "0x0"), 0);
	assert_int_equal(usk_cpuset_count(&s), 0);
	assert_string_equal(usk_cpuset_fmt(&s), "0");

	/* bad strings leave the set untouched */
	assert_int_equal(usk_cpuset_parse(&s, "[0-3,5]"), 0);
	usk_cpuset_copy(&t, &s);
	assert_int_equal(usk_cpuset_parse(&s, ""), -EINVAL);
	assert_int_equal(usk_cpuset_parse(&s, "0x"), -EINVAL);
	assert_int_equal(usk_cpuset_parse(&s, "0xg"), -EINVAL);
	assert_int_equal(usk_cpuset_parse(&s, "zz"), -EINVAL);
	assert_int_equal(usk_cpuset_parse(&s, "["), -EINVAL);
	assert_int_equal(usk_cpuset_parse(&s, "[]"), -EINVAL);
	assert_int_equal(usk_cpuset_parse(&s, "[1"), -EINVAL);
	assert_int_equal(usk_cpuset_parse(&s, "[3-1]"), -EINVAL);
	assert_int_equal(usk_cpuset_parse(&s, "[1,,2]"), -EINVAL);
	assert_int_equal(usk_cpuset_parse(&s, "[1,]"), -EINVAL);
	assert_int_equal(usk_cpuset_parse(&s, "[128]"), -EINVAL);
	assert_int_equal(usk_cpuset_parse(&s, "[-1]"), -EINVAL);
	assert_int_equal(usk_cpuset_parse(&s, "[a]"), -EINVAL);
	assert_int_equal(usk_cpuset_parse(&s, "1ffffffffffffffffffffffffffffffff"), -EINVAL);
	assert_int_equal(usk_cpuset_parse(&s, NULL), -EINVAL);
	assert_true(usk_cpuset_equal(&s, &t));
}

static void
test_cpuset_ops(void **state)
{
	struct usk_cpuset a, b;

	usk_cpuset_zero(&a);
	usk_cpuset_set_cpu(&a, 1, true);
	usk_cpuset_set_cpu(&a, 9, true);
	usk_cpuset_set_cpu(&a, 200, true); /* ignored */
	assert_int_equal(usk_cpuset_count(&a), 2);
	usk_cpuset_zero(&b);
	usk_cpuset_set_cpu(&b, 9, true);
	usk_cpuset_set_cpu(&b, 10, true);
	usk_cpuset_and(&b, &a);
	assert_int_equal(usk_cpuset_count(&b), 1);
	assert_true(usk_cpuset_get_cpu(&b, 9));
	usk_cpuset_set_cpu(&b, 3, true);
	usk_cpuset_or(&b, &a);
	assert_int_equal(usk_cpuset_count(&b), 3);
	usk_cpuset_set_cpu(&b, 9, false);
	assert_false(usk_cpuset_get_cpu(&b, 9));
	usk_cpuset_negate(&b);
	assert_int_equal(usk_cpuset_count(&b), USK_CPUSET_SIZE - 2);
}

static void
test_strings(void **state)
{
	char buf[8];
	char *s;

	assert_null(usk_strdup(NULL));
	s = usk_strdup("abc");
	assert_string_equal(s, "abc");
	free(s);
	s = usk_sprintf_alloc("%s-%d", "nqn", 42);
	assert_string_equal(s, "nqn-42");
	free(s);
	usk_strcpy_pad(buf, "ab", sizeof(buf), ' ');
	assert_memory_equal(buf, "ab      ", 8);
	assert_int_equal(usk_strlen_pad(buf, sizeof(buf), ' '), 2);
	usk_strcpy_pad(buf, "0123456789", sizeof(buf), ' ');
	assert_memory_equal(buf, "01234567", 8);
	assert_int_equal(usk_strlen_pad(buf, sizeof(buf), ' '), 8);
	usk_strcpy_pad(buf, "", sizeof(buf), ' ');
	assert_int_equal(usk_strlen_pad(buf, sizeof(buf), ' '), 0);
}

/* Wire bytes in logs: nothing but printable ASCII comes out, whole escapes, "..." when cut. */
static void
test_str_escape(void **state)
{
	char out[64], small[8];
	const uint8_t forged[] = "nqn.x\n[ERROR] fake\x1b[31m\\\xff";

	usk_str_escape(out, sizeof(out), forged, sizeof(forged));
	assert_string_equal(out, "nqn.x\\x0a[ERROR] fake\\x1b[31m\\\\\\xff");
	/* stops at the first NUL of a fixed-size field */
	assert_string_equal(usk_str_escape(out, sizeof(out), "ab\0cd", 5), "ab");
	assert_string_equal(usk_str_escape(out, sizeof(out), "", 0), "");
	/* exactly fits: no "..." */
	assert_string_equal(usk_str_escape(small, sizeof(small), "abcdefg", 7), "abcdefg");
	/* cut: never half an escape, always room for "..." */
	assert_string_equal(usk_str_escape(small, sizeof(small), "abcdefgh", 8), "abcd...");
	assert_string_equal(usk_str_escape(small, sizeof(small), "a\n\nbcdef", 8), "a...");
	assert_string_equal(usk_str_escape(small, 4, "\x01", 1), "...");
	assert_string_equal(usk_str_escape(small, 5, "\x01", 1), "\\x01");
	assert_true(USK_STR_ESCAPE_SIZE(3) == 13);
}

static void
test_iov(void **state)
{
	char a[3], b[5], out[16];
	struct iovec iov[2] = {{a, sizeof(a)}, {b, sizeof(b)}};

	assert_int_equal(usk_iov_length(iov, 2), 8);
	assert_int_equal(usk_iov_from_buf(iov, 2, "abcdefghijk", 11), 8);
	assert_memory_equal(a, "abc", 3);
	assert_memory_equal(b, "defgh", 5);
	memset(out, 0, sizeof(out));
	assert_int_equal(usk_iov_to_buf(iov, 2, out, sizeof(out)), 8);
	assert_string_equal(out, "abcdefgh");
	assert_int_equal(usk_iov_to_buf(iov, 2, out, 4), 4);
	assert_int_equal(usk_iov_from_buf(iov, 2, "XY", 2), 2);
	assert_memory_equal(a, "XYc", 3);
	usk_iov_memset(iov, 2, 'z');
	assert_memory_equal(b, "zzzzz", 5);
	assert_int_equal(usk_iov_length(iov, 0), 0);
}

static void
test_crc32c(void **state)
{
	const char *check = "123456789";
	struct iovec iov[3] = {
		{(void *)check, 2}, {(void *)(check + 2), 0}, {(void *)(check + 2), 7}};
	uint32_t crc;
	char zeros[32] = {0};

	crc = usk_crc32c_update(check, 9, ~0u) ^ ~0u;
	assert_int_equal(crc, 0xE3069283u);
	/* chaining gives the same result */
	crc = usk_crc32c_update(check, 4, ~0u);
	crc = usk_crc32c_update(check + 4, 5, crc) ^ ~0u;
	assert_int_equal(crc, 0xE3069283u);
	assert_int_equal(usk_crc32c_iov_update(iov, 3, ~0u) ^ ~0u, 0xE3069283u);
	/* RFC 3720 B.4: 32 bytes of zeros */
	assert_int_equal(usk_crc32c_update(zeros, 32, ~0u) ^ ~0u, 0x8A9136AAu);
	assert_int_equal(usk_crc32c_update(check, 0, 0x1234u), 0x1234u);
}

/* Transport type and address family names: SPDK's spelling, parsed case-insensitively. */
static void
test_trid_names(void **state)
{
	enum usk_nvme_transport_type t;
	enum usk_nvmf_adrfam a;
	char err[64];

	assert_int_equal(usk_nvme_trtype_from_name("tcp", &t), 0);
	assert_int_equal(t, USK_NVME_TRANSPORT_TCP);
	assert_int_equal(usk_nvme_trtype_from_name("PCIE", &t), 0);
	assert_int_equal(t, USK_NVME_TRANSPORT_PCIE);
	assert_string_equal(usk_nvme_trtype_name(USK_NVME_TRANSPORT_PCIE), "PCIe");
	assert_string_equal(usk_nvme_trtype_name(USK_NVME_TRANSPORT_VFIOUSER), "VFIOUSER");
	assert_null(usk_nvme_trtype_name(USK_NVME_TRANSPORT_CUSTOM));
	assert_int_equal(usk_nvme_trtype_from_name("TCPX", &t), -EINVAL);
	assert_int_equal(usk_nvmf_adrfam_from_name("ipv6", &a), 0);
	assert_int_equal(a, USK_NVMF_ADRFAM_IPV6);
	assert_int_equal(usk_nvmf_adrfam_from_name("intra_host", &a), 0);
	assert_int_equal(a, USK_NVMF_ADRFAM_INTRA_HOST);
	assert_string_equal(usk_nvmf_adrfam_name(USK_NVMF_ADRFAM_IB), "IB");
	assert_null(usk_nvmf_adrfam_name((enum usk_nvmf_adrfam)77));
	assert_int_equal(usk_nvmf_adrfam_from_name("IPv7", &a), -EINVAL);
	/* usk_set_err: the message for the caller, -EINVAL for the parse */
	assert_int_equal(usk_set_err(err, sizeof(err), "bad %s", "x"), -EINVAL);
	assert_string_equal(err, "bad x");
	assert_int_equal(usk_set_err(NULL, 0, "bad %s", "x"), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_flags),
		cmocka_unit_test(test_log_levels_and_sink),
		cmocka_unit_test(test_log_stderr_format),
		cmocka_unit_test(test_json_decode_ok),
		cmocka_unit_test(test_json_decode_errors),
		cmocka_unit_test(test_json_decode_relaxed_and_null),
		cmocka_unit_test(test_json_decode_trsvcid),
		cmocka_unit_test(test_json_config_add),
		cmocka_unit_test(test_cpuset_parse),
		cmocka_unit_test(test_cpuset_ops),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_str_escape),
		cmocka_unit_test(test_iov),
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_trid_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
