/* SPDX-License-Identifier: BSD-3-Clause */
/* error virtual bdev (EE_<base>): forwards I/O to its base and injects failures on request. */
#ifndef USK_MODULE_BDEV_ERROR_H
#define USK_MODULE_BDEV_ERROR_H

#include <stddef.h>
#include <stdint.h>

enum usk_error_type {
	USK_ERROR_TYPE_NONE = 0,
	USK_ERROR_TYPE_FAILURE,	     /* complete with an error */
	USK_ERROR_TYPE_PENDING,	     /* never complete (until a reset) */
	USK_ERROR_TYPE_CORRUPT_DATA, /* flip data: xor corrupt_value at corrupt_offset */
	USK_ERROR_TYPE_NOMEM,	     /* complete as NOMEM: the bdev layer retries it */
};

/* io_type of an injection: a bdev I/O type, or these. */
#define USK_ERROR_IO_TYPE_ALL	(-1)
#define USK_ERROR_IO_TYPE_CLEAR (-2)

/**
 * Create error bdev "EE_<base_name>" on base_name (app thread); a missing base defers creation
 * until it is registered. Returns 0, -EEXIST, -EPERM (base claimed), -ENOMEM; err names the
 * parameter.
 */
int usk_bdev_error_create(const char *base_name, char *err, size_t err_len);

typedef void (*usk_bdev_error_delete_cb)(void *cb_arg, int rc);
/** Delete error bdev name (EE_...) and its configuration. Returns 0 or -ENODEV. */
int usk_bdev_error_delete(const char *name, usk_bdev_error_delete_cb cb_fn, void *cb_arg);

struct usk_error_inject_opts {
	int io_type; /* enum usk_bdev_io_type, USK_ERROR_IO_TYPE_ALL / _CLEAR */
	enum usk_error_type error_type;
	uint32_t count;		 /* how many I/O get the error */
	uint32_t queue_depth;	 /* only inject while this many I/O are outstanding (0 = always) */
	uint64_t corrupt_offset; /* byte offset in the I/O's data (corrupt_data) */
	uint8_t corrupt_value;	 /* xor value, non-zero (corrupt_data) */
};

/** Arm an injection on error bdev name. Returns 0, -ENODEV, -EINVAL; err names the parameter. */
int usk_bdev_error_inject(const char *name, const struct usk_error_inject_opts *opts, char *err,
			  size_t err_len);

#endif
