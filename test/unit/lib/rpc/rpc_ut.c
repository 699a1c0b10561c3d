/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the JSON-RPC connection core: framing, validation, dispatch, ordering, batches. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "usk/rpc.h"
#include "usk/thread.h"
#include "../../../../lib/rpc/rpc_internal.h"

/* The core runs without threads here: replies complete inline. */
struct usk_thread *
usk_get_thread(void)
{
	return NULL;
}

int
usk_thread_send_msg(const struct usk_thread *thread, usk_msg_fn fn, void *ctx)
{
	fn(ctx);
	return 0;
}

struct test_params {
	char *name;
	uint32_t count;
};

static const struct usk_json_object_decoder test_decoders[] = {
	{"name", offsetof(struct test_params, name), usk_json_decode_string, false},
	{"count", offsetof(struct test_params, count), usk_json_decode_uint32, true},
};

/* test_*_out_of_memory: the first handler to run starts the failing allocator. */
static bool g_alloc_arm;
static bool g_alloc_limited;

static void
rpc_test_echo(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct test_params p = {};
	json_t *res;

	if (g_alloc_arm) {
		g_alloc_arm = false;
		g_alloc_limited = true;
	}

	if (!usk_rpc_decode_params(request, params, test_decoders, 2, &p)) {
		free(p.name); /* decoded before a later field failed */
		return;
	}
	/* Member by member, as real handlers build replies (a failed one would be dropped). */
	res = json_object();
	usk_json_set(res, "name", json_string(p.name));
	usk_json_set(res, "count", json_integer(p.count));
	usk_jsonrpc_send_result(request, res);
	free(p.name);
}
USK_RPC_REGISTER("test_echo", rpc_test_echo, USK_RPC_RUNTIME)
USK_RPC_REGISTER_ALIAS_DEPRECATED(test_echo, old_test_echo)

static void
rpc_test_startup_only(struct usk_jsonrpc_request *request, const json_t *params)
{
	usk_jsonrpc_send_bool_response(request, true);
}
USK_RPC_REGISTER("test_startup_only", rpc_test_startup_only, USK_RPC_STARTUP)

/* Replies later, when the test calls complete_deferred(). */
static struct usk_jsonrpc_request *g_deferred;
static void
rpc_test_deferred(struct usk_jsonrpc_request *request, const json_t *params)
{
	g_deferred = request;
}
USK_RPC_REGISTER("test_deferred", rpc_test_deferred, USK_RPC_RUNTIME)

static int
setup(void **state)
{
	usk_rpc_set_state(USK_RPC_RUNTIME);
	return 0;
}

/* Pull every JSON value written so far. */
static size_t
take_output(struct jsonrpc_conn *conn, json_t **vals, size_t max)
{
	size_t len, n = 0, off = 0;
	const char *buf = jsonrpc_conn_output(conn, &len);
	json_error_t err;

	while (off < len && n < max) {
		json_t *v = json_loadb(buf + off, len - off, JSON_DISABLE_EOF_CHECK, &err);

		assert_non_null(v);
		vals[n++] = v;
		off += (size_t)err.position;
	}
	assert_int_equal(off, len);
	jsonrpc_conn_consume_output(conn, len);
	return n;
}

static json_t *
take_one(struct jsonrpc_conn *conn)
{
	json_t *v[2];

	assert_int_equal(take_output(conn, v, 2), 1);
	return v[0];
}

static void
assert_error(json_t *resp, int code, const char *substr)
{
	json_t *err = json_object_get(resp, "error");

	assert_non_null(err);
	assert_int_equal(json_integer_value(json_object_get(err, "code")), code);
	if (substr != NULL) {
		assert_non_null(strstr(json_string_value(json_object_get(err, "message")), substr));
	}
}

static const char *REQ =
	"{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":7,\"params\":{\"name\":\"x\"}}";

static void
test_byte_by_byte(void **state)
{
	struct jsonrpc_conn *conn = jsonrpc_conn_create(NULL, NULL);
	size_t i, len;
	json_t *resp;

	for (i = 0; i < strlen(REQ); i++) {
		assert_int_equal(jsonrpc_conn_recv(conn, REQ + i, 1), 0);
		if (i + 1 < strlen(REQ)) {
			jsonrpc_conn_output(conn, &len);
			assert_int_equal(len, 0);
		}
	}
	resp = take_one(conn);
	assert_int_equal(json_integer_value(json_object_get(resp, "id")), 7);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(resp, "result"), "name")), "x");
	assert_string_equal(json_string_value(json_object_get(resp, "jsonrpc")), "2.0");
	json_decref(resp);
	jsonrpc_conn_close(conn);
}

