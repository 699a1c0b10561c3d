/* SPDX-License-Identifier: BSD-3-Clause */
/* JSON-RPC methods of the uring bdev module: bdev_uring_create, bdev_uring_delete,
 * bdev_uring_rescan. */
#include "usk/bdev.h"
#include "usk/json.h"
#include "usk/rpc.h"

#include "uring.h"
#include "file_common.h"
#include "vbdev_common.h"

static void
rpc_bdev_uring_create(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct usk_file_rpc_create req;
	char err[512] = "";
	int rc;

	if (usk_file_rpc_create_decode(request, params, "uring", false, &req)) {
		rc = usk_bdev_uring_create(req.name, req.filename, req.block_size, false, err,
					   sizeof(err));
		usk_file_rpc_create_reply(request, rc, req.name, err);
	}
	usk_file_rpc_create_free(&req);
}
USK_RPC_REGISTER("bdev_uring_create", rpc_bdev_uring_create, USK_RPC_RUNTIME)

static void
rpc_bdev_uring_delete(struct usk_jsonrpc_request *request, const json_t *params)
{
	usk_vbdev_rpc_delete(request, params, "name", usk_bdev_uring_delete,
			     "name: no uring bdev named '%s'");
}
USK_RPC_REGISTER("bdev_uring_delete", rpc_bdev_uring_delete, USK_RPC_RUNTIME)

static void
rpc_bdev_uring_rescan(struct usk_jsonrpc_request *request, const json_t *params)
{
	usk_file_rpc_rescan(request, params, "uring", usk_bdev_uring_rescan);
}
USK_RPC_REGISTER("bdev_uring_rescan", rpc_bdev_uring_rescan, USK_RPC_RUNTIME)
