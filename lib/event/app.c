/* SPDX-License-Identifier: BSD-3-Clause */
/* Application start/stop: option parsing, env + reactors, subsystem init, --json, RPC, signals. */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usk/env.h"
#include "usk/log.h"
#include "usk/metrics.h"
#include "usk/pci.h"
#include "usk/trace.h"
#include "usk/rpc.h"
#include "usk/thread.h"
#include "event_internal.h"

#define USK_VERSION_STRING "usk v0.1.0"

/* Grow usk_app_opts only at the end (callers pass opts_size); update this when it grows. */
USK_STATIC_ASSERT(sizeof(struct usk_app_opts) == 120, "usk_app_opts layout changed");

struct init_waiter {
	void (*cb)(void *arg);
	void *arg;
	struct init_waiter *next;
};

/* App state; touched only on the app thread except where noted. */
static struct usk_app_opts g_opts;
static struct usk_thread *g_app_thread;
static usk_msg_fn g_start_fn;
static void *g_start_ctx;
static json_t *g_config;
static int g_app_rc; /* set by usk_app_stop from any thread */
static int g_fail_rc;
static struct init_waiter *g_waiters;

/*
 * App lifecycle. phase moves only along these edges (app_set_phase asserts it):
 *
 *   from \ to     STARTUP INITIALIZING RUNNING INIT_FAILED FINISHING STOPPED IDLE
 *   IDLE           x
 *   STARTUP                x                                x         x
 *   INITIALIZING                        x       x                     x
 *   RUNNING                                                 x         x
 *   INIT_FAILED                                             x         x
 *   FINISHING                                                         x
 *   STOPPED                                                           x       x
 *
 * IDLE         before usk_app_start / after usk_app_fini.
 * STARTUP      reactors run; the startup part of --json is replayed, or (--wait-for-rpc) the
 *              app waits for framework_start_init.
 * INITIALIZING subsystems initialise in order, then the runtime part of --json is replayed.
 * RUNNING      init succeeded, start_fn ran; usk_app_stop() now finishes subsystems first.
 * INIT_FAILED  init failed; framework_start_init cannot be retried; a shutdown still works.
 * FINISHING    RPC closed, subsystems finishing in reverse order (entered once).
 * STOPPED      reactors told to stop (usk_app_stop before init, or after FINISHING); may be
 *              entered again by a late usk_app_stop. usk_app_start returns.
 *
 * phase is written on the app thread, except STOPPED, which usk_app_stop may set from any
 * thread; hence atomic (seq_cst: rare, and it orders nothing else). Two flags are orthogonal:
 * shutdown_started (a signal or a failure began the shutdown: a second signal only logs, and
 * start_fn no longer runs) and shutdown_pending (a signal came in INITIALIZING; handled when
 * init completes). App thread only.
 */
enum app_phase {
	APP_PHASE_IDLE,
	APP_PHASE_STARTUP,
	APP_PHASE_INITIALIZING,
	APP_PHASE_RUNNING,
	APP_PHASE_INIT_FAILED,
	APP_PHASE_FINISHING,
	APP_PHASE_STOPPED,
	APP_PHASE_COUNT,
};

static struct {
	_Atomic int phase; /* enum app_phase */
	bool shutdown_started;
	bool shutdown_pending;
} g_life;

static const bool g_app_edges[APP_PHASE_COUNT][APP_PHASE_COUNT] = {
	[APP_PHASE_IDLE] = {[APP_PHASE_STARTUP] = true},
	[APP_PHASE_STARTUP] = {[APP_PHASE_INITIALIZING] = true,
			       [APP_PHASE_FINISHING] = true,
			       [APP_PHASE_STOPPED] = true},
	[APP_PHASE_INITIALIZING] = {[APP_PHASE_RUNNING] = true,
				    [APP_PHASE_INIT_FAILED] = true,
				    [APP_PHASE_STOPPED] = true},
	[APP_PHASE_RUNNING] = {[APP_PHASE_FINISHING] = true, [APP_PHASE_STOPPED] = true},
	[APP_PHASE_INIT_FAILED] = {[APP_PHASE_FINISHING] = true, [APP_PHASE_STOPPED] = true},
	[APP_PHASE_FINISHING] = {[APP_PHASE_STOPPED] = true},
	[APP_PHASE_STOPPED] = {[APP_PHASE_STOPPED] = true, [APP_PHASE_IDLE] = true},
};

