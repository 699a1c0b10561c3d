/* SPDX-License-Identifier: BSD-3-Clause */
/* vhost RPCs with SPDK's names and parameters: decode, validate, call lib/vhost, reply. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "usk/rpc.h"
#include "usk/util.h"
#include "usk/vhost.h"

struct rpc_create_blk {
	char *ctrlr;
	char *dev_name;
	char *cpumask;
	char *transport;
	bool readonly;
	bool packed_ring;
	bool packed_ring_recovery;
};

static const struct usk_json_object_decoder g_create_blk_decoders[] = {
	{"ctrlr", offsetof(struct rpc_create_blk, ctrlr), usk_json_decode_string, false},
	{"dev_name", offsetof(struct rpc_create_blk, dev_name), usk_json_decode_string, false},
	{"cpumask", offsetof(struct rpc_create_blk, cpumask), usk_json_decode_string, true},
	{"transport", offsetof(struct rpc_create_blk, transport), usk_json_decode_string, true},
	{"readonly", offsetof(struct rpc_create_blk, readonly), usk_json_decode_bool, true},
	{"packed_ring", offsetof(struct rpc_create_blk, packed_ring), usk_json_decode_bool, true},
	{"packed_ring_recovery", offsetof(struct rpc_create_blk, packed_ring_recovery),
	 usk_json_decode_bool, true},
};

static void
reply_done(void *cb_arg, int rc)
{
	struct usk_jsonrpc_request *request = cb_arg;

	if (rc == 0) {
		usk_jsonrpc_send_bool_response(request, true);
	} else {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INTERNAL_ERROR, "%s",
			rc == -EADDRINUSE ? "ctrlr: socket is in use by another process" :
					    strerror(-rc));
	}
}

static void
rpc_vhost_create_blk_controller(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_create_blk req = {};
	struct usk_vhost_blk_opts opts = {.opts_size = sizeof(opts)};
	char err[256];
	int rc;

	if (!usk_rpc_decode_params(request, params, g_create_blk_decoders,
				   USK_COUNTOF(g_create_blk_decoders), &req)) {
		goto out;
	}
	if (req.transport && strcmp(req.transport, "vhost_user_blk") != 0) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"transport: only \"vhost_user_blk\" is supported (got \"%s\")",
			req.transport);
		goto out;
	}
	opts.name = req.ctrlr;
	opts.bdev_name = req.dev_name;
	opts.cpumask = req.cpumask;
	opts.readonly = req.readonly;
	opts.packed_ring = req.packed_ring;
	rc = usk_vhost_blk_construct(&opts, reply_done, request, err, sizeof(err));
	if (rc != 0) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						err[0] ? err : strerror(-rc));
	}
out:
	free(req.ctrlr);
	free(req.dev_name);
	free(req.cpumask);
	free(req.transport);
}
USK_RPC_REGISTER("vhost_create_blk_controller", rpc_vhost_create_blk_controller, USK_RPC_RUNTIME)

struct rpc_ctrlr {
	char *ctrlr;
	char *name;
	uint32_t delay_base_us;
	uint32_t iops_threshold;
};

static const struct usk_json_object_decoder g_delete_decoders[] = {
	{"ctrlr", offsetof(struct rpc_ctrlr, ctrlr), usk_json_decode_string, false},
};

static void
rpc_vhost_delete_controller(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_ctrlr req = {};

	if (!usk_rpc_decode_params(request, params, g_delete_decoders,
				   USK_COUNTOF(g_delete_decoders), &req)) {
		goto out;
	}
	if (usk_vhost_dev_remove(req.ctrlr, reply_done, request) != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "ctrlr: no controller named %s", req.ctrlr);
	}
out:
	free(req.ctrlr);
}
USK_RPC_REGISTER("vhost_delete_controller", rpc_vhost_delete_controller, USK_RPC_RUNTIME)

static const struct usk_json_object_decoder g_get_decoders[] = {
	{"name", offsetof(struct rpc_ctrlr, name), usk_json_decode_string, true},
};

static void
rpc_vhost_get_controllers(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_ctrlr req = {};
	json_t *arr;

	if (!usk_rpc_decode_params(request, params, g_get_decoders, USK_COUNTOF(g_get_decoders),
				   &req)) {
		return;
	}
	arr = json_array();
	if (usk_vhost_dump_controllers(req.name, arr) != 0) {
		json_decref(arr);
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "name: no controller named %s", req.name);
	} else {
		usk_jsonrpc_send_result(request, arr);
	}
	free(req.name);
}
USK_RPC_REGISTER("vhost_get_controllers", rpc_vhost_get_controllers, USK_RPC_RUNTIME)

static const struct usk_json_object_decoder g_coalescing_decoders[] = {
	{"ctrlr", offsetof(struct rpc_ctrlr, ctrlr), usk_json_decode_string, false},
	{"delay_base_us", offsetof(struct rpc_ctrlr, delay_base_us), usk_json_decode_uint32, false},
	{"iops_threshold", offsetof(struct rpc_ctrlr, iops_threshold), usk_json_decode_uint32,
	 false},
};

static void
rpc_vhost_controller_set_coalescing(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_ctrlr req = {};
	int rc;

	if (!usk_rpc_decode_params(request, params, g_coalescing_decoders,
				   USK_COUNTOF(g_coalescing_decoders), &req)) {
		goto out;
	}
	rc = usk_vhost_set_coalescing(req.ctrlr, req.delay_base_us, req.iops_threshold);
	if (rc == -ENODEV) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "ctrlr: no controller named %s", req.ctrlr);
	} else if (rc == -EINVAL) {
		usk_jsonrpc_send_error_response(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			req.delay_base_us > 1000000 ?
				"delay_base_us: must be at most 1000000" :
				"iops_threshold: must be in 1..1000000 when delay_base_us is set");
	} else if (rc != 0) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						strerror(-rc));
	} else {
		usk_jsonrpc_send_bool_response(request, true);
	}
out:
	free(req.ctrlr);
}
USK_RPC_REGISTER("vhost_controller_set_coalescing", rpc_vhost_controller_set_coalescing,
		 USK_RPC_RUNTIME)
