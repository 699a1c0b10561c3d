/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for env init, options, ticks, core mask enumeration and pinned thread launch. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/sysinfo.h>
#include <cmocka.h>

#include "usk/env.h"
#include "usk/util.h"

static void
test_ticks(void **state)
{
	uint64_t hz = usk_get_ticks_hz(), t0, t1, elapsed_us;

	assert_true(hz >= 1000000); /* at least 1 MHz: TSC or ns */
	t0 = usk_get_ticks();
	usk_delay_us(200);
	t1 = usk_get_ticks();
	assert_true(t1 > t0);
	elapsed_us = (t1 - t0) * USK_SEC_TO_USEC / hz;
	assert_true(elapsed_us >= 200);
	t0 = usk_get_ticks();
	usk_delay_us(2000); /* sleeping path */
	elapsed_us = (usk_get_ticks() - t0) * USK_SEC_TO_USEC / hz;
	assert_true(elapsed_us >= 2000);
	assert_true(elapsed_us < 2000000);
}

static void
test_opts_defaults(void **state)
{
	struct usk_env_opts opts;

	usk_env_opts_init(&opts, sizeof(opts));
	assert_int_equal(opts.opts_size, sizeof(opts));
	assert_string_equal(opts.core_mask, "0x1");
	assert_int_equal(opts.main_core, -1);
	assert_false(opts.no_huge);
	assert_null(opts.hugedir);
	assert_int_equal(opts.mem_size, 0);
}

static void
test_defaults_before_init(void **state)
{
	/* Usable before usk_env_init: a one-core mask {0}. */
	assert_int_equal(usk_env_get_core_count(), 1);
	assert_int_equal(usk_env_get_first_core(), 0);
	assert_int_equal(usk_env_get_last_core(), 0);
	assert_int_equal(usk_env_get_next_core(0), UINT32_MAX);
	assert_int_equal(usk_env_get_current_core(), USK_ENV_LCORE_ID_ANY);
}

static void
test_init_bad_masks(void **state)
{
	struct usk_env_opts opts;

	usk_env_opts_init(&opts, sizeof(opts));
	opts.core_mask = "[127]"; /* no such core here */
	assert_int_equal(usk_env_init(&opts), -EINVAL);
	opts.core_mask = "0xzz";
	assert_int_equal(usk_env_init(&opts), -EINVAL);
	opts.core_mask = "0x0";
	assert_int_equal(usk_env_init(&opts), -EINVAL);
	opts.core_mask = "0x1";
	opts.main_core = 1; /* not in mask */
	assert_int_equal(usk_env_init(&opts), -EINVAL);
	opts.main_core = -1;
	opts.opts_size = sizeof(opts) + 8;
	assert_int_equal(usk_env_init(&opts), -EINVAL);
	/* nothing changed */
	assert_int_equal(usk_env_get_core_count(), 1);
}

static _Atomic int g_ran_on[USK_ENV_MAX_CORES];

static int
record_core(void *arg)
{
	uint32_t core = usk_env_get_current_core();

	if (core < USK_ENV_MAX_CORES && (uint32_t)sched_getcpu() == core) {
		g_ran_on[core] = (int)(intptr_t)arg;
	}
	return 0;
}

static void
test_init_cores_launch(void **state)
{
	struct usk_env_opts opts;
	uint32_t core, n = 0, ncpu = (uint32_t)get_nprocs();
	bool two = ncpu >= 2;

	usk_env_opts_init(&opts, sizeof(opts));
	opts.core_mask = two ? "[0-1]" : "0x1";
	opts.no_huge = true;
	opts.mem_size = 8; /* reserve 8 MiB up front */
	assert_int_equal(usk_env_init(&opts), 0);
	assert_false(usk_env_hugepages_enabled());
	{
		uint64_t phys;
		void *p = usk_dma_zmalloc(3 << 20, 0, &phys); /* own region */
		void *q = usk_dma_zmalloc(4096, 4096, &phys);

		assert_non_null(p);
		assert_non_null(q);
		assert_int_equal(phys, (uintptr_t)q);
		usk_dma_free(p);
		usk_dma_free(q);
	}
	assert_int_equal(usk_env_init(&opts), -EALREADY);
	assert_int_equal(usk_env_get_core_count(), two ? 2 : 1);
	assert_int_equal(usk_env_get_main_core(), 0);
	assert_int_equal(usk_env_get_current_core(), 0); /* main thread pinned */
	assert_int_equal(sched_getcpu(), 0);
	USK_ENV_FOREACH_CORE(core) {
		n++;
	}
	assert_int_equal(n, two ? 2 : 1);
	assert_int_equal(usk_env_get_last_core(), two ? 1 : 0);

	/* launching on the caller's own core, a core outside the mask or a missing core fails */
	assert_int_equal(usk_env_thread_launch_pinned(0, record_core, (void *)1), -EINVAL);
	assert_int_equal(usk_env_thread_launch_pinned(5000, record_core, (void *)1), -EINVAL);
	assert_int_equal(usk_env_thread_launch_pinned(ncpu + 1 < USK_ENV_MAX_CORES ? ncpu + 1 : 127,
						      record_core, (void *)1),
			 -EINVAL);
	assert_int_equal(usk_env_pin_current(127), -EINVAL);
	if (two) {
		assert_int_equal(usk_env_thread_launch_pinned(1, record_core, (void *)7), 0);
		usk_env_thread_wait_all();
		assert_int_equal(g_ran_on[1], 7);
	}
	usk_env_fini();
	assert_int_equal(usk_env_get_core_count(), 1);

	/* a list with a range also works and can be re-initialised after fini */
	opts.core_mask = "[0]";
	assert_int_equal(usk_env_init(&opts), 0);
	assert_int_equal(usk_env_get_first_core(), 0);
	usk_env_fini();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ticks),
		cmocka_unit_test(test_opts_defaults),
		cmocka_unit_test(test_defaults_before_init),
		cmocka_unit_test(test_init_bad_masks),
		cmocka_unit_test(test_init_cores_launch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