static enum app_phase
app_phase(void)
{
	return (enum app_phase)atomic_load(&g_life.phase);
}

/* Move to phase to; false (and nothing changes) when the edge is not in the table. */
static bool
app_try_phase(enum app_phase to)
{
	int from = atomic_load(&g_life.phase);

	do {
		if (!g_app_edges[from][to]) {
			return false;
		}
	} while (!atomic_compare_exchange_weak(&g_life.phase, &from, (int)to));
	return true;
}

/* A move the code relies on being legal. */
static void
app_set_phase(enum app_phase to)
{
	bool ok = app_try_phase(to);

	assert(ok);
	(void)ok;
}
static void (*g_start_init_cb)(int rc, void *arg);
static void *g_start_init_arg;

void
usk_app_opts_init(struct usk_app_opts *opts, size_t opts_size)
{
	struct usk_app_opts d = {
		.opts_size = opts_size,
		.name = "usk",
		.rpc_addr = USK_DEFAULT_RPC_ADDR,
		.reactor_mask = "0x1",
		.main_core = -1,
		.shm_id = -1,
		.print_level = USK_LOG_NOTICE,
	};

	if (opts == NULL) {
		return;
	}
	memset(opts, 0, opts_size);
	memcpy(opts, &d, USK_MIN(opts_size, sizeof(d)));
	opts->opts_size = opts_size;
}

int
app_parse_mask(const char *mask, struct usk_cpuset *set)
{
	if (mask == NULL || mask[0] == '\0') {
		return -EINVAL;
	}
	if (usk_cpuset_parse(set, mask) != 0 || usk_cpuset_count(set) == 0) {
		return -EINVAL;
	}
	return 0;
}

/* ---- option parsing ---- */

enum {
	OPT_JSON_IGNORE = 256,
	OPT_WAIT_FOR_RPC,
	OPT_NO_HUGE,
	OPT_HUGE_DIR,
	OPT_INTERRUPT,
	OPT_PRINT_LEVEL,
	OPT_METRICS,
	OPT_TRACE_ENTRIES,
};

#define APP_GETOPT_STR "A:B:c:e:hi:L:m:p:r:s:"

static const struct option g_common_opts[] = {
	{"pci-allowed", required_argument, NULL, 'A'},
	{"pci-blocked", required_argument, NULL, 'B'},
	{"json", required_argument, NULL, 'c'},
	{"config", required_argument, NULL, 'c'},
	{"help", no_argument, NULL, 'h'},
	{"shm-id", required_argument, NULL, 'i'},
	{"logflag", required_argument, NULL, 'L'},
	{"cpumask", required_argument, NULL, 'm'},
	{"main-core", required_argument, NULL, 'p'},
	{"rpc-socket", required_argument, NULL, 'r'},
	{"mem-size", required_argument, NULL, 's'},
	{"json-ignore-init-errors", no_argument, NULL, OPT_JSON_IGNORE},
	{"wait-for-rpc", no_argument, NULL, OPT_WAIT_FOR_RPC},
	{"no-huge", no_argument, NULL, OPT_NO_HUGE},
	{"huge-dir", required_argument, NULL, OPT_HUGE_DIR},
	{"interrupt-mode", no_argument, NULL, OPT_INTERRUPT},
	{"print-level", required_argument, NULL, OPT_PRINT_LEVEL},
	{"metrics", required_argument, NULL, OPT_METRICS},
	{"tpoint-group", required_argument, NULL, 'e'},
	{"num-trace-entries", required_argument, NULL, OPT_TRACE_ENTRIES},
};

