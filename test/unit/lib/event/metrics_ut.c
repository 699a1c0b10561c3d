/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests: metrics exposition formatting (escaping, grouping, types), scrape driver, HTTP
 * parser. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../../../lib/event/metrics_internal.h"

static const char *
text_of(struct usk_metrics_writer *w)
{
	size_t len = 0;
	const char *t = metrics_writer_text(w, &len);

	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	return t;
}

static void
test_label_escaping(void **state)
{
	struct usk_metrics_writer *w = metrics_writer_create();
	struct usk_metrics_label l[] = {{"bdev", "a\\b\"c\nd"}, {"thread", "plain"}};

	assert_int_equal(usk_metrics_add_u64(w, "usk_x_total", USK_METRIC_COUNTER,
					     "help with \\ and\nnewline \"quoted\"", l, 2, 7),
			 0);
	assert_string_equal(text_of(w),
			    "# HELP usk_x_total help with \\\\ and\\nnewline \"quoted\"\n"
			    "# TYPE usk_x_total counter\n"
			    "usk_x_total{bdev=\"a\\\\b\\\"c\\nd\",thread=\"plain\"} 7\n");
	metrics_writer_free(w);
}

static void
test_grouping_and_types(void **state)
{
	struct usk_metrics_writer *w = metrics_writer_create();
	struct usk_metrics_label a[] = {{"bdev", "A"}}, b[] = {{"bdev", "B"}};

	/* Interleaved adds come out grouped per family, families in first-use order. */
	assert_int_equal(usk_metrics_add_u64(w, "m_ops_total", USK_METRIC_COUNTER, "ops", a, 1, 1),
			 0);
	assert_int_equal(usk_metrics_add(w, "m_depth", USK_METRIC_GAUGE, "depth", a, 1, 0.5), 0);
	assert_int_equal(usk_metrics_add_u64(w, "m_ops_total", USK_METRIC_COUNTER, "ops", b, 1,
					     UINT64_MAX),
			 0);
	assert_int_equal(usk_metrics_add_summary(w, "m_lat_seconds", "lat", b, 1, 1.25, 3), 0);
	assert_int_equal(usk_metrics_add(w, "m_depth", USK_METRIC_GAUGE, "depth", NULL, 0, NAN), 0);
	assert_int_equal(usk_metrics_add(w, "m_inf", USK_METRIC_GAUGE, "", NULL, 0, -INFINITY), 0);
	assert_string_equal(text_of(w), "# HELP m_ops_total ops\n# TYPE m_ops_total counter\n"
					"m_ops_total{bdev=\"A\"} 1\n"
					"m_ops_total{bdev=\"B\"} 18446744073709551615\n"
					"# HELP m_depth depth\n# TYPE m_depth gauge\n"
					"m_depth{bdev=\"A\"} 0.5\n"
					"m_depth NaN\n"
					"# HELP m_lat_seconds lat\n# TYPE m_lat_seconds summary\n"
					"m_lat_seconds_sum{bdev=\"B\"} 1.25\n"
					"m_lat_seconds_count{bdev=\"B\"} 3\n"
					"# HELP m_inf \n# TYPE m_inf gauge\n"
					"m_inf -Inf\n");
	metrics_writer_free(w);
}

