/* SPDX-License-Identifier: BSD-3-Clause */
/* Framework RPCs: framework_*, thread_get_stats/pollers, save_config, spdk_kill_instance. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "usk/env.h"
#include "usk/json.h"
#include "usk/log.h"
#include "usk/rpc.h"
#include "usk/thread.h"
#include "event_internal.h"

void app_wait_for_rpc_init_done(int rc, void *arg);

static void
start_init_done(int rc, void *arg)
{
	struct usk_jsonrpc_request *request = arg;

	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "framework initialisation failed: %s",
						    strerror(rc < 0 ? -rc : rc));
	} else {
		usk_jsonrpc_send_bool_response(request, true);
	}
	app_wait_for_rpc_init_done(rc, NULL);
}

static void
rpc_framework_start_init(struct usk_jsonrpc_request *request, const json_t *params)
{
	if (params != NULL && json_object_size(params) > 0) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"framework_start_init requires no parameters");
		return;
	}
	if (app_framework_start_init(start_init_done, request) != 0) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_STATE,
						"framework initialisation already started");
	}
}
USK_RPC_REGISTER("framework_start_init", rpc_framework_start_init, USK_RPC_STARTUP)

static void
wait_init_done(void *arg)
{
	usk_jsonrpc_send_bool_response(arg, true);
}

static void
rpc_framework_wait_init(struct usk_jsonrpc_request *request, const json_t *params)
{
	app_on_init_done(wait_init_done, request);
}
USK_RPC_REGISTER("framework_wait_init", rpc_framework_wait_init, USK_RPC_STARTUP | USK_RPC_RUNTIME)

static void
rpc_framework_get_reactors(struct usk_jsonrpc_request *request, const json_t *params)
{
	json_t *res = json_pack("{s:I, s:i, s:o}", "tick_rate", (json_int_t)usk_get_ticks_hz(),
				"pid", (int)getpid(), "reactors", reactors_get_info());

	usk_jsonrpc_send_result(request, res);
}
USK_RPC_REGISTER("framework_get_reactors", rpc_framework_get_reactors, USK_RPC_RUNTIME)

static void
append_dep(const char *dep, void *ctx)
{
	usk_json_append(ctx, json_string(dep));
}

static void
rpc_framework_get_subsystems(struct usk_jsonrpc_request *request, const json_t *params)
{
	json_t *arr = json_array();
	struct usk_subsystem *s;

	for (s = usk_subsystem_get_first(); s != NULL; s = usk_subsystem_get_next(s)) {
		json_t *deps = json_array();

		subsystem_foreach_depend(s->name, append_dep, deps);
		usk_json_append(arr,
				json_pack("{s:s, s:o}", "subsystem", s->name, "depends_on", deps));
	}
	usk_jsonrpc_send_result(request, arr);
}
USK_RPC_REGISTER("framework_get_subsystems", rpc_framework_get_subsystems, USK_RPC_RUNTIME)

struct rpc_name_param {
	char *name;
};

static const struct usk_json_object_decoder name_decoders[] = {
	{"name", offsetof(struct rpc_name_param, name), usk_json_decode_string, false},
};

static struct usk_subsystem *
decode_subsystem(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_name_param p = {};
	struct usk_subsystem *s;

	if (!usk_rpc_decode_params(request, params, name_decoders, USK_COUNTOF(name_decoders),
				   &p)) {
		return NULL;
	}
	s = usk_subsystem_find(p.name);
	if (s == NULL) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "name: subsystem '%s' not found", p.name);
	}
	free(p.name);
	return s;
}

static void
rpc_framework_get_config(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct usk_subsystem *s = decode_subsystem(request, params);

	if (s != NULL) {
		usk_jsonrpc_send_result(request, subsystem_config_json(s));
	}
}
USK_RPC_REGISTER("framework_get_config", rpc_framework_get_config, USK_RPC_RUNTIME)

static void
rpc_save_subsystem_config(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct usk_subsystem *s = decode_subsystem(request, params);

	if (s != NULL) {
		usk_jsonrpc_send_result(request, json_pack("{s:s, s:o}", "subsystem", s->name,
							   "config", subsystem_config_json(s)));
	}
}
USK_RPC_REGISTER("save_subsystem_config", rpc_save_subsystem_config,
		 USK_RPC_STARTUP | USK_RPC_RUNTIME)

static void
rpc_save_config(struct usk_jsonrpc_request *request, const json_t *params)
{
	json_t *arr = json_array();
	struct usk_subsystem *s;

	for (s = usk_subsystem_get_first(); s != NULL; s = usk_subsystem_get_next(s)) {
		usk_json_append(arr, json_pack("{s:s, s:o}", "subsystem", s->name, "config",
					       subsystem_config_json(s)));
	}
	usk_jsonrpc_send_result(request, json_pack("{s:o}", "subsystems", arr));
}
USK_RPC_REGISTER("save_config", rpc_save_config, USK_RPC_STARTUP | USK_RPC_RUNTIME)

/* ---- thread_get_stats / thread_get_pollers: collected on each thread in turn ---- */