void
usk_app_usage(void)
{
	fprintf(stderr,
		" -A, --pci-allowed <bdf>    use only these PCI devices (repeatable; comma lists too)\n"
		" -B, --pci-blocked <bdf>    never use these PCI devices (repeatable)\n"
		" -c, --json <file>          JSON config to load at start (save_config format)\n"
		"     --json-ignore-init-errors  log config replay errors and go on\n"
		" -h, --help                 show this help\n"
		" -i, --shm-id <id>          shared memory id\n"
		" -m, --cpumask <mask>       reactor core mask: hex (0x3) or list ([0,1], [0-3])\n"
		" -p, --main-core <core>     main (app thread) core, default: first of the mask\n"
		" -r, --rpc-socket <path>    RPC listen address (default %s)\n"
		" -s, --mem-size <size>      memory to reserve, MiB (suffixes K, M, G accepted)\n"
		"     --no-huge              do not use hugepages\n"
		"     --huge-dir <dir>       hugetlbfs mount to use\n"
		"     --wait-for-rpc         wait for framework_start_init before initialising subsystems\n"
		"     --interrupt-mode       reactors sleep when idle instead of polling\n"
		"     --print-level <level>  stderr log level: ERROR, WARNING, NOTICE, INFO, DEBUG\n"
		"     --metrics <ip:port>    serve Prometheus metrics at http://ip:port/metrics (off)\n"
		" -e, --tpoint-group <g,..>  trace groups (bdev, nvmf_tcp, thread, all) or a mask, into\n"
		"                            /dev/shm/<app>_trace.pid<PID>; read it with usk_trace\n"
		"     --num-trace-entries <n>  trace records per core (default 32768)\n",
		USK_DEFAULT_RPC_ADDR);
	usk_log_usage();
}

/* Size with an optional K/M/G suffix, in MiB. */
static int
parse_mem_size(const char *arg, int *mib)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno != 0 || end == arg) {
		return -EINVAL;
	}
	switch (*end) {
	case '\0':
	case 'm':
	case 'M':
		break;
	case 'g':
	case 'G':
		v *= 1024;
		break;
	case 'k':
	case 'K':
		v = (v + 1023) / 1024;
		break;
	default:
		return -EINVAL;
	}
	if (*end != '\0' && end[1] != '\0' && !(end[1] == 'B' && end[2] == '\0')) {
		return -EINVAL;
	}
	if (v > INT32_MAX) {
		return -EINVAL;
	}
	*mib = (int)v;
	return 0;
}

/* Append arg to the comma-separated list *list. */
static int
pci_list_add(char **list, const char *arg)
{
	char *n = *list != NULL ? usk_sprintf_alloc("%s,%s", *list, arg) : strdup(arg);

	if (n == NULL) {
		return -ENOMEM;
	}
	free(*list);
	*list = n;
	return 0;
}

static int
parse_int(const char *arg, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 0);
	if (errno != 0 || end == arg || *end != '\0' || v < INT32_MIN || v > INT32_MAX) {
		return -EINVAL;
	}
	*out = (int)v;
	return 0;
}

