/* SPDX-License-Identifier: BSD-3-Clause */
/* Framework metrics: per-thread busy/idle time, build info; RPC framework_set_metrics_listener
 * and the "metrics" subsystem that saves it (save_config). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usk/env.h"
#include "usk/event.h"
#include "usk/json.h"
#include "usk/log.h"
#include "usk/metrics.h"
#include "usk/rpc.h"
#include "usk/thread.h"
#include "usk/util.h"
#include "event_internal.h"

/* ---- thread collector: each thread reads its own stats (by message, no locks) ---- */

static void
thread_collect_one(void *ctx)
{
	struct usk_metrics_writer *w = ctx;
	struct usk_thread *thread = usk_get_thread();
	struct usk_thread_stats st;
	double hz = (double)usk_get_ticks_hz();
	char id[24];
	struct usk_metrics_label l[] = {
		{"thread", usk_thread_get_name(thread)},
		{"thread_id", id},
	};

	if (usk_thread_get_stats(&st) != 0) {
		return;
	}
	snprintf(id, sizeof(id), "%" PRIu64, usk_thread_get_id(thread));
	usk_metrics_add(w, "usk_thread_busy_seconds_total", USK_METRIC_COUNTER,
			"Time the thread's pollers and messages did work", l, USK_COUNTOF(l),
			(double)st.busy_tsc / hz);
	usk_metrics_add(w, "usk_thread_idle_seconds_total", USK_METRIC_COUNTER,
			"Time the thread polled without finding work", l, USK_COUNTOF(l),
			(double)st.idle_tsc / hz);
}

static void
thread_collect_done(void *ctx)
{
	usk_metrics_collect_done(ctx);
}

/* Reactor counters are atomics the reactors update; reactors_get_info reads them. */
static void
reactor_collect(struct usk_metrics_writer *w)
{
	json_t *arr = reactors_get_info(), *r;
	double hz = (double)usk_get_ticks_hz();
	char core[16];
	struct usk_metrics_label l[] = {{"core", core}};
	size_t i;

	json_array_foreach(arr, i, r)
	{
		snprintf(core, sizeof(core), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(r, "lcore")));
		usk_metrics_add(w, "usk_reactor_busy_seconds_total", USK_METRIC_COUNTER,
				"Time the reactor's threads did work", l, 1,
				(double)json_integer_value(json_object_get(r, "busy")) / hz);
		usk_metrics_add(w, "usk_reactor_idle_seconds_total", USK_METRIC_COUNTER,
				"Time the reactor polled idle or slept", l, 1,
				(double)json_integer_value(json_object_get(r, "idle")) / hz);
		usk_metrics_add_u64(w, "usk_reactor_wakeups_total", USK_METRIC_COUNTER,
				    "Interrupt-mode wake-ups of the reactor", l, 1,
				    (uint64_t)json_integer_value(json_object_get(r, "irq_count")));
		usk_metrics_add_u64(w, "usk_reactor_threads", USK_METRIC_GAUGE,
				    "usk threads on the reactor", l, 1,
				    json_array_size(json_object_get(r, "lw_threads")));
	}
	json_decref(arr);
}

static void
thread_collect(struct usk_metrics_writer *w)
{
	struct usk_metrics_label l[] = {{"version", app_version_string()}};

	usk_metrics_add_u64(w, "usk_build_info", USK_METRIC_GAUGE, "usk version (always 1)", l,
			    USK_COUNTOF(l), 1);
	usk_metrics_add_u64(w, "usk_reactors", USK_METRIC_GAUGE, "Reactors (cores of -m)", NULL, 0,
			    usk_app_get_core_count());
	usk_metrics_add_u64(w, "usk_threads", USK_METRIC_GAUGE, "usk threads", NULL, 0,
			    usk_thread_get_count());
	reactor_collect(w);
	usk_for_each_thread(thread_collect_one, w, thread_collect_done);
}

static struct usk_metrics_collector g_thread_collector = {
	.name = "thread",
	.collect = thread_collect,
};
USK_METRICS_COLLECTOR_REGISTER(g_thread_collector)

/* ---- framework_set_metrics_listener ---- */

struct rpc_metrics_listener {
	char *address;
};

static void
rpc_framework_set_metrics_listener(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_metrics_listener p = {};
	const struct usk_json_object_decoder d[] = {
		{"address", offsetof(struct rpc_metrics_listener, address), usk_json_decode_string},
	};
	json_t *res;
	int rc;

	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p)) {
		goto out;
	}
	usk_metrics_close();
	if (p.address[0] == '\0') {
		usk_jsonrpc_send_bool_response(request, true);
		goto out;
	}
	rc = usk_metrics_listen(p.address);
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(
			request, rc == -EINVAL ? USK_JSONRPC_ERROR_INVALID_PARAMS : rc,
			"cannot listen on %s (address): %s", p.address,
			rc == -EINVAL ? "want IPv4:PORT" : strerror(-rc));
		goto out;
	}
	res = json_object();
	json_object_set_new(res, "address", json_string(p.address));
	json_object_set_new(res, "port", json_integer(usk_metrics_get_port()));
	usk_jsonrpc_send_result(request, res);
out:
	free(p.address);
}
USK_RPC_REGISTER("framework_set_metrics_listener", rpc_framework_set_metrics_listener,
		 USK_RPC_STARTUP | USK_RPC_RUNTIME)

/* save_config: the listener, if one is open (from --metrics or the RPC), as the RPC that opens
 * it again; replayed by --json at start-up. */
static void
metrics_write_config_json(json_t *config_array)
{
	char addr[64];

	if (usk_metrics_get_address(addr, sizeof(addr)) != 0) {
		return;
	}
	usk_json_append(config_array,
			json_pack("{s:s, s:{s:s}}", "method", "framework_set_metrics_listener",
				  "params", "address", addr));
}

static struct usk_subsystem g_usk_subsystem_metrics = {
	.name = "metrics",
	.write_config_json = metrics_write_config_json,
};
USK_SUBSYSTEM_REGISTER(g_usk_subsystem_metrics)
