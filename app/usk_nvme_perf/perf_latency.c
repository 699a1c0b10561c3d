/* SPDX-License-Identifier: BSD-3-Clause */
/* Latency histogram of usk_nvme_perf: log-linear buckets, percentiles and ranges. */
#include <stdio.h>
#include <string.h>

#include "perf_latency.h"

static inline void
bucket_of(uint64_t v, uint32_t *range, uint32_t *sub)
{
	if (v < PERF_HIST_SUB) {
		*range = 0;
		*sub = (uint32_t)v;
		return;
	}
	/* range r >= 1 holds [2^(r+SUB_BITS-1), 2^(r+SUB_BITS)) */
	uint32_t msb = 63u - (uint32_t)__builtin_clzll(v);

	*range = msb - PERF_HIST_SUB_BITS + 1;
	*sub = (uint32_t)((v >> (msb - PERF_HIST_SUB_BITS)) & (PERF_HIST_SUB - 1));
}

static inline uint64_t
bucket_start(uint32_t range, uint32_t sub)
{
	if (range == 0) {
		return sub;
	}
	return (1ull << (range + PERF_HIST_SUB_BITS - 1)) + ((uint64_t)sub << (range - 1));
}

static inline uint64_t
bucket_end(uint32_t range, uint32_t sub)
{
	return range == 0 ? sub + 1 : bucket_start(range, sub) + (1ull << (range - 1));
}

void
perf_hist_add(struct perf_hist *h, uint64_t ticks)
{
	uint32_t r, s;

	bucket_of(ticks, &r, &s);
	if (r >= PERF_HIST_RANGES) {
		r = PERF_HIST_RANGES - 1;
		s = PERF_HIST_SUB - 1;
	}
	h->bucket[r][s]++;
}

void
perf_hist_merge(struct perf_hist *dst, const struct perf_hist *src)
{
	for (uint32_t r = 0; r < PERF_HIST_RANGES; r++) {
		for (uint32_t s = 0; s < PERF_HIST_SUB; s++) {
			dst->bucket[r][s] += src->bucket[r][s];
		}
	}
}

void
perf_hist_print(const struct perf_hist *h, const char *name, uint64_t hz, int full)
{
	static const double cutoffs[] = {0.01,	0.10,	0.25,	 0.50,	   0.75,
					 0.90,	0.95,	0.98,	 0.99,	   0.995,
					 0.999, 0.9999, 0.99999, 0.999999, 0.9999999};
	uint64_t total = 0, so_far = 0;
	size_t ci = 0;
	double us_per_tick = 1e6 / (double)hz;

	for (uint32_t r = 0; r < PERF_HIST_RANGES; r++) {
		for (uint32_t s = 0; s < PERF_HIST_SUB; s++) {
			total += h->bucket[r][s];
		}
	}
	if (total == 0) {
		return;
	}
	printf("Summary latency data for %s:\n", name);
	printf("=================================================================================\n");
	for (uint32_t r = 0; r < PERF_HIST_RANGES && ci < sizeof(cutoffs) / sizeof(cutoffs[0]);
	     r++) {
		for (uint32_t s = 0; s < PERF_HIST_SUB && ci < sizeof(cutoffs) / sizeof(cutoffs[0]);
		     s++) {
			so_far += h->bucket[r][s];
			while (ci < sizeof(cutoffs) / sizeof(cutoffs[0]) &&
			       (double)so_far >= cutoffs[ci] * (double)total) {
				printf("%9.5f%% : %9.3fus\n", cutoffs[ci] * 100,
				       (double)bucket_end(r, s) * us_per_tick);
				ci++;
			}
		}
	}
	printf("\n");
	if (!full) {
		return;
	}
	printf("Latency histogram for %s:\n", name);
	printf("==============================================================================\n");
	printf("       Range in us     Cumulative    IO count\n");
	so_far = 0;
	for (uint32_t r = 0; r < PERF_HIST_RANGES; r++) {
		for (uint32_t s = 0; s < PERF_HIST_SUB; s++) {
			uint64_t n = h->bucket[r][s];

			if (n == 0) {
				continue;
			}
			so_far += n;
			printf("%9.3f - %9.3f: %9.4f%%  (%9ju)\n",
			       (double)bucket_start(r, s) * us_per_tick,
			       (double)bucket_end(r, s) * us_per_tick,
			       100.0 * (double)so_far / (double)total, (uintmax_t)n);
		}
	}
	printf("\n");
}
