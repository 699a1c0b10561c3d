/* SPDX-License-Identifier: BSD-3-Clause */
/* JSON-RPC methods of the aio bdev module: bdev_aio_create, bdev_aio_delete, bdev_aio_rescan. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "usk/bdev.h"
#include "usk/json.h"
#include "usk/rpc.h"

#include "aio.h"

struct rpc_aio_create {
	char *name;
	char *filename;
	uint32_t block_size;
	bool readonly;
	bool fallocate;
};

static const struct usk_json_object_decoder g_rpc_aio_create_decoders[] = {
	{ "name", offsetof(struct rpc_aio_create, name), usk_json_decode_string, false },
	{ "filename", offsetof(struct rpc_aio_create, filename), usk_json_decode_string, false },
	{ "block_size", offsetof(struct rpc_aio_create, block_size), usk_json_decode_uint32, true },
	{ "readonly", offsetof(struct rpc_aio_create, readonly), usk_json_decode_bool, true },
	{ "fallocate", offsetof(struct rpc_aio_create, fallocate), usk_json_decode_bool, true },
};

static void
rpc_bdev_aio_create(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_aio_create req = {};
	char err[512] = "";
	int rc;

	if (!usk_rpc_decode_params(request, params, g_rpc_aio_create_decoders,
				   USK_COUNTOF(g_rpc_aio_create_decoders), &req)) {
		goto cleanup;
	}
	if (req.name[0] == '\0') {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"name: must not be empty");
		goto cleanup;
	}
	rc = usk_bdev_aio_create(req.name, req.filename, req.block_size, req.readonly, req.fallocate, err,
				 sizeof(err));
	if (rc != 0) {
		usk_jsonrpc_send_error_response(request, rc == -EEXIST ? -EEXIST :
						USK_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto cleanup;
	}
	usk_jsonrpc_send_result(request, json_string(req.name));
cleanup:
	free(req.name);
	free(req.filename);
}
USK_RPC_REGISTER("bdev_aio_create", rpc_bdev_aio_create, USK_RPC_RUNTIME)

struct rpc_aio_name {
	char *name;
};

static const struct usk_json_object_decoder g_rpc_aio_name_decoders[] = {
	{ "name", offsetof(struct rpc_aio_name, name), usk_json_decode_string, false },
};

static void
rpc_aio_delete_done(void *cb_arg, int rc)
{
	struct usk_jsonrpc_request *request = cb_arg;

	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "delete failed: %s", strerror(-rc));
		return;
	}
	usk_jsonrpc_send_bool_response(request, true);
}

static void
rpc_bdev_aio_delete(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_aio_name req = {};
	int rc;

	if (!usk_rpc_decode_params(request, params, g_rpc_aio_name_decoders,
				   USK_COUNTOF(g_rpc_aio_name_decoders), &req)) {
		goto cleanup;
	}
	rc = usk_bdev_aio_delete(req.name, rpc_aio_delete_done, request);
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, -ENODEV,
						    "name: no aio bdev named '%s'", req.name);
	}
cleanup:
	free(req.name);
}
USK_RPC_REGISTER("bdev_aio_delete", rpc_bdev_aio_delete, USK_RPC_RUNTIME)

static void
rpc_bdev_aio_rescan(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_aio_name req = {};
	int rc;

	if (!usk_rpc_decode_params(request, params, g_rpc_aio_name_decoders,
				   USK_COUNTOF(g_rpc_aio_name_decoders), &req)) {
		goto cleanup;
	}
	rc = usk_bdev_aio_rescan(req.name);
	if (rc == -ENODEV) {
		usk_jsonrpc_send_error_response_fmt(request, -ENODEV,
						    "name: no aio bdev named '%s'", req.name);
	} else if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "rescan of '%s' failed: %s", req.name, strerror(-rc));
	} else {
		usk_jsonrpc_send_bool_response(request, true);
	}
cleanup:
	free(req.name);
}
USK_RPC_REGISTER("bdev_aio_rescan", rpc_bdev_aio_rescan, USK_RPC_RUNTIME)
