/* SPDX-License-Identifier: BSD-3-Clause */
/* Log-linear histogram: bucket bounds, merging, percentiles (include/usk/histogram.h). */
#include <string.h>

#include "usk/histogram.h"

uint64_t
usk_histogram_bucket_low(uint32_t idx)
{
	uint32_t range = idx / USK_HISTOGRAM_BUCKETS_PER_RANGE;
	uint64_t sub = idx % USK_HISTOGRAM_BUCKETS_PER_RANGE;

	if (range == 0) {
		return sub;
	}
	return (USK_HISTOGRAM_BUCKETS_PER_RANGE + sub) << (range - 1);
}

uint64_t
usk_histogram_bucket_high(uint32_t idx)
{
	if (idx + 1 >= USK_HISTOGRAM_NUM_BUCKETS) {
		return UINT64_MAX;
	}
	return usk_histogram_bucket_low(idx + 1);
}

void
usk_histogram_reset(struct usk_histogram *h)
{
	memset(h, 0, sizeof(*h));
}

void
usk_histogram_merge(struct usk_histogram *dst, const struct usk_histogram *src)
{
	uint32_t i;

	for (i = 0; i < USK_HISTOGRAM_NUM_BUCKETS; i++) {
		dst->bucket[i] += src->bucket[i];
	}
}

uint64_t
usk_histogram_total(const uint64_t *bucket, uint32_t n)
{
	uint64_t t = 0;
	uint32_t i;

	for (i = 0; i < n; i++) {
		t += bucket[i];
	}
	return t;
}

uint64_t
usk_histogram_percentile(const uint64_t *bucket, uint32_t n, double pct)
{
	uint64_t total, rank, cum = 0;
	uint32_t i;

	if (n > USK_HISTOGRAM_NUM_BUCKETS) {
		n = USK_HISTOGRAM_NUM_BUCKETS;
	}
	total = usk_histogram_total(bucket, n);
	if (total == 0 || !(pct > 0)) {
		return 0;
	}
	if (pct >= 100) {
		rank = total;
	} else {
		double r = (double)total * pct / 100.0;

		rank = (uint64_t)r;
		if ((double)rank < r) {
			rank++; /* ceil, without libm */
		}
		if (rank == 0) {
			rank = 1;
		}
	}
	for (i = 0; i < n; i++) {
		cum += bucket[i];
		if (cum >= rank) {
			break;
		}
	}
	/* the last bucket is open-ended: its lower bound is all that is known */
	return i + 1 >= USK_HISTOGRAM_NUM_BUCKETS ? usk_histogram_bucket_low(i) :
						    usk_histogram_bucket_high(i);
}
