/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the aio bdev: create errors, data reaches the file, flush, rescan, delete. */
#include "aio.h"

#define FILE_CREATE(n, f, b, ro, e, l) usk_bdev_aio_create(n, f, b, ro, true, e, l)
#define FILE_DELETE		       usk_bdev_aio_delete
#define FILE_RESCAN		       usk_bdev_aio_rescan
#define MODULE_NAME		       "aio"
#include "file_bdev_ut.h"

static void
test_fallocate_unmap_write_zeroes(void **state)
{
	struct usk_bdev_desc *d = NULL;
	struct usk_io_channel *ch;
	char err[256];
	uint8_t *buf, zero[4096] = {};

	assert_int_equal(usk_bdev_aio_create("F2", g_path, 4096, false, false, err, sizeof(err)),
			 0);
	assert_false(
		usk_bdev_io_type_supported(usk_bdev_get_by_name("F2"), USK_BDEV_IO_TYPE_UNMAP));
	assert_int_equal(usk_bdev_aio_create("F3", g_path, 4096, false, true, err, sizeof(err)), 0);
	assert_true(usk_bdev_io_type_supported(usk_bdev_get_by_name("F3"), USK_BDEV_IO_TYPE_UNMAP));
	assert_int_equal(usk_bdev_open_ext("F3", true, ut_ev_cb, NULL, &d), 0);
	ch = usk_bdev_get_io_channel(d);
	buf = usk_dma_zmalloc(4096, 4096, NULL);
	for (int type = 0; type < 2; type++) {
		memset(buf, 'z', 4096);
		g_io_done = 0;
		assert_int_equal(usk_bdev_write_blocks(d, ch, buf, 7, 1, ut_io_cb, NULL), 0);
		assert_true(wait_done());
		g_io_done = 0;
		assert_int_equal(type == 0 ?
					 usk_bdev_unmap_blocks(d, ch, 7, 1, ut_io_cb, NULL) :
					 usk_bdev_write_zeroes_blocks(d, ch, 7, 1, ut_io_cb, NULL),
				 0);
		assert_true(wait_done());
		g_io_done = 0;
		assert_int_equal(usk_bdev_read_blocks(d, ch, buf, 7, 1, ut_io_cb, NULL), 0);
		assert_true(wait_done());
		assert_memory_equal(buf, zero, 4096);
	}
	usk_put_io_channel(ch);
	ut_poll_threads();
	usk_bdev_close(d);
	usk_dma_free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_errors, file_setup, file_teardown),
		cmocka_unit_test_setup_teardown(test_io_reaches_file, file_setup, file_teardown),
		cmocka_unit_test(test_flush_coalescing),
		cmocka_unit_test_setup_teardown(test_flush_and_fua, file_setup, file_teardown),
		cmocka_unit_test_setup_teardown(test_flush_on_sync_thread, file_setup,
						file_teardown),
		cmocka_unit_test_setup_teardown(test_fallocate_unmap_write_zeroes, file_setup,
						file_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
