/* SPDX-License-Identifier: BSD-3-Clause */
/* RPCs of the malloc bdev module: bdev_malloc_create, bdev_malloc_delete. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "malloc.h"
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
	if (p.md_size != 0) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid parameters: md_size: separate metadata is not supported (use 0)");
		goto out;
	}
	if (p.name && (p.name[0] == '\0' || strlen(p.name) >= USK_BDEV_MAX_NAME_LEN)) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid parameters: name: must be 1..255 characters");
		goto out;
	}
	if (p.uuid && uuid_parse(p.uuid, opts.uuid) != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "Invalid parameters: uuid: '%s' is not a valid UUID", p.uuid);
		goto out;
	}
	if (p.name && usk_bdev_get_by_name(p.name) != NULL) {
		usk_jsonrpc_send_error_response_fmt(request, -EEXIST,
						    "name: bdev %s already exists", p.name);
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
		goto out;
	}
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, rc, "could not create malloc bdev: %s",
						    strerror(-rc));
		goto out;
	}
	usk_jsonrpc_send_result(request, json_string(usk_bdev_get_name(bdev)));
out:
	free(p.name);
	free(p.uuid);
}
USK_RPC_REGISTER("bdev_malloc_create", rpc_bdev_malloc_create, USK_RPC_RUNTIME)

static void
malloc_delete_done(void *cb_arg, int rc)
{
	if (rc == 0) {
		usk_jsonrpc_send_bool_response(cb_arg, true);
	} else {
		usk_jsonrpc_send_error_response_fmt(cb_arg, rc, "delete failed: %s", strerror(-rc));
	}
}

static void
rpc_bdev_malloc_delete(struct usk_jsonrpc_request *request, const json_t *params)
{
	char *name = NULL;
	const struct usk_json_object_decoder d[] = {
		{"name", 0, usk_json_decode_string, false},
	};
	int rc;

	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &name)) {
		free(name);
		return;
	}
	rc = delete_malloc_disk(name, malloc_delete_done, request);
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, rc == -ENODEV ? -ENODEV : rc,
						    "name: no malloc bdev named %s", name);
	}
	free(name);
}
USK_RPC_REGISTER("bdev_malloc_delete", rpc_bdev_malloc_delete, USK_RPC_RUNTIME)