static void
test_two_in_one_read(void **state)
{
	struct jsonrpc_conn *conn = jsonrpc_conn_create(NULL, NULL);
	const char *two =
		"{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":1,\"params\":{\"name\":\"a}\"}}\n"
		"  {\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":\"two\",\"params\":{\"name\":\"b\\\"{\"}}";
	json_t *v[3];

	assert_int_equal(jsonrpc_conn_recv(conn, two, strlen(two)), 0);
	assert_int_equal(take_output(conn, v, 3), 2);
	assert_int_equal(json_integer_value(json_object_get(v[0], "id")), 1);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(v[0], "result"), "name")), "a}");
	assert_string_equal(json_string_value(json_object_get(v[1], "id")), "two");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(v[1], "result"), "name")),
		"b\"{");
	json_decref(v[0]);
	json_decref(v[1]);
	jsonrpc_conn_close(conn);
}

static void
test_malformed(void **state)
{
	struct jsonrpc_conn *conn = jsonrpc_conn_create(NULL, NULL);
	const char *bad = "{\"jsonrpc\":\"2.0\",\"method\":}";
	json_t *resp;

	assert_int_equal(jsonrpc_conn_recv(conn, bad, strlen(bad)), -EPROTO);
	resp = take_one(conn);
	assert_error(resp, USK_JSONRPC_ERROR_PARSE_ERROR, "Parse error");
	assert_true(json_is_null(json_object_get(resp, "id")));
	json_decref(resp);
	/* Nothing more is accepted on a failed connection. */
	assert_int_equal(jsonrpc_conn_recv(conn, REQ, strlen(REQ)), -EPROTO);
	jsonrpc_conn_close(conn);

	conn = jsonrpc_conn_create(NULL, NULL);
	assert_int_equal(jsonrpc_conn_recv(conn, "hello", 5), -EPROTO);
	resp = take_one(conn);
	assert_error(resp, USK_JSONRPC_ERROR_PARSE_ERROR, NULL);
	json_decref(resp);
	jsonrpc_conn_close(conn);
}

static void
test_invalid_requests(void **state)
{
	struct {
		const char *req;
		int code;
		const char *msg;
	} cases[] = {
		{"42", USK_JSONRPC_ERROR_INVALID_REQUEST, "not a JSON object"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1}", USK_JSONRPC_ERROR_INVALID_REQUEST, "method"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", USK_JSONRPC_ERROR_INVALID_REQUEST,
		 "method"},
		{"{\"method\":\"test_echo\",\"id\":1}", USK_JSONRPC_ERROR_INVALID_REQUEST,
		 "jsonrpc"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test_echo\",\"params\":3}",
		 USK_JSONRPC_ERROR_INVALID_REQUEST, "params"},
		{"{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"test_echo\"}",
		 USK_JSONRPC_ERROR_INVALID_REQUEST, "id"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"foo\"}",
		 USK_JSONRPC_ERROR_METHOD_NOT_FOUND, "Method not found: foo"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test_echo\",\"params\":{\"count\":1}}",
		 USK_JSONRPC_ERROR_INVALID_PARAMS, "name"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test_echo\",\"params\":{\"name\":\"x\",\"count\":\"z\"}}",
		 USK_JSONRPC_ERROR_INVALID_PARAMS, "count"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test_echo\",\"params\":{\"name\":\"x\",\"bogus\":1}}",
		 USK_JSONRPC_ERROR_INVALID_PARAMS, "bogus"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test_echo\"}",
		 USK_JSONRPC_ERROR_INVALID_PARAMS, "name"},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test_startup_only\"}",
		 USK_JSONRPC_ERROR_INVALID_STATE, "Method may only be called at startup"},
		{"[]", USK_JSONRPC_ERROR_INVALID_REQUEST, "empty batch"},
	};
	size_t i;

	for (i = 0; i < USK_COUNTOF(cases); i++) {
		struct jsonrpc_conn *conn = jsonrpc_conn_create(NULL, NULL);
		json_t *resp;

		jsonrpc_conn_recv(conn, cases[i].req, strlen(cases[i].req));
		resp = take_one(conn);
		assert_error(resp, cases[i].code, cases[i].msg);
		json_decref(resp);
		/* Invalid requests (unlike malformed input) keep the connection usable. */
		if (i > 0) {
			assert_int_equal(jsonrpc_conn_recv(conn, REQ, strlen(REQ)), 0);
			resp = take_one(conn);
			assert_non_null(json_object_get(resp, "result"));
			json_decref(resp);
		}
		jsonrpc_conn_close(conn);
	}
}

