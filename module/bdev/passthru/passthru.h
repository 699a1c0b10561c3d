/* SPDX-License-Identifier: BSD-3-Clause */
/* passthru virtual bdev: forwards every I/O to the base bdev it claims (a template for vbdevs). */
#ifndef USK_MODULE_BDEV_PASSTHRU_H
#define USK_MODULE_BDEV_PASSTHRU_H

#include <stddef.h>

/**
 * Create passthru bdev name on base_bdev_name (app thread). When the base does not exist yet
 * the configuration is kept and the bdev appears when the base is registered (examine).
 * Returns 0, -EEXIST (name taken, or a passthru config with that name exists), -EPERM (base
 * claimed by another module), -ENOMEM; err gets a message naming the parameter.
 */
int usk_bdev_passthru_create(const char *base_bdev_name, const char *name, char *err,
			     size_t err_len);

typedef void (*usk_bdev_passthru_delete_cb)(void *cb_arg, int rc);
/** Delete passthru name (and its configuration). Returns 0 or -ENODEV. */
int usk_bdev_passthru_delete(const char *name, usk_bdev_passthru_delete_cb cb_fn, void *cb_arg);

#endif
