/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of lib/event: subsystem ordering and sequencing, reactor masks, option parsing. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "usk/pci.h"
#include "usk/event.h"
#include "usk/rpc.h"
#include "../../../../lib/event/event_internal.h"

static char g_trace[256];

static void
trace(const char *what)
{
	strncat(g_trace, what, sizeof(g_trace) - strlen(g_trace) - 1);
}

#define DEF_SUBSYSTEM(n) \
	static void n##_init(void) \
	{ \
		trace("+" #n); \
		usk_subsystem_init_next(0); \
	} \
	static void n##_fini(void) \
	{ \
		trace("-" #n); \
		usk_subsystem_fini_next(); \
	} \
	static struct usk_subsystem g_##n = {.name = #n, .init = n##_init, .fini = n##_fini};

DEF_SUBSYSTEM(a)
DEF_SUBSYSTEM(b)
DEF_SUBSYSTEM(c)
DEF_SUBSYSTEM(d)

static void
failing_init(void)
{
	trace("+x!");
	usk_subsystem_init_next(-EIO);
}
static struct usk_subsystem g_x = {.name = "x", .init = failing_init};

static struct usk_subsystem_depend g_dep_b_c = {.name = "b", .depends_on = "c"};
static struct usk_subsystem_depend g_dep_a_b = {.name = "a", .depends_on = "b"};
static struct usk_subsystem_depend g_dep_a_d = {.name = "a", .depends_on = "d"};
static struct usk_subsystem_depend g_dep_c_a = {.name = "c", .depends_on = "a"};
static struct usk_subsystem_depend g_dep_missing = {.name = "b", .depends_on = "nvmf"};

static void
order_str(char *buf, size_t len)
{
	struct usk_subsystem *s;

	buf[0] = '\0';
	for (s = usk_subsystem_get_first(); s != NULL; s = usk_subsystem_get_next(s)) {
		strncat(buf, s->name, len - strlen(buf) - 1);
	}
}

static void
test_sort(void **state)
{
	char err[256], order[64];

	subsystem_registry_reset();
	usk_add_subsystem(&g_a);
	usk_add_subsystem(&g_b);
	usk_add_subsystem(&g_c);
	usk_add_subsystem(&g_d);
	usk_add_subsystem_depend(&g_dep_a_b);
	usk_add_subsystem_depend(&g_dep_b_c);
	usk_add_subsystem_depend(&g_dep_a_d);
	assert_int_equal(subsystem_sort(err, sizeof(err)), 0);
	order_str(order, sizeof(order));
	/* c before b before a, d before a; otherwise registration order. */
	assert_string_equal(order, "cbda");
	assert_ptr_equal(usk_subsystem_find("d"), &g_d);
	assert_null(usk_subsystem_find("zz"));
}

static void
test_sort_missing_and_cycle(void **state)
{
	char err[256];

	subsystem_registry_reset();
	usk_add_subsystem(&g_a);
	usk_add_subsystem(&g_b);
	usk_add_subsystem_depend(&g_dep_missing);
	assert_int_equal(subsystem_sort(err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "'b' depends on unknown subsystem 'nvmf'"));

	subsystem_registry_reset();
	usk_add_subsystem(&g_a);
	usk_add_subsystem(&g_b);
	usk_add_subsystem(&g_c);
	usk_add_subsystem_depend(&g_dep_a_b);
	usk_add_subsystem_depend(&g_dep_b_c);
	usk_add_subsystem_depend(&g_dep_c_a);
	assert_int_equal(subsystem_sort(err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "cycle"));
}

static int g_init_rc = 1;
static void
init_cb(int rc, void *arg)
{
	g_init_rc = rc;
}

static bool g_fini_called;
static void
fini_cb(void *arg)
{
	g_fini_called = true;
}

static void
test_init_fini_sequence(void **state)
{
	subsystem_registry_reset();
	usk_add_subsystem(&g_a);
	usk_add_subsystem(&g_b);
	usk_add_subsystem(&g_c);
	usk_add_subsystem_depend(&g_dep_a_b);
	g_trace[0] = '\0';
	subsystem_init(init_cb, NULL);
	assert_int_equal(g_init_rc, 0);
	assert_true(subsystem_init_done());
	assert_string_equal(g_trace, "+b+a+c");
	g_trace[0] = '\0';
	g_fini_called = false;
	subsystem_fini(fini_cb, NULL);
	assert_true(g_fini_called);
	assert_string_equal(g_trace, "-c-a-b");

	/* A failing init stops the sequence; fini covers only those before it. */
	subsystem_registry_reset();
	usk_add_subsystem(&g_a);
	usk_add_subsystem(&g_x);
	usk_add_subsystem(&g_b);
	g_trace[0] = '\0';
	subsystem_init(init_cb, NULL);
	assert_int_equal(g_init_rc, -EIO);
	assert_string_equal(g_trace, "+a+x!");
	g_trace[0] = '\0';
	g_fini_called = false;
	subsystem_fini(fini_cb, NULL);
	assert_true(g_fini_called);
	assert_string_equal(g_trace, "-a");

	/* Unknown dependency: init fails before any subsystem starts. */
	subsystem_registry_reset();
	usk_add_subsystem(&g_b);
	usk_add_subsystem_depend(&g_dep_missing);
	g_trace[0] = '\0';
	subsystem_init(init_cb, NULL);
	assert_int_equal(g_init_rc, -ENOENT);
	assert_string_equal(g_trace, "");
}

static void
write_cfg(json_t *arr)
{
	usk_json_config_add(arr, "x_create", json_pack("{s:s}", "name", "x0"));
}

static void
test_config_json(void **state)
{
	struct usk_subsystem with = {.name = "w", .write_config_json = write_cfg};
	struct usk_subsystem without = {.name = "n"};
	json_t *j;

	j = subsystem_config_json(&with);
	assert_true(json_is_array(j));
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "method")),
			    "x_create");
	json_decref(j);
	j = subsystem_config_json(&without);
	assert_true(json_is_null(j));
	json_decref(j);
}