static void
test_state_and_alias(void **state)
{
	struct jsonrpc_conn *conn = jsonrpc_conn_create(NULL, NULL);
	const char *alias =
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"old_test_echo\",\"params\":{\"name\":\"q\"}}";
	json_t *resp;

	assert_int_equal(usk_rpc_is_method_allowed("test_echo", USK_RPC_RUNTIME), 0);
	assert_int_equal(usk_rpc_is_method_allowed("test_echo", USK_RPC_STARTUP), -EPERM);
	assert_int_equal(usk_rpc_is_method_allowed("old_test_echo", USK_RPC_RUNTIME), 0);
	assert_int_equal(usk_rpc_is_method_allowed("nope", USK_RPC_RUNTIME), -ENOENT);
	assert_int_equal(usk_rpc_is_method_allowed("rpc_get_methods", USK_RPC_STARTUP), 0);

	jsonrpc_conn_recv(conn, alias, strlen(alias));
	resp = take_one(conn);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(resp, "result"), "name")), "q");
	json_decref(resp);

	usk_rpc_set_state(USK_RPC_STARTUP);
	jsonrpc_conn_recv(conn, REQ, strlen(REQ));
	resp = take_one(conn);
	assert_error(resp, USK_JSONRPC_ERROR_INVALID_STATE, "Method may only be called at runtime");
	json_decref(resp);
	usk_rpc_set_state(USK_RPC_RUNTIME);
	jsonrpc_conn_close(conn);
}

static void
test_oversized(void **state)
{
	struct jsonrpc_conn *conn = jsonrpc_conn_create(NULL, NULL);
	char *big = malloc(USK_JSONRPC_MAX_REQUEST + 100);
	json_t *resp;
	size_t off;
	int rc = 0;

	memset(big, ' ', USK_JSONRPC_MAX_REQUEST + 100);
	memcpy(big, "{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"params\":{\"name\":\"", 53);
	for (off = 53; off < USK_JSONRPC_MAX_REQUEST + 100; off++) {
		big[off] = 'a';
	}
	for (off = 0; off < USK_JSONRPC_MAX_REQUEST + 100 && rc == 0; off += 65536) {
		size_t n = USK_MIN((size_t)65536, USK_JSONRPC_MAX_REQUEST + 100 - off);

		rc = jsonrpc_conn_recv(conn, big + off, n);
	}
	assert_int_equal(rc, -EPROTO);
	resp = take_one(conn);
	assert_error(resp, USK_JSONRPC_ERROR_INVALID_REQUEST, "larger than");
	json_decref(resp);
	free(big);
	jsonrpc_conn_close(conn);
}

static void
test_batch(void **state)
{
	struct jsonrpc_conn *conn = jsonrpc_conn_create(NULL, NULL);
	const char *batch =
		"[{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":1,\"params\":{\"name\":\"a\"}},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"params\":{\"name\":\"n\"}},"
		"7,"
		"{\"jsonrpc\":\"2.0\",\"method\":\"foo\",\"id\":3}]";
	const char *all_notif =
		"[{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"params\":{\"name\":\"n\"}}]";
	json_t *resp;
	size_t len;

	assert_int_equal(jsonrpc_conn_recv(conn, batch, strlen(batch)), 0);
	resp = take_one(conn);
	assert_true(json_is_array(resp));
	assert_int_equal(json_array_size(resp), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(resp, 0), "id")), 1);
	assert_error(json_array_get(resp, 1), USK_JSONRPC_ERROR_INVALID_REQUEST, NULL);
	assert_error(json_array_get(resp, 2), USK_JSONRPC_ERROR_METHOD_NOT_FOUND, "foo");
	json_decref(resp);

	assert_int_equal(jsonrpc_conn_recv(conn, all_notif, strlen(all_notif)), 0);
	jsonrpc_conn_output(conn, &len);
	assert_int_equal(len, 0);
	jsonrpc_conn_close(conn);
}