enum usk_app_parse_args_rvals
usk_app_parse_args(int argc, char **argv, struct usk_app_opts *opts, const char *app_getopt_str,
		   const struct option *app_long_opts, int (*parse)(int ch, char *arg),
		   void (*usage)(void))
{
	size_t n_app = 0, n_common = USK_COUNTOF(g_common_opts), i;
	struct option *longopts;
	char *optstr;
	struct usk_cpuset set;
	enum usk_app_parse_args_rvals rval = USK_APP_PARSE_ARGS_SUCCESS;
	enum usk_log_level level;
	char *pci_allowed = NULL, *pci_blocked = NULL;
	int ch, v = 0;

	if (app_getopt_str != NULL) {
		for (i = 0; app_getopt_str[i] != '\0'; i++) {
			if (app_getopt_str[i] != ':' &&
			    strchr(APP_GETOPT_STR, app_getopt_str[i]) != NULL) {
				fprintf(stderr, "%s: option -%c is used by the framework\n",
					argv[0], app_getopt_str[i]);
				return USK_APP_PARSE_ARGS_FAIL;
			}
		}
	}
	while (app_long_opts != NULL && app_long_opts[n_app].name != NULL) {
		n_app++;
	}
	longopts = calloc(n_common + n_app + 1, sizeof(*longopts));
	optstr = usk_sprintf_alloc("%s%s", APP_GETOPT_STR, app_getopt_str ? app_getopt_str : "");
	if (longopts == NULL || optstr == NULL) {
		free(longopts);
		free(optstr);
		return USK_APP_PARSE_ARGS_FAIL;
	}
	memcpy(longopts, g_common_opts, sizeof(g_common_opts));
	if (n_app > 0) {
		memcpy(longopts + n_common, app_long_opts, n_app * sizeof(*longopts));
	}
#ifdef __GLIBC__
	optind = 0; /* full re-initialisation, so the parser can run more than once */
#else
	optind = 1;
#endif
	opterr = 1;
	while (rval == USK_APP_PARSE_ARGS_SUCCESS &&
	       (ch = getopt_long(argc, argv, optstr, longopts, NULL)) != -1) {
		switch (ch) {
		case 'A':
		case 'B':
			/* Process-wide lists in lib/env; each flag adds to what earlier ones gave.
			 */
			if (pci_list_add(ch == 'A' ? &pci_allowed : &pci_blocked, optarg) != 0 ||
			    (ch == 'A' ? usk_pci_set_allowed(pci_allowed) :
					 usk_pci_set_blocked(pci_blocked)) != 0) {
				fprintf(stderr, "%s: -%c '%s' is not a PCI address list\n", argv[0],
					ch, optarg);
				rval = USK_APP_PARSE_ARGS_FAIL;
			}
			break;
		case 'c':
			opts->json_config_file = optarg;
			break;
		case 'h':
			fprintf(stderr, "Usage: %s [options]\n", argv[0]);
			usk_app_usage();
			if (usage != NULL) {
				usage();
			}
			rval = USK_APP_PARSE_ARGS_HELP;
			break;
		case 'i':
			if (parse_int(optarg, &opts->shm_id) != 0) {
				fprintf(stderr, "%s: invalid shm id '%s'\n", argv[0], optarg);
				rval = USK_APP_PARSE_ARGS_FAIL;
			}
			break;
		case 'L':
			if (usk_log_set_flag(optarg) != 0) {
				fprintf(stderr, "%s: unknown log flag '%s'\n", argv[0], optarg);
				usk_log_usage();
				rval = USK_APP_PARSE_ARGS_FAIL;
			}
			break;
		case 'm':
			if (app_parse_mask(optarg, &set) != 0) {
				fprintf(stderr,
					"%s: invalid reactor mask '%s' (use hex like 0x3 or a list like [0,1])\n",
					argv[0], optarg);
				rval = USK_APP_PARSE_ARGS_FAIL;
			}
			opts->reactor_mask = optarg;
			break;
		case 'p':
			if (parse_int(optarg, &v) != 0 || v < 0 || v >= USK_CPUSET_SIZE) {
				fprintf(stderr, "%s: invalid main core '%s'\n", argv[0], optarg);
				rval = USK_APP_PARSE_ARGS_FAIL;
			}
			opts->main_core = v;
			break;
		case 'r':
			opts->rpc_addr = optarg;
			break;
		case 's':
			if (parse_mem_size(optarg, &opts->mem_size) != 0) {
				fprintf(stderr, "%s: invalid memory size '%s'\n", argv[0], optarg);
				rval = USK_APP_PARSE_ARGS_FAIL;
			}
			break;
		case OPT_JSON_IGNORE:
			opts->json_config_ignore_errors = true;
			break;
		case OPT_WAIT_FOR_RPC:
			opts->wait_for_rpc = true;
			break;
		case OPT_NO_HUGE:
			opts->no_huge = true;
			break;
		case OPT_HUGE_DIR:
			opts->hugedir = optarg;
			break;
		case OPT_INTERRUPT:
			opts->interrupt_mode = true;
			break;
		case OPT_PRINT_LEVEL:
			if (usk_log_level_from_name(optarg, &level) != 0) {
				fprintf(stderr, "%s: invalid print level '%s'\n", argv[0], optarg);
				rval = USK_APP_PARSE_ARGS_FAIL;
			}
			opts->print_level = level;
			break;
		case OPT_METRICS:
			opts->metrics_addr = optarg;
			break;
		case 'e':
			if (usk_trace_parse_mask(optarg, &opts->tpoint_group_mask) != 0) {
				fprintf(stderr,
					"%s: invalid trace group(s) '%s' (bdev, nvmf_tcp, thread, all, "
					"or a mask)\n",
					argv[0], optarg);
				rval = USK_APP_PARSE_ARGS_FAIL;
				break;
			}
			opts->trace_enabled = true;
			break;
		case OPT_TRACE_ENTRIES:
			if (parse_int(optarg, &v) != 0 || v <= 0 || v > (1 << 24)) {
				fprintf(stderr, "%s: invalid trace entry count '%s'\n", argv[0],
					optarg);
				rval = USK_APP_PARSE_ARGS_FAIL;
				break;
			}
			opts->num_trace_entries = (uint32_t)v;
			break;
		case '?':
			fprintf(stderr, "Usage: %s [options]\n", argv[0]);
			usk_app_usage();
			if (usage != NULL) {
				usage();
			}
			rval = USK_APP_PARSE_ARGS_FAIL;
			break;
		default:
			if (parse == NULL || parse(ch, optarg) != 0) {
				if (usage != NULL) {
					usage();
				}
				rval = USK_APP_PARSE_ARGS_FAIL;
			}
			break;
		}
	}
	if (rval == USK_APP_PARSE_ARGS_SUCCESS && optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		rval = USK_APP_PARSE_ARGS_FAIL;
	}
	free(longopts);
	free(optstr);
	free(pci_allowed);
	free(pci_blocked);
	return rval;
}

