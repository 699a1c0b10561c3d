/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for lib/thread's library options (usk_thread_lib_opts) and reactor watchdog. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "usk/env.h"
#include "usk/log.h"
#include "usk/thread.h"
#include "ut_multithread.h"
#include "thread_internal.h" /* USK_SLOW_POLL_WARN_US, as the library was built with */

static int
stub_thread_op(struct usk_thread *thread, enum usk_thread_op op)
{
	return 0;
}

static int
setup_threads(void **state)
{
	return ut_allocate_threads(2);
}

static int
teardown_threads(void **state)
{
	ut_free_threads();
	return 0;
}

/* Options are checked before anything is allocated; nothing is left initialised on error. */
static void
test_lib_opts(void **state)
{
	struct usk_thread_lib_opts o;

	usk_thread_lib_opts_init(&o, sizeof(o));
	assert_int_equal(o.opts_size, sizeof(o));
	assert_null(o.get_ticks);
	assert_int_equal(o.ticks_hz, 0);
	o.opts_size = 0;
	assert_int_equal(usk_thread_lib_init_opts(&o), -EINVAL);
	o.opts_size = sizeof(o) + 8;
	assert_int_equal(usk_thread_lib_init_opts(&o), -EINVAL);
	usk_thread_lib_opts_init(&o, sizeof(o));
	o.thread_op_fn = stub_thread_op; /* without is_supported */
	assert_int_equal(usk_thread_lib_init_opts(&o), -EINVAL);
	/* Still uninitialised: a valid init works, a second is -EALREADY. */
	assert_int_equal(usk_thread_lib_init_opts(NULL), 0);
	assert_int_equal(usk_thread_lib_init_opts(NULL), -EALREADY);
	usk_thread_lib_fini();
}

/* ---- reactor watchdog (slow_check in lib/thread) ---- */

static char g_slow_lines[8][256];
static int g_slow_n;

static void
slow_log_sink(int level, const char *file, int line, const char *func, const char *format,
	      va_list ap)
{
	char buf[256];

	vsnprintf(buf, sizeof(buf), format, ap);
	if (strstr(buf, "slow ") != NULL && g_slow_n < 8) {
		snprintf(g_slow_lines[g_slow_n++], sizeof(g_slow_lines[0]), "%s", buf);
	}
}

static int
slow_poller_fn(void *arg)
{
	usk_delay_us(*(unsigned int *)arg);
	return USK_POLLER_BUSY;
}

static void
slow_msg_fn(void *arg)
{
	usk_delay_us(*(unsigned int *)arg);
}

static void
test_slow_poller_warning(void **state)
{
	unsigned int us = USK_SLOW_POLL_WARN_US * 2;
	struct usk_poller *p;

	if (USK_SLOW_POLL_WARN_US == 0) {
		skip(); /* compiled out (release build) */
	}
	g_slow_n = 0;
	usk_log_open(slow_log_sink);
	ut_set_thread(0);
	p = usk_poller_register_named(slow_poller_fn, &us, 0, "ut_slow_poller");
	assert_non_null(p);
	ut_poll_thread(0);
	/* The same time again is not logged again: only a doubled worst is. */
	ut_poll_thread(0);
	usk_poller_unregister(&p);
	ut_poll_thread(0);
	assert_int_equal(usk_thread_send_msg(ut_get_thread(0), slow_msg_fn, &us), 0);
	ut_poll_thread(0);
	/* A fast poller is never logged. */
	us = 0;
	p = usk_poller_register_named(slow_poller_fn, &us, 0, "ut_fast_poller");
	ut_poll_thread(0);
	usk_poller_unregister(&p);
	ut_poll_thread(0);
	usk_log_close();
	assert_int_equal(g_slow_n, 2);
	assert_non_null(
		strstr(g_slow_lines[0], "slow poller 'ut_slow_poller' on thread ut_thread0"));
	assert_non_null(strstr(g_slow_lines[1], "slow message thread_lib_ut+0x"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lib_opts),
		cmocka_unit_test_setup_teardown(test_slow_poller_warning, setup_threads,
						teardown_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
