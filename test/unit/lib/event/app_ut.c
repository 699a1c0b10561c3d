/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Full framework lifecycle in one process: usk_app_start on two reactors (polled, or interrupt
 * mode with --interrupt), subsystems registered with the macros and initialised in dependency
 * order, a thread scheduled by cpumask, local RPC calls, orderly shutdown with fini in reverse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "usk/env.h"
#include "usk/event.h"
#include "usk/rpc.h"

static char g_trace[256];
static bool g_interrupt;

static void
trace(const char *what)
{
	strncat(g_trace, what, sizeof(g_trace) - strlen(g_trace) - 1);
}

static void
ut_a_init(void)
{
	trace("+a");
	usk_subsystem_init_next(0);
}
static void
ut_a_fini(void)
{
	trace("-a");
	usk_subsystem_fini_next();
}
static void
ut_a_config(json_t *arr)
{
	usk_json_config_add(arr, "ut_noop", json_pack("{s:i}", "x", 1));
}
static struct usk_subsystem ut_a = {
	.name = "ut_a", .init = ut_a_init, .fini = ut_a_fini, .write_config_json = ut_a_config};
USK_SUBSYSTEM_REGISTER(ut_a)
USK_SUBSYSTEM_DEPEND(ut_a, ut_b)

/* ut_b finishes its init asynchronously, from a message. */
static void
ut_b_init_done(void *ctx)
{
	trace("+b");
	usk_subsystem_init_next(0);
}
static void
ut_b_init(void)
{
	usk_thread_send_msg(usk_get_thread(), ut_b_init_done, NULL);
}
static void
ut_b_fini(void)
{
	trace("-b");
	usk_subsystem_fini_next();
}
static struct usk_subsystem ut_b = {.name = "ut_b", .init = ut_b_init, .fini = ut_b_fini};
USK_SUBSYSTEM_REGISTER(ut_b)

static struct usk_thread *g_app_thread;
static struct usk_thread *g_worker;
static uint32_t g_worker_core = UINT32_MAX;
static uint32_t g_second_core;
static int g_reactors_seen;
static bool g_worker_listed;
static bool g_config_ok;

static void
reactors_cb(void *ctx, const json_t *resp)
{
	json_t *reactors = json_object_get(json_object_get(resp, "result"), "reactors");
	json_t *r, *t;
	size_t i, j;

	g_reactors_seen = (int)json_array_size(reactors);
	json_array_foreach(reactors, i, r)
	{
		json_array_foreach(json_object_get(r, "lw_threads"), j, t)
		{
			if (strcmp(json_string_value(json_object_get(t, "name")), "ut_worker") ==
				    0 &&
			    json_integer_value(json_object_get(r, "lcore")) ==
				    usk_env_get_main_core()) {
				g_worker_listed = true;
			}
		}
	}
}

static bool g_metrics_config_empty;

static void
config_cb(void *ctx, const json_t *resp)
{
	json_t *all = json_object_get(json_object_get(resp, "result"), "subsystems");
	json_t *subs = json_array(), *s0, *s1, *e;
	size_t i;

	/* lib/event's own "metrics" subsystem: no listener, so an empty config */
	json_array_foreach(all, i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "subsystem")), "metrics") == 0) {
			g_metrics_config_empty = json_array_size(json_object_get(e, "config")) == 0;
		} else {
			json_array_append(subs, e);
		}
	}
	s0 = json_array_get(subs, 0);
	s1 = json_array_get(subs, 1);
	/* init order, and config null for a subsystem without write_config_json */
	g_config_ok = json_array_size(subs) == 2 &&
		      strcmp(json_string_value(json_object_get(s0, "subsystem")), "ut_b") == 0 &&
		      json_is_null(json_object_get(s0, "config")) &&
		      strcmp(json_string_value(json_object_get(s1, "subsystem")), "ut_a") == 0 &&
		      json_array_size(json_object_get(s1, "config")) == 1;
	json_decref(subs);
}

static bool g_app_move_refused;
static bool g_worker_moved_back;
static uint32_t g_final_core = UINT32_MAX;

static void
app_move_cb(void *ctx, const json_t *resp)
{
	json_t *err = json_object_get(resp, "error");

	g_app_move_refused =
		err != NULL &&
		strstr(json_string_value(json_object_get(err, "message")), "app thread") != NULL;
}

