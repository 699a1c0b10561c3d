/* SPDX-License-Identifier: BSD-3-Clause */
/* split virtual bdev: cuts a base bdev into split_count equal parts named <base>p0, <base>p1... */
#ifndef USK_MODULE_BDEV_SPLIT_H
#define USK_MODULE_BDEV_SPLIT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/**
 * Split base_bdev into split_count parts of split_size_mb MiB each (0 = the base size divided
 * evenly). A missing base defers creation until it is registered. On success *names (may be
 * NULL) gets a new JSON array of the part names (empty while deferred). Returns 0, -EEXIST
 * (already split, or a part name is taken), -EINVAL (sizes), -EPERM (base claimed), -ENOMEM;
 * err names the parameter.
 */
int usk_bdev_split_create(const char *base_bdev, uint32_t split_count, uint64_t split_size_mb,
			  json_t **names, char *err, size_t err_len);

typedef void (*usk_bdev_split_delete_cb)(void *cb_arg, int rc);
/** Remove every part of base_bdev and the configuration. Returns 0 or -ENODEV. */
int usk_bdev_split_delete(const char *base_bdev, usk_bdev_split_delete_cb cb_fn, void *cb_arg);

#endif
