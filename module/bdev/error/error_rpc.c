/* SPDX-License-Identifier: BSD-3-Clause */
/* JSON-RPC methods of the error vbdev: bdev_error_create, bdev_error_delete,
 * bdev_error_inject_error. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "usk/bdev.h"
#include "usk/json.h"
#include "usk/rpc.h"
#include "usk/util.h"

#include "error.h"
#include "vbdev_common.h"

struct rpc_error_create {
	char *base_name;
	char *uuid;
};

static const struct usk_json_object_decoder g_rpc_error_create_decoders[] = {
	{"base_name", offsetof(struct rpc_error_create, base_name), usk_json_decode_string, false},
	{"uuid", offsetof(struct rpc_error_create, uuid), usk_json_decode_string, true},
};

static void
rpc_bdev_error_create(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_error_create req = {};
	char err[512] = "";
	int rc;

	if (!usk_rpc_decode_params(request, params, g_rpc_error_create_decoders,
				   USK_COUNTOF(g_rpc_error_create_decoders), &req)) {
		goto cleanup;
	}
	if (!usk_vbdev_rpc_check_create(request, NULL, "base_name", req.base_name, req.uuid,
					"an error bdev")) {
		goto cleanup;
	}
	rc = usk_bdev_error_create(req.base_name, err, sizeof(err));
	if (rc != 0) {
		usk_vbdev_rpc_create_error(request, rc, err);
		goto cleanup;
	}
	usk_jsonrpc_send_bool_response(request, true);
cleanup:
	free(req.base_name);
	free(req.uuid);
}
USK_RPC_REGISTER("bdev_error_create", rpc_bdev_error_create, USK_RPC_RUNTIME)

static void
rpc_bdev_error_delete(struct usk_jsonrpc_request *request, const json_t *params)
{
	usk_vbdev_rpc_delete(request, params, "name", usk_bdev_error_delete,
			     "name: no error bdev named '%s'");
}
USK_RPC_REGISTER("bdev_error_delete", rpc_bdev_error_delete, USK_RPC_RUNTIME)

struct rpc_error_inject {
	char *name;
	char *io_type;
	char *error_type;
	uint32_t num;
	uint32_t queue_depth;
	uint64_t corrupt_offset;
	uint32_t corrupt_value;
};

static const struct usk_json_object_decoder g_rpc_error_inject_decoders[] = {
	{"name", offsetof(struct rpc_error_inject, name), usk_json_decode_string, false},
	{"io_type", offsetof(struct rpc_error_inject, io_type), usk_json_decode_string, false},
	{"error_type", offsetof(struct rpc_error_inject, error_type), usk_json_decode_string,
	 false},
	{"num", offsetof(struct rpc_error_inject, num), usk_json_decode_uint32, true},
	{"queue_depth", offsetof(struct rpc_error_inject, queue_depth), usk_json_decode_uint32,
	 true},
	{"corrupt_offset", offsetof(struct rpc_error_inject, corrupt_offset),
	 usk_json_decode_uint64, true},
	{"corrupt_value", offsetof(struct rpc_error_inject, corrupt_value), usk_json_decode_uint32,
	 true},
};

static int
parse_io_type(const char *s)
{
	static const struct {
		const char *name;
		int type;
	} types[] = {
		{"read", USK_BDEV_IO_TYPE_READ},   {"write", USK_BDEV_IO_TYPE_WRITE},
		{"unmap", USK_BDEV_IO_TYPE_UNMAP}, {"flush", USK_BDEV_IO_TYPE_FLUSH},
		{"all", USK_ERROR_IO_TYPE_ALL},	   {"clear", USK_ERROR_IO_TYPE_CLEAR},
	};

	for (size_t i = 0; i < USK_COUNTOF(types); i++) {
		if (strcmp(s, types[i].name) == 0) {
			return types[i].type;
		}
	}
	return USK_BDEV_IO_TYPE_INVALID;
}

static int
parse_error_type(const char *s)
{
	static const struct {
		const char *name;
		int type;
	} types[] = {
		{"failure", USK_ERROR_TYPE_FAILURE},
		{"pending", USK_ERROR_TYPE_PENDING},
		{"corrupt_data", USK_ERROR_TYPE_CORRUPT_DATA},
		{"nomem", USK_ERROR_TYPE_NOMEM},
	};

	for (size_t i = 0; i < USK_COUNTOF(types); i++) {
		if (strcmp(s, types[i].name) == 0) {
			return types[i].type;
		}
	}
	return USK_ERROR_TYPE_NONE;
}

static void
rpc_bdev_error_inject_error(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_error_inject req = {.num = 1};
	struct usk_error_inject_opts opts = {};
	char err[512] = "";
	int rc;

	if (!usk_rpc_decode_params(request, params, g_rpc_error_inject_decoders,
				   USK_COUNTOF(g_rpc_error_inject_decoders), &req)) {
		goto cleanup;
	}
	opts.io_type = parse_io_type(req.io_type);
	if (opts.io_type == USK_BDEV_IO_TYPE_INVALID) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"io_type: '%s' is not one of read, write, unmap, flush, all, clear",
			req.io_type);
		goto cleanup;
	}
	opts.error_type = (enum usk_error_type)parse_error_type(req.error_type);
	if (opts.error_type == USK_ERROR_TYPE_NONE) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"error_type: '%s' is not one of failure, pending, corrupt_data, nomem",
			req.error_type);
		goto cleanup;
	}
	if (req.corrupt_value > 255) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"corrupt_value: must be a byte value (1-255)");
		goto cleanup;
	}
	opts.count = req.num;
	opts.queue_depth = req.queue_depth;
	opts.corrupt_offset = req.corrupt_offset;
	opts.corrupt_value = (uint8_t)req.corrupt_value;
	rc = usk_bdev_error_inject(req.name, &opts, err, sizeof(err));
	if (rc != 0) {
		usk_jsonrpc_send_error_response(
			request, rc == -ENODEV ? -ENODEV : USK_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto cleanup;
	}
	usk_jsonrpc_send_bool_response(request, true);
cleanup:
	free(req.name);
	free(req.io_type);
	free(req.error_type);
}
USK_RPC_REGISTER("bdev_error_inject_error", rpc_bdev_error_inject_error, USK_RPC_RUNTIME)
