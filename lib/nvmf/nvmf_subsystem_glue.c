/* SPDX-License-Identifier: BSD-3-Clause */
/* The "nvmf" usk_subsystem: creates the target and one poll group thread per core, tears them down.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usk/env.h"
#include "usk/json.h"
#include "usk/event.h"
#include "usk/rpc.h"
#include "nvmf_internal.h"

#define NVMF_GLUE_MAX_GROUPS USK_CPUSET_SIZE

struct glue_group {
	struct usk_thread *thread;
	struct usk_nvmf_poll_group *group;
};

static struct usk_nvmf_tgt *g_tgt;
/* Set by the STARTUP-time RPCs below, used when the target is created. */
static uint32_t g_max_subsystems = USK_NVMF_DEFAULT_MAX_SUBSYSTEMS;
static uint16_t g_crdt[3];
static struct usk_cpuset g_poll_groups_mask;
static bool g_poll_groups_mask_set;
static struct glue_group g_groups[NVMF_GLUE_MAX_GROUPS];
static uint32_t g_num_groups;
static uint32_t g_pending;
static int g_init_rc;
static struct usk_thread *g_glue_thread;

/* ---- init ---- */

static void
group_created_on_app(void *arg)
{
	if (arg == NULL) {
		g_init_rc = -ENOMEM;
	}
	if (--g_pending == 0) {
		if (g_init_rc != 0) {
			USK_ERRLOG("cannot create the NVMe-oF poll groups\n");
		}
		usk_subsystem_init_next(g_init_rc);
	}
}

static void
group_create_on_thread(void *arg)
{
	struct glue_group *gg = arg;

	gg->group = usk_nvmf_poll_group_create(g_tgt);
	usk_thread_send_msg(g_glue_thread, group_created_on_app, gg->group);
}

static void
nvmf_subsystem_init(void)
{
	struct usk_nvmf_target_opts opts = {
		.opts_size = sizeof(opts), .name = "nvmf_tgt", .max_subsystems = g_max_subsystems};
	struct usk_cpuset mask;
	char name[32];
	uint32_t core;
	int rc;

	g_glue_thread = usk_get_thread();
	memcpy(opts.crdt, g_crdt, sizeof(opts.crdt));
	rc = usk_nvmf_tgt_create(&opts, &g_tgt);
	if (rc != 0) {
		USK_ERRLOG("cannot create the NVMe-oF target: %s\n", strerror(-rc));
		usk_subsystem_init_next(rc);
		return;
	}
	g_num_groups = 0;
	g_init_rc = 0;
	for (core = usk_env_get_first_core();
	     core != UINT32_MAX && g_num_groups < NVMF_GLUE_MAX_GROUPS;
	     core = usk_env_get_next_core(core)) {
		if (g_poll_groups_mask_set && !usk_cpuset_get_cpu(&g_poll_groups_mask, core)) {
			continue;
		}
		usk_cpuset_zero(&mask);
		usk_cpuset_set_cpu(&mask, core, true);
		snprintf(name, sizeof(name), "nvmf_tgt_poll_group_%03u", g_num_groups);
		g_groups[g_num_groups].thread = usk_thread_create(name, &mask);
		if (g_groups[g_num_groups].thread == NULL) {
			USK_ERRLOG("cannot create thread %s\n", name);
			break;
		}
		g_num_groups++;
	}
	if (g_num_groups == 0) {
		usk_subsystem_init_next(-ENOMEM);
		return;
	}
	g_pending = g_num_groups;
	for (uint32_t i = 0; i < g_num_groups; i++) {
		usk_thread_send_msg(g_groups[i].thread, group_create_on_thread, &g_groups[i]);
	}
}

/* ---- fini ---- */

static void
tgt_destroyed(void *ctx, int status)
{
	g_tgt = NULL;
	usk_subsystem_fini_next();
}

static void
group_gone_on_app(void *arg)
{
	if (--g_pending == 0) {
		g_num_groups = 0;
		usk_nvmf_tgt_destroy(g_tgt, tgt_destroyed, NULL);
	}
}

static void
group_destroyed(void *ctx, int status)
{
	usk_thread_exit(usk_get_thread());
	usk_thread_send_msg(g_glue_thread, group_gone_on_app, NULL);
}

static void
group_destroy_on_thread(void *arg)
{
	struct glue_group *gg = arg;

	if (gg->group) {
		usk_nvmf_poll_group_destroy(gg->group, group_destroyed, NULL);
	} else {
		group_destroyed(NULL, 0);
	}
}

