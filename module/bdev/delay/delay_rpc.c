/* SPDX-License-Identifier: BSD-3-Clause */
/* JSON-RPC methods of the delay vbdev: bdev_delay_create, bdev_delay_delete,
 * bdev_delay_update_latency. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "usk/json.h"
#include "usk/rpc.h"
#include "usk/util.h"

#include "delay.h"
#include "vbdev_common.h"

struct rpc_delay_create {
	char *base_bdev_name;
	char *name;
	char *uuid;
	uint64_t latency_us[USK_DELAY_NUM_LATENCY_TYPES];
};

static const struct usk_json_object_decoder g_rpc_delay_create_decoders[] = {
	{"base_bdev_name", offsetof(struct rpc_delay_create, base_bdev_name),
	 usk_json_decode_string, false},
	{"name", offsetof(struct rpc_delay_create, name), usk_json_decode_string, false},
	{"avg_read_latency", offsetof(struct rpc_delay_create, latency_us[USK_DELAY_AVG_READ]),
	 usk_json_decode_uint64, false},
	{"p99_read_latency", offsetof(struct rpc_delay_create, latency_us[USK_DELAY_P99_READ]),
	 usk_json_decode_uint64, false},
	{"avg_write_latency", offsetof(struct rpc_delay_create, latency_us[USK_DELAY_AVG_WRITE]),
	 usk_json_decode_uint64, false},
	{"p99_write_latency", offsetof(struct rpc_delay_create, latency_us[USK_DELAY_P99_WRITE]),
	 usk_json_decode_uint64, false},
	{"uuid", offsetof(struct rpc_delay_create, uuid), usk_json_decode_string, true},
};

static void
rpc_bdev_delay_create(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_delay_create req = {};
	char err[512] = "";
	int rc;

	if (!usk_rpc_decode_params(request, params, g_rpc_delay_create_decoders,
				   USK_COUNTOF(g_rpc_delay_create_decoders), &req)) {
		goto cleanup;
	}
	if (!usk_vbdev_rpc_check_create(request, req.name, "base_bdev_name", req.base_bdev_name,
					req.uuid, "a delay bdev")) {
		goto cleanup;
	}
	rc = usk_bdev_delay_create(req.base_bdev_name, req.name, req.latency_us, err, sizeof(err));
	if (rc != 0) {
		usk_vbdev_rpc_create_error(request, rc, err);
		goto cleanup;
	}
	usk_jsonrpc_send_result(request, json_string(req.name));
cleanup:
	free(req.base_bdev_name);
	free(req.name);
	free(req.uuid);
}
USK_RPC_REGISTER("bdev_delay_create", rpc_bdev_delay_create, USK_RPC_RUNTIME)

static void
rpc_bdev_delay_delete(struct usk_jsonrpc_request *request, const json_t *params)
{
	usk_vbdev_rpc_delete(request, params, "name", usk_bdev_delay_delete,
			     "name: no delay bdev named '%s'");
}
USK_RPC_REGISTER("bdev_delay_delete", rpc_bdev_delay_delete, USK_RPC_RUNTIME)

struct rpc_delay_update {
	char *delay_bdev_name;
	char *latency_type;
	uint64_t latency_us;
};

static const struct usk_json_object_decoder g_rpc_delay_update_decoders[] = {
	{"delay_bdev_name", offsetof(struct rpc_delay_update, delay_bdev_name),
	 usk_json_decode_string, false},
	{"latency_type", offsetof(struct rpc_delay_update, latency_type), usk_json_decode_string,
	 false},
	{"latency_us", offsetof(struct rpc_delay_update, latency_us), usk_json_decode_uint64,
	 false},
};

static void
rpc_bdev_delay_update_latency(struct usk_jsonrpc_request *request, const json_t *params)
{
	static const char *const types[USK_DELAY_NUM_LATENCY_TYPES] = {
		[USK_DELAY_AVG_READ] = "avg_read",
		[USK_DELAY_P99_READ] = "p99_read",
		[USK_DELAY_AVG_WRITE] = "avg_write",
		[USK_DELAY_P99_WRITE] = "p99_write",
	};
	struct rpc_delay_update req = {};
	char err[512] = "";
	int type, rc;

	if (!usk_rpc_decode_params(request, params, g_rpc_delay_update_decoders,
				   USK_COUNTOF(g_rpc_delay_update_decoders), &req)) {
		goto cleanup;
	}
	for (type = 0; type < USK_DELAY_NUM_LATENCY_TYPES; type++) {
		if (strcmp(req.latency_type, types[type]) == 0) {
			break;
		}
	}
	if (type == USK_DELAY_NUM_LATENCY_TYPES) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"latency_type: '%s' is not one of avg_read, p99_read, avg_write, p99_write",
			req.latency_type);
		goto cleanup;
	}
	rc = usk_bdev_delay_update_latency(req.delay_bdev_name, (enum usk_delay_latency_type)type,
					   req.latency_us, err, sizeof(err));
	if (rc != 0) {
		usk_jsonrpc_send_error_response(
			request, rc == -ENODEV ? -ENODEV : USK_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto cleanup;
	}
	usk_jsonrpc_send_bool_response(request, true);
cleanup:
	free(req.delay_bdev_name);
	free(req.latency_type);
}
USK_RPC_REGISTER("bdev_delay_update_latency", rpc_bdev_delay_update_latency, USK_RPC_RUNTIME)