/* ---- start / stop ---- */

bool
usk_app_is_running(void)
{
	enum app_phase p = app_phase();

	return p != APP_PHASE_IDLE && p != APP_PHASE_STOPPED;
}

static void
app_stop_reactors(int rc)
{
	if (rc != 0 && g_app_rc == 0) {
		g_app_rc = rc;
	}
	/* Refused only in IDLE (usk_app_stop without a running app): nothing to stop then. */
	if (!app_try_phase(APP_PHASE_STOPPED)) {
		return;
	}
	reactors_stop();
}

static void
app_fini_done(void *arg)
{
	app_stop_reactors(g_fail_rc);
}

/* Runs on the app thread: close RPC, finish subsystems in reverse order, then stop. */
static void
app_fini_msg(void *ctx)
{
	/* Once only; not after the reactors were told to stop. */
	if (!app_try_phase(APP_PHASE_FINISHING)) {
		return;
	}
	usk_rpc_close();
	usk_metrics_close();
	subsystem_fini(app_fini_done, NULL);
}

void
usk_app_stop(int rc)
{
	struct usk_thread *app_thread = usk_thread_get_app_thread();

	if (rc != 0 && g_app_rc == 0) {
		g_app_rc = rc;
	}
	/* As SPDK's spdk_app_stop: the subsystems are finished before the reactors stop, so an
	 * app that simply calls usk_app_stop() when its work is done exits cleanly. */
	if (app_phase() == APP_PHASE_RUNNING && app_thread != NULL &&
	    usk_thread_send_msg(app_thread, app_fini_msg, NULL) == 0) {
		return;
	}
	app_stop_reactors(rc);
}

