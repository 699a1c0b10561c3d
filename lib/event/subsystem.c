/* SPDX-License-Identifier: BSD-3-Clause */
/* Subsystem registry: dependency ordering, init in order, fini in reverse, config output. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usk/log.h"
#include "usk/thread.h"
#include "event_internal.h"

/*
 * Registered by constructors before main(); reordered by subsystem_sort() on the app thread
 * before init, and from then on only read. g_order is the init order; the first g_num_inited
 * entries have been initialised.
 */
static struct usk_subsystem *g_subsystems;
static struct usk_subsystem **g_subsystems_tail = &g_subsystems;
static struct usk_subsystem_depend *g_depends;
static struct usk_subsystem_depend **g_depends_tail = &g_depends;

static struct usk_subsystem **g_order;
static size_t g_num_subsystems;
static size_t g_init_idx; /* next subsystem to init */
static size_t g_num_inited;

/*
 * Where the init/fini sequence is (init thread only). Edges (subsys_set_phase asserts them):
 *   IDLE -> INITIALIZING (subsystem_init) | FAILED (cannot order) | FINISHING (fini, nothing up)
 *   INITIALIZING -> INITIALIZED | FAILED (a subsystem's init failed; g_num_inited stop before)
 *   INITIALIZED, FAILED -> FINISHING (subsystem_fini)   FINISHING -> IDLE (last fini done)
 *   any -> IDLE (subsystem_registry_reset, tests)
 */
enum subsys_phase {
	SUBSYS_IDLE,
	SUBSYS_INITIALIZING,
	SUBSYS_INITIALIZED,
	SUBSYS_FAILED,
	SUBSYS_FINISHING,
	SUBSYS_PHASE_COUNT,
};

static enum subsys_phase g_subsys_phase;

static const bool g_subsys_edges[SUBSYS_PHASE_COUNT][SUBSYS_PHASE_COUNT] = {
	[SUBSYS_IDLE] =
		{[SUBSYS_INITIALIZING] = true, [SUBSYS_FAILED] = true, [SUBSYS_FINISHING] = true},
	[SUBSYS_INITIALIZING] = {[SUBSYS_INITIALIZED] = true, [SUBSYS_FAILED] = true},
	[SUBSYS_INITIALIZED] = {[SUBSYS_FINISHING] = true},
	[SUBSYS_FAILED] = {[SUBSYS_FINISHING] = true},
	[SUBSYS_FINISHING] = {[SUBSYS_IDLE] = true},
};

static void
subsys_set_phase(enum subsys_phase to)
{
	bool legal = g_subsys_edges[g_subsys_phase][to];

	assert(legal);
	(void)legal; /* release builds (NDEBUG) keep the table in use */
	g_subsys_phase = to;
}

static void (*g_init_cb)(int rc, void *arg);
static void *g_init_arg;
static void (*g_fini_cb)(void *arg);
static void *g_fini_arg;
static struct usk_thread *g_init_thread;

void
usk_add_subsystem(struct usk_subsystem *subsystem)
{
	subsystem->next = NULL;
	*g_subsystems_tail = subsystem;
	g_subsystems_tail = &subsystem->next;
}

void
usk_add_subsystem_depend(struct usk_subsystem_depend *depend)
{
	depend->next = NULL;
	*g_depends_tail = depend;
	g_depends_tail = &depend->next;
}

void
subsystem_registry_reset(void)
{
	g_subsystems = NULL;
	g_subsystems_tail = &g_subsystems;
	g_depends = NULL;
	g_depends_tail = &g_depends;
	free(g_order);
	g_order = NULL;
	g_num_subsystems = g_init_idx = g_num_inited = 0;
	g_subsys_phase = SUBSYS_IDLE;
}

struct usk_subsystem *
usk_subsystem_find(const char *name)
{
	struct usk_subsystem *s;

	for (s = g_subsystems; s != NULL; s = s->next) {
		if (strcmp(s->name, name) == 0) {
			return s;
		}
	}
	return NULL;
}

struct usk_subsystem *
usk_subsystem_get_first(void)
{
	return g_subsystems;
}

struct usk_subsystem *
usk_subsystem_get_next(struct usk_subsystem *cur)
{
	return cur ? cur->next : NULL;
}

void
subsystem_foreach_depend(const char *name, void (*fn)(const char *dep, void *ctx), void *ctx)
{
	struct usk_subsystem_depend *d;

	for (d = g_depends; d != NULL; d = d->next) {
		if (strcmp(d->name, name) == 0) {
			fn(d->depends_on, ctx);
		}
	}
}

/* Whether every dependency of s is already among placed[0..nplaced). */
static bool
deps_placed(struct usk_subsystem *s, struct usk_subsystem **placed, size_t nplaced)
{
	struct usk_subsystem_depend *d;
	size_t i;

	for (d = g_depends; d != NULL; d = d->next) {
		if (strcmp(d->name, s->name) != 0) {
			continue;
		}
		for (i = 0; i < nplaced; i++) {
			if (strcmp(placed[i]->name, d->depends_on) == 0) {
				break;
			}
		}
		if (i == nplaced) {
			return false;
		}
	}
	return true;
}

