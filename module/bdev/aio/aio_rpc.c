/* SPDX-License-Identifier: BSD-3-Clause */
/* JSON-RPC methods of the aio bdev module: bdev_aio_create, bdev_aio_delete, bdev_aio_rescan. */
#include "usk/bdev.h"
#include "usk/json.h"
#include "usk/rpc.h"

#include "aio.h"
#include "file_common.h"
#include "vbdev_common.h"

static void
rpc_bdev_aio_create(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct usk_file_rpc_create req;
	char err[512] = "";
	int rc;

	if (usk_file_rpc_create_decode(request, params, "aio", true, &req)) {
		rc = usk_bdev_aio_create(req.name, req.filename, req.block_size, req.readonly,
					 req.fallocate, err, sizeof(err));
		usk_file_rpc_create_reply(request, rc, req.name, err);
	}
	usk_file_rpc_create_free(&req);
}
USK_RPC_REGISTER("bdev_aio_create", rpc_bdev_aio_create, USK_RPC_RUNTIME)

static void
rpc_bdev_aio_delete(struct usk_jsonrpc_request *request, const json_t *params)
{
	usk_vbdev_rpc_delete(request, params, "name", usk_bdev_aio_delete,
			     "name: no aio bdev named '%s'");
}
USK_RPC_REGISTER("bdev_aio_delete", rpc_bdev_aio_delete, USK_RPC_RUNTIME)

static void
rpc_bdev_aio_rescan(struct usk_jsonrpc_request *request, const json_t *params)
{
	usk_file_rpc_rescan(request, params, "aio", usk_bdev_aio_rescan);
}
USK_RPC_REGISTER("bdev_aio_rescan", rpc_bdev_aio_rescan, USK_RPC_RUNTIME)
