/* SPDX-License-Identifier: BSD-3-Clause */
/* malloc bdev module: RAM-backed bdevs in DMA memory (bdev_malloc_create / bdev_malloc_delete). */
#ifndef USK_BDEV_MALLOC_H
#define USK_BDEV_MALLOC_H

#include <stdbool.h>
#include <stdint.h>
#include "usk/bdev_module.h"

struct malloc_bdev_opts {
	/* NULL = "MallocN" with the first free N. */
	const char *name;
	/* All zero = generated. */
	uint8_t uuid[16];
	uint64_t num_blocks;
	uint32_t block_size;
	uint32_t optimal_io_boundary;
};

/**
 * Create and register a malloc bdev. Returns 0, -EINVAL (block_size not a power of two >= 512,
 * num_blocks 0, size overflow), -EEXIST (name or UUID taken), -ENOMEM.
 */
int create_malloc_disk(struct usk_bdev **bdev, const struct malloc_bdev_opts *opts);
/** Unregister the malloc bdev name; cb_fn(cb_arg, rc) when done. -ENODEV if there is none. */
int delete_malloc_disk(const char *name, usk_bdev_unregister_cb cb_fn, void *cb_arg);

#endif
