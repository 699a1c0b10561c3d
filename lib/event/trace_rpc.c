/* SPDX-License-Identifier: BSD-3-Clause */
/* Trace RPCs (SPDK names): trace_get_tpoint_group_mask, trace_enable/disable_tpoint_group. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usk/json.h"
#include "usk/rpc.h"
#include "usk/trace.h"
#include "usk/util.h"

static void
rpc_trace_get_tpoint_group_mask(struct usk_jsonrpc_request *request, const json_t *params)
{
	uint64_t mask = usk_trace_get_mask();
	json_t *res = json_object(), *groups = json_object();
	char buf[24];
	int g;

	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)mask);
	json_object_set_new(res, "tpoint_group_mask", json_string(buf));
	json_object_set_new(res, "path",
			    usk_trace_get_path() ? json_string(usk_trace_get_path()) : json_null());
	for (g = 0; g < USK_TRACE_GROUP_COUNT; g++) {
		snprintf(buf, sizeof(buf), "0x%llx", 1ULL << g);
		json_object_set_new(groups, usk_trace_group_name(g),
				    json_pack("{s:s, s:b}", "mask", buf, "enabled",
					      (int)((mask >> g) & 1)));
	}
	json_object_set_new(res, "groups", groups);
	usk_jsonrpc_send_result(request, res);
}
USK_RPC_REGISTER("trace_get_tpoint_group_mask", rpc_trace_get_tpoint_group_mask,
		 USK_RPC_STARTUP | USK_RPC_RUNTIME)

struct rpc_tpoint_group {
	char *name;
	uint64_t poller_threshold_us; /* usk only: POLLER_SLOW threshold; 0 = unchanged */
};

static void
tpoint_group_set(struct usk_jsonrpc_request *request, const json_t *params, bool on)
{
	struct rpc_tpoint_group p = {};
	const struct usk_json_object_decoder d[] = {
		{"name", offsetof(struct rpc_tpoint_group, name), usk_json_decode_string},
		{"poller_threshold_us", offsetof(struct rpc_tpoint_group, poller_threshold_us),
		 usk_json_decode_uint64, true},
	};
	uint64_t mask;
	int rc;

	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p)) {
		goto out;
	}
	if (usk_trace_parse_mask(p.name, &mask) != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "unknown tracepoint group '%s' (name): bdev, "
						    "nvmf_tcp, thread or all",
						    p.name);
		goto out;
	}
	rc = usk_trace_set_mask(mask, on);
	if (rc != 0) {
		usk_jsonrpc_send_error_response(
			request, rc, "tracing is off: start the app with -e (e.g. -e 0)");
		goto out;
	}
	if (p.poller_threshold_us != 0) {
		usk_trace_set_poller_threshold_us(p.poller_threshold_us);
	}
	usk_jsonrpc_send_bool_response(request, true);
out:
	free(p.name);
}

static void
rpc_trace_enable_tpoint_group(struct usk_jsonrpc_request *request, const json_t *params)
{
	tpoint_group_set(request, params, true);
}
USK_RPC_REGISTER("trace_enable_tpoint_group", rpc_trace_enable_tpoint_group,
		 USK_RPC_STARTUP | USK_RPC_RUNTIME)

static void
rpc_trace_disable_tpoint_group(struct usk_jsonrpc_request *request, const json_t *params)
{
	tpoint_group_set(request, params, false);
}
USK_RPC_REGISTER("trace_disable_tpoint_group", rpc_trace_disable_tpoint_group,
		 USK_RPC_STARTUP | USK_RPC_RUNTIME)
