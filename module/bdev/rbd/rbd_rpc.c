/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC methods of the rbd bdev module, with SPDK's names and parameters:
 * bdev_rbd_register_cluster, bdev_rbd_unregister_cluster, bdev_rbd_get_clusters_info,
 * bdev_rbd_create, bdev_rbd_delete, bdev_rbd_resize.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "usk/json.h"
#include "usk/rpc.h"
#include "usk/util.h"
#include "usk_internal/bdev_rpc.h"

#include "rbd.h"

/* A config map must be an object whose values are all strings. */
static bool
check_config_map(struct usk_jsonrpc_request *request, const char *field, const json_t *map)
{
	const char *key;
	json_t *val;

	if (map == NULL) {
		return true;
	}
	if (!json_is_object(map)) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: %s: expected an object of strings", field);
		return false;
	}
	json_object_foreach((json_t *)map, key, val)
	{
		if (!json_is_string(val)) {
			usk_jsonrpc_send_error_response_fmt(
				request, USK_JSONRPC_ERROR_INVALID_PARAMS,
				"Invalid parameters: %s: value of '%s' must be a string", field,
				key);
			return false;
		}
	}
	return true;
}

/* Completion of an asynchronous call, with the request as cb_arg: true, or the reason. */
static void
rpc_rbd_done(void *cb_arg, int rc, const char *err)
{
	struct usk_jsonrpc_request *request = cb_arg;

	if (rc == 0) {
		usk_jsonrpc_send_bool_response(request, true);
	} else {
		usk_jsonrpc_send_error_response(request, rc, err);
	}
}

struct rpc_register_cluster {
	char *name;
	char *user_id;
	json_t *config_param;
	char *config_file;
	char *key_file;
	char *core_mask;
};

struct rpc_register_ctx {
	struct usk_jsonrpc_request *request;
	char *name;
};

static void
rpc_register_cluster_cb(void *cb_arg, int rc, const char *err)
{
	struct rpc_register_ctx *ctx = cb_arg;

	if (rc == 0) {
		usk_jsonrpc_send_result(ctx->request, json_string(ctx->name));
	} else {
		usk_jsonrpc_send_error_response(ctx->request, rc, err);
	}
	free(ctx->name);
	free(ctx);
}

static void
rpc_bdev_rbd_register_cluster(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_register_cluster p = {0};
	const struct usk_json_object_decoder d[] = {
		{"name", offsetof(struct rpc_register_cluster, name), usk_json_decode_string,
		 false},
		{"user_id", offsetof(struct rpc_register_cluster, user_id), usk_json_decode_string,
		 true},
		{"config_param", offsetof(struct rpc_register_cluster, config_param),
		 usk_json_decode_json, true},
		{"config_file", offsetof(struct rpc_register_cluster, config_file),
		 usk_json_decode_string, true},
		{"key_file", offsetof(struct rpc_register_cluster, key_file),
		 usk_json_decode_string, true},
		{"core_mask", offsetof(struct rpc_register_cluster, core_mask),
		 usk_json_decode_string, true},
	};
	struct usk_rbd_cluster_opts opts;
	struct rpc_register_ctx *ctx = NULL;
	int rc;

	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p) ||
	    !check_config_map(request, "config_param", p.config_param)) {
		goto out;
	}
	if (p.name[0] == '\0') {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid parameters: name: must not be empty");
		goto out;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL || (ctx->name = strdup(p.name)) == NULL) {
		usk_jsonrpc_send_error_response(request, -ENOMEM, "out of memory");
		goto out;
	}
	ctx->request = request;
	opts = (struct usk_rbd_cluster_opts){
		.name = p.name,
		.user_id = p.user_id,
		.config = p.config_param,
		.config_file = p.config_file,
		.key_file = p.key_file,
		.core_mask = p.core_mask,
	};
	rc = usk_rbd_register_cluster(&opts, rpc_register_cluster_cb, ctx);
	if (rc == 0) {
		ctx = NULL;
	} else if (rc == -EEXIST) {
		usk_jsonrpc_send_error_response_fmt(
			request, rc, "name: cluster '%s' is already registered", p.name);
	} else if (rc == -EINVAL) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: core_mask: '%s' is not a hex cpu mask",
			p.core_mask ? p.core_mask : "");
	} else {
		usk_jsonrpc_send_error_response_fmt(request, rc, "cluster '%s': %s", p.name,
						    strerror(-rc));
	}
