/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the split vbdev: part sizes and offsets, deferred creation, delete, hot remove. */
#include "vbdev_ut_helpers.h"
#include "split.h"

static int g_del_rc = 1;

static void
del_cb(void *arg, int rc)
{
	g_del_rc = rc;
}

static void
test_parts_and_offsets(void **state)
{
	struct usk_bdev_desc *p1 = NULL, *base = NULL;
	struct usk_io_channel *p1_ch, *base_ch;
	json_t *names = NULL;
	char err[256];
	uint8_t *wbuf, *rbuf;

	ut_malloc("M0", 1000, 512);
	assert_int_equal(usk_bdev_split_create("M0", 3, 0, &names, err, sizeof(err)), 0);
	ut_poll_threads();
	assert_int_equal(json_array_size(names), 3);
	assert_string_equal(json_string_value(json_array_get(names, 2)), "M0p2");
	json_decref(names);
	/* 1000 / 3 = 333 blocks each; the remainder is unused. */
	for (int i = 0; i < 3; i++) {
		char n[16];

		snprintf(n, sizeof(n), "M0p%d", i);
		assert_non_null(usk_bdev_get_by_name(n));
		assert_int_equal(usk_bdev_get_num_blocks(usk_bdev_get_by_name(n)), 333);
	}
	/* Block 5 of part 1 is block 338 of the base. */
	assert_int_equal(usk_bdev_open_ext("M0p1", true, ut_ev_cb, NULL, &p1), 0);
	assert_int_equal(usk_bdev_open_ext("M0", false, ut_ev_cb, NULL, &base), 0);
	p1_ch = usk_bdev_get_io_channel(p1);
	base_ch = usk_bdev_get_io_channel(base);
	wbuf = usk_dma_zmalloc(1024, 4096, NULL);
	rbuf = usk_dma_zmalloc(1024, 4096, NULL);
	memset(wbuf, 0x3C, 1024);
	assert_true(ut_write(p1, p1_ch, wbuf, 5, 2));
	assert_true(ut_read(base, base_ch, rbuf, 338, 2));
	assert_memory_equal(wbuf, rbuf, 1024);
	/* A part cannot reach past its end into the next part. */
	assert_int_equal(usk_bdev_write_blocks(p1, p1_ch, wbuf, 332, 2, ut_io_cb, NULL), -EINVAL);
	usk_put_io_channel(p1_ch);
	usk_put_io_channel(base_ch);
	ut_poll_threads();
	usk_bdev_close(p1);
	usk_bdev_close(base);
	usk_dma_free(wbuf);
	usk_dma_free(rbuf);

	/* Splitting twice is refused; delete removes every part and the claim. */
	assert_int_equal(usk_bdev_split_create("M0", 2, 0, NULL, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "base_bdev"));
	g_del_rc = 1;
	assert_int_equal(usk_bdev_split_delete("M0", del_cb, NULL), 0);
	ut_poll_threads();
	assert_int_equal(g_del_rc, 0);
	assert_null(usk_bdev_get_by_name("M0p0"));
	assert_null(usk_bdev_get_by_name("M0p2"));
	assert_int_equal(usk_bdev_open_ext("M0", true, ut_ev_cb, NULL, &base), 0);
	usk_bdev_close(base);
	assert_int_equal(usk_bdev_split_delete("M0", del_cb, NULL), -ENODEV);
}

static void
test_sizes_and_errors(void **state)
{
	json_t *names = NULL;
	char err[256];

	ut_malloc("M1", 8192, 512); /* 4 MiB */
	assert_int_equal(usk_bdev_split_create("M1", 0, 0, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "split_count"));
	/* 5 parts of 1 MiB do not fit in 4 MiB; nothing is created or kept. */
	assert_int_equal(usk_bdev_split_create("M1", 5, 1, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "split_size_mb"));
	assert_null(usk_bdev_get_by_name("M1p0"));
	assert_int_equal(usk_bdev_split_create("M1", 3, 1, &names, err, sizeof(err)), 0);
	json_decref(names);
	assert_int_equal(usk_bdev_get_num_blocks(usk_bdev_get_by_name("M1p2")), 2048);
	/* More parts than blocks. */
	ut_malloc("M2", 4, 512);
	assert_int_equal(usk_bdev_split_create("M2", 8, 0, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "split_count"));
}

static void
test_deferred_and_hot_remove(void **state)
{
	json_t *names = NULL;
	char err[256];

	assert_int_equal(usk_bdev_split_create("M3", 2, 0, &names, err, sizeof(err)), 0);
	assert_int_equal(json_array_size(names), 0);
	json_decref(names);
	ut_malloc("M3", 64, 512);
	assert_non_null(usk_bdev_get_by_name("M3p0"));
	assert_non_null(usk_bdev_get_by_name("M3p1"));
	/* Base removed: the parts go; base back: the parts come back. */
	assert_int_equal(usk_bdev_malloc_delete("M3", NULL, NULL), 0);
	ut_poll_threads();
	assert_null(usk_bdev_get_by_name("M3p0"));
	assert_null(usk_bdev_get_by_name("M3"));
	ut_malloc("M3", 64, 512);
	assert_non_null(usk_bdev_get_by_name("M3p1"));
	assert_int_equal(usk_bdev_get_num_blocks(usk_bdev_get_by_name("M3p1")), 32);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parts_and_offsets, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_sizes_and_errors, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_deferred_and_hot_remove, ut_setup,
						ut_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