static void
test_masks(void **state)
{
	struct usk_cpuset set;

	assert_int_equal(app_parse_mask("0x3", &set), 0);
	assert_int_equal(usk_cpuset_count(&set), 2);
	assert_true(usk_cpuset_get_cpu(&set, 0) && usk_cpuset_get_cpu(&set, 1));
	assert_int_equal(app_parse_mask("[0,2]", &set), 0);
	assert_true(usk_cpuset_get_cpu(&set, 2) && !usk_cpuset_get_cpu(&set, 1));
	assert_int_equal(app_parse_mask("[0-3]", &set), 0);
	assert_int_equal(usk_cpuset_count(&set), 4);
	assert_int_equal(app_parse_mask("0x0", &set), -EINVAL);
	assert_int_equal(app_parse_mask("0xZZ", &set), -EINVAL);
	assert_int_equal(app_parse_mask("[1,", &set), -EINVAL);
	assert_int_equal(app_parse_mask("", &set), -EINVAL);
}

static int g_app_opt_seen;
static int
app_parse(int ch, char *arg)
{
	if (ch == 'q') {
		g_app_opt_seen = atoi(arg);
		return 0;
	}
	return -EINVAL;
}

static enum usk_app_parse_args_rvals
parse(struct usk_app_opts *opts, const char *const *args)
{
	char *argv[32];
	int argc = 0;

	argv[argc++] = (char *)"usk_test";
	while (*args != NULL) {
		argv[argc++] = (char *)*args++;
	}
	argv[argc] = NULL;
	usk_app_opts_init(opts, sizeof(*opts));
	return usk_app_parse_args(argc, argv, opts, "q:", NULL, app_parse, NULL);
}

