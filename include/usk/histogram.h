/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * Log-linear histogram of 64-bit values (latencies in TSC ticks), as SPDK's spdk_histogram_data
 * and HdrHistogram keep them: values below 2^USK_HISTOGRAM_BUCKET_SHIFT get one bucket each,
 * every power of two above is split into 2^USK_HISTOGRAM_BUCKET_SHIFT equal buckets, so a
 * bucket's width is at most 1/16 (6.25 %) of its lower bound. Values of 2^USK_HISTOGRAM_MAX_BITS
 * or more (about 1.6 hours of a 3 GHz TSC) are counted in the last bucket.
 *
 * Recording is one clz, a shift and an increment: no allocation, no lock, no atomic. A
 * histogram belongs to one thread (a bdev channel's); readers copy it on that thread and merge
 * copies (usk_histogram_merge). The bucket layout is part of the RPC interface
 * (bdev_get_iostat's latency histograms): bucket i covers [usk_histogram_bucket_low(i),
 * usk_histogram_bucket_high(i)).
 */
#ifndef USK_HISTOGRAM_H
#define USK_HISTOGRAM_H

#include <stdint.h>

#define USK_HISTOGRAM_BUCKET_SHIFT	4
#define USK_HISTOGRAM_BUCKETS_PER_RANGE (1u << USK_HISTOGRAM_BUCKET_SHIFT)
#define USK_HISTOGRAM_MAX_BITS		44
/* range 0: [0, 16) one value per bucket; range r >= 1: [2^(r+3), 2^(r+4)), width 2^(r-1) */
#define USK_HISTOGRAM_NUM_RANGES  (USK_HISTOGRAM_MAX_BITS - USK_HISTOGRAM_BUCKET_SHIFT + 1)
#define USK_HISTOGRAM_NUM_BUCKETS (USK_HISTOGRAM_NUM_RANGES * USK_HISTOGRAM_BUCKETS_PER_RANGE)

struct usk_histogram {
	uint64_t bucket[USK_HISTOGRAM_NUM_BUCKETS];
};

/** Bucket of value v (any thread; pure). */
static inline uint32_t
usk_histogram_bucket_index(uint64_t v)
{
	uint32_t msb, range;

	if (v < USK_HISTOGRAM_BUCKETS_PER_RANGE) {
		return (uint32_t)v;
	}
	if (__builtin_expect(v >> USK_HISTOGRAM_MAX_BITS, 0)) {
		return USK_HISTOGRAM_NUM_BUCKETS - 1;
	}
	msb = 63u - (uint32_t)__builtin_clzll(v); /* >= BUCKET_SHIFT */
	range = msb - USK_HISTOGRAM_BUCKET_SHIFT + 1;
	return range * USK_HISTOGRAM_BUCKETS_PER_RANGE +
	       (uint32_t)((v >> (msb - USK_HISTOGRAM_BUCKET_SHIFT)) &
			  (USK_HISTOGRAM_BUCKETS_PER_RANGE - 1));
}

/** Count one value (on the histogram's owning thread). */
static inline void
usk_histogram_add(struct usk_histogram *h, uint64_t v)
{
	h->bucket[usk_histogram_bucket_index(v)]++;
}

/** Smallest value of bucket idx (< USK_HISTOGRAM_NUM_BUCKETS). */
uint64_t usk_histogram_bucket_low(uint32_t idx);
/** One past the largest value of bucket idx (the last bucket's is UINT64_MAX). */
uint64_t usk_histogram_bucket_high(uint32_t idx);
void usk_histogram_reset(struct usk_histogram *h);
/** dst += src, bucket by bucket. */
void usk_histogram_merge(struct usk_histogram *dst, const struct usk_histogram *src);
/** Sum of the n counts. */
uint64_t usk_histogram_total(const uint64_t *bucket, uint32_t n);
/**
 * Value at or below which pct percent (0 < pct <= 100) of the counted values lie, as the
 * upper bound of the bucket holding the ceil(pct/100 * total)-th value (so p99 <= the result
 * < p99 * 1.0625); 0 when the histogram is empty. bucket has n <= USK_HISTOGRAM_NUM_BUCKETS
 * counts in the layout above (a histogram, or the difference of two snapshots of one).
 */
uint64_t usk_histogram_percentile(const uint64_t *bucket, uint32_t n, double pct);

#endif
