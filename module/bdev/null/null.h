/* SPDX-License-Identifier: BSD-3-Clause */
/* null bdev module: bdevs that move no data; the cheapest submit-to-complete path (benchmarks). */
#ifndef USK_BDEV_NULL_H
#define USK_BDEV_NULL_H

#include <stdint.h>
#include "usk/bdev_module.h"

struct null_bdev_opts {
	const char *name;
	/* All zero = generated. */
	uint8_t uuid[16];
	uint64_t num_blocks;
	uint32_t block_size;
};

/** Returns 0, -EINVAL (block_size 0 or not a multiple of 512... see RPC), -EEXIST, -ENOMEM. */
int bdev_null_create(struct usk_bdev **bdev, const struct null_bdev_opts *opts);
/** -ENODEV when name is not a null bdev. cb_fn(cb_arg, rc) when gone. */
int bdev_null_delete(const char *name, usk_bdev_unregister_cb cb_fn, void *cb_arg);
/** New size in blocks; -ENODEV, -EINVAL (0), -EBUSY (shrinking while open). */
int bdev_null_resize(const char *name, uint64_t new_num_blocks);

#endif