static void
app_default_shutdown(void)
{
	app_fini_msg(NULL);
}

static void
app_shutdown(void)
{
	if (g_life.shutdown_started) {
		USK_NOTICELOG("shutdown already in progress\n");
		return;
	}
	if (app_phase() == APP_PHASE_INITIALIZING) {
		/* Finish what is being initialised first; then shut down. */
		g_life.shutdown_pending = true;
		return;
	}
	g_life.shutdown_started = true;
	if (g_opts.shutdown_cb != NULL) {
		g_opts.shutdown_cb();
		return;
	}
	app_default_shutdown();
}

static void
app_shutdown_msg(void *ctx)
{
	app_shutdown();
}

void
usk_app_start_shutdown(void)
{
	if (g_app_thread == NULL) {
		return;
	}
	usk_thread_send_msg(g_app_thread, app_shutdown_msg, NULL);
}

static void
app_signal_handler(int sig)
{
	(void)sig;
	if (g_app_thread != NULL) {
		usk_thread_send_critical_msg(g_app_thread, app_shutdown_msg);
		reactors_wake_main();
	}
}

static void
app_fail(int rc)
{
	g_fail_rc = rc;
	g_life.shutdown_started = true;
	app_default_shutdown();
}

static void
app_run_start_fn(void)
{
	USK_NOTICELOG("%s started (%s)\n", g_opts.name, USK_VERSION_STRING);
	if (g_start_fn != NULL) {
		g_start_fn(g_start_ctx);
	}
}

const char *
app_version_string(void)
{
	return USK_VERSION_STRING;
}

void
app_on_init_done(void (*cb)(void *arg), void *arg)
{
	struct init_waiter *w;

	if (app_phase() == APP_PHASE_RUNNING) {
		cb(arg);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		cb(arg);
		return;
	}
	w->cb = cb;
	w->arg = arg;
	w->next = g_waiters;
	g_waiters = w;
}

static void
init_complete(int rc)
{
	void (*cb)(int, void *) = g_start_init_cb;
	struct init_waiter *w;

	g_start_init_cb = NULL;
	/* A usk_app_stop from another thread may have stopped the reactors meanwhile. */
	if (!app_try_phase(rc == 0 ? APP_PHASE_RUNNING : APP_PHASE_INIT_FAILED)) {
		assert(app_phase() == APP_PHASE_STOPPED);
	}
	if (rc == 0) {
		while ((w = g_waiters) != NULL) {
			g_waiters = w->next;
			w->cb(w->arg);
			free(w);
		}
	}
	if (cb != NULL) {
		cb(rc, g_start_init_arg);
	}
	if (g_life.shutdown_pending) {
		g_life.shutdown_pending = false;
		app_shutdown();
	}
}

static void
runtime_replay_done(int rc, void *arg)
{
	init_complete(rc);
}

static void
subsystems_inited(int rc, void *arg)
{
	if (rc != 0) {
		init_complete(rc);
		return;
	}
	usk_rpc_set_state(USK_RPC_RUNTIME);
	if (g_config != NULL) {
		json_config_replay(g_config, g_opts.json_config_file, USK_RPC_RUNTIME,
				   g_opts.json_config_ignore_errors, runtime_replay_done, NULL);
		return;
	}
	init_complete(0);
}

int
app_framework_start_init(void (*cb)(int rc, void *arg), void *arg)
{
	if (!app_try_phase(APP_PHASE_INITIALIZING)) {
		return -EALREADY;
	}
	g_start_init_cb = cb;
	g_start_init_arg = arg;
	subsystem_init(subsystems_inited, NULL);
	return 0;
}

