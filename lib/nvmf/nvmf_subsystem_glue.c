/* SPDX-License-Identifier: BSD-3-Clause */
/* The "nvmf" usk_subsystem: creates the target and one poll group thread per core, tears them down. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usk/env.h"
#include "usk/event.h"
#include "nvmf_internal.h"

#define NVMF_GLUE_MAX_GROUPS USK_CPUSET_SIZE

struct glue_group {
	struct usk_thread *thread;
	struct usk_nvmf_poll_group *group;
};

static struct usk_nvmf_tgt *g_tgt;
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
	struct usk_nvmf_target_opts opts = { .opts_size = sizeof(opts), .name = "nvmf_tgt" };
	struct usk_cpuset mask;
	char name[32];
	uint32_t core;
	int rc;

	g_glue_thread = usk_get_thread();
	rc = usk_nvmf_tgt_create(&opts, &g_tgt);
	if (rc != 0) {
		USK_ERRLOG("cannot create the NVMe-oF target: %s\n", strerror(-rc));
		usk_subsystem_init_next(rc);
		return;
	}
	g_num_groups = 0;
	g_init_rc = 0;
	for (core = usk_env_get_first_core(); core != UINT32_MAX && g_num_groups < NVMF_GLUE_MAX_GROUPS;
	     core = usk_env_get_next_core(core)) {
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
	if (g_tgt) {
		usk_nvmf_tgt_write_config_json(config, g_tgt);
	}
}

static struct usk_subsystem g_usk_subsystem_nvmf = {
	.name = "nvmf",
	.init = nvmf_subsystem_init,
	.fini = nvmf_subsystem_fini,
	.write_config_json = nvmf_subsystem_write_config_json,
};

USK_SUBSYSTEM_REGISTER(g_usk_subsystem_nvmf)
USK_SUBSYSTEM_DEPEND(nvmf, bdev)