struct thread_walk {
	struct usk_jsonrpc_request *request;
	json_t *threads;
	bool pollers;
};

struct poller_counts {
	uint64_t active, timed, paused;
	json_t *active_arr, *timed_arr, *paused_arr;
};

static void
count_poller(const struct usk_poller_info *info, void *ctx)
{
	struct poller_counts *c = ctx;
	json_t *p = NULL, *arr;

	if (strcmp(info->state, "paused") == 0) {
		c->paused++;
		arr = c->paused_arr;
	} else if (info->period_ticks == 0) {
		c->active++;
		arr = c->active_arr;
	} else {
		c->timed++;
		arr = c->timed_arr;
	}
	if (arr == NULL) {
		return;
	}
	p = json_pack("{s:s, s:s, s:I, s:I}", "name", info->name, "state", info->state, "run_count",
		      (json_int_t)info->run_count, "busy_count", (json_int_t)info->busy_count);
	if (info->period_ticks != 0) {
		usk_json_set(p, "period_ticks", json_integer((json_int_t)info->period_ticks));
	}
	usk_json_append(arr, p);
}

static void
thread_walk_fn(void *arg)
{
	struct thread_walk *w = arg;
	struct usk_thread *t = usk_get_thread();
	struct usk_thread_stats st = {};
	struct poller_counts c = {};
	json_t *o;

	if (w->pollers) {
		c.active_arr = json_array();
		c.timed_arr = json_array();
		c.paused_arr = json_array();
	}
	usk_thread_foreach_poller(t, count_poller, &c);
	o = json_pack("{s:s, s:I}", "name", usk_thread_get_name(t), "id",
		      (json_int_t)usk_thread_get_id(t));
	if (w->pollers) {
		usk_json_set(o, "active_pollers", c.active_arr);
		usk_json_set(o, "timed_pollers", c.timed_arr);
		usk_json_set(o, "paused_pollers", c.paused_arr);
	} else {
		usk_thread_get_stats(&st);
		usk_json_set(o, "cpumask", json_string(usk_cpuset_fmt(usk_thread_get_cpumask(t))));
		usk_json_set(o, "busy", json_integer((json_int_t)st.busy_tsc));
		usk_json_set(o, "idle", json_integer((json_int_t)st.idle_tsc));
		usk_json_set(o, "active_pollers_count", json_integer((json_int_t)c.active));
		usk_json_set(o, "timed_pollers_count", json_integer((json_int_t)c.timed));
		usk_json_set(o, "paused_pollers_count", json_integer((json_int_t)c.paused));
	}
	usk_json_append(w->threads, o);
}

static void
thread_walk_done(void *arg)
{
	struct thread_walk *w = arg;

	usk_jsonrpc_send_result(w->request,
				json_pack("{s:I, s:o}", "tick_rate", (json_int_t)usk_get_ticks_hz(),
					  "threads", w->threads));
	free(w);
}

static void
thread_walk_start(struct usk_jsonrpc_request *request, const json_t *params, bool pollers)
{
	struct thread_walk *w;
	int rc;

	if (params != NULL && json_object_size(params) > 0) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"this method takes no parameters");
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
		return;
	}
	w->request = request;
	w->threads = json_array();
	w->pollers = pollers;
	if (w->threads == NULL) {
		free(w);
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
		return;
	}
	rc = usk_for_each_thread(thread_walk_fn, w, thread_walk_done);
	if (rc != 0) {
		json_decref(w->threads);
		free(w);
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "cannot walk the threads: %s", strerror(-rc));
	}
}

static void
rpc_thread_get_stats(struct usk_jsonrpc_request *request, const json_t *params)
{
	thread_walk_start(request, params, false);
}
USK_RPC_REGISTER("thread_get_stats", rpc_thread_get_stats, USK_RPC_RUNTIME)

static void
rpc_thread_get_pollers(struct usk_jsonrpc_request *request, const json_t *params)
{
	thread_walk_start(request, params, true);
}
USK_RPC_REGISTER("thread_get_pollers", rpc_thread_get_pollers, USK_RPC_RUNTIME)

/* ---- spdk_kill_instance ---- */

struct rpc_kill {
	char *sig_name;
};

