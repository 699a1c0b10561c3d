/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the passthru vbdev: create (now and deferred), I/O forwarding, hot remove, errors.
 */
#include "vbdev_ut_helpers.h"
#include "passthru.h"

static int g_del_rc = 1;

static void
del_cb(void *arg, int rc)
{
	g_del_rc = rc;
}

static void
test_create_and_io(void **state)
{
	struct usk_bdev_desc *pt_desc = NULL, *base_desc = NULL;
	struct usk_io_channel *pt_ch, *base_ch;
	struct usk_bdev *pt;
	char err[256];
	uint8_t *wbuf, *rbuf;

	ut_malloc("M0", 1024, 512);
	assert_int_equal(usk_bdev_passthru_create("M0", "PT0", err, sizeof(err)), 0);
	ut_poll_threads();
	pt = usk_bdev_get_by_name("PT0");
	assert_non_null(pt);
	assert_int_equal(usk_bdev_get_num_blocks(pt), 1024);
	assert_int_equal(usk_bdev_get_block_size(pt), 512);
	assert_string_equal(usk_bdev_get_module_name(pt), "passthru");
	/* The base is claimed: writers are refused, readers welcome. */
	assert_int_equal(usk_bdev_open_ext("M0", true, ut_ev_cb, NULL, &base_desc), -EPERM);
	assert_int_equal(usk_bdev_open_ext("M0", false, ut_ev_cb, NULL, &base_desc), 0);
	assert_int_equal(usk_bdev_open_ext("PT0", true, ut_ev_cb, NULL, &pt_desc), 0);

	/* I/O from another thread goes through to the base at the same offset. */
	ut_set_thread(1);
	pt_ch = usk_bdev_get_io_channel(pt_desc);
	base_ch = usk_bdev_get_io_channel(base_desc);
	assert_non_null(pt_ch);
	wbuf = usk_dma_zmalloc(4096, 4096, NULL);
	rbuf = usk_dma_zmalloc(4096, 4096, NULL);
	memset(wbuf, 0xA5, 4096);
	assert_true(ut_write(pt_desc, pt_ch, wbuf, 100, 8));
	assert_true(ut_read(base_desc, base_ch, rbuf, 100, 8));
	assert_memory_equal(wbuf, rbuf, 4096);
	memset(rbuf, 0, 4096);
	assert_true(ut_read(pt_desc, pt_ch, rbuf, 100, 8));
	assert_memory_equal(wbuf, rbuf, 4096);
	/* Flush and unmap are forwarded too. */
	assert_true(UT_SYNC_IO(usk_bdev_flush_blocks(pt_desc, pt_ch, 0, 8, ut_io_cb, NULL)));
	assert_true(UT_SYNC_IO(usk_bdev_unmap_blocks(pt_desc, pt_ch, 100, 8, ut_io_cb, NULL)));
	assert_true(ut_read(base_desc, base_ch, rbuf, 100, 8));
	memset(wbuf, 0, 4096);
	assert_memory_equal(wbuf, rbuf, 4096);
	/* Out of range stays out of range. */
	g_io_done = 0;
	assert_int_equal(usk_bdev_read_blocks(pt_desc, pt_ch, rbuf, 1020, 8, ut_io_cb, NULL),
			 -EINVAL);
	usk_put_io_channel(pt_ch);
	usk_put_io_channel(base_ch);
	ut_poll_threads();
	ut_set_thread(0);
	usk_bdev_close(pt_desc);
	usk_bdev_close(base_desc);
	usk_dma_free(wbuf);
	usk_dma_free(rbuf);

	/* Delete releases the claim. */
	g_del_rc = 1;
	assert_int_equal(usk_bdev_passthru_delete("PT0", del_cb, NULL), 0);
	ut_poll_threads();
	assert_int_equal(g_del_rc, 0);
	assert_null(usk_bdev_get_by_name("PT0"));
	assert_int_equal(usk_bdev_open_ext("M0", true, ut_ev_cb, NULL, &base_desc), 0);
	usk_bdev_close(base_desc);
}

static void
test_deferred_and_hot_remove(void **state)
{
	struct usk_bdev_desc *pt_desc = NULL;
	char err[256];

	/* Base missing: the config waits, examine builds the bdev when the base comes. */
	assert_int_equal(usk_bdev_passthru_create("M1", "PT1", err, sizeof(err)), 0);
	ut_poll_threads();
	assert_null(usk_bdev_get_by_name("PT1"));
	ut_malloc("M1", 256, 4096);
	assert_non_null(usk_bdev_get_by_name("PT1"));
	assert_int_equal(usk_bdev_get_block_size(usk_bdev_get_by_name("PT1")), 4096);

	/* Hot remove of the base: the passthru tells its users and goes away. */
	assert_int_equal(usk_bdev_open_ext("PT1", true, ut_ev_cb, &pt_desc, &pt_desc), 0);
	g_events = 0;
	assert_int_equal(usk_bdev_malloc_delete("M1", NULL, NULL), 0);
	ut_poll_threads();
	assert_int_equal(g_events, 1);
	assert_int_equal(g_last_event, USK_BDEV_EVENT_REMOVE);
	assert_null(pt_desc);
	assert_null(usk_bdev_get_by_name("PT1"));
	assert_null(usk_bdev_get_by_name("M1"));

	/* The config survived: the base coming back brings the passthru back. */
	ut_malloc("M1", 256, 4096);
	assert_non_null(usk_bdev_get_by_name("PT1"));
	/* Deleting the config of a live bdev removes it; a deferred one just goes. */
	g_del_rc = 1;
	assert_int_equal(usk_bdev_passthru_delete("PT1", del_cb, NULL), 0);
	ut_poll_threads();
	assert_int_equal(g_del_rc, 0);
	assert_null(usk_bdev_get_by_name("PT1"));
	assert_int_equal(usk_bdev_passthru_create("Nope", "PT2", err, sizeof(err)), 0);
	g_del_rc = 1;
	assert_int_equal(usk_bdev_passthru_delete("PT2", del_cb, NULL), 0);
	assert_int_equal(g_del_rc, 0);
}

static void
test_errors(void **state)
{
	char err[256];

	ut_malloc("M2", 128, 512);
	ut_malloc("M3", 128, 512);
	assert_int_equal(usk_bdev_passthru_create("M2", "PT3", err, sizeof(err)), 0);
	/* Same name again, or the name of an existing bdev. */
	assert_int_equal(usk_bdev_passthru_create("M3", "PT3", err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "name"));
	assert_int_equal(usk_bdev_passthru_create("M3", "M2", err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "name"));
	/* A claimed base cannot get a second passthru, and the failed config is not kept. */
	assert_int_equal(usk_bdev_passthru_create("M2", "PT4", err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "base_bdev_name"));
	assert_int_equal(usk_bdev_passthru_delete("PT4", del_cb, NULL), -ENODEV);
	assert_null(usk_bdev_get_by_name("PT4"));
	assert_int_equal(usk_bdev_passthru_create("M3", "PT4", err, sizeof(err)), 0);
	assert_non_null(usk_bdev_get_by_name("PT4"));
	assert_int_equal(usk_bdev_passthru_delete("nope", del_cb, NULL), -ENODEV);
	ut_poll_threads();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_and_io, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_deferred_and_hot_remove, ut_setup,
						ut_teardown),
		cmocka_unit_test_setup_teardown(test_errors, ut_setup, ut_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
