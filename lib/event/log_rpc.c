/* SPDX-License-Identifier: BSD-3-Clause */
/* Log RPCs: log_set_flag, log_clear_flag, log_get_flags, log_{set,get}_{print_,}level. */
#include <stdlib.h>
#include <string.h>

#include "usk/json.h"
#include "usk/log.h"
#include "usk/rpc.h"
#include "usk/util.h"

struct rpc_str_param {
	char *value;
};

static bool
decode_one(struct usk_jsonrpc_request *request, const json_t *params, const char *field, char **out)
{
	struct usk_json_object_decoder d[] = {
		{field, offsetof(struct rpc_str_param, value), usk_json_decode_string, false},
	};
	struct rpc_str_param p = {};

	if (!usk_rpc_decode_params(request, params, d, 1, &p)) {
		return false;
	}
	*out = p.value;
	return true;
}

static void
rpc_log_flag(struct usk_jsonrpc_request *request, const json_t *params, bool set)
{
	char *flag;
	int rc;

	if (!decode_one(request, params, "flag", &flag)) {
		return;
	}
	rc = set ? usk_log_set_flag(flag) : usk_log_clear_flag(flag);
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "flag: unknown log flag '%s'", flag);
	} else {
		usk_jsonrpc_send_bool_response(request, true);
	}
	free(flag);
}

static void
rpc_log_set_flag(struct usk_jsonrpc_request *request, const json_t *params)
{
	rpc_log_flag(request, params, true);
}
USK_RPC_REGISTER("log_set_flag", rpc_log_set_flag, USK_RPC_STARTUP | USK_RPC_RUNTIME)

static void
rpc_log_clear_flag(struct usk_jsonrpc_request *request, const json_t *params)
{
	rpc_log_flag(request, params, false);
}
USK_RPC_REGISTER("log_clear_flag", rpc_log_clear_flag, USK_RPC_STARTUP | USK_RPC_RUNTIME)

static void
rpc_log_get_flags(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct usk_log_flag *f;
	json_t *res = json_object();

	for (f = usk_log_get_next_flag(NULL); f != NULL; f = usk_log_get_next_flag(f)) {
		usk_json_set(res, f->name, json_boolean(f->enabled));
	}
	usk_jsonrpc_send_result(request, res);
}
USK_RPC_REGISTER("log_get_flags", rpc_log_get_flags, USK_RPC_STARTUP | USK_RPC_RUNTIME)

/* noinline: gcc 12 -O3 reports a false -Wdangling-pointer on 'level' once this is inlined. */
static __attribute__((noinline)) void
rpc_log_set_level_common(struct usk_jsonrpc_request *request, const json_t *params, bool print)
{
	enum usk_log_level level;
	char *name;

	if (!decode_one(request, params, "level", &name)) {
		return;
	}
	if (usk_log_level_from_name(name, &level) != 0) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"level: unknown level '%s' (ERROR, WARNING, NOTICE, INFO, DEBUG)", name);
		free(name);
		return;
	}
	free(name);
	if (print) {
		usk_log_set_print_level(level);
	} else {
		usk_log_set_level(level);
	}
	usk_jsonrpc_send_bool_response(request, true);
}

static void
rpc_log_set_level(struct usk_jsonrpc_request *request, const json_t *params)
{
	rpc_log_set_level_common(request, params, false);
}
USK_RPC_REGISTER("log_set_level", rpc_log_set_level, USK_RPC_STARTUP | USK_RPC_RUNTIME)

static void
rpc_log_set_print_level(struct usk_jsonrpc_request *request, const json_t *params)
{
	rpc_log_set_level_common(request, params, true);
}
USK_RPC_REGISTER("log_set_print_level", rpc_log_set_print_level, USK_RPC_STARTUP | USK_RPC_RUNTIME)

static void
rpc_log_get_level(struct usk_jsonrpc_request *request, const json_t *params)
{
	usk_jsonrpc_send_result(request, json_string(usk_log_level_name(usk_log_get_level())));
}
USK_RPC_REGISTER("log_get_level", rpc_log_get_level, USK_RPC_STARTUP | USK_RPC_RUNTIME)

static void
rpc_log_get_print_level(struct usk_jsonrpc_request *request, const json_t *params)
{
	usk_jsonrpc_send_result(request,
				json_string(usk_log_level_name(usk_log_get_print_level())));
}
USK_RPC_REGISTER("log_get_print_level", rpc_log_get_print_level, USK_RPC_STARTUP | USK_RPC_RUNTIME)
