/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Set-up shared by the bdev unit tests (cmocka): the bdev layer initialized with small pools on
 * threads stepped by ut_multithread, and its orderly shutdown. Include after <cmocka.h>.
 */
#ifndef USK_TEST_BDEV_UT_HELPERS_H
#define USK_TEST_BDEV_UT_HELPERS_H

#include <stdbool.h>
#include <stdint.h>

#include "usk/bdev.h"
#include "ut_multithread.h"

/* Pool sizes of the module tests' bdev layer (arguments 2-5 of ut_bdev_layer_init). */
#define UT_BDEV_POOLS_SMALL 1024, 32, 64, 8

static inline void
ut_bdev_layer_init_cb(void *arg, int rc)
{
	*(int *)arg = rc;
}

static inline void
ut_bdev_layer_fini_cb(void *arg)
{
	*(bool *)arg = true;
}

/*
 * Allocate num_threads ut threads, and on thread 0 set the bdev options (bdev_io pool and
 * per-thread cache, small and large buffer pools) and initialize the bdev layer; asserts that
 * it succeeded.
 */
static inline void
ut_bdev_layer_init(uint32_t num_threads, uint32_t bdev_io_pool_size, uint32_t bdev_io_cache_size,
		   uint32_t small_buf_pool_size, uint32_t large_buf_pool_size)
{
	struct usk_bdev_opts opts;
	int rc = 1;

	assert_int_equal(ut_allocate_threads(num_threads), 0);
	ut_set_thread(0);
	usk_bdev_get_opts(&opts, sizeof(opts));
	opts.bdev_io_pool_size = bdev_io_pool_size;
	opts.bdev_io_cache_size = bdev_io_cache_size;
	opts.small_buf_pool_size = small_buf_pool_size;
	opts.large_buf_pool_size = large_buf_pool_size;
	/* Synchronous: the fake clock would not move the retry poller that hands out buffers
	 * created by the helper thread (bdev_ut tests that path itself). */
	opts.buf_pools_at_init = true;
	assert_int_equal(usk_bdev_set_opts(&opts), 0);
	usk_bdev_initialize(ut_bdev_layer_init_cb, &rc);
	ut_poll_threads();
	assert_int_equal(rc, 0);
}

/* Finish the bdev layer on thread 0 (asserting it completes) and free the ut threads. */
static inline void
ut_bdev_layer_fini(void)
{
	bool done = false;

	ut_set_thread(0);
	usk_bdev_finish(ut_bdev_layer_fini_cb, &done);
	ut_poll_threads();
	assert_true(done);
	ut_free_threads();
}

/* cmocka setup: the bdev layer on 2 threads with UT_BDEV_POOLS_SMALL. */
static inline int
ut_bdev_setup(void **state)
{
	ut_bdev_layer_init(2, UT_BDEV_POOLS_SMALL);
	return 0;
}

/* cmocka teardown matching ut_bdev_setup() (or any ut_bdev_layer_init()). */
static inline int
ut_bdev_teardown(void **state)
{
	ut_bdev_layer_fini();
	return 0;
}

#endif