static void
app_init_done_cb(int rc, void *arg)
{
	bool wait_for_rpc = (bool)(uintptr_t)arg;

	if (rc != 0) {
		USK_ERRLOG("framework initialisation failed: %s\n", strerror(rc < 0 ? -rc : rc));
		app_fail(rc < 0 ? rc : -rc);
		return;
	}
	if (!wait_for_rpc) {
		rc = usk_rpc_listen(g_opts.rpc_addr);
		if (rc != 0) {
			USK_ERRLOG("cannot start the RPC server at %s: %s\n", g_opts.rpc_addr,
				   strerror(-rc));
			app_fail(rc);
			return;
		}
	}
	if (g_opts.metrics_addr != NULL) {
		rc = usk_metrics_listen(g_opts.metrics_addr);
		if (rc != 0) {
			app_fail(rc);
			return;
		}
	}
	if (g_life.shutdown_started) {
		return;
	}
	app_run_start_fn();
}

static void
startup_replay_done(int rc, void *arg)
{
	if (rc != 0) {
		app_fail(rc);
		return;
	}
	if (g_opts.wait_for_rpc) {
		rc = usk_rpc_listen(g_opts.rpc_addr);
		if (rc != 0) {
			USK_ERRLOG("cannot start the RPC server at %s: %s\n", g_opts.rpc_addr,
				   strerror(-rc));
			app_fail(rc);
			return;
		}
		USK_NOTICELOG(
			"Waiting for the framework_start_init RPC to initialise subsystems\n");
		/* framework_start_init calls app_framework_start_init; start_fn runs after it. */
		g_start_init_cb = NULL;
		return;
	}
	app_framework_start_init(app_init_done_cb, (void *)(uintptr_t) false);
}

static void
app_start_msg(void *ctx)
{
	char err[256];
	int rc;

	usk_rpc_set_state(USK_RPC_STARTUP);
	/* Order now so save_config and framework_get_subsystems show init order even before init.
	 */
	rc = subsystem_sort(err, sizeof(err));
	if (rc != 0) {
		USK_ERRLOG("cannot order subsystems: %s\n", err);
		app_fail(rc);
		return;
	}
	if (g_config != NULL) {
		json_config_replay(g_config, g_opts.json_config_file, USK_RPC_STARTUP,
				   g_opts.json_config_ignore_errors, startup_replay_done, NULL);
		return;
	}
	startup_replay_done(0, NULL);
}

/* framework_start_init from RPC (wait-for-rpc): run start_fn once init is done. */
void app_wait_for_rpc_init_done(int rc, void *arg);
void
app_wait_for_rpc_init_done(int rc, void *arg)
{
	app_init_done_cb(rc, (void *)(uintptr_t) true);
}

static int
install_signals(void)
{
	struct sigaction sa = {};

	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL) != 0) {
		return -errno;
	}
	sa.sa_handler = app_signal_handler;
	if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
		return -errno;
	}
	return 0;
}

