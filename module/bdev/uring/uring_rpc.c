/* SPDX-License-Identifier: BSD-3-Clause */
/* JSON-RPC methods of the uring bdev module: bdev_uring_create, bdev_uring_delete, bdev_uring_rescan. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "usk/bdev.h"
#include "usk/json.h"
#include "usk/rpc.h"

#include "uring.h"

struct rpc_uring_create {
	char *name;
	char *filename;
	uint32_t block_size;
	char *uuid;
};

static const struct usk_json_object_decoder g_rpc_uring_create_decoders[] = {
	{ "name", offsetof(struct rpc_uring_create, name), usk_json_decode_string, false },
	{ "filename", offsetof(struct rpc_uring_create, filename), usk_json_decode_string, false },
	{ "block_size", offsetof(struct rpc_uring_create, block_size), usk_json_decode_uint32, true },
	{ "uuid", offsetof(struct rpc_uring_create, uuid), usk_json_decode_string, true },
};

static void
rpc_bdev_uring_create(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_uring_create req = {};
	char err[512] = "";
	int rc;

	if (!usk_rpc_decode_params(request, params, g_rpc_uring_create_decoders,
				   USK_COUNTOF(g_rpc_uring_create_decoders), &req)) {
		goto cleanup;
	}
	if (req.name[0] == '\0') {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"name: must not be empty");
		goto cleanup;
	}
	if (req.uuid != NULL) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"uuid: setting the UUID of a uring bdev is not supported");
		goto cleanup;
	}
	rc = usk_bdev_uring_create(req.name, req.filename, req.block_size, false, err,
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
	free(req.uuid);
}
USK_RPC_REGISTER("bdev_uring_create", rpc_bdev_uring_create, USK_RPC_RUNTIME)

struct rpc_uring_name {
	char *name;
};

static const struct usk_json_object_decoder g_rpc_uring_name_decoders[] = {
	{ "name", offsetof(struct rpc_uring_name, name), usk_json_decode_string, false },
};

static void
rpc_uring_delete_done(void *cb_arg, int rc)
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
rpc_bdev_uring_delete(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_uring_name req = {};
	int rc;

	if (!usk_rpc_decode_params(request, params, g_rpc_uring_name_decoders,
				   USK_COUNTOF(g_rpc_uring_name_decoders), &req)) {
		goto cleanup;
	}
	rc = usk_bdev_uring_delete(req.name, rpc_uring_delete_done, request);
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, -ENODEV,
						    "name: no uring bdev named '%s'", req.name);
	}
cleanup:
	free(req.name);
}
USK_RPC_REGISTER("bdev_uring_delete", rpc_bdev_uring_delete, USK_RPC_RUNTIME)

static void
rpc_bdev_uring_rescan(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_uring_name req = {};
	int rc;

	if (!usk_rpc_decode_params(request, params, g_rpc_uring_name_decoders,
				   USK_COUNTOF(g_rpc_uring_name_decoders), &req)) {
		goto cleanup;
	}
	rc = usk_bdev_uring_rescan(req.name);
	if (rc == -ENODEV) {
		usk_jsonrpc_send_error_response_fmt(request, -ENODEV,
						    "name: no uring bdev named '%s'", req.name);
	} else if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "rescan of '%s' failed: %s", req.name, strerror(-rc));
	} else {
		usk_jsonrpc_send_bool_response(request, true);
	}
cleanup:
	free(req.name);
}
USK_RPC_REGISTER("bdev_uring_rescan", rpc_bdev_uring_rescan, USK_RPC_RUNTIME)
