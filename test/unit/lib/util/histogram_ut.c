/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for the log-linear histogram (lib/util/histogram.c, include/usk/histogram.h):
 * bucket math, percentiles of known distributions, merging and differences. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "usk/histogram.h"

static void
test_bucket_math(void **state)
{
	uint32_t i;
	uint64_t v;

	/* one bucket per value below 16 */
	for (v = 0; v < 16; v++) {
		assert_int_equal(usk_histogram_bucket_index(v), v);
	}
	assert_int_equal(usk_histogram_bucket_index(16), 16);
	assert_int_equal(usk_histogram_bucket_index(31), 31);
	assert_int_equal(usk_histogram_bucket_index(32), 32); /* [32, 34) */
	assert_int_equal(usk_histogram_bucket_index(33), 32);
	assert_int_equal(usk_histogram_bucket_index(34), 33);
	assert_int_equal(usk_histogram_bucket_index(63), 47);
	assert_int_equal(usk_histogram_bucket_index(64), 48);
	assert_int_equal(usk_histogram_bucket_index(1000), 16 * 6 + (1000 >> 5) - 16);
	/* beyond the range: the last bucket */
	assert_int_equal(usk_histogram_bucket_index((1ull << USK_HISTOGRAM_MAX_BITS) - 1),
			 USK_HISTOGRAM_NUM_BUCKETS - 1);
	assert_int_equal(usk_histogram_bucket_index(1ull << USK_HISTOGRAM_MAX_BITS),
			 USK_HISTOGRAM_NUM_BUCKETS - 1);
	assert_int_equal(usk_histogram_bucket_index(UINT64_MAX), USK_HISTOGRAM_NUM_BUCKETS - 1);

	/* buckets tile the range: each starts where the previous ends, every value maps into
	 * the bucket whose bounds hold it, and a bucket is at most 1/16 of its lower bound wide */
	assert_int_equal(usk_histogram_bucket_low(0), 0);
	for (i = 0; i + 1 < USK_HISTOGRAM_NUM_BUCKETS; i++) {
		uint64_t lo = usk_histogram_bucket_low(i), hi = usk_histogram_bucket_high(i);

		assert_true(lo < hi);
		assert_int_equal(hi, usk_histogram_bucket_low(i + 1));
		assert_int_equal(usk_histogram_bucket_index(lo), i);
		assert_int_equal(usk_histogram_bucket_index(hi - 1), i);
		if (lo >= 16) {
			assert_true((hi - lo) * 16 <= lo);
		}
	}
	assert_int_equal(usk_histogram_bucket_low(USK_HISTOGRAM_NUM_BUCKETS - 1),
			 (1ull << USK_HISTOGRAM_MAX_BITS) - (1ull << (USK_HISTOGRAM_MAX_BITS - 5)));
	assert_int_equal(usk_histogram_bucket_high(USK_HISTOGRAM_NUM_BUCKETS - 1), UINT64_MAX);
}

