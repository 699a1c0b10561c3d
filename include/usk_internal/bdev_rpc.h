/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks and replies shared by the bdev JSON-RPC methods (lib/bdev/bdev_rpc.c and the modules'
 * *_rpc.c). Header-only, so a module's RPC file needs nothing beyond usk_rpc and the bdev core
 * at link time (the module unit tests link it without lib/bdev's RPC library).
 * Each check replies the error itself and returns false; the caller then only cleans up.
 */
#ifndef USK_INTERNAL_BDEV_RPC_H
#define USK_INTERNAL_BDEV_RPC_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "usk/bdev.h"
#include "usk/rpc.h"
#include "usk/util.h"

/* Decode params that are only {"name": string} into *name (the caller frees it, also on error). */
static inline bool
usk_bdev_rpc_decode_name(struct usk_jsonrpc_request *request, const json_t *params, char **name)
{
	const struct usk_json_object_decoder d[] = {
		{"name", 0, usk_json_decode_string, false},
	};

	return usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), name);
}

/* A bdev name given to a create RPC (NULL: none given) must be 1..255 characters. */
static inline bool
usk_bdev_rpc_check_name(struct usk_jsonrpc_request *request, const char *name)
{
	if (name && (name[0] == '\0' || strlen(name) >= USK_BDEV_MAX_NAME_LEN)) {
		usk_jsonrpc_send_error_response(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: name: must be 1..255 characters");
		return false;
	}
	return true;
}

/* Separate metadata is not supported: md_size must be 0. */
static inline bool
usk_bdev_rpc_check_md_size(struct usk_jsonrpc_request *request, uint32_t md_size)
{
	if (md_size != 0) {
		usk_jsonrpc_send_error_response(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: md_size: separate metadata is not supported (use 0)");
		return false;
	}
	return true;
}

/* Parse the "uuid" parameter (NULL: none given, out untouched) into out. */
static inline bool
usk_bdev_rpc_parse_uuid(struct usk_jsonrpc_request *request, const char *uuid_str, uuid_t out)
{
	if (uuid_str && uuid_parse(uuid_str, out) != 0) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: uuid: '%s' is not a valid UUID", uuid_str);
		return false;
	}
	return true;
}

/* No bdev may be named name yet (NULL: none given). */
static inline bool
usk_bdev_rpc_check_name_free(struct usk_jsonrpc_request *request, const char *name)
{
	if (name && usk_bdev_get_by_name(name) != NULL) {
		usk_jsonrpc_send_error_response_fmt(request, -EEXIST,
						    "name: bdev %s already exists", name);
		return false;
	}
	return true;
}

/* Reply to a create RPC: the new bdev's name, or "could not create <module> bdev: <reason>". */
static inline void
usk_bdev_rpc_reply_created(struct usk_jsonrpc_request *request, int rc, struct usk_bdev *bdev,
			   const char *module)
{
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, rc, "could not create %s bdev: %s",
						    module, strerror(-rc));
		return;
	}
	usk_jsonrpc_send_result(request, json_string(usk_bdev_get_name(bdev)));
}

/* Completion of a module's delete, with the JSON-RPC request as cb_arg: true, or the error. */
static inline void
usk_bdev_rpc_delete_done(void *cb_arg, int rc)
{
	if (rc == 0) {
		usk_jsonrpc_send_bool_response(cb_arg, true);
	} else {
		usk_jsonrpc_send_error_response_fmt(cb_arg, rc, "delete failed: %s", strerror(-rc));
	}
}

#endif