static void
record_core_and_exit(void *ctx)
{
	g_final_core = usk_reactor_get_current_core();
	usk_thread_exit(usk_get_thread());
}

static void
worker_move_cb(void *ctx, const json_t *resp)
{
	g_worker_moved_back = json_is_true(json_object_get(resp, "result"));
	usk_thread_send_msg(g_worker, record_core_and_exit, NULL);
	usk_app_start_shutdown();
}

static void
back_on_app_thread(void *ctx)
{
	json_t *p;
	char mask[32];

	usk_rpc_call_local("framework_get_reactors", NULL, reactors_cb, NULL);
	usk_rpc_call_local("save_config", NULL, config_cb, NULL);
	p = json_pack("{s:I, s:s}", "id", (json_int_t)usk_thread_get_id(g_app_thread), "cpumask",
		      "0x1");
	usk_rpc_call_local("thread_set_cpumask", p, app_move_cb, NULL);
	json_decref(p);
	/* thread_set_cpumask replies once the worker has switched; it moves after that poll. */
	snprintf(mask, sizeof(mask), "[%u]", g_second_core);
	p = json_pack("{s:I, s:s}", "id", (json_int_t)usk_thread_get_id(g_worker), "cpumask", mask);
	usk_rpc_call_local("thread_set_cpumask", p, worker_move_cb, NULL);
	json_decref(p);
}

static uint32_t g_moved_core = UINT32_MAX;

static void
after_move(void *ctx)
{
	static int retries;

	/* The move happens after the poll that asked for it; a message may still run before. */
	if (usk_reactor_get_current_core() != usk_env_get_main_core() && ++retries < 1000) {
		usk_thread_send_msg(usk_get_thread(), after_move, NULL);
		return;
	}
	g_moved_core = usk_reactor_get_current_core();
	usk_thread_send_msg(g_app_thread, back_on_app_thread, NULL);
}

static void
on_worker(void *ctx)
{
	struct usk_cpuset mask;

	g_worker_core = usk_reactor_get_current_core();
	/* Move to the main core's reactor; the next message runs there. */
	usk_cpuset_zero(&mask);
	usk_cpuset_set_cpu(&mask, usk_env_get_main_core(), true);
	if (usk_thread_set_cpumask(&mask) == 0) {
		usk_thread_send_msg(usk_get_thread(), after_move, NULL);
	} else {
		usk_thread_send_msg(g_app_thread, back_on_app_thread, NULL);
	}
}

static void
start_fn(void *ctx)
{
	struct usk_cpuset mask;

	assert_string_equal(g_trace, "+b+a");
	g_app_thread = usk_get_thread();
	assert_true(usk_thread_is_app_thread(g_app_thread));
	assert_int_equal(usk_reactor_get_current_core(), usk_env_get_main_core());
	assert_int_equal(usk_app_get_core_count(), 2);
	g_second_core = usk_env_get_next_core(usk_env_get_first_core());
	usk_cpuset_zero(&mask);
	usk_cpuset_set_cpu(&mask, g_second_core, true);
	g_worker = usk_thread_create("ut_worker", &mask);
	assert_non_null(g_worker);
	usk_thread_send_msg(g_worker, on_worker, NULL);
}

static void
test_lifecycle(void **state)
{
	struct usk_app_opts opts;
	char sock[64];
	int rc;

	snprintf(sock, sizeof(sock), "/tmp/usk-app-ut-%d.sock", (int)getpid());
	usk_app_opts_init(&opts, sizeof(opts));
	opts.name = "app_ut";
	opts.reactor_mask = "0x3";
	opts.rpc_addr = sock;
	opts.interrupt_mode = g_interrupt;
	rc = usk_app_start(&opts, start_fn, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(g_worker_core, g_second_core);
	assert_int_equal(g_moved_core, usk_env_get_main_core());
	assert_true(g_app_move_refused);
	assert_true(g_worker_moved_back);
	assert_int_equal(g_final_core, g_second_core);
	assert_int_equal(g_reactors_seen, 2);
	assert_true(g_worker_listed);
	assert_true(g_config_ok);
	assert_true(g_metrics_config_empty);
	assert_string_equal(g_trace, "+b+a-a-b");
	assert_int_equal(access(sock, F_OK), -1);
	usk_app_fini();
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifecycle),
	};

	g_interrupt = argc > 1 && strcmp(argv[1], "--interrupt") == 0;
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		printf("1..0 # SKIP needs 2 CPUs\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