static void
destroy_poll_groups(void)
{
	uint32_t i;

	if (g_num_groups == 0) {
		usk_nvmf_tgt_destroy(g_tgt, tgt_destroyed, NULL);
		return;
	}
	g_pending = g_num_groups;
	for (i = 0; i < g_num_groups; i++) {
		usk_thread_send_msg(g_groups[i].thread, group_destroy_on_thread, &g_groups[i]);
	}
}

static void stop_next_subsystem(struct usk_nvmf_subsystem *subsystem);

static void
subsystem_stopped(struct usk_nvmf_subsystem *subsystem, void *cb_arg, int status)
{
	stop_next_subsystem(usk_nvmf_subsystem_get_next(subsystem));
}

static void
stop_next_subsystem(struct usk_nvmf_subsystem *subsystem)
{
	for (; subsystem; subsystem = usk_nvmf_subsystem_get_next(subsystem)) {
		if (usk_nvmf_subsystem_stop(subsystem, subsystem_stopped, NULL) == 0) {
			return;
		}
	}
	destroy_poll_groups();
}

static void
nvmf_subsystem_fini(void)
{
	if (g_tgt == NULL) {
		usk_subsystem_fini_next();
		return;
	}
	g_glue_thread = usk_get_thread();
	stop_next_subsystem(usk_nvmf_subsystem_get_first(g_tgt));
}

static void
nvmf_subsystem_write_config_json(json_t *config)
{
	json_t *params = json_object();

	usk_json_set(params, "discovery_filter", json_string("match_any"));
	if (g_poll_groups_mask_set) {
		char mask[USK_CPUSET_SIZE / 4 + 3];

		snprintf(mask, sizeof(mask), "0x%s", usk_cpuset_fmt(&g_poll_groups_mask));
		usk_json_set(params, "poll_groups_mask", json_string(mask));
	}
	usk_json_config_add(config, "nvmf_set_config", params);
	usk_json_config_add(config, "nvmf_set_max_subsystems",
			    json_pack("{s:i}", "max_subsystems", (json_int_t)g_max_subsystems));
	usk_json_config_add(config, "nvmf_set_crdt",
			    json_pack("{s:i, s:i, s:i}", "crdt1", g_crdt[0], "crdt2", g_crdt[1],
				      "crdt3", g_crdt[2]));
	if (g_tgt) {
		usk_nvmf_tgt_write_config_json(config, g_tgt);
	}
}

/* ---- target options (before the subsystem starts, as SPDK) ---- */

struct rpc_set_config {
	char *discovery_filter;
	char *poll_groups_mask;
	json_t *admin_cmd_passthru;
	json_t *dhchap_digests;
	json_t *dhchap_dhgroups;
	uint32_t acceptor_poll_rate;
	uint32_t max_subsystems;
	uint16_t crdt[3];
};

static const struct usk_json_object_decoder g_set_config_decoders[] = {
	{"discovery_filter", offsetof(struct rpc_set_config, discovery_filter),
	 usk_json_decode_string, true},
	{"poll_groups_mask", offsetof(struct rpc_set_config, poll_groups_mask),
	 usk_json_decode_string, true},
	{"admin_cmd_passthru", offsetof(struct rpc_set_config, admin_cmd_passthru),
	 usk_json_decode_json, true},
	{"dhchap_digests", offsetof(struct rpc_set_config, dhchap_digests), usk_json_decode_json,
	 true},
	{"dhchap_dhgroups", offsetof(struct rpc_set_config, dhchap_dhgroups), usk_json_decode_json,
	 true},
	{"acceptor_poll_rate", offsetof(struct rpc_set_config, acceptor_poll_rate),
	 usk_json_decode_uint32, true},
};

static void
set_config_free(struct rpc_set_config *req)
{
	free(req->discovery_filter);
	free(req->poll_groups_mask);
	json_decref(req->admin_cmd_passthru);
	json_decref(req->dhchap_digests);
	json_decref(req->dhchap_dhgroups);
}