int
subsystem_sort(char *err, size_t err_len)
{
	struct usk_subsystem_depend *d;
	struct usk_subsystem *s, **order, **rest;
	size_t n = 0, nrest, placed = 0, i, j;
	bool progress;

	for (d = g_depends; d != NULL; d = d->next) {
		if (usk_subsystem_find(d->name) == NULL) {
			snprintf(err, err_len, "dependency declared for unknown subsystem '%s'",
				 d->name);
			return -ENOENT;
		}
		if (usk_subsystem_find(d->depends_on) == NULL) {
			snprintf(err, err_len, "subsystem '%s' depends on unknown subsystem '%s'",
				 d->name, d->depends_on);
			return -ENOENT;
		}
	}
	for (s = g_subsystems; s != NULL; s = s->next) {
		n++;
	}
	order = calloc(n + 1, sizeof(*order));
	rest = calloc(n + 1, sizeof(*rest));
	if (order == NULL || rest == NULL) {
		free(order);
		free(rest);
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	nrest = 0;
	for (s = g_subsystems; s != NULL; s = s->next) {
		rest[nrest++] = s;
	}
	/* Stable: each round takes the earliest-registered subsystem whose dependencies are met. */
	while (nrest > 0) {
		progress = false;
		for (i = 0; i < nrest; i++) {
			if (deps_placed(rest[i], order, placed)) {
				order[placed++] = rest[i];
				for (j = i; j + 1 < nrest; j++) {
					rest[j] = rest[j + 1];
				}
				nrest--;
				progress = true;
				break;
			}
		}
		if (!progress) {
			int len = snprintf(err, err_len, "dependency cycle among subsystems:");

			for (i = 0; i < nrest && len >= 0 && (size_t)len < err_len; i++) {
				len += snprintf(err + len, err_len - (size_t)len, " %s",
						rest[i]->name);
			}
			free(order);
			free(rest);
			return -ELOOP;
		}
	}
	free(rest);
	/* Re-link the registry in init order so iteration follows it. */
	g_subsystems = NULL;
	g_subsystems_tail = &g_subsystems;
	for (i = 0; i < placed; i++) {
		usk_add_subsystem(order[i]);
	}
	free(g_order);
	g_order = order;
	g_num_subsystems = placed;
	return 0;
}

static void
init_finish(int rc)
{
	void (*cb)(int, void *) = g_init_cb;

	subsys_set_phase(rc == 0 ? SUBSYS_INITIALIZED : SUBSYS_FAILED);
	if (cb != NULL) {
		cb(rc, g_init_arg);
	}
}

static void
init_next_msg(void *ctx)
{
	usk_subsystem_init_next((int)(intptr_t)ctx);
}

void
usk_subsystem_init_next(int rc)
{
	struct usk_subsystem *s;

	/* A subsystem may finish its init on another thread: continue on the init thread. */
	if (g_init_thread != NULL && usk_get_thread() != g_init_thread) {
		usk_thread_send_msg(g_init_thread, init_next_msg, (void *)(intptr_t)rc);
		return;
	}
	if (rc != 0) {
		if (g_init_idx > 0) {
			USK_ERRLOG("init of subsystem %s failed: %s\n",
				   g_order[g_init_idx - 1]->name, strerror(rc < 0 ? -rc : rc));
			/* It did not come up: fini only the ones before it. */
			g_num_inited = g_init_idx - 1;
		}
		init_finish(rc);
		return;
	}
	g_num_inited = g_init_idx;
	while (g_init_idx < g_num_subsystems) {
		s = g_order[g_init_idx++];
		if (s->init != NULL) {
			s->init();
			return;
		}
		g_num_inited = g_init_idx;
	}
	init_finish(0);
}

void
subsystem_init(void (*cb)(int rc, void *arg), void *arg)
{
	char err[256];
	int rc;

	g_init_cb = cb;
	g_init_arg = arg;
	g_init_thread = usk_get_thread();
	rc = subsystem_sort(err, sizeof(err));
	if (rc != 0) {
		USK_ERRLOG("cannot order subsystems: %s\n", err);
		subsys_set_phase(SUBSYS_FAILED);
		cb(rc, arg);
		return;
	}
	subsys_set_phase(SUBSYS_INITIALIZING);
	g_init_idx = 0;
	g_num_inited = 0;
	usk_subsystem_init_next(0);
}

bool
subsystem_init_done(void)
{
	return g_subsys_phase == SUBSYS_INITIALIZED;
}

static void
fini_next_msg(void *ctx)
{
	usk_subsystem_fini_next();
}

void
usk_subsystem_fini_next(void)
{
	struct usk_subsystem *s;
	void (*cb)(void *);

	if (g_init_thread != NULL && usk_get_thread() != g_init_thread) {
		usk_thread_send_msg(g_init_thread, fini_next_msg, NULL);
		return;
	}
	while (g_num_inited > 0) {
		s = g_order[--g_num_inited];
		if (s->fini != NULL) {
			s->fini();
			return;
		}
	}
	subsys_set_phase(SUBSYS_IDLE);
	cb = g_fini_cb;
	g_fini_cb = NULL;
	if (cb != NULL) {
		cb(g_fini_arg);
	}
}

void
subsystem_fini(void (*cb)(void *arg), void *arg)
{
	g_fini_cb = cb;
	g_fini_arg = arg;
	if (g_init_thread == NULL) {
		g_init_thread = usk_get_thread();
	}
	subsys_set_phase(SUBSYS_FINISHING);
	usk_subsystem_fini_next();
}

json_t *
subsystem_config_json(struct usk_subsystem *subsystem)
{
	json_t *arr;

	if (subsystem->write_config_json == NULL) {
		return json_null();
	}
	arr = json_array();
	if (arr != NULL) {
		subsystem->write_config_json(arr);
	}
	return arr;
}
