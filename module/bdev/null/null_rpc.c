/* SPDX-License-Identifier: BSD-3-Clause */
/* RPCs of the null bdev module: bdev_null_create, bdev_null_delete, bdev_null_resize. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "null.h"
#include "usk_internal/bdev_rpc.h"
#include "usk/rpc.h"
#include "usk/util.h"

/* A null bdev has no data to allocate: created at once, the result reported before return. */
static int
null_create(const struct usk_mem_bdev_opts *opts, usk_mem_bdev_create_cb cb_fn, void *cb_arg)
{
	struct usk_bdev *bdev = NULL;
	int rc = usk_bdev_null_create(&bdev, opts);

	cb_fn(cb_arg, rc == 0 ? bdev : NULL, rc);
	return 0;
}

static void
rpc_bdev_null_create(struct usk_jsonrpc_request *request, const json_t *params)
{
	usk_mem_bdev_rpc_create(request, params, &usk_bdev_null_rules, null_create);
}
USK_RPC_REGISTER("bdev_null_create", rpc_bdev_null_create, USK_RPC_RUNTIME)

static void
rpc_bdev_null_delete(struct usk_jsonrpc_request *request, const json_t *params)
{
	char *name = NULL;
	int rc;

	if (!usk_bdev_rpc_decode_name(request, params, &name)) {
		free(name);
		return;
	}
	rc = usk_bdev_null_delete(name, usk_bdev_rpc_delete_done, request);
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, rc, "name: no null bdev named %s",
						    name);
	}
	free(name);
}
USK_RPC_REGISTER("bdev_null_delete", rpc_bdev_null_delete, USK_RPC_RUNTIME)

struct rpc_null_resize {
	char *name;
	uint64_t new_size;
};

static void
rpc_bdev_null_resize(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_null_resize p = {0};
	const struct usk_json_object_decoder d[] = {
		{"name", offsetof(struct rpc_null_resize, name), usk_json_decode_string, false},
		{"new_size", offsetof(struct rpc_null_resize, new_size), usk_json_decode_uint64,
		 false},
	};
	struct usk_bdev *bdev;
	uint64_t blocks;
	int rc;

	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p)) {
		goto out;
	}
	bdev = usk_bdev_get_by_name(p.name);
	if (bdev == NULL) {
		usk_jsonrpc_send_error_response_fmt(request, -ENODEV, "name: no null bdev named %s",
						    p.name);
		goto out;
	}
	/* new_size is in MiB, as in SPDK. */
	if (p.new_size == 0 || p.new_size > UINT64_MAX / (1024 * 1024)) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid parameters: new_size: must be > 0 (MiB)");
		goto out;
	}
	blocks = p.new_size * 1024 * 1024 / usk_bdev_get_block_size(bdev);
	rc = usk_bdev_null_resize(p.name, blocks);
	if (rc == -ENODEV) {
		usk_jsonrpc_send_error_response_fmt(request, rc, "name: no null bdev named %s",
						    p.name);
	} else if (rc == -EBUSY) {
		usk_jsonrpc_send_error_response(request, rc,
						"new_size: cannot shrink a bdev that is open");
	} else if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, rc, "resize failed: %s",
						    strerror(-rc));
	} else {
		usk_jsonrpc_send_bool_response(request, true);
	}
out:
	free(p.name);
}
USK_RPC_REGISTER("bdev_null_resize", rpc_bdev_null_resize, USK_RPC_RUNTIME)
