/* SPDX-License-Identifier: BSD-3-Clause */
/* RPCs of the virtio bdev module: bdev_virtio_attach_controller, bdev_virtio_detach_controller. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_virtio.h"
#include "usk_internal/bdev_rpc.h"
#include "usk/rpc.h"
#include "usk/util.h"

struct rpc_virtio_attach {
	char *name;
	char *trtype;
	char *traddr;
	char *dev_type;
	uint32_t vq_count;
	uint32_t vq_size;
};

static void
rpc_bdev_virtio_attach_controller(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_virtio_attach p = {.vq_count = BDEV_VIRTIO_DEFAULT_VQ_COUNT,
				      .vq_size = BDEV_VIRTIO_DEFAULT_VQ_SIZE};
	const struct usk_json_object_decoder d[] = {
		{"name", offsetof(struct rpc_virtio_attach, name), usk_json_decode_string, false},
		{"trtype", offsetof(struct rpc_virtio_attach, trtype), usk_json_decode_string,
		 false},
		{"traddr", offsetof(struct rpc_virtio_attach, traddr), usk_json_decode_string,
		 false},
		{"dev_type", offsetof(struct rpc_virtio_attach, dev_type), usk_json_decode_string,
		 false},
		{"vq_count", offsetof(struct rpc_virtio_attach, vq_count), usk_json_decode_uint32,
		 true},
		{"vq_size", offsetof(struct rpc_virtio_attach, vq_size), usk_json_decode_uint32,
		 true},
	};
	struct bdev_virtio_blk_opts opts;
	struct usk_bdev *bdev = NULL;
	int rc;

	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p)) {
		goto out;
	}
	if (!usk_bdev_rpc_check_name(request, p.name)) {
		goto out;
	}
	if (strcasecmp(p.trtype, "user") != 0) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: trtype: '%s' not supported (only \"user\")", p.trtype);
		goto out;
	}
	if (strcmp(p.dev_type, "blk") != 0) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: dev_type: '%s' not supported (only \"blk\")",
			p.dev_type);
		goto out;
	}
	if (p.traddr[0] == '\0') {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid parameters: traddr: empty socket path");
		goto out;
	}
	if (p.vq_count == 0 || p.vq_count > 256) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: vq_count: %u not in 1..256", p.vq_count);
		goto out;
	}
	if (p.vq_size < 2 || p.vq_size > 32768 || !USK_IS_POW2(p.vq_size)) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: vq_size: %u is not a power of two in 2..32768",
			p.vq_size);
		goto out;
	}
	if (!usk_bdev_rpc_check_name_free(request, p.name)) {
		goto out;
	}
	opts = (struct bdev_virtio_blk_opts){
		.name = p.name, .path = p.traddr, .vq_count = p.vq_count, .vq_size = p.vq_size};
	rc = bdev_virtio_user_blk_create(&opts, &bdev);
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(
			request, rc, "could not attach virtio-blk controller %s at %s: %s", p.name,
			p.traddr, strerror(-rc));
		goto out;
	}
	/* As SPDK: the names of the bdevs created (one for blk). */
	json_t *names = json_array();

	json_array_append_new(names, json_string(usk_bdev_get_name(bdev)));
	usk_jsonrpc_send_result(request, names);
out:
	free(p.name);
	free(p.trtype);
	free(p.traddr);
	free(p.dev_type);
}
USK_RPC_REGISTER("bdev_virtio_attach_controller", rpc_bdev_virtio_attach_controller,
		 USK_RPC_RUNTIME)

static void
rpc_bdev_virtio_detach_controller(struct usk_jsonrpc_request *request, const json_t *params)
{
	char *name = NULL;
	int rc;

	if (!usk_bdev_rpc_decode_name(request, params, &name)) {
		free(name);
		return;
	}
	rc = bdev_virtio_blk_detach(name, usk_bdev_rpc_delete_done, request);
	if (rc == -ENODEV) {
		usk_jsonrpc_send_error_response_fmt(request, rc,
						    "name: no virtio controller named %s", name);
	} else if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, rc, "name: %s: %s", name,
						    strerror(-rc));
	}
	free(name);
}
USK_RPC_REGISTER("bdev_virtio_detach_controller", rpc_bdev_virtio_detach_controller,
		 USK_RPC_RUNTIME)