static void
rpc_nvmf_set_config(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_set_config req = {};
	struct usk_cpuset mask;
	json_t *identify;

	if (!usk_rpc_decode_params(request, params, g_set_config_decoders,
				   USK_COUNTOF(g_set_config_decoders), &req)) {
		goto out;
	}
	if (req.discovery_filter && strcmp(req.discovery_filter, "match_any") != 0) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"discovery_filter: only \"match_any\" is supported (got \"%s\")",
			req.discovery_filter);
		goto out;
	}
	if (req.admin_cmd_passthru) {
		identify = json_is_object(req.admin_cmd_passthru) ?
				   json_object_get(req.admin_cmd_passthru, "identify_ctrlr") :
				   NULL;
		if (!json_is_object(req.admin_cmd_passthru) ||
		    json_object_size(req.admin_cmd_passthru) > (identify ? 1u : 0u) ||
		    (identify && !json_is_false(identify))) {
			usk_jsonrpc_send_error_response(
				request, USK_JSONRPC_ERROR_INVALID_PARAMS,
				"admin_cmd_passthru: only {\"identify_ctrlr\": false} is supported");
			goto out;
		}
	}
	/* SPDK's save_config always writes the DH-HMAC-CHAP algorithm lists. usk has no host keys
	 * (nvmf_subsystem_add_host refuses dhchap_key), so the lists change nothing: check shape
	 * only. */
	if ((req.dhchap_digests && !json_is_array(req.dhchap_digests)) ||
	    (req.dhchap_dhgroups && !json_is_array(req.dhchap_dhgroups))) {
		usk_jsonrpc_send_error_response(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"dhchap_digests, dhchap_dhgroups: must be arrays of strings");
		goto out;
	}
	if (req.poll_groups_mask) {
		if (usk_cpuset_parse(&mask, req.poll_groups_mask) != 0 ||
		    usk_cpuset_count(&mask) == 0) {
			usk_jsonrpc_send_error_response_fmt(
				request, USK_JSONRPC_ERROR_INVALID_PARAMS,
				"poll_groups_mask: '%s' is not a CPU mask", req.poll_groups_mask);
			goto out;
		}
		g_poll_groups_mask = mask;
		g_poll_groups_mask_set = true;
	}
	usk_jsonrpc_send_bool_response(request, true);
out:
	set_config_free(&req);
}
USK_RPC_REGISTER("nvmf_set_config", rpc_nvmf_set_config, USK_RPC_STARTUP)

static const struct usk_json_object_decoder g_max_subsystems_decoders[] = {
	{"max_subsystems", offsetof(struct rpc_set_config, max_subsystems), usk_json_decode_uint32,
	 false},
};

static void
rpc_nvmf_set_max_subsystems(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_set_config req = {};

	if (!usk_rpc_decode_params(request, params, g_max_subsystems_decoders,
				   USK_COUNTOF(g_max_subsystems_decoders), &req)) {
		return;
	}
	if (req.max_subsystems < 1 || req.max_subsystems > 65535) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "max_subsystems: must be in 1..65535 (got %u)",
						    req.max_subsystems);
		return;
	}
	g_max_subsystems = req.max_subsystems;
	usk_jsonrpc_send_bool_response(request, true);
}
USK_RPC_REGISTER("nvmf_set_max_subsystems", rpc_nvmf_set_max_subsystems, USK_RPC_STARTUP)

static const struct usk_json_object_decoder g_crdt_decoders[] = {
	{"crdt1", offsetof(struct rpc_set_config, crdt[0]), usk_json_decode_uint16, true},
	{"crdt2", offsetof(struct rpc_set_config, crdt[1]), usk_json_decode_uint16, true},
	{"crdt3", offsetof(struct rpc_set_config, crdt[2]), usk_json_decode_uint16, true},
};

static void
rpc_nvmf_set_crdt(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_set_config req = {};

	if (!usk_rpc_decode_params(request, params, g_crdt_decoders, USK_COUNTOF(g_crdt_decoders),
				   &req)) {
		return;
	}
	memcpy(g_crdt, req.crdt, sizeof(g_crdt));
	usk_jsonrpc_send_bool_response(request, true);
}
USK_RPC_REGISTER("nvmf_set_crdt", rpc_nvmf_set_crdt, USK_RPC_STARTUP)

static struct usk_subsystem g_usk_subsystem_nvmf = {
	.name = "nvmf",
	.init = nvmf_subsystem_init,
	.fini = nvmf_subsystem_fini,
	.write_config_json = nvmf_subsystem_write_config_json,
};

USK_SUBSYSTEM_REGISTER(g_usk_subsystem_nvmf)
USK_SUBSYSTEM_DEPEND(nvmf, bdev)
USK_SUBSYSTEM_DEPEND(nvmf, sock)
