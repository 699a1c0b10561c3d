/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the error vbdev: failure / nomem / corrupt_data injections, clear, errors. */
#include "vbdev_ut_helpers.h"
#include "error.h"

struct fixture {
	struct usk_bdev_desc *desc;
	struct usk_io_channel *ch;
	uint8_t *buf;
};

static void
open_ee(struct fixture *f)
{
	char err[256];

	ut_malloc("M0", 256, 512);
	assert_int_equal(usk_bdev_error_create("M0", err, sizeof(err)), 0);
	ut_poll_threads();
	assert_non_null(usk_bdev_get_by_name("EE_M0"));
	assert_int_equal(usk_bdev_open_ext("EE_M0", true, ut_ev_cb, NULL, &f->desc), 0);
	f->ch = usk_bdev_get_io_channel(f->desc);
	assert_non_null(f->ch);
	f->buf = usk_dma_zmalloc(4096, 4096, NULL);
}

static void
close_ee(struct fixture *f)
{
	usk_put_io_channel(f->ch);
	ut_poll_threads();
	usk_bdev_close(f->desc);
	usk_dma_free(f->buf);
}

static void
inject(const char *name, int io_type, enum usk_error_type type, uint32_t count, int expect_rc)
{
	struct usk_error_inject_opts o = {.io_type = io_type,
					  .error_type = type,
					  .count = count,
					  .corrupt_offset = 7,
					  .corrupt_value = 0x0F};
	char err[256];

	assert_int_equal(usk_bdev_error_inject(name, &o, err, sizeof(err)), expect_rc);
}

static void
test_failure_and_clear(void **state)
{
	struct fixture f;

	open_ee(&f);
	inject("EE_M0", USK_BDEV_IO_TYPE_WRITE, USK_ERROR_TYPE_FAILURE, 2, 0);
	assert_false(ut_write(f.desc, f.ch, f.buf, 0, 1));
	assert_false(ut_write(f.desc, f.ch, f.buf, 0, 1));
	assert_true(ut_write(f.desc, f.ch, f.buf, 0, 1));
	/* Reads were never armed. */
	assert_true(ut_read(f.desc, f.ch, f.buf, 0, 1));

	inject("EE_M0", USK_ERROR_IO_TYPE_ALL, USK_ERROR_TYPE_FAILURE, 100, 0);
	assert_false(ut_read(f.desc, f.ch, f.buf, 0, 1));
	assert_false(UT_SYNC_IO(usk_bdev_flush_blocks(f.desc, f.ch, 0, 1, ut_io_cb, NULL)));
	inject("EE_M0", USK_ERROR_IO_TYPE_CLEAR, USK_ERROR_TYPE_FAILURE, 0, 0);
	assert_true(ut_read(f.desc, f.ch, f.buf, 0, 1));
	assert_true(ut_write(f.desc, f.ch, f.buf, 0, 1));
	close_ee(&f);
}

static void
test_nomem_is_retried(void **state)
{
	struct fixture f;

	open_ee(&f);
	inject("EE_M0", USK_BDEV_IO_TYPE_READ, USK_ERROR_TYPE_NOMEM, 3, 0);
	/* The bdev layer queues a NOMEM completion and resubmits it: the caller sees success. */
	g_io_done = 0;
	assert_int_equal(usk_bdev_read_blocks(f.desc, f.ch, f.buf, 0, 1, ut_io_cb, NULL), 0);
	for (int i = 0; i < 100 && g_io_done == 0; i++) {
		ut_delay_us(1000);
		ut_poll_threads();
	}
	assert_int_equal(g_io_done, 1);
	assert_true(g_io_success);
	close_ee(&f);
}

static void
test_corrupt_data(void **state)
{
	struct fixture f;
	uint8_t expect[512];

	open_ee(&f);
	memset(f.buf, 0x11, 512);
	assert_true(ut_write(f.desc, f.ch, f.buf, 3, 1));
	/* A corrupted read flips byte 7 of what the base returned. */
	inject("EE_M0", USK_BDEV_IO_TYPE_READ, USK_ERROR_TYPE_CORRUPT_DATA, 1, 0);
	memset(f.buf, 0, 512);
	assert_true(ut_read(f.desc, f.ch, f.buf, 3, 1));
	memset(expect, 0x11, 512);
	expect[7] ^= 0x0F;
	assert_memory_equal(f.buf, expect, 512);
	/* Only once. */
	assert_true(ut_read(f.desc, f.ch, f.buf, 3, 1));
	expect[7] ^= 0x0F;
	assert_memory_equal(f.buf, expect, 512);
	/* A corrupted write stores flipped data. */
	inject("EE_M0", USK_BDEV_IO_TYPE_WRITE, USK_ERROR_TYPE_CORRUPT_DATA, 1, 0);
	memset(f.buf, 0x22, 512);
	assert_true(ut_write(f.desc, f.ch, f.buf, 4, 1));
	memset(f.buf, 0, 512);
	assert_true(ut_read(f.desc, f.ch, f.buf, 4, 1));
	memset(expect, 0x22, 512);
	expect[7] ^= 0x0F;
	assert_memory_equal(f.buf, expect, 512);
	close_ee(&f);
}

static void
test_errors(void **state)
{
	struct usk_error_inject_opts o = {.io_type = USK_BDEV_IO_TYPE_READ,
					  .error_type = USK_ERROR_TYPE_CORRUPT_DATA,
					  .count = 1};
	char err[256];

	ut_malloc("M1", 64, 512);
	assert_int_equal(usk_bdev_error_create("M1", err, sizeof(err)), 0);
	assert_int_equal(usk_bdev_error_create("M1", err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "base_name"));
	inject("EE_nope", USK_BDEV_IO_TYPE_READ, USK_ERROR_TYPE_FAILURE, 1, -ENODEV);
	assert_int_equal(usk_bdev_error_inject("EE_M1", &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "corrupt_value"));
	/* Deferred base, then delete of the vbdev. */
	assert_int_equal(usk_bdev_error_create("M2", err, sizeof(err)), 0);
	assert_null(usk_bdev_get_by_name("EE_M2"));
	ut_malloc("M2", 64, 512);
	assert_non_null(usk_bdev_get_by_name("EE_M2"));
	assert_int_equal(usk_bdev_error_delete("EE_M2", NULL, NULL), 0);
	ut_poll_threads();
	assert_null(usk_bdev_get_by_name("EE_M2"));
	assert_int_equal(usk_bdev_error_delete("EE_M2", NULL, NULL), -ENODEV);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_failure_and_clear, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_nomem_is_retried, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_data, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_errors, ut_setup, ut_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
