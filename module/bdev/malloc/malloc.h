/* SPDX-License-Identifier: BSD-3-Clause */
/* malloc bdev module: RAM-backed bdevs in DMA memory (bdev_malloc_create / bdev_malloc_delete). */
#ifndef USK_BDEV_MALLOC_H
#define USK_BDEV_MALLOC_H

#include <stdbool.h>
#include <stdint.h>
#include "usk/bdev_module.h"

#include "mem_common.h"

/**
 * Create and register a malloc bdev (app thread) of opts->num_blocks blocks of
 * opts->block_size (a power of two >= 512) in DMA memory; opts->name NULL picks "MallocN".
 * Returns 0, -EINVAL (see usk_mem_bdev_check), -EEXIST (name or UUID taken), -ENOMEM.
 */
int usk_bdev_malloc_create(struct usk_bdev **bdev, const struct usk_mem_bdev_opts *opts);
/**
 * Unregister the malloc bdev name (app thread); cb_fn(cb_arg, rc) runs on this thread when it
 * is gone. Returns 0, or -ENODEV when name is not a malloc bdev (cb_fn never runs).
 */
int usk_bdev_malloc_delete(const char *name, usk_bdev_unregister_cb cb_fn, void *cb_arg);

/* What bdev_malloc_create accepts (malloc_rpc.c). */
extern const struct usk_mem_bdev_rules usk_bdev_malloc_rules;

#endif