out:
	if (ctx != NULL) {
		free(ctx->name);
		free(ctx);
	}
	free(p.name);
	free(p.user_id);
	json_decref(p.config_param);
	free(p.config_file);
	free(p.key_file);
	free(p.core_mask);
}
USK_RPC_REGISTER("bdev_rbd_register_cluster", rpc_bdev_rbd_register_cluster, USK_RPC_RUNTIME)

static void
rpc_bdev_rbd_unregister_cluster(struct usk_jsonrpc_request *request, const json_t *params)
{
	char *name = NULL;
	int rc;

	if (!usk_bdev_rpc_decode_name(request, params, &name)) {
		free(name);
		return;
	}
	rc = usk_rbd_unregister_cluster(name, rpc_rbd_done, request);
	if (rc == -ENOENT) {
		usk_jsonrpc_send_error_response_fmt(request, rc, "name: no cluster named '%s'",
						    name);
	} else if (rc == -EBUSY) {
		usk_jsonrpc_send_error_response_fmt(
			request, rc, "name: cluster '%s' is connecting or has bdevs", name);
	} else if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, rc, "cluster '%s': %s", name,
						    strerror(-rc));
	}
	free(name);
}
USK_RPC_REGISTER("bdev_rbd_unregister_cluster", rpc_bdev_rbd_unregister_cluster, USK_RPC_RUNTIME)

static void
rpc_bdev_rbd_get_clusters_info(struct usk_jsonrpc_request *request, const json_t *params)
{
	char *name = NULL;
	const struct usk_json_object_decoder d[] = {
		{"name", 0, usk_json_decode_string, true},
	};
	json_t *info;

	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &name)) {
		free(name);
		return;
	}
	info = usk_rbd_get_clusters_info(name);
	if (info == NULL) {
		usk_jsonrpc_send_error_response_fmt(request, -ENOENT, "name: no cluster named '%s'",
						    name);
	} else {
		usk_jsonrpc_send_result(request, info);
	}
	free(name);
}
USK_RPC_REGISTER("bdev_rbd_get_clusters_info", rpc_bdev_rbd_get_clusters_info, USK_RPC_RUNTIME)

struct rpc_rbd_create {
	char *name;
	char *user_id;
	char *pool_name;
	char *rbd_name;
	uint32_t block_size;
	json_t *config;
	char *cluster_name;
	char *uuid;
};

static void
rpc_rbd_create_cb(void *cb_arg, struct usk_bdev *bdev, int rc, const char *err)
{
	struct usk_jsonrpc_request *request = cb_arg;

	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, rc, "could not create rbd bdev: %s",
						    err);
		return;
	}
	usk_jsonrpc_send_result(request, json_string(usk_bdev_get_name(bdev)));
}

