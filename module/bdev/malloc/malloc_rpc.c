/* SPDX-License-Identifier: BSD-3-Clause */
/* RPCs of the malloc bdev module: bdev_malloc_create, bdev_malloc_delete. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "malloc.h"
#include "usk_internal/bdev_rpc.h"
#include "usk/rpc.h"
#include "usk/util.h"

static void
rpc_bdev_malloc_create(struct usk_jsonrpc_request *request, const json_t *params)
{
	/* The buffer is allocated and zeroed off the app thread; the reply comes after the bdev
	 * is registered. */
	usk_mem_bdev_rpc_create(request, params, &usk_bdev_malloc_rules,
				usk_bdev_malloc_create_async);
}
USK_RPC_REGISTER("bdev_malloc_create", rpc_bdev_malloc_create, USK_RPC_RUNTIME)

static void
rpc_bdev_malloc_delete(struct usk_jsonrpc_request *request, const json_t *params)
{
	char *name = NULL;
	int rc;

	if (!usk_bdev_rpc_decode_name(request, params, &name)) {
		free(name);
		return;
	}
	rc = usk_bdev_malloc_delete(name, usk_bdev_rpc_delete_done, request);
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, rc == -ENODEV ? -ENODEV : rc,
						    "name: no malloc bdev named %s", name);
	}
	free(name);
}
USK_RPC_REGISTER("bdev_malloc_delete", rpc_bdev_malloc_delete, USK_RPC_RUNTIME)
