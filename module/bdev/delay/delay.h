/* SPDX-License-Identifier: BSD-3-Clause */
/* delay virtual bdev: adds configurable average / p99 latency to reads and writes of its base. */
#ifndef USK_MODULE_BDEV_DELAY_H
#define USK_MODULE_BDEV_DELAY_H

#include <stddef.h>
#include <stdint.h>

enum usk_delay_latency_type {
	USK_DELAY_AVG_READ,
	USK_DELAY_P99_READ,
	USK_DELAY_AVG_WRITE,
	USK_DELAY_P99_WRITE,
	USK_DELAY_NUM_LATENCY_TYPES,
};

/**
 * Create delay bdev name on base_bdev_name with latencies in microseconds (app thread). 1% of
 * the I/O (chosen at random) gets the p99 latency, the rest the average. A missing base defers
 * creation until it is registered. Returns 0, -EEXIST, -EINVAL (p99 < avg), -EPERM, -ENOMEM;
 * err names the parameter.
 */
int usk_bdev_delay_create(const char *base_bdev_name, const char *name,
			  const uint64_t latency_us[USK_DELAY_NUM_LATENCY_TYPES], char *err,
			  size_t err_len);

typedef void (*usk_bdev_delay_delete_cb)(void *cb_arg, int rc);
/** Delete delay bdev name and its configuration. Returns 0 or -ENODEV. */
int usk_bdev_delay_delete(const char *name, usk_bdev_delay_delete_cb cb_fn, void *cb_arg);

/**
 * Change one latency of delay bdev name (in effect for I/O completing from now on).
 * Returns 0, -ENODEV, -EINVAL (avg above p99 or p99 below avg); err explains.
 */
int usk_bdev_delay_update_latency(const char *name, enum usk_delay_latency_type type,
				  uint64_t latency_us, char *err, size_t err_len);

#endif