static void
rpc_bdev_rbd_create(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_rbd_create p = {0};
	const struct usk_json_object_decoder d[] = {
		{"name", offsetof(struct rpc_rbd_create, name), usk_json_decode_string, true},
		{"user_id", offsetof(struct rpc_rbd_create, user_id), usk_json_decode_string, true},
		{"pool_name", offsetof(struct rpc_rbd_create, pool_name), usk_json_decode_string,
		 false},
		{"rbd_name", offsetof(struct rpc_rbd_create, rbd_name), usk_json_decode_string,
		 false},
		{"block_size", offsetof(struct rpc_rbd_create, block_size), usk_json_decode_uint32,
		 false},
		{"config", offsetof(struct rpc_rbd_create, config), usk_json_decode_json, true},
		{"cluster_name", offsetof(struct rpc_rbd_create, cluster_name),
		 usk_json_decode_string, true},
		{"uuid", offsetof(struct rpc_rbd_create, uuid), usk_json_decode_string, true},
	};
	struct usk_rbd_bdev_opts opts = {0};
	uuid_t uuid;
	int rc;

	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p) ||
	    !check_config_map(request, "config", p.config) ||
	    !usk_bdev_rpc_check_name(request, p.name) ||
	    !usk_bdev_rpc_parse_uuid(request, p.uuid, uuid) ||
	    !usk_bdev_rpc_check_name_free(request, p.name)) {
		goto out;
	}
	if (p.block_size < 512 || !USK_IS_POW2(p.block_size)) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: block_size: %u is not a power of two >= 512",
			p.block_size);
		goto out;
	}
	if (p.pool_name[0] == '\0' || p.rbd_name[0] == '\0') {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "Invalid parameters: %s: must not be empty",
						    p.pool_name[0] == '\0' ? "pool_name" :
									     "rbd_name");
		goto out;
	}
	if (p.cluster_name != NULL && (p.user_id != NULL || p.config != NULL)) {
		usk_jsonrpc_send_error_response(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: cluster_name: user_id and config belong to the registered cluster, not to bdev_rbd_create");
		goto out;
	}
	opts = (struct usk_rbd_bdev_opts){
		.name = p.name,
		.pool_name = p.pool_name,
		.rbd_name = p.rbd_name,
		.block_size = p.block_size,
		.uuid = p.uuid ? uuid : NULL,
		.cluster_name = p.cluster_name,
		.user_id = p.user_id,
		.config = p.config,
	};
	rc = usk_rbd_bdev_create(&opts, rpc_rbd_create_cb, request);
	if (rc == -ENODEV) {
		usk_jsonrpc_send_error_response_fmt(request, rc,
						    "cluster_name: no connected cluster named '%s'",
						    p.cluster_name);
	} else if (rc == -EEXIST) {
		usk_jsonrpc_send_error_response_fmt(request, rc, "name: bdev %s already exists",
						    p.name);
	} else if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, rc, "could not create rbd bdev: %s",
						    strerror(-rc));
	}
out:
	free(p.name);
	free(p.user_id);
	free(p.pool_name);
	free(p.rbd_name);
	json_decref(p.config);
	free(p.cluster_name);
	free(p.uuid);
}
USK_RPC_REGISTER("bdev_rbd_create", rpc_bdev_rbd_create, USK_RPC_RUNTIME)

static void
rpc_bdev_rbd_delete(struct usk_jsonrpc_request *request, const json_t *params)
{
	char *name = NULL;
	int rc;

	if (!usk_bdev_rpc_decode_name(request, params, &name)) {
		free(name);
		return;
	}
	rc = usk_rbd_bdev_delete(name, usk_bdev_rpc_delete_done, request);
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, rc, "name: no rbd bdev named %s",
						    name);
	}
	free(name);
}
USK_RPC_REGISTER("bdev_rbd_delete", rpc_bdev_rbd_delete, USK_RPC_RUNTIME)

struct rpc_rbd_resize {
	char *name;
	uint64_t new_size;
};

static void
rpc_bdev_rbd_resize(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_rbd_resize p = {0};
	const struct usk_json_object_decoder d[] = {
		{"name", offsetof(struct rpc_rbd_resize, name), usk_json_decode_string, false},
		{"new_size", offsetof(struct rpc_rbd_resize, new_size), usk_json_decode_uint64,
		 false},
	};
	int rc;

	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p)) {
		goto out;
	}
	rc = usk_rbd_bdev_resize(p.name, p.new_size, rpc_rbd_done, request);
	if (rc == -ENODEV) {
		usk_jsonrpc_send_error_response_fmt(request, rc, "name: no rbd bdev named %s",
						    p.name);
	} else if (rc == -EINVAL) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "Invalid parameters: new_size: %" PRIu64
						    " MiB is not larger than the current size",
						    p.new_size);
	} else if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, rc, "bdev %s: %s", p.name,
						    strerror(-rc));
	}
out:
	free(p.name);
}
USK_RPC_REGISTER("bdev_rbd_resize", rpc_bdev_rbd_resize, USK_RPC_RUNTIME)
