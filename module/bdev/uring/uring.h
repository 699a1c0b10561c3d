/* SPDX-License-Identifier: BSD-3-Clause */
/* uring bdev module: a bdev on a file or block device driven with io_uring (liburing). */
#ifndef USK_MODULE_BDEV_URING_H
#define USK_MODULE_BDEV_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct usk_bdev;

/**
 * Create a uring bdev named name on filename (app thread). block_size 0 = detect it (the
 * logical block size of a block device, the direct-I/O alignment of a file, else 512).
 * The file is opened with O_DIRECT when its file system allows it; otherwise buffered, with a
 * notice. On failure err gets a message naming the offending parameter.
 * Returns 0, -EEXIST (name taken), -EINVAL (bad block_size, file too small), -errno of open.
 */
int usk_bdev_uring_create(const char *name, const char *filename, uint32_t block_size,
			  bool readonly, char *err, size_t err_len);

typedef void (*usk_bdev_uring_delete_cb)(void *cb_arg, int rc);
/** Unregister the uring bdev name; cb_fn(cb_arg, rc) when gone. Returns 0 or -ENODEV. */
int usk_bdev_uring_delete(const char *name, usk_bdev_uring_delete_cb cb_fn, void *cb_arg);
/** Re-read the file size and resize the bdev. Returns 0, -ENODEV, -EBUSY, -errno of fstat. */
int usk_bdev_uring_rescan(const char *name);

#endif