int
usk_app_start(struct usk_app_opts *opts, usk_msg_fn start_fn, void *ctx)
{
	struct usk_env_opts env_opts;
	struct usk_cpuset main_mask;
	size_t msg_pool;
	char err[512];
	int rc;

	if (opts == NULL || opts->opts_size == 0) {
		USK_ERRLOG("usk_app_start: opts (with opts_size) required\n");
		return -EINVAL;
	}
	usk_app_opts_init(&g_opts, sizeof(g_opts));
	memcpy(&g_opts, opts, USK_MIN(opts->opts_size, sizeof(g_opts)));
	g_opts.opts_size = sizeof(g_opts);
	if (g_opts.rpc_addr == NULL) {
		g_opts.rpc_addr = USK_DEFAULT_RPC_ADDR;
	}
	if (g_opts.reactor_mask == NULL) {
		g_opts.reactor_mask = "0x1";
	}
	if (g_opts.name == NULL) {
		g_opts.name = "usk";
	}
	g_start_fn = start_fn;
	g_start_ctx = ctx;
	g_app_rc = 0;
	g_fail_rc = 0;
	usk_log_set_print_level(g_opts.print_level);

	if (g_opts.json_config_file != NULL) {
		rc = json_config_load(g_opts.json_config_file, &g_config, err, sizeof(err));
		if (rc != 0) {
			USK_ERRLOG("--json %s: %s\n", g_opts.json_config_file, err);
			return rc;
		}
	}
	USK_NOTICELOG("Starting %s / %s initialization...\n", USK_VERSION_STRING, g_opts.name);

	usk_env_opts_init(&env_opts, sizeof(env_opts));
	env_opts.name = g_opts.name;
	env_opts.core_mask = g_opts.reactor_mask;
	env_opts.shm_id = g_opts.shm_id;
	env_opts.mem_size = g_opts.mem_size;
	env_opts.main_core = g_opts.main_core;
	env_opts.no_huge = g_opts.no_huge;
	env_opts.hugedir = g_opts.hugedir;
	rc = usk_env_init(&env_opts);
	if (rc != 0) {
		USK_ERRLOG("cannot initialise the environment: %s\n", strerror(-rc));
		return rc;
	}
	if (g_opts.interrupt_mode) {
		rc = usk_interrupt_mode_enable();
		if (rc != 0) {
			USK_ERRLOG("cannot enable interrupt mode: %s\n", strerror(-rc));
			return rc;
		}
	}
	if (g_opts.trace_enabled) {
		rc = usk_trace_init(g_opts.name, usk_env_get_last_core() + 1,
				    g_opts.num_trace_entries ? g_opts.num_trace_entries : 32768,
				    g_opts.tpoint_group_mask);
		if (rc != 0) {
			USK_ERRLOG("cannot create the trace file: %s\n", strerror(-rc));
			return rc;
		}
	}
	rc = reactors_init(g_opts.interrupt_mode);
	if (rc != 0) {
		USK_ERRLOG("cannot create reactors: %s\n", strerror(-rc));
		return rc;
	}
	msg_pool = g_opts.msg_mempool_size;
	if (msg_pool == 0) {
		msg_pool =
			USK_MAX((size_t)USK_APP_MSG_POOL_MIN,
				(size_t)USK_APP_MSG_POOL_PER_CORE * usk_app_get_core_count() - 1);
	}
	rc = usk_thread_lib_init_ext(reactor_thread_op, reactor_thread_op_supported,
				     reactor_thread_ctx_size(), msg_pool);
	if (rc != 0) {
		USK_ERRLOG("cannot initialise the thread library: %s\n", strerror(-rc));
		return rc;
	}
	USK_NOTICELOG("Total cores available: %u\n", usk_app_get_core_count());
	usk_cpuset_zero(&main_mask);
	usk_cpuset_set_cpu(&main_mask, usk_env_get_main_core(), true);
	g_app_thread = usk_thread_create("app_thread", &main_mask);
	if (g_app_thread == NULL) {
		USK_ERRLOG("cannot create the app thread\n");
		return -ENOMEM;
	}
	rc = install_signals();
	if (rc != 0) {
		USK_ERRLOG("cannot install signal handlers: %s\n", strerror(-rc));
		return rc;
	}
	app_set_phase(APP_PHASE_STARTUP);
	usk_thread_send_msg(g_app_thread, app_start_msg, NULL);

	reactors_start();

	g_app_thread = NULL;
	return g_app_rc;
}

void
usk_app_fini(void)
{
	struct init_waiter *w;

	usk_thread_lib_fini();
	reactors_fini();
	usk_trace_fini();
	usk_env_fini();
	json_decref(g_config);
	g_config = NULL;
	while ((w = g_waiters) != NULL) {
		g_waiters = w->next;
		free(w);
	}
	/* STOPPED after a run; IDLE when usk_app_start failed before the reactors ran. */
	if (app_phase() != APP_PHASE_IDLE) {
		app_set_phase(APP_PHASE_IDLE);
	}
	g_life.shutdown_started = g_life.shutdown_pending = false;
}