static void
test_notification(void **state)
{
	struct jsonrpc_conn *conn = jsonrpc_conn_create(NULL, NULL);
	const char *n1 =
		"{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"params\":{\"name\":\"n\"}}";
	const char *n2 = "{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}";
	size_t len;

	assert_int_equal(jsonrpc_conn_recv(conn, n1, strlen(n1)), 0);
	assert_int_equal(jsonrpc_conn_recv(conn, n2, strlen(n2)), 0);
	jsonrpc_conn_output(conn, &len);
	assert_int_equal(len, 0);
	jsonrpc_conn_close(conn);
}

static void
test_ordered_async(void **state)
{
	struct jsonrpc_conn *conn = jsonrpc_conn_create(NULL, NULL);
	const char *d = "{\"jsonrpc\":\"2.0\",\"method\":\"test_deferred\",\"id\":1}";
	json_t *v[3];
	size_t len;

	jsonrpc_conn_recv(conn, d, strlen(d));
	jsonrpc_conn_recv(conn, REQ, strlen(REQ));
	/* The second reply is ready but waits for the first. */
	jsonrpc_conn_output(conn, &len);
	assert_int_equal(len, 0);
	assert_non_null(g_deferred);
	usk_jsonrpc_send_error_response_fmt(g_deferred, -5, "late %d", 1);
	g_deferred = NULL;
	assert_int_equal(take_output(conn, v, 3), 2);
	assert_int_equal(json_integer_value(json_object_get(v[0], "id")), 1);
	assert_error(v[0], -5, "late 1");
	assert_int_equal(json_integer_value(json_object_get(v[1], "id")), 7);
	json_decref(v[0]);
	json_decref(v[1]);

	/* The connection goes away before the reply: the late reply is dropped safely. */
	jsonrpc_conn_recv(conn, d, strlen(d));
	jsonrpc_conn_close(conn);
	assert_non_null(g_deferred);
	usk_jsonrpc_send_result(g_deferred, NULL);
	g_deferred = NULL;
}

static json_t *g_local_resp;
static void
local_cb(void *ctx, const json_t *response)
{
	g_local_resp = json_deep_copy(response);
}

static void
test_call_local(void **state)
{
	json_t *params = json_pack("{s:s}", "name", "loc");

	assert_int_equal(usk_rpc_call_local("test_echo", params, local_cb, NULL), 0);
	assert_non_null(g_local_resp);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(g_local_resp, "result"), "name")),
		"loc");
	json_decref(g_local_resp);
	assert_int_equal(usk_rpc_call_local("nope", NULL, local_cb, NULL), 0);
	assert_error(g_local_resp, USK_JSONRPC_ERROR_METHOD_NOT_FOUND, "nope");
	json_decref(g_local_resp);
	json_decref(params);
}

static void
count_cb(const char *name, void *ctx)
{
	(*(int *)ctx)++;
}

static void
test_get_methods(void **state)
{
	struct jsonrpc_conn *conn = jsonrpc_conn_create(NULL, NULL);
	const char *r1 = "{\"jsonrpc\":\"2.0\",\"method\":\"rpc_get_methods\",\"id\":1}";
	const char *r2 =
		"{\"jsonrpc\":\"2.0\",\"method\":\"rpc_get_methods\",\"id\":2,\"params\":{\"current\":true,\"include_aliases\":true}}";
	const char *r3 = "{\"jsonrpc\":\"2.0\",\"method\":\"spdk_get_version\",\"id\":3}";
	json_t *v[4];
	int all = 0, with_alias = 0;

	usk_rpc_foreach_method(false, USK_RPC_STARTUP | USK_RPC_RUNTIME, count_cb, &all);
	usk_rpc_foreach_method(true, USK_RPC_STARTUP | USK_RPC_RUNTIME, count_cb, &with_alias);
	assert_int_equal(with_alias, all + 1);
	jsonrpc_conn_recv(conn, r1, strlen(r1));
	jsonrpc_conn_recv(conn, r2, strlen(r2));
	jsonrpc_conn_recv(conn, r3, strlen(r3));
	assert_int_equal(take_output(conn, v, 4), 3);
	assert_int_equal(json_array_size(json_object_get(v[0], "result")), all);
	/* runtime state: test_startup_only is not current, the alias is included */
	assert_int_equal(json_array_size(json_object_get(v[1], "result")), all);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(v[2], "result"), "version")),
		"usk v0.1.0");
	assert_int_equal(
		json_integer_value(json_object_get(
			json_object_get(json_object_get(v[2], "result"), "fields"), "minor")),
		1);
	json_decref(v[0]);
	json_decref(v[1]);
	json_decref(v[2]);
	jsonrpc_conn_close(conn);
}