static void
test_parse_args(void **state)
{
	struct usk_app_opts opts;
	const char *ok[] = {"-m",
			    "0x3",
			    "-r",
			    "/tmp/x.sock",
			    "--wait-for-rpc",
			    "--interrupt-mode",
			    "-s",
			    "1G",
			    "--json",
			    "/tmp/cfg.json",
			    "--json-ignore-init-errors",
			    "--no-huge",
			    "-p",
			    "1",
			    "-q",
			    "42",
			    NULL};
	const char *list[] = {"--cpumask", "[0,1]", "--mem-size", "512", NULL};
	const char *bad_mask[] = {"-m", "0xZ", NULL};
	const char *bad_flag[] = {"-L", "no_such_flag", NULL};
	const char *bad_opt[] = {"--bogus", NULL};
	const char *extra[] = {"stray", NULL};
	const char *bad_mem[] = {"-s", "12Q", NULL};

	assert_int_equal(parse(&opts, ok), USK_APP_PARSE_ARGS_SUCCESS);
	assert_string_equal(opts.reactor_mask, "0x3");
	assert_string_equal(opts.rpc_addr, "/tmp/x.sock");
	assert_true(opts.wait_for_rpc);
	assert_true(opts.interrupt_mode);
	assert_true(opts.no_huge);
	assert_true(opts.json_config_ignore_errors);
	assert_string_equal(opts.json_config_file, "/tmp/cfg.json");
	assert_int_equal(opts.mem_size, 1024);
	assert_int_equal(opts.main_core, 1);
	assert_int_equal(g_app_opt_seen, 42);

	assert_int_equal(parse(&opts, list), USK_APP_PARSE_ARGS_SUCCESS);
	assert_string_equal(opts.reactor_mask, "[0,1]");
	assert_int_equal(opts.mem_size, 512);
	assert_string_equal(opts.rpc_addr, USK_DEFAULT_RPC_ADDR);
	assert_false(opts.wait_for_rpc);

	assert_int_equal(parse(&opts, bad_mask), USK_APP_PARSE_ARGS_FAIL);
	assert_int_equal(parse(&opts, bad_flag), USK_APP_PARSE_ARGS_FAIL);
	assert_int_equal(parse(&opts, bad_opt), USK_APP_PARSE_ARGS_FAIL);
	assert_int_equal(parse(&opts, extra), USK_APP_PARSE_ARGS_FAIL);
	assert_int_equal(parse(&opts, bad_mem), USK_APP_PARSE_ARGS_FAIL);
}

/* -A/--pci-allowed and -B/--pci-blocked fill lib/env's PCI lists; repeated flags add up. */
static void
test_parse_pci_lists(void **state)
{
	struct usk_app_opts opts;
	struct usk_pci_addr a, b, c;
	const char *allow[] = {"-A", "0000:00:04.0", "--pci-allowed", "00:05.0", NULL};
	const char *block[] = {"-B", "0000:00:05.0", NULL};
	const char *bad[] = {"-A", "not-a-bdf", NULL};

	usk_pci_addr_parse(&a, "0000:00:04.0");
	usk_pci_addr_parse(&b, "0000:00:05.0");
	usk_pci_addr_parse(&c, "0000:00:06.0");
	assert_int_equal(parse(&opts, allow), USK_APP_PARSE_ARGS_SUCCESS);
	assert_true(usk_pci_addr_is_allowed(&a));
	assert_true(usk_pci_addr_is_allowed(&b));
	assert_false(usk_pci_addr_is_allowed(&c));
	assert_int_equal(parse(&opts, block), USK_APP_PARSE_ARGS_SUCCESS);
	assert_false(usk_pci_addr_is_allowed(&b));
	assert_int_equal(parse(&opts, bad), USK_APP_PARSE_ARGS_FAIL);
	usk_pci_set_allowed(NULL);
	usk_pci_set_blocked(NULL);
	assert_true(usk_pci_addr_is_allowed(&c));
}

static char g_cfg_path[64];

