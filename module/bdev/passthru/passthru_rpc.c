/* SPDX-License-Identifier: BSD-3-Clause */
/* JSON-RPC methods of the passthru vbdev: bdev_passthru_create, bdev_passthru_delete. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "usk/json.h"
#include "usk/rpc.h"
#include "usk/util.h"

#include "passthru.h"
#include "vbdev_common.h"

struct rpc_passthru_create {
	char *base_bdev_name;
	char *name;
	char *uuid;
};

static const struct usk_json_object_decoder g_rpc_passthru_create_decoders[] = {
	{"base_bdev_name", offsetof(struct rpc_passthru_create, base_bdev_name),
	 usk_json_decode_string, false},
	{"name", offsetof(struct rpc_passthru_create, name), usk_json_decode_string, false},
	{"uuid", offsetof(struct rpc_passthru_create, uuid), usk_json_decode_string, true},
};

static void
rpc_bdev_passthru_create(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_passthru_create req = {};
	char err[512] = "";
	int rc;

	if (!usk_rpc_decode_params(request, params, g_rpc_passthru_create_decoders,
				   USK_COUNTOF(g_rpc_passthru_create_decoders), &req)) {
		goto cleanup;
	}
	if (!usk_vbdev_rpc_check_create(request, req.name, "base_bdev_name", req.base_bdev_name,
					req.uuid, "a passthru bdev")) {
		goto cleanup;
	}
	rc = usk_bdev_passthru_create(req.base_bdev_name, req.name, err, sizeof(err));
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
USK_RPC_REGISTER("bdev_passthru_create", rpc_bdev_passthru_create, USK_RPC_RUNTIME)

static void
rpc_bdev_passthru_delete(struct usk_jsonrpc_request *request, const json_t *params)
{
	usk_vbdev_rpc_delete(request, params, "name", usk_bdev_passthru_delete,
			     "name: no passthru bdev named '%s'");
}
USK_RPC_REGISTER("bdev_passthru_delete", rpc_bdev_passthru_delete, USK_RPC_RUNTIME)
