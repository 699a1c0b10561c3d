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
 * Allocates and zeroes the whole buffer before it returns, blocking the caller (milliseconds
 * per MiB): for tools and tests; bdev_malloc_create uses usk_bdev_malloc_create_async.
 * Returns 0, -EINVAL (see usk_mem_bdev_check), -EEXIST (name or UUID taken), -EBUSY (an
 * async create of the name is in flight), -ENOMEM.
 */
int usk_bdev_malloc_create(struct usk_bdev **bdev, const struct usk_mem_bdev_opts *opts);

/** Result of usk_bdev_malloc_create_async: the registered bdev (rc 0), or NULL and rc < 0. */
typedef void (*usk_bdev_malloc_create_cb)(void *cb_arg, struct usk_bdev *bdev, int rc);

/**
 * usk_bdev_malloc_create without blocking the caller's reactor: the checks and the name are
 * done at once (on a usk thread, the app thread for RPCs), the buffer is allocated and zeroed
 * on a helper pthread, and cb_fn(cb_arg, bdev, rc) runs on the calling thread after the bdev is
 * registered (rc 0) or could not be (-ENOMEM, -EEXIST for a UUID taken meanwhile, -ESHUTDOWN
 * when the module stopped meanwhile). The name is reserved in between: another create of it
 * gets -EBUSY. Returns 0 (cb_fn runs exactly once, never before this returns), or -EINVAL,
 * -EEXIST, -EBUSY, -ENOMEM, -ESHUTDOWN, or a pthread_create error (cb_fn never runs).
 */
int usk_bdev_malloc_create_async(const struct usk_mem_bdev_opts *opts,
				 usk_bdev_malloc_create_cb cb_fn, void *cb_arg);
/**
 * Unregister the malloc bdev name (app thread); cb_fn(cb_arg, rc) runs on this thread when it
 * is gone. Returns 0, or -ENODEV when name is not a malloc bdev (cb_fn never runs).
 */
int usk_bdev_malloc_delete(const char *name, usk_bdev_unregister_cb cb_fn, void *cb_arg);

/* What bdev_malloc_create accepts (malloc_rpc.c). */
extern const struct usk_mem_bdev_rules usk_bdev_malloc_rules;

#endif
