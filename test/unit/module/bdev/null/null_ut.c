/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the null bdev module: create/delete/resize, I/O completes from the poller batch. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "null.h"
#include "usk/bdev.h"
#include "usk/env.h"
#include "bdev_ut_helpers.h"
#include "ut_multithread.h"

static int g_done;
static int g_success;
static int g_events;
static bool g_in_submit;
static struct usk_bdev_desc *g_desc;
static struct usk_io_channel *g_ch;
static int g_resubmit;
static char g_buf[4096];

static int
setup(void **state)
{
	ut_bdev_layer_init(2, UT_BDEV_POOLS_SMALL);
	g_done = g_success = g_events = 0;
	return 0;
}

static void
ev_cb(enum usk_bdev_event_type type, struct usk_bdev *bdev, void *ctx)
{
	g_events++;
}

static void
io_done(struct usk_bdev_io *io, bool success, void *arg)
{
	assert_false(g_in_submit);
	g_done++;
	g_success += success;
	usk_bdev_free_io(io);
	if (g_resubmit > 0) {
		/* Resubmitting from the callback (as bdevperf does) must not recurse. */
		g_resubmit--;
		g_in_submit = true;
		assert_int_equal(usk_bdev_read_blocks(g_desc, g_ch, g_buf, 0, 1, io_done, NULL), 0);
		g_in_submit = false;
	}
}

static void
test_null_create(void **state)
{
	struct usk_mem_bdev_opts o = {.name = "n0", .num_blocks = 1024, .block_size = 4096};
	struct usk_bdev *b;

	assert_int_equal(usk_bdev_null_create(&b, &o), 0);
	assert_int_equal(usk_bdev_null_create(&b, &o), -EEXIST);
	o.name = "n1";
	o.block_size = 100;
	assert_int_equal(usk_bdev_null_create(&b, &o), -EINVAL);
	o.block_size = 512;
	o.num_blocks = 0;
	assert_int_equal(usk_bdev_null_create(&b, &o), -EINVAL);
	assert_int_equal(usk_bdev_null_resize("n0", 2048), 0);
	assert_int_equal(usk_bdev_get_num_blocks(usk_bdev_get_by_name("n0")), 2048);
	assert_int_equal(usk_bdev_null_resize("zz", 2048), -ENODEV);
	assert_int_equal(usk_bdev_null_delete("zz", NULL, NULL), -ENODEV);
	assert_int_equal(usk_bdev_null_delete("n0", NULL, NULL), 0);
	ut_poll_threads();
	assert_null(usk_bdev_get_by_name("n0"));
}

static void
test_null_io(void **state)
{
	struct usk_mem_bdev_opts o = {.name = "n0", .num_blocks = 1024, .block_size = 4096};
	struct usk_bdev *b;
	int i;

	assert_int_equal(usk_bdev_null_create(&b, &o), 0);
	ut_poll_threads();
	assert_int_equal(usk_bdev_open_ext("n0", true, ev_cb, NULL, &g_desc), 0);
	g_ch = usk_bdev_get_io_channel(g_desc);
	g_in_submit = true;
	for (i = 0; i < 16; i++) {
		assert_int_equal(usk_bdev_read_blocks(g_desc, g_ch, g_buf, (uint64_t)i, 1, io_done,
						      NULL),
				 0);
	}
	assert_int_equal(usk_bdev_write_blocks(g_desc, g_ch, g_buf, 0, 1, io_done, NULL), 0);
	assert_int_equal(usk_bdev_unmap_blocks(g_desc, g_ch, 0, 8, io_done, NULL), 0);
	assert_int_equal(usk_bdev_write_zeroes_blocks(g_desc, g_ch, 0, 8, io_done, NULL), 0);
	assert_int_equal(usk_bdev_flush_blocks(g_desc, g_ch, 0, 8, io_done, NULL), 0);
	/* Read with no buffer: the module takes one from the buffer pool. */
	assert_int_equal(usk_bdev_readv_blocks(g_desc, g_ch, NULL, 0, 0, 1, io_done, NULL), 0);
	g_in_submit = false;
	assert_int_equal(g_done, 0);
	ut_poll_thread(0);
	assert_int_equal(g_done, 21); /* one poller batch */
	assert_int_equal(g_success, 21);
	g_resubmit = 100;
	g_in_submit = true;
	assert_int_equal(usk_bdev_read_blocks(g_desc, g_ch, g_buf, 0, 1, io_done, NULL), 0);
	g_in_submit = false;
	ut_poll_threads();
	assert_int_equal(g_done, 21 + 101);
	/* Resize while open: the descriptor gets RESIZE. */
	assert_int_equal(usk_bdev_null_resize("n0", 4096), 0);
	ut_poll_threads();
	assert_int_equal(g_events, 1);
	assert_int_equal(usk_bdev_null_resize("n0", 16), -EBUSY);
	usk_put_io_channel(g_ch);
	ut_poll_threads();
	usk_bdev_close(g_desc);
	assert_int_equal(usk_bdev_null_delete("n0", NULL, NULL), 0);
	ut_poll_threads();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_null_create, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_null_io, setup, ut_bdev_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