static void
test_json_config_load(void **state)
{
	const struct {
		const char *text;
		int rc;
		const char *msg;
	} cases[] = {
		{"{\"subsystems\":[{\"subsystem\":\"bdev\",\"config\":[{\"method\":\"m\",\"params\":{}}]},"
		 "{\"subsystem\":\"nvmf\",\"config\":null}]}",
		 0, NULL},
		{"{\"subsystems\":[", -EINVAL, "line 1"},
		{"[]", -EINVAL, "top level"},
		{"{\"subsystems\":{}}", -EINVAL, "subsystems"},
		{"{\"subsystems\":[{\"config\":[]}]}", -EINVAL, "subsystem"},
		{"{\"subsystems\":[{\"subsystem\":\"bdev\",\"config\":5}]}", -EINVAL, "config"},
		{"{\"subsystems\":[{\"subsystem\":\"bdev\",\"config\":[{\"params\":{}}]}]}",
		 -EINVAL, "method"},
		{"{\"subsystems\":[{\"subsystem\":\"bdev\",\"config\":[{\"method\":\"m\",\"params\":1}]}]}",
		 -EINVAL, "params"},
	};
	char err[256];
	json_t *cfg;
	size_t i;

	snprintf(g_cfg_path, sizeof(g_cfg_path), "/tmp/usk-event-ut-%d.json", (int)getpid());
	for (i = 0; i < USK_COUNTOF(cases); i++) {
		FILE *f = fopen(g_cfg_path, "w");

		assert_non_null(f);
		fputs(cases[i].text, f);
		fclose(f);
		err[0] = '\0';
		assert_int_equal(json_config_load(g_cfg_path, &cfg, err, sizeof(err)), cases[i].rc);
		if (cases[i].rc == 0) {
			assert_non_null(cfg);
			json_decref(cfg);
		} else {
			assert_null(cfg);
			assert_non_null(strstr(err, cases[i].msg));
		}
	}
	unlink(g_cfg_path);
	assert_int_equal(json_config_load("/nonexistent/usk.json", &cfg, err, sizeof(err)),
			 -ENOENT);
}

/* Replay without threads: handlers reply inline. */
static int g_calls;
static void
rpc_ut_startup(struct usk_jsonrpc_request *request, const json_t *params)
{
	g_calls += 1;
	usk_jsonrpc_send_bool_response(request, true);
}
USK_RPC_REGISTER("ut_startup", rpc_ut_startup, USK_RPC_STARTUP)
static void
rpc_ut_runtime(struct usk_jsonrpc_request *request, const json_t *params)
{
	if (params == NULL || json_integer_value(json_object_get(params, "v")) != 1) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"v: must be 1");
		return;
	}
	g_calls += 100;
	usk_jsonrpc_send_bool_response(request, true);
}
USK_RPC_REGISTER("ut_runtime", rpc_ut_runtime, USK_RPC_RUNTIME)

static int g_replay_rc = 1;
static void
replay_cb(int rc, void *arg)
{
	g_replay_rc = rc;
}

static void
test_json_config_replay(void **state)
{
	json_t *cfg = json_loads("{\"subsystems\":[{\"subsystem\":\"s\",\"config\":["
				 "{\"method\":\"ut_runtime\",\"params\":{\"v\":1}},"
				 "{\"method\":\"ut_startup\"}]}]}",
				 0, NULL);
	json_t *bad = json_loads("{\"subsystems\":[{\"subsystem\":\"s\",\"config\":["
				 "{\"method\":\"ut_runtime\",\"params\":{\"v\":2}},"
				 "{\"method\":\"ut_runtime\",\"params\":{\"v\":1}}]}]}",
				 0, NULL);

	g_calls = 0;
	usk_rpc_set_state(USK_RPC_STARTUP);
	json_config_replay(cfg, "t.json", USK_RPC_STARTUP, false, replay_cb, NULL);
	assert_int_equal(g_replay_rc, 0);
	assert_int_equal(g_calls, 1);
	usk_rpc_set_state(USK_RPC_RUNTIME);
	json_config_replay(cfg, "t.json", USK_RPC_RUNTIME, false, replay_cb, NULL);
	assert_int_equal(g_replay_rc, 0);
	assert_int_equal(g_calls, 101);

	g_calls = 0;
	json_config_replay(bad, "t.json", USK_RPC_RUNTIME, false, replay_cb, NULL);
	assert_int_equal(g_replay_rc, -EINVAL);
	assert_int_equal(g_calls, 0);
	json_config_replay(bad, "t.json", USK_RPC_RUNTIME, true, replay_cb, NULL);
	assert_int_equal(g_replay_rc, 0);
	assert_int_equal(g_calls, 100);
	json_decref(cfg);
	json_decref(bad);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_sort_missing_and_cycle),
		cmocka_unit_test(test_init_fini_sequence),
		cmocka_unit_test(test_config_json),
		cmocka_unit_test(test_masks),
		cmocka_unit_test(test_parse_args),
		cmocka_unit_test(test_parse_pci_lists),
		cmocka_unit_test(test_json_config_load),
		cmocka_unit_test(test_json_config_replay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
