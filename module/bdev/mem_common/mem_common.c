/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared create parameters, checks, config JSON and create RPC of the malloc and null bdevs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "usk_internal/bdev_rpc.h"
#include "usk/json.h"
#include "usk/util.h"

#include "mem_common.h"

int
usk_mem_bdev_check(const struct usk_mem_bdev_rules *rules, const struct usk_mem_bdev_opts *opts,
		   char *err, size_t err_len)
{
	if (rules->name_required && (opts->name == NULL || opts->name[0] == '\0')) {
		snprintf(err, err_len, "name: a %s bdev needs a name", rules->module_name);
		return -EINVAL;
	}
	if (rules->block_size_pow2 ? opts->block_size < 512 || !USK_IS_POW2(opts->block_size) :
				     opts->block_size == 0 || opts->block_size % 512 != 0) {
		snprintf(err, err_len, "block_size: %u is not a %s", opts->block_size,
			 rules->block_size_pow2 ? "power of two >= 512" : "multiple of 512");
		return -EINVAL;
	}
	if (opts->num_blocks == 0 || opts->num_blocks > UINT64_MAX / opts->block_size) {
		snprintf(err, err_len,
			 "num_blocks: must be > 0 and num_blocks * block_size must fit"
			 " 64 bits");
		return -EINVAL;
	}
	if (opts->optimal_io_boundary != 0 && !rules->optimal_io_boundary) {
		snprintf(err, err_len, "optimal_io_boundary: not supported by %s bdevs",
			 rules->module_name);
		return -EINVAL;
	}
	return 0;
}

int
usk_mem_bdev_init(struct usk_bdev *bdev, const struct usk_mem_bdev_opts *opts, const char *name)
{
	bdev->name = strdup(name);
	if (bdev->name == NULL) {
		return -ENOMEM;
	}
	bdev->write_cache = false;
	bdev->blocklen = opts->block_size;
	bdev->blockcnt = opts->num_blocks;
	bdev->optimal_io_boundary = opts->optimal_io_boundary;
	bdev->split_on_optimal_io_boundary = opts->optimal_io_boundary != 0;
	memcpy(bdev->uuid, opts->uuid, sizeof(bdev->uuid));
	return 0;
}

void
usk_mem_bdev_write_config_json(const struct usk_mem_bdev_rules *rules, const struct usk_bdev *bdev,
			       json_t *config_array)
{
	json_t *params = json_object();
	char uuid_str[37];

	uuid_unparse_lower(bdev->uuid, uuid_str);
	usk_json_set(params, "name", json_string(bdev->name));
	usk_json_set(params, "num_blocks", json_integer((json_int_t)bdev->blockcnt));
	usk_json_set(params, "block_size", json_integer(bdev->blocklen));
	usk_json_set(params, "uuid", json_string(uuid_str));
	if (bdev->optimal_io_boundary) {
		usk_json_set(params, "optimal_io_boundary",
			     json_integer(bdev->optimal_io_boundary));
	}
	usk_json_config_add(config_array, rules->create_method, params);
}

struct rpc_mem_create {
	char *name;
	char *uuid;
	uint64_t num_blocks;
	uint32_t block_size;
	uint32_t md_size;
	uint32_t physical_block_size;
	uint32_t optimal_io_boundary;
};

struct rpc_mem_create_ctx {
	struct usk_jsonrpc_request *request;
	const struct usk_mem_bdev_rules *rules;
	char *uuid; /* as given, for the error message */
};

static void
rpc_mem_create_done(void *cb_arg, struct usk_bdev *bdev, int rc)
{
	struct rpc_mem_create_ctx *ctx = cb_arg;

	if (rc == -EEXIST) {
		/* The name was free a moment ago: the UUID is taken. */
		usk_jsonrpc_send_error_response_fmt(ctx->request, rc,
						    "uuid: a bdev with uuid %s already exists",
						    ctx->uuid ? ctx->uuid : "");
	} else if (rc == -EBUSY) {
		usk_jsonrpc_send_error_response(ctx->request, rc,
						"name: a bdev of that name is being created");
	} else {
		usk_bdev_rpc_reply_created(ctx->request, rc, bdev, ctx->rules->module_name);
	}
	free(ctx->uuid);
	free(ctx);
}

void
usk_mem_bdev_rpc_create(struct usk_jsonrpc_request *request, const json_t *params,
			const struct usk_mem_bdev_rules *rules, usk_mem_bdev_create_fn create_fn)
{
	struct rpc_mem_create p = {0};
	const struct usk_json_object_decoder d[] = {
		{"name", offsetof(struct rpc_mem_create, name), usk_json_decode_string,
		 !rules->name_required},
		{"uuid", offsetof(struct rpc_mem_create, uuid), usk_json_decode_string, true},
		{"num_blocks", offsetof(struct rpc_mem_create, num_blocks), usk_json_decode_uint64,
		 false},
		{"block_size", offsetof(struct rpc_mem_create, block_size), usk_json_decode_uint32,
		 false},
		{"md_size", offsetof(struct rpc_mem_create, md_size), usk_json_decode_uint32, true},
		/* Only with rules->optimal_io_boundary (the count below leaves them out). */
		{"physical_block_size", offsetof(struct rpc_mem_create, physical_block_size),
		 usk_json_decode_uint32, true},
		{"optimal_io_boundary", offsetof(struct rpc_mem_create, optimal_io_boundary),
		 usk_json_decode_uint32, true},
	};
	struct usk_mem_bdev_opts opts = {0};
	struct rpc_mem_create_ctx *ctx;
	char err[160];
	int rc;

	if (!usk_rpc_decode_params(request, params, d,
				   rules->optimal_io_boundary ? USK_COUNTOF(d) : USK_COUNTOF(d) - 2,
				   &p)) {
		goto cleanup;
	}
	if (!usk_bdev_rpc_check_name(request, p.name)) {
		goto cleanup;
	}
	opts.name = p.name;
	opts.num_blocks = p.num_blocks;
	opts.block_size = p.block_size;
	opts.optimal_io_boundary = p.optimal_io_boundary;
	if (usk_mem_bdev_check(rules, &opts, err, sizeof(err)) != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "Invalid parameters: %s", err);
		goto cleanup;
	}
	if (p.physical_block_size &&
	    (!USK_IS_POW2(p.physical_block_size) || p.physical_block_size < p.block_size)) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid parameters: physical_block_size: must be "
						"a power of two >= block_size");
		goto cleanup;
	}
	if (!usk_bdev_rpc_check_md_size(request, p.md_size) ||
	    !usk_bdev_rpc_parse_uuid(request, p.uuid, opts.uuid) ||
	    !usk_bdev_rpc_check_name_free(request, p.name)) {
		goto cleanup;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		usk_jsonrpc_send_error_response(request, -ENOMEM, "out of memory");
		goto cleanup;
	}
	ctx->request = request;
	ctx->rules = rules;
	ctx->uuid = p.uuid;
	p.uuid = NULL;
	rc = create_fn(&opts, rpc_mem_create_done, ctx);
	if (rc != 0) {
		rpc_mem_create_done(ctx, NULL, rc);
	}
cleanup:
	free(p.name);
	free(p.uuid);
}