static const struct usk_json_object_decoder kill_decoders[] = {
	{"sig_name", offsetof(struct rpc_kill, sig_name), usk_json_decode_string, false},
};

static const struct {
	const char *name;
	int sig;
} g_signals[] = {
	{"SIGINT", SIGINT}, {"SIGTERM", SIGTERM}, {"SIGQUIT", SIGQUIT},
	{"SIGHUP", SIGHUP}, {"SIGKILL", SIGKILL},
};

static void
rpc_spdk_kill_instance(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_kill p = {};
	size_t i;
	int sig = 0;

	if (!usk_rpc_decode_params(request, params, kill_decoders, USK_COUNTOF(kill_decoders),
				   &p)) {
		return;
	}
	for (i = 0; i < USK_COUNTOF(g_signals); i++) {
		if (strcmp(p.sig_name, g_signals[i].name) == 0 ||
		    strcmp(p.sig_name, g_signals[i].name + 3) == 0) {
			sig = g_signals[i].sig;
		}
	}
	if (sig == 0) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"sig_name: unknown signal '%s' (SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGKILL)",
			p.sig_name);
		free(p.sig_name);
		return;
	}
	free(p.sig_name);
	/* Reply first; the signal handler starts the shutdown from the message loop. */
	usk_jsonrpc_send_bool_response(request, true);
	kill(getpid(), sig);
}
USK_RPC_REGISTER("spdk_kill_instance", rpc_spdk_kill_instance, USK_RPC_STARTUP | USK_RPC_RUNTIME)

/* ---- thread_set_cpumask ---- */

struct rpc_set_cpumask {
	uint64_t id;
	char *cpumask;
	struct usk_cpuset set;
	struct usk_jsonrpc_request *request;
	struct usk_thread *orig;
	int rc;
};

static const struct usk_json_object_decoder set_cpumask_decoders[] = {
	{"id", offsetof(struct rpc_set_cpumask, id), usk_json_decode_uint64, false},
	{"cpumask", offsetof(struct rpc_set_cpumask, cpumask), usk_json_decode_string, false},
};

static void
set_cpumask_done(void *arg)
{
	struct rpc_set_cpumask *ctx = arg;

	if (ctx->rc != 0) {
		usk_jsonrpc_send_error_response_fmt(ctx->request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "cannot move thread %" PRIu64 ": %s", ctx->id,
						    strerror(-ctx->rc));
	} else {
		usk_jsonrpc_send_bool_response(ctx->request, true);
	}
	free(ctx->cpumask);
	free(ctx);
}

static void
set_cpumask_on_thread(void *arg)
{
	struct rpc_set_cpumask *ctx = arg;

	ctx->rc = usk_thread_set_cpumask(&ctx->set);
	usk_thread_send_msg(ctx->orig, set_cpumask_done, ctx);
}

static void
rpc_thread_set_cpumask(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_set_cpumask *ctx = calloc(1, sizeof(*ctx));
	struct usk_cpuset reactors;
	struct usk_thread *thread;
	uint32_t core;

	if (ctx == NULL) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
		return;
	}
	if (!usk_rpc_decode_params(request, params, set_cpumask_decoders,
				   USK_COUNTOF(set_cpumask_decoders), ctx)) {
		goto err_free;
	}
	if (app_parse_mask(ctx->cpumask, &ctx->set) != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "cpumask: invalid mask '%s'", ctx->cpumask);
		goto err_free;
	}
	usk_cpuset_zero(&reactors);
	USK_ENV_FOREACH_CORE(core) {
		usk_cpuset_set_cpu(&reactors, core, true);
	}
	usk_cpuset_and(&reactors, &ctx->set);
	if (!usk_cpuset_equal(&reactors, &ctx->set)) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "cpumask: '%s' has cores without a reactor",
						    ctx->cpumask);
		goto err_free;
	}
	thread = usk_thread_get_by_id(ctx->id);
	if (thread == NULL) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "id: no thread %" PRIu64, ctx->id);
		goto err_free;
	}
	if (usk_thread_is_app_thread(thread)) {
		/* The RPC server and subsystem sequencing live on it, on the main core. */
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"id: the app thread cannot be moved");
		goto err_free;
	}
	ctx->request = request;
	ctx->orig = usk_get_thread();
	if (usk_thread_send_msg(thread, set_cpumask_on_thread, ctx) != 0) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						"cannot reach the thread");
		goto err_free;
	}
	return;

err_free:
	free(ctx->cpumask);
	free(ctx);
}
USK_RPC_REGISTER("thread_set_cpumask", rpc_thread_set_cpumask, USK_RPC_RUNTIME)
