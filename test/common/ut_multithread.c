/* SPDX-License-Identifier: BSD-3-Clause */
/* Deterministic usk_thread stepping for unit tests; see ut_multithread.h. */

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "ut_multithread.h"

static struct usk_thread *g_ut_threads[UT_MAX_THREADS];
static int g_ut_count;
static bool g_ut_lib_owned;  /* ut_allocate_threads initialised lib/thread */
static bool g_ut_lib_caller; /* the test did, with ut_thread_lib_init */
static uint64_t g_ut_ticks;  /* the fake clock lib/thread reads (usk_thread_lib_opts.get_ticks) */

static uint64_t
ut_get_ticks(void)
{
	return g_ut_ticks;
}

int
ut_thread_lib_init(struct usk_thread_lib_opts *opts)
{
	int rc;

	opts->get_ticks = ut_get_ticks;
	opts->ticks_hz = UT_TICKS_HZ;
	g_ut_ticks = 1;
	rc = usk_thread_lib_init_opts(opts);
	if (rc == 0) {
		g_ut_lib_caller = true;
	}
	return rc;
}

void
ut_thread_lib_fini(void)
{
	usk_thread_lib_fini();
	g_ut_lib_caller = false;
}

int
ut_allocate_threads(int count)
{
	char name[32];
	int rc;

	if (count <= 0 || count > UT_MAX_THREADS || g_ut_count != 0) {
		return -EINVAL;
	}
	if (!g_ut_lib_caller) {
		struct usk_thread_lib_opts opts;

		usk_thread_lib_opts_init(&opts, sizeof(opts));
		rc = ut_thread_lib_init(&opts);
		if (rc != 0) {
			return rc;
		}
		g_ut_lib_caller = false;
		g_ut_lib_owned = true;
	}
	for (int i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "ut_thread%d", i);
		g_ut_threads[i] = usk_thread_create(name, NULL);
		if (g_ut_threads[i] == NULL) {
			g_ut_count = i;
			ut_free_threads();
			return -ENOMEM;
		}
	}
	g_ut_count = count;
	ut_set_thread(0);
	return 0;
}

void
ut_free_threads(void)
{
	for (int i = 0; i < g_ut_count; i++) {
		struct usk_thread *thread = g_ut_threads[i];

		usk_set_thread(thread);
		usk_thread_exit(thread);
		/* Bounded: lib/thread forces the exit after its timeout on the fake clock. */
		for (int n = 0; n < 1000000 && !usk_thread_is_exited(thread); n++) {
			usk_thread_poll(thread, 0, 0);
			if (n > 1000) {
				g_ut_ticks += UT_TICKS_HZ;
			}
		}
		usk_thread_destroy(thread);
		g_ut_threads[i] = NULL;
	}
	g_ut_count = 0;
	usk_set_thread(NULL);
	if (g_ut_lib_owned) {
		usk_thread_lib_fini();
		g_ut_lib_owned = false;
	}
}

void
ut_set_thread(int idx)
{
	usk_set_thread(idx >= 0 && idx < g_ut_count ? g_ut_threads[idx] : NULL);
}

struct usk_thread *
ut_get_thread(int idx)
{
	return idx >= 0 && idx < g_ut_count ? g_ut_threads[idx] : NULL;
}

int
ut_current_thread(void)
{
	struct usk_thread *cur = usk_get_thread();

	for (int i = 0; i < g_ut_count; i++) {
		if (g_ut_threads[i] == cur) {
			return i;
		}
	}
	return -1;
}

int
ut_poll_thread(int idx)
{
	struct usk_thread *orig = usk_get_thread();
	int rc;

	if (idx < 0 || idx >= g_ut_count) {
		return -EINVAL;
	}
	usk_set_thread(g_ut_threads[idx]);
	rc = usk_thread_poll(g_ut_threads[idx], 0, 0);
	usk_set_thread(orig);
	return rc;
}

int
ut_poll_thread_times(int idx, int max_polls)
{
	int busy = 0;

	for (int n = 0; max_polls == 0 || n < max_polls; n++) {
		if (ut_poll_thread(idx) <= 0) {
			break;
		}
		busy++;
	}
	return busy;
}

int
ut_poll_threads_until(const int *count, int want, unsigned int max_ms)
{
	for (unsigned int i = 0; i < max_ms * 5 && *count < want; i++) {
		ut_poll_threads();
		if (*count < want) {
			usleep(200);
		}
	}
	return *count;
}

int
ut_poll_threads(void)
{
	int busy = 0;
	bool any;

	do {
		any = false;
		for (int i = 0; i < g_ut_count; i++) {
			if (ut_poll_thread(i) > 0) {
				any = true;
				busy++;
			}
		}
	} while (any);
	return busy;
}

void
ut_delay_us(uint64_t us)
{
	g_ut_ticks += us * (UT_TICKS_HZ / USK_SEC_TO_USEC);
}

uint64_t
ut_now(void)
{
	return g_ut_ticks;
}
