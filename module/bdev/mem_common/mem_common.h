/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared by the bdevs on no backing store (malloc, null): their create parameters, the checks
 * of those, the config JSON that recreates a bdev, and the body of the create RPC.
 */
#ifndef USK_MODULE_BDEV_MEM_COMMON_H
#define USK_MODULE_BDEV_MEM_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "usk/bdev_module.h"
#include "usk/rpc.h"

/* Parameters of usk_bdev_malloc_create / usk_bdev_null_create (bdev_<x>_create's). */
struct usk_mem_bdev_opts {
	/* NULL: the module picks one (malloc: "MallocN", the first free N); null needs one. */
	const char *name;
	/* All zero: generated at registration. */
	uint8_t uuid[16];
	uint64_t num_blocks;
	uint32_t block_size;
	/* Blocks; I/O crossing a multiple is split. 0 = none. Modules with
	 * usk_mem_bdev_rules.optimal_io_boundary only. */
	uint32_t optimal_io_boundary;
};

/* What one module accepts (static, one per module). */
struct usk_mem_bdev_rules {
	const char *module_name;   /* "malloc": in messages and the create RPC's reply */
	const char *create_method; /* "bdev_malloc_create": write_config_json's method */
	/* block_size must be a power of two (malloc: buffers are aligned to it), else any
	 * multiple of 512 (null moves no data). */
	bool block_size_pow2;
	bool name_required;
	/* optimal_io_boundary and physical_block_size are accepted. */
	bool optimal_io_boundary;
};

/**
 * Check opts against rules (any thread): block_size, num_blocks > 0 with a size that fits 64
 * bits, a name when one is required, optimal_io_boundary only where accepted. Returns 0 or
 * -EINVAL, with err naming the offending field.
 */
int usk_mem_bdev_check(const struct usk_mem_bdev_rules *rules, const struct usk_mem_bdev_opts *opts,
		       char *err, size_t err_len);

/**
 * Fill bdev from opts: a copy of name (the caller frees bdev->name), the uuid, the geometry
 * (blocks, block size, optimal I/O boundary), no write cache. The module sets the rest
 * (product_name, module, fn_table, ctxt). Returns 0 or -ENOMEM.
 */
int usk_mem_bdev_init(struct usk_bdev *bdev, const struct usk_mem_bdev_opts *opts,
		      const char *name);

/** write_config_json of both modules: {rules->create_method, {name, num_blocks, block_size,
 * uuid[, optimal_io_boundary]}} appended to config_array. */
void usk_mem_bdev_write_config_json(const struct usk_mem_bdev_rules *rules,
				    const struct usk_bdev *bdev, json_t *config_array);

/** A create's result: the registered bdev (rc 0), or NULL and rc < 0. */
typedef void (*usk_mem_bdev_create_cb)(void *cb_arg, struct usk_bdev *bdev, int rc);
/**
 * A module's create: 0 means cb_fn runs exactly once (it may run before this returns); < 0
 * means it never runs. -EEXIST (from either) means the name or UUID is taken.
 */
typedef int (*usk_mem_bdev_create_fn)(const struct usk_mem_bdev_opts *opts,
				      usk_mem_bdev_create_cb cb_fn, void *cb_arg);

/**
 * Body of bdev_<x>_create (app thread): decode name, uuid, num_blocks, block_size, md_size
 * (and physical_block_size, optimal_io_boundary where the rules accept them), check them, call
 * create_fn, reply (when it completes) with the name or an error naming the field.
 */
void usk_mem_bdev_rpc_create(struct usk_jsonrpc_request *request, const json_t *params,
			     const struct usk_mem_bdev_rules *rules,
			     usk_mem_bdev_create_fn create_fn);

#endif
