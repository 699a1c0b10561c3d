/* SPDX-License-Identifier: BSD-3-Clause */
/* Latency histogram of usk_nvme_perf (log-linear buckets of TSC ticks, as SPDK's histogram_data).
 */
#ifndef USK_PERF_LATENCY_H
#define USK_PERF_LATENCY_H

#include <stdint.h>

/* 2^k ranges, each split in 2^SUB_BITS linear buckets: < 1/64 relative error. */
#define PERF_HIST_SUB_BITS 6
#define PERF_HIST_SUB	   (1u << PERF_HIST_SUB_BITS)
#define PERF_HIST_RANGES   (64 - PERF_HIST_SUB_BITS)

struct perf_hist {
	uint64_t bucket[PERF_HIST_RANGES][PERF_HIST_SUB];
};

void perf_hist_add(struct perf_hist *h, uint64_t ticks);
void perf_hist_merge(struct perf_hist *dst, const struct perf_hist *src);
/** Print SPDK-style percentile summary (and with full = 1 the histogram) in microseconds. */
void perf_hist_print(const struct perf_hist *h, const char *name, uint64_t ticks_hz, int full);

#endif