static void
test_percentile_known(void **state)
{
	struct usk_histogram *h = calloc(1, sizeof(*h));
	uint64_t v, p;

	assert_non_null(h);
	/* empty */
	assert_int_equal(usk_histogram_percentile(h->bucket, USK_HISTOGRAM_NUM_BUCKETS, 99), 0);
	/* exact below 16: values 1..10, p50 is 5 (bucket [5, 6)), p100 10 */
	for (v = 1; v <= 10; v++) {
		usk_histogram_add(h, v);
	}
	assert_int_equal(usk_histogram_percentile(h->bucket, USK_HISTOGRAM_NUM_BUCKETS, 50), 6);
	assert_int_equal(usk_histogram_percentile(h->bucket, USK_HISTOGRAM_NUM_BUCKETS, 100), 11);
	assert_int_equal(usk_histogram_percentile(h->bucket, USK_HISTOGRAM_NUM_BUCKETS, 0.1), 2);
	assert_int_equal(usk_histogram_percentile(h->bucket, USK_HISTOGRAM_NUM_BUCKETS, 0), 0);
	usk_histogram_reset(h);

	/* uniform 1..100000: p99 is 99000, reported within the bucket's 6.25 % */
	for (v = 1; v <= 100000; v++) {
		usk_histogram_add(h, v);
	}
	assert_int_equal(usk_histogram_total(h->bucket, USK_HISTOGRAM_NUM_BUCKETS), 100000);
	p = usk_histogram_percentile(h->bucket, USK_HISTOGRAM_NUM_BUCKETS, 99);
	assert_true(p >= 99000 && p <= 99000 + 99000 / 16);
	p = usk_histogram_percentile(h->bucket, USK_HISTOGRAM_NUM_BUCKETS, 50);
	assert_true(p >= 50000 && p <= 50000 + 50000 / 16);
	usk_histogram_reset(h);

	/* 990 fast I/O at 1000 ticks and 10 slow at 50000: p99 is fast, p99.1 and p100 slow */
	for (v = 0; v < 990; v++) {
		usk_histogram_add(h, 1000);
	}
	for (v = 0; v < 10; v++) {
		usk_histogram_add(h, 50000);
	}
	p = usk_histogram_percentile(h->bucket, USK_HISTOGRAM_NUM_BUCKETS, 99);
	assert_int_equal(p, usk_histogram_bucket_high(usk_histogram_bucket_index(1000)));
	assert_true(p > 1000 && p <= 1000 + 1000 / 16);
	p = usk_histogram_percentile(h->bucket, USK_HISTOGRAM_NUM_BUCKETS, 99.1);
	assert_true(p > 50000 && p <= 50000 + 50000 / 16);
	assert_int_equal(usk_histogram_percentile(h->bucket, USK_HISTOGRAM_NUM_BUCKETS, 100), p);

	/* a value beyond the range: its percentile is the last bucket's lower bound */
	usk_histogram_reset(h);
	usk_histogram_add(h, UINT64_MAX);
	assert_int_equal(usk_histogram_percentile(h->bucket, USK_HISTOGRAM_NUM_BUCKETS, 99),
			 usk_histogram_bucket_low(USK_HISTOGRAM_NUM_BUCKETS - 1));
	free(h);
}

static void
test_merge_and_delta(void **state)
{
	struct usk_histogram *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct usk_histogram *sum = calloc(1, sizeof(*sum)), *before = calloc(1, sizeof(*before));
	uint64_t delta[USK_HISTOGRAM_NUM_BUCKETS], v, p;
	uint32_t i;

	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(sum);
	assert_non_null(before);
	/* two channels: a gets 100 values of 100, b 100 of 10000 */
	for (v = 0; v < 100; v++) {
		usk_histogram_add(a, 100);
		usk_histogram_add(b, 10000);
	}
	usk_histogram_merge(sum, a);
	usk_histogram_merge(sum, b);
	assert_int_equal(usk_histogram_total(sum->bucket, USK_HISTOGRAM_NUM_BUCKETS), 200);
	assert_int_equal(sum->bucket[usk_histogram_bucket_index(100)], 100);
	assert_int_equal(sum->bucket[usk_histogram_bucket_index(10000)], 100);
	p = usk_histogram_percentile(sum->bucket, USK_HISTOGRAM_NUM_BUCKETS, 50);
	assert_true(p > 100 && p <= 106);
	p = usk_histogram_percentile(sum->bucket, USK_HISTOGRAM_NUM_BUCKETS, 51);
	assert_true(p > 10000 && p <= 10625);

	/* p99 of an interval from two snapshots: before, then 1000 more values of 500 */
	memcpy(before, sum, sizeof(*sum));
	for (v = 0; v < 1000; v++) {
		usk_histogram_add(sum, 500);
	}
	for (i = 0; i < USK_HISTOGRAM_NUM_BUCKETS; i++) {
		delta[i] = sum->bucket[i] - before->bucket[i];
	}
	assert_int_equal(usk_histogram_total(delta, USK_HISTOGRAM_NUM_BUCKETS), 1000);
	p = usk_histogram_percentile(delta, USK_HISTOGRAM_NUM_BUCKETS, 99);
	assert_true(p > 500 && p <= 500 + 500 / 16);
	/* a shorter array (a client that got fewer buckets) is fine */
	assert_int_equal(usk_histogram_percentile(delta, 16 * 10, 99), p);
	free(a);
	free(b);
	free(sum);
	free(before);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_math),
		cmocka_unit_test(test_percentile_known),
		cmocka_unit_test(test_merge_and_delta),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