static void
test_invalid_names(void **state)
{
	struct usk_metrics_writer *w = metrics_writer_create();
	struct usk_metrics_label bad1[] = {{"1bdev", "x"}}, bad2[] = {{"a:b", "x"}},
				 bad3[] = {{"", "x"}}, ok[] = {{"_ok9", NULL}};

	assert_int_equal(usk_metrics_add(w, "9abc", USK_METRIC_GAUGE, "", NULL, 0, 1), -EINVAL);
	assert_int_equal(usk_metrics_add(w, "a-b", USK_METRIC_GAUGE, "", NULL, 0, 1), -EINVAL);
	assert_int_equal(usk_metrics_add(w, "", USK_METRIC_GAUGE, "", NULL, 0, 1), -EINVAL);
	assert_int_equal(usk_metrics_add(w, "m", USK_METRIC_GAUGE, "", bad1, 1, 1), -EINVAL);
	assert_int_equal(usk_metrics_add(w, "m", USK_METRIC_GAUGE, "", bad2, 1, 1), -EINVAL);
	assert_int_equal(usk_metrics_add(w, "m", USK_METRIC_GAUGE, "", bad3, 1, 1), -EINVAL);
	assert_int_equal(usk_metrics_add(w, "m", USK_METRIC_GAUGE, "", NULL, 1, 1), -EINVAL);
	assert_int_equal(usk_metrics_add(w, "m", USK_METRIC_SUMMARY, "", NULL, 0, 1), -EINVAL);
	/* colons are fine in metric names; a NULL label value prints as empty */
	assert_int_equal(usk_metrics_add(w, "ns:m", USK_METRIC_GAUGE, "h", ok, 1, 2), 0);
	/* the same family with another type is refused and leaves the output unchanged */
	assert_int_equal(usk_metrics_add(w, "ns:m", USK_METRIC_COUNTER, "h", NULL, 0, 3), -EINVAL);
	assert_string_equal(text_of(w), "# HELP ns:m h\n# TYPE ns:m gauge\nns:m{_ok9=\"\"} 2\n");
	metrics_writer_free(w);
}

static void
test_empty_writer(void **state)
{
	struct usk_metrics_writer *w = metrics_writer_create();

	assert_string_equal(text_of(w), "");
	metrics_writer_free(w);
}

/* ---- scrape driver ---- */

static struct usk_metrics_writer *g_pending; /* the async collector's writer, until "later" */
static int g_done_calls;
static char g_result[512];

static void
sync_collect(struct usk_metrics_writer *w)
{
	usk_metrics_add_u64(w, "first", USK_METRIC_GAUGE, "", NULL, 0, 1);
	usk_metrics_collect_done(w);
}

static void
async_collect(struct usk_metrics_writer *w)
{
	g_pending = w; /* finishes later, as a collector that messages other threads does */
}

static void
late_collect(struct usk_metrics_writer *w)
{
	usk_metrics_add_u64(w, "first", USK_METRIC_GAUGE, "", NULL, 0, 3);
	usk_metrics_collect_done(w);
}

static void
scrape_cb(struct usk_metrics_writer *w, void *ctx)
{
	size_t len;

	assert_ptr_equal(ctx, &g_done_calls);
	g_done_calls++;
	snprintf(g_result, sizeof(g_result), "%s", metrics_writer_text(w, &len));
	metrics_writer_free(w);
}

static void
test_scrape_order(void **state)
{
	static struct usk_metrics_collector c1 = {.name = "c1", .collect = sync_collect};
	static struct usk_metrics_collector c2 = {.name = "c2", .collect = async_collect};
	static struct usk_metrics_collector c3 = {.name = "c3", .collect = late_collect};

	metrics_registry_reset();
	usk_metrics_register_collector(&c1);
	usk_metrics_register_collector(&c2);
	usk_metrics_register_collector(&c3);
	g_done_calls = 0;
	metrics_scrape(scrape_cb, &g_done_calls);
	assert_int_equal(g_done_calls, 0); /* c2 has not finished */
	assert_non_null(g_pending);
	usk_metrics_add_u64(g_pending, "second", USK_METRIC_GAUGE, "", NULL, 0, 2);
	usk_metrics_collect_done(g_pending);
	assert_int_equal(g_done_calls, 1);
	assert_string_equal(g_result, "# HELP first \n# TYPE first gauge\nfirst 1\nfirst 3\n"
				      "# HELP second \n# TYPE second gauge\nsecond 2\n");
	/* no collectors: the callback still runs, with an empty writer */
	metrics_registry_reset();
	metrics_scrape(scrape_cb, &g_done_calls);
	assert_int_equal(g_done_calls, 2);
	assert_string_equal(g_result, "");
}

/* ---- HTTP parser ---- */

static int
parse(const char *s, struct metrics_http_request *req)
{
	return metrics_http_parse(s, strlen(s), req);
}

