/* SPDX-License-Identifier: BSD-3-Clause */
/* Methods that describe the RPC server itself: rpc_get_methods, spdk_get_version. */
#include <stdbool.h>
#include <stddef.h>

#include "usk/json.h"
#include "usk/rpc.h"

#define USK_VERSION_MAJOR  0
#define USK_VERSION_MINOR  1
#define USK_VERSION_PATCH  0
#define USK_VERSION_STRING "usk v0.1.0"

struct rpc_get_methods_params {
	bool current;
	bool include_aliases;
};

static const struct usk_json_object_decoder rpc_get_methods_decoders[] = {
	{"current", offsetof(struct rpc_get_methods_params, current), usk_json_decode_bool, true},
	{"include_aliases", offsetof(struct rpc_get_methods_params, include_aliases),
	 usk_json_decode_bool, true},
};

static void
append_name(const char *name, void *ctx)
{
	usk_json_append(ctx, json_string(name));
}

static void
rpc_get_methods(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_get_methods_params p = {};
	json_t *arr;

	if (!usk_rpc_decode_params(
		    request, params, rpc_get_methods_decoders,
		    sizeof(rpc_get_methods_decoders) / sizeof(rpc_get_methods_decoders[0]), &p)) {
		return;
	}
	arr = json_array();
	usk_rpc_foreach_method(p.include_aliases,
			       p.current ? usk_rpc_get_state() :
					   (USK_RPC_STARTUP | USK_RPC_RUNTIME),
			       append_name, arr);
	usk_jsonrpc_send_result(request, arr);
}
USK_RPC_REGISTER("rpc_get_methods", rpc_get_methods, USK_RPC_STARTUP | USK_RPC_RUNTIME)

static void
spdk_get_version(struct usk_jsonrpc_request *request, const json_t *params)
{
	json_t *res;

	if (params != NULL && !(json_is_object(params) && json_object_size(params) == 0)) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"spdk_get_version requires no parameters");
		return;
	}
	res = json_pack("{s:s, s:{s:i, s:i, s:i, s:s}}", "version", USK_VERSION_STRING, "fields",
			"major", USK_VERSION_MAJOR, "minor", USK_VERSION_MINOR, "patch",
			USK_VERSION_PATCH, "suffix", "");
	usk_jsonrpc_send_result(request, res);
}
USK_RPC_REGISTER("spdk_get_version", spdk_get_version, USK_RPC_STARTUP | USK_RPC_RUNTIME)
