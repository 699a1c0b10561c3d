/* SPDX-License-Identifier: BSD-3-Clause */
/* null bdev module: bdevs that move no data; the cheapest submit-to-complete path (benchmarks). */
#ifndef USK_BDEV_NULL_H
#define USK_BDEV_NULL_H

#include <stdint.h>
#include "usk/bdev_module.h"

#include "mem_common.h"

/**
 * Create and register a null bdev (app thread): opts->name is required, block_size a multiple
 * of 512. Returns 0, -EINVAL (see usk_mem_bdev_check), -EEXIST (name or UUID taken), -ENOMEM.
 */
int usk_bdev_null_create(struct usk_bdev **bdev, const struct usk_mem_bdev_opts *opts);
/**
 * Unregister the null bdev name (app thread); cb_fn(cb_arg, rc) runs on this thread when it
 * is gone. Returns 0, or -ENODEV when name is not a null bdev (cb_fn never runs).
 */
int usk_bdev_null_delete(const char *name, usk_bdev_unregister_cb cb_fn, void *cb_arg);
/** New size in blocks (app thread). Returns 0, -ENODEV, -EINVAL (0), -EBUSY (shrinking while
 * open). */
int usk_bdev_null_resize(const char *name, uint64_t new_num_blocks);

/* What bdev_null_create accepts (null_rpc.c). */
extern const struct usk_mem_bdev_rules usk_bdev_null_rules;

#endif