static void
test_http_valid(void **state)
{
	struct metrics_http_request req;
	const char *get = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9464\r\n"
			  "User-Agent: Prometheus/2.42.0\r\nAccept: text/plain;version=0.0.4\r\n"
			  "Content-Length: 0\r\n\r\n";
	size_t i;

	assert_int_equal(parse(get, &req), 0);
	assert_int_equal(req.method, METRICS_HTTP_GET);
	assert_string_equal(req.path, "/metrics");
	assert_int_equal(req.header_len, strlen(get));
	/* fed byte by byte: incomplete until the blank line */
	for (i = 0; i < strlen(get); i++) {
		assert_int_equal(metrics_http_parse(get, i, &req), -EAGAIN);
	}
	assert_int_equal(parse("HEAD /metrics?x=1&y HTTP/1.0\n\n", &req), 0);
	assert_int_equal(req.method, METRICS_HTTP_HEAD);
	assert_string_equal(req.path, "/metrics");
	assert_int_equal(parse("POST / HTTP/1.1\r\nX:\r\n\r\n", &req), 0);
	assert_int_equal(req.method, METRICS_HTTP_OTHER);
	/* trailing bytes after the head (pipelined request) are left alone */
	assert_int_equal(parse("GET / HTTP/1.1\r\n\r\nGET /x", &req), 0);
	assert_int_equal(req.header_len, 18);
}

static void
test_http_malformed(void **state)
{
	static const char *const bad[] = {
		"\r\n\r\n", /* empty request line */
		"GET\r\n\r\n",
		"GET /metrics\r\n\r\n",		  /* HTTP/0.9 */
		"GET  /metrics HTTP/1.1\r\n\r\n", /* double space */
		"GET metrics HTTP/1.1\r\n\r\n",	  /* not origin-form */
		"G(T /metrics HTTP/1.1\r\n\r\n",  /* not a token */
		"GET /met\x01rics HTTP/1.1\r\n\r\n",
		"GET /metrics HTTP/1.1 \r\n\r\n",
		"GET /metrics HTTX/1.1\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n",
		"GET /metrics HTTP/1.1\r\n folded: x\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nX: a\x7f\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nX: a\rb\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
		"GET /metrics HTTP/1.1\r\ncontent-length: 00x\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
	};
	struct metrics_http_request req;
	char nul[] = "GET /metrics HTTP/1.1\r\nX: a\0b\r\n\r\n";
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &req), -EINVAL);
	}
	assert_int_equal(metrics_http_parse(nul, sizeof(nul) - 1, &req), -EINVAL);
	assert_int_equal(parse("GET /metrics HTTP/2.0\r\n\r\n", &req), -ENOTSUP);
	assert_int_equal(parse("GET /metrics HTTP/1.2\r\n\r\n", &req), -ENOTSUP);
}

static void
test_http_limits(void **state)
{
	struct metrics_http_request req;
	char *big = malloc(METRICS_HTTP_MAX_REQUEST + 64);
	size_t n;

	assert_non_null(big);
	/* a head without its blank line within the limit */
	n = (size_t)snprintf(big, 64, "GET /metrics HTTP/1.1\r\nX: ");
	memset(big + n, 'a', METRICS_HTTP_MAX_REQUEST + 64 - n);
	assert_int_equal(metrics_http_parse(big, METRICS_HTTP_MAX_REQUEST - 1, &req), -EAGAIN);
	assert_int_equal(metrics_http_parse(big, METRICS_HTTP_MAX_REQUEST, &req), -E2BIG);
	assert_int_equal(metrics_http_parse(big, METRICS_HTTP_MAX_REQUEST + 64, &req), -E2BIG);
	/* a target longer than req.path */
	n = (size_t)snprintf(big, 8, "GET /");
	memset(big + n, 'p', 300);
	snprintf(big + n + 300, 64, " HTTP/1.1\r\n\r\n");
	assert_int_equal(parse(big, &req), -E2BIG);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_escaping), cmocka_unit_test(test_grouping_and_types),
		cmocka_unit_test(test_invalid_names),  cmocka_unit_test(test_empty_writer),
		cmocka_unit_test(test_scrape_order),   cmocka_unit_test(test_http_valid),
		cmocka_unit_test(test_http_malformed), cmocka_unit_test(test_http_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
