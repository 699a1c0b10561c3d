/* SPDX-License-Identifier: BSD-3-Clause */
/* JSON-RPC methods of the split vbdev: bdev_split_create, bdev_split_delete. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "usk/json.h"
#include "usk/rpc.h"
#include "usk/util.h"

#include "split.h"
#include "vbdev_common.h"

struct rpc_split_create {
	char *base_bdev;
	uint32_t split_count;
	uint64_t split_size_mb;
};

static const struct usk_json_object_decoder g_rpc_split_create_decoders[] = {
	{"base_bdev", offsetof(struct rpc_split_create, base_bdev), usk_json_decode_string, false},
	{"split_count", offsetof(struct rpc_split_create, split_count), usk_json_decode_uint32,
	 false},
	{"split_size_mb", offsetof(struct rpc_split_create, split_size_mb), usk_json_decode_uint64,
	 true},
};

static void
rpc_bdev_split_create(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_split_create req = {};
	char err[512] = "";
	json_t *names = NULL;
	int rc;

	if (!usk_rpc_decode_params(request, params, g_rpc_split_create_decoders,
				   USK_COUNTOF(g_rpc_split_create_decoders), &req)) {
		goto cleanup;
	}
	if (req.base_bdev[0] == '\0') {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"base_bdev: must not be empty");
		goto cleanup;
	}
	rc = usk_bdev_split_create(req.base_bdev, req.split_count, req.split_size_mb, &names, err,
				   sizeof(err));
	if (rc != 0) {
		usk_vbdev_rpc_create_error(request, rc, err);
		goto cleanup;
	}
	usk_jsonrpc_send_result(request, names);
cleanup:
	free(req.base_bdev);
}
USK_RPC_REGISTER("bdev_split_create", rpc_bdev_split_create, USK_RPC_RUNTIME)

static void
rpc_bdev_split_delete(struct usk_jsonrpc_request *request, const json_t *params)
{
	usk_vbdev_rpc_delete(request, params, "base_bdev", usk_bdev_split_delete,
			     "base_bdev: '%s' is not split");
}
USK_RPC_REGISTER("bdev_split_delete", rpc_bdev_split_delete, USK_RPC_RUNTIME)