/*
 * Out of memory while a reply is built: from the first handler on, jansson's allocator fails
 * its call number n (once; later calls succeed, so a dropped member would show), for every n
 * until a run completes without a failure. Each run must end with exactly one reply: the
 * complete result, or -32603 Internal error. Never a truncated result, never none. (Parsing
 * is left out: jansson reports some of its allocation failures as syntax errors.)
 */
static size_t g_alloc_budget;
static bool g_alloc_failed;

static void *
failing_malloc(size_t size)
{
	if (g_alloc_limited) {
		if (g_alloc_budget == 0) {
			g_alloc_failed = true;
			g_alloc_limited = false;
			return NULL;
		}
		g_alloc_budget--;
	}
	return malloc(size);
}

static void
oom_sweep(const char *req, const char *expected_text)
{
	json_t *expected = json_loads(expected_text, 0, NULL), *resp;
	size_t n, errors = 0;

	assert_non_null(expected);
	json_set_alloc_funcs(failing_malloc, free);
	for (n = 0;; n++) {
		struct jsonrpc_conn *conn = jsonrpc_conn_create(NULL, NULL);

		assert_non_null(conn);
		g_alloc_budget = n;
		g_alloc_failed = false;
		g_alloc_arm = true;
		jsonrpc_conn_recv(conn, req, strlen(req));
		g_alloc_limited = g_alloc_arm = false;
		resp = take_one(conn); /* exactly one value, and it parses */
		if (!g_alloc_failed) {
			/* Enough memory this time: the full reply. */
			assert_true(json_equal(resp, expected));
			json_decref(resp);
			jsonrpc_conn_close(conn);
			break;
		}
		if (!json_equal(resp, expected)) {
			/* A failure that mattered: an Internal error, never a partial result. */
			errors++;
			if (json_is_array(resp)) {
				/* A batch: each reply complete, or an Internal error with its id.
				 */
				assert_int_equal(json_array_size(resp), json_array_size(expected));
				for (size_t i = 0; i < json_array_size(resp); i++) {
					json_t *r = json_array_get(resp, i),
					       *e = json_array_get(expected, i);

					if (!json_equal(r, e)) {
						assert_true(json_equal(json_object_get(r, "id"),
								       json_object_get(e, "id")));
						assert_error(r, USK_JSONRPC_ERROR_INTERNAL_ERROR,
							     "Internal error");
					}
				}
			} else {
				assert_error(resp, USK_JSONRPC_ERROR_INTERNAL_ERROR,
					     "Internal error");
			}
		}
		json_decref(resp);
		jsonrpc_conn_close(conn);
		assert_true(n < 10000);
	}
	json_set_alloc_funcs(malloc, free);
	/* The sweep did hit the reply path. */
	assert_true(errors > 0);
	json_decref(expected);
}

static void
test_reply_out_of_memory(void **state)
{
	oom_sweep("{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":7,"
		  "\"params\":{\"name\":\"x\",\"count\":3}}",
		  "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"name\":\"x\",\"count\":3}}");
}

static void
test_batch_out_of_memory(void **state)
{
	oom_sweep("[{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":1,"
		  "\"params\":{\"name\":\"a\"}},"
		  "{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"params\":{\"name\":\"n\"}},"
		  "{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":\"b\","
		  "\"params\":{\"name\":\"b\",\"count\":2}}]",
		  "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"name\":\"a\",\"count\":0}},"
		  "{\"jsonrpc\":\"2.0\",\"id\":\"b\",\"result\":{\"name\":\"b\",\"count\":2}}]");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_two_in_one_read),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_invalid_requests),
		cmocka_unit_test(test_state_and_alias),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_notification),
		cmocka_unit_test(test_ordered_async),
		cmocka_unit_test(test_call_local),
		cmocka_unit_test(test_get_methods),
		cmocka_unit_test(test_reply_out_of_memory),
		cmocka_unit_test(test_batch_out_of_memory),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
