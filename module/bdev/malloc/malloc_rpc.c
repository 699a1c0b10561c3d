/* SPDX-License-Identifier: BSD-3-Clause */
/* RPCs of the malloc bdev module: bdev_malloc_create, bdev_malloc_delete. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "malloc.h"
#include "usk_internal/bdev_rpc.h"
#include "usk/rpc.h"
#include "usk/util.h"

struct rpc_malloc_create {
	char *name;
	char *uuid;
	uint64_t num_blocks;
	uint32_t block_size;
	uint32_t physical_block_size;
	uint32_t optimal_io_boundary;
	uint32_t md_size;
};

static void
rpc_bdev_malloc_create(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_malloc_create p = {0};
	const struct usk_json_object_decoder d[] = {
		{"name", offsetof(struct rpc_malloc_create, name), usk_json_decode_string, true},
		{"uuid", offsetof(struct rpc_malloc_create, uuid), usk_json_decode_string, true},
		{"num_blocks", offsetof(struct rpc_malloc_create, num_blocks), usk_json_decode_uint64, false},
		{"block_size", offsetof(struct rpc_malloc_create, block_size), usk_json_decode_uint32, false},
		{"physical_block_size", offsetof(struct rpc_malloc_create, physical_block_size), usk_json_decode_uint32, true},
		{"optimal_io_boundary", offsetof(struct rpc_malloc_create, optimal_io_boundary), usk_json_decode_uint32, true},
		{"md_size", offsetof(struct rpc_malloc_create, md_size), usk_json_decode_uint32, true},
	};
	struct malloc_bdev_opts opts = {0};
	struct usk_bdev *bdev;
	int rc;

	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p)) {
		goto out;
	}
	if (p.block_size < 512 || !USK_IS_POW2(p.block_size)) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "Invalid parameters: block_size: %u is not a power of two >= 512",
						    p.block_size);
		goto out;
	}
	if (p.num_blocks == 0 || p.num_blocks > UINT64_MAX / p.block_size) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid parameters: num_blocks: must be > 0 and num_blocks * block_size must fit 64 bits");
		goto out;
	}
	if (p.physical_block_size && (!USK_IS_POW2(p.physical_block_size) ||
				      p.physical_block_size < p.block_size)) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid parameters: physical_block_size: must be a power of two >= block_size");
		goto out;
	}
	if (!usk_bdev_rpc_check_md_size(request, p.md_size) ||
	    !usk_bdev_rpc_check_name(request, p.name) ||
	    !usk_bdev_rpc_parse_uuid(request, p.uuid, opts.uuid) ||
	    !usk_bdev_rpc_check_name_free(request, p.name)) {
		goto out;
	}
	opts.name = p.name;
	opts.num_blocks = p.num_blocks;
	opts.block_size = p.block_size;
	opts.optimal_io_boundary = p.optimal_io_boundary;
	rc = create_malloc_disk(&bdev, &opts);
	if (rc == -EEXIST) {
		usk_jsonrpc_send_error_response_fmt(request, rc, "name or uuid: a bdev with %s %s already exists",
						    p.uuid ? "uuid" : "name", p.uuid ? p.uuid : (p.name ? p.name : ""));
	} else {
		usk_bdev_rpc_reply_created(request, rc, bdev, "malloc");
	}
out:
	free(p.name);
	free(p.uuid);
}
USK_RPC_REGISTER("bdev_malloc_create", rpc_bdev_malloc_create, USK_RPC_RUNTIME)

static void
rpc_bdev_malloc_delete(struct usk_jsonrpc_request *request, const json_t *params)
{
	char *name = NULL;
	int rc;

	if (!usk_bdev_rpc_decode_name(request, params, &name)) {
		free(name);
		return;
	}
	rc = delete_malloc_disk(name, usk_bdev_rpc_delete_done, request);
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, rc == -ENODEV ? -ENODEV : rc,
						    "name: no malloc bdev named %s", name);
	}
	free(name);
}
USK_RPC_REGISTER("bdev_malloc_delete", rpc_bdev_malloc_delete, USK_RPC_RUNTIME)
