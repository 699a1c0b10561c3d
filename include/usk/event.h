/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Application framework: reactors (one pinned OS thread per core of -m), app start/stop,
 * subsystems initialised in dependency order, signals, --json config replay.
 */
#ifndef USK_EVENT_H
#define USK_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <getopt.h>
#include <jansson.h>
#include "usk/log.h"
#include "usk/thread.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*usk_app_shutdown_cb)(void);

struct usk_app_opts {
	size_t opts_size;
	const char *name;
	const char *json_config_file;
	bool json_config_ignore_errors;
	const char *rpc_addr;	  /* default USK_DEFAULT_RPC_ADDR */
	const char *reactor_mask; /* -m, default "0x1" */
	int main_core;
	int shm_id;
	int mem_size; /* -s, MiB */
	bool no_huge;
	const char *hugedir;
	bool wait_for_rpc; /* start RPC only; init subsystems on framework_start_init */
	bool interrupt_mode;
	enum usk_log_level print_level;
	/* Called on SIGINT/SIGTERM instead of the default orderly shutdown. May be NULL. */
	usk_app_shutdown_cb shutdown_cb;
	/*
	 * Messages in the process-wide pool; 0 = USK_APP_MSG_POOL_PER_CORE per reactor core, at
	 * least USK_APP_MSG_POOL_MIN (SPDK's fixed 262143 costs ~16 MiB of pinned memory at idle).
	 */
	size_t msg_mempool_size;
	/* --metrics: "IP:PORT" to serve Prometheus GET /metrics on (app thread); NULL = off. */
	const char *metrics_addr;
	/* -e: create the trace file and enable these groups (usk/trace.h); the file is created
	 * when trace_enabled even with mask 0, so trace_enable_tpoint_group can turn groups on. */
	uint64_t tpoint_group_mask;
	uint32_t num_trace_entries; /* per core; 0 = 32768 */
	bool trace_enabled;
};

#define USK_APP_MSG_POOL_PER_CORE 16384
#define USK_APP_MSG_POOL_MIN	  65535

enum usk_app_parse_args_rvals {
	USK_APP_PARSE_ARGS_HELP = 0,
	USK_APP_PARSE_ARGS_SUCCESS = 1,
	USK_APP_PARSE_ARGS_FAIL = 2,
};

/** Fill opts (of opts_size bytes, normally sizeof(*opts)) with defaults. */
void usk_app_opts_init(struct usk_app_opts *opts, size_t opts_size);
/**
 * Parse the common flags (-m -r -s -L -c/--json --wait-for-rpc --no-huge --interrupt-mode
 * -h --logflag --print-level --metrics -e/--tpoint-group, -A/--pci-allowed and -B/--pci-blocked,
 * which set lib/env's process-wide PCI lists at once) plus the app's own (app_getopt_str,
 * app_long_opts, parse).
 */
enum usk_app_parse_args_rvals usk_app_parse_args(int argc, char **argv, struct usk_app_opts *opts,
						 const char *app_getopt_str,
						 const struct option *app_long_opts,
						 int (*parse)(int ch, char *arg),
						 void (*usage)(void));
/** Print the common options to stderr. */
void usk_app_usage(void);

/**
 * Initialise env and threads, start a reactor per core, init subsystems, load the JSON config,
 * start RPC, then call start_fn(ctx) on the app thread. Blocks until usk_app_stop().
 * Returns the rc given to usk_app_stop (or a negative errno when start-up failed).
 */
int usk_app_start(struct usk_app_opts *opts, usk_msg_fn start_fn, void *ctx);
/** Begin orderly shutdown (subsystems finished in reverse order), as SIGINT does. */
void usk_app_start_shutdown(void);
/** Stop the reactors; usk_app_start returns rc. Call from any usk thread. */
void usk_app_stop(int rc);
/** Release what usk_app_start allocated; call after it returns. */
void usk_app_fini(void);
/** True between usk_app_start and usk_app_stop. */
bool usk_app_is_running(void);
/** Number of reactors (cores of -m). */
uint32_t usk_app_get_core_count(void);

/* ---- subsystems ---- */

struct usk_subsystem {
	const char *name;
	/* Must end with usk_subsystem_init_next(rc). May be NULL. */
	void (*init)(void);
	/* Must end with usk_subsystem_fini_next(). May be NULL. */
	void (*fini)(void);
	/* Append {"method","params"} objects that recreate the current state. May be NULL. */
	void (*write_config_json)(json_t *config_array);
	struct usk_subsystem *next; /* registry link */
};

struct usk_subsystem_depend {
	const char *name;
	const char *depends_on;
	struct usk_subsystem_depend *next;
};

/** Register a subsystem (constructor time, through USK_SUBSYSTEM_REGISTER). */
void usk_add_subsystem(struct usk_subsystem *subsystem);
/**
 * Declare that depend->name must be initialised after depend->depends_on (through
 * USK_SUBSYSTEM_DEPEND). Start-up fails, naming both, if either subsystem does not exist.
 */
void usk_add_subsystem_depend(struct usk_subsystem_depend *depend);
#define USK_SUBSYSTEM_REGISTER(_name) \
	__attribute__((constructor)) static void _name##_register(void) \
	{ \
		usk_add_subsystem(&_name); \
	}
#define USK_SUBSYSTEM_DEPEND(_name, _depends_on) \
	static struct usk_subsystem_depend __subsystem_##_name##_depend_on_##_depends_on = { \
		.name = #_name, .depends_on = #_depends_on}; \
	__attribute__((constructor)) static void _name##_depend_on_##_depends_on(void) \
	{ \
		usk_add_subsystem_depend(&__subsystem_##_name##_depend_on_##_depends_on); \
	}

/**
 * End of a subsystem's init: rc 0 goes on with the next one, non-zero stops start-up. May be
 * called from any thread; the sequence continues on the app thread.
 */
void usk_subsystem_init_next(int rc);
/** End of a subsystem's fini; the previous one (in init order) is finished next. Any thread. */
void usk_subsystem_fini_next(void);
/** The registered subsystem called name, or NULL. */
struct usk_subsystem *usk_subsystem_find(const char *name);
/** In initialisation order. */
struct usk_subsystem *usk_subsystem_get_first(void);
/**
 * The subsystem after cur in initialisation order, or NULL. App thread (the order is fixed once
 * start-up has sorted it).
 */
struct usk_subsystem *usk_subsystem_get_next(struct usk_subsystem *cur);

/* ---- reactors ---- */

/** Core of the reactor running the calling OS thread, or UINT32_MAX. */
uint32_t usk_reactor_get_current_core(void);

#ifdef __cplusplus
}
#endif
#endif
