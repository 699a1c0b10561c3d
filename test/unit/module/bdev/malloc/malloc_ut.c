/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the malloc bdev module: create/delete, read back what was written, unmap zeroes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "malloc.h"
#include "usk/bdev.h"
#include "usk/env.h"
#include "bdev_ut_helpers.h"
#include "ut_multithread.h"

static int g_done;
static bool g_success;
static int g_sct, g_sc;
static void *g_read_base;

static void
ev_cb(enum usk_bdev_event_type type, struct usk_bdev *bdev, void *ctx)
{
}

static void
io_done(struct usk_bdev_io *io, bool success, void *arg)
{
	uint32_t cdw0;
	struct iovec *iov;
	int iovcnt;

	g_done++;
	g_success = success;
	usk_bdev_io_get_nvme_status(io, &cdw0, &g_sct, &g_sc);
	usk_bdev_io_get_iovec(io, &iov, &iovcnt);
	g_read_base = iovcnt > 0 ? iov[0].iov_base : NULL;
	usk_bdev_free_io(io);
}

static void
wait_io(void)
{
	ut_poll_threads();
	assert_int_equal(g_done, 1);
	g_done = 0;
}

static void
test_create_errors(void **state)
{
	struct usk_mem_bdev_opts o = {.name = "m", .num_blocks = 16, .block_size = 500};
	struct usk_bdev *b1, *b2;

	assert_int_equal(usk_bdev_malloc_create(&b1, &o), -EINVAL); /* block size */
	o.block_size = 256;
	assert_int_equal(usk_bdev_malloc_create(&b1, &o), -EINVAL);
	o.block_size = 512;
	o.num_blocks = 0;
	assert_int_equal(usk_bdev_malloc_create(&b1, &o), -EINVAL);
	o.num_blocks = 16;
	assert_int_equal(usk_bdev_malloc_create(&b1, &o), 0);
	assert_int_equal(usk_bdev_malloc_create(&b2, &o), -EEXIST);
	/* Default names. */
	o.name = NULL;
	assert_int_equal(usk_bdev_malloc_create(&b2, &o), 0);
	assert_string_equal(usk_bdev_get_name(b2), "Malloc0");
	assert_int_equal(usk_bdev_malloc_create(&b2, &o), 0);
	assert_string_equal(usk_bdev_get_name(b2), "Malloc1");
	assert_int_equal(usk_bdev_malloc_delete("nope", NULL, NULL), -ENODEV);
	assert_int_equal(usk_bdev_malloc_delete("Malloc0", NULL, NULL), 0);
	ut_poll_threads();
	assert_null(usk_bdev_get_by_name("Malloc0"));
	assert_string_equal(usk_bdev_get_product_name(b1), "Malloc disk");
}

static void
test_rw_unmap(void **state)
{
	struct usk_mem_bdev_opts o = {.name = "m", .num_blocks = 64, .block_size = 4096};
	struct usk_bdev *b;
	struct usk_bdev_desc *desc;
	struct usk_io_channel *ch;
	uint8_t *wbuf = usk_dma_zmalloc(8 * 4096, 4096, NULL),
		*rbuf = usk_dma_zmalloc(8 * 4096, 4096, NULL);
	struct iovec iov[2];
	size_t i;

	assert_int_equal(usk_bdev_malloc_create(&b, &o), 0);
	ut_poll_threads();
	assert_int_equal(usk_bdev_open_ext("m", true, ev_cb, NULL, &desc), 0);
	ch = usk_bdev_get_io_channel(desc);
	for (i = 0; i < 8 * 4096; i++) {
		wbuf[i] = (uint8_t)(i * 7 + 3 + i / 4096);
	}
	assert_int_equal(usk_bdev_write_blocks(desc, ch, wbuf, 10, 8, io_done, NULL), 0);
	wait_io();
	assert_true(g_success);
	/* Read back with two iovecs. */
	iov[0].iov_base = rbuf;
	iov[0].iov_len = 3 * 4096;
	iov[1].iov_base = rbuf + 3 * 4096;
	iov[1].iov_len = 5 * 4096;
	assert_int_equal(usk_bdev_readv_blocks(desc, ch, iov, 2, 10, 8, io_done, NULL), 0);
	wait_io();
	assert_true(g_success);
	assert_memory_equal(rbuf, wbuf, 8 * 4096);
	/* Byte-offset API. */
	memset(rbuf, 0, 4096);
	assert_int_equal(usk_bdev_read(desc, ch, rbuf, 11 * 4096, 4096, io_done, NULL), 0);
	wait_io();
	assert_memory_equal(rbuf, wbuf + 4096, 4096);
	/* Zero-copy read: no buffer given. */
	assert_int_equal(usk_bdev_readv_blocks(desc, ch, NULL, 0, 12, 1, io_done, NULL), 0);
	wait_io();
	assert_non_null(g_read_base);
	assert_memory_equal(g_read_base, wbuf + 2 * 4096, 4096);
	/* Compare: equal, then a mismatch with NVMe Compare Failure. */
	assert_true(usk_bdev_io_type_supported(b, USK_BDEV_IO_TYPE_COMPARE));
	assert_int_equal(usk_bdev_compare_blocks(desc, ch, wbuf, 10, 8, io_done, NULL), 0);
	wait_io();
	assert_true(g_success);
	assert_int_equal(usk_bdev_compare_blocks(desc, ch, wbuf, 11, 1, io_done, NULL), 0);
	wait_io();
	assert_false(g_success);
	assert_int_equal(g_sct, 2);
	assert_int_equal(g_sc, 0x85);
	/* Unmap zeroes. */
	assert_int_equal(usk_bdev_unmap_blocks(desc, ch, 12, 2, io_done, NULL), 0);
	wait_io();
	assert_int_equal(usk_bdev_read_blocks(desc, ch, rbuf, 10, 8, io_done, NULL), 0);
	wait_io();
	assert_memory_equal(rbuf, wbuf, 2 * 4096);
	for (i = 2 * 4096; i < 4 * 4096; i++) {
		assert_int_equal(rbuf[i], 0);
	}
	assert_memory_equal(rbuf + 4 * 4096, wbuf + 4 * 4096, 4 * 4096);
	/* Write zeroes, flush, reset. */
	assert_int_equal(usk_bdev_write_zeroes_blocks(desc, ch, 16, 2, io_done, NULL), 0);
	wait_io();
	assert_int_equal(usk_bdev_read_blocks(desc, ch, rbuf, 16, 2, io_done, NULL), 0);
	wait_io();
	for (i = 0; i < 2 * 4096; i++) {
		assert_int_equal(rbuf[i], 0);
	}
	assert_int_equal(usk_bdev_flush_blocks(desc, ch, 0, 64, io_done, NULL), 0);
	wait_io();
	assert_true(g_success);
	assert_int_equal(usk_bdev_reset(desc, ch, io_done, NULL), 0);
	wait_io();
	assert_true(g_success);
	usk_put_io_channel(ch);
	ut_poll_threads();
	usk_bdev_close(desc);
	assert_int_equal(usk_bdev_malloc_delete("m", NULL, NULL), 0);
	ut_poll_threads();
	usk_dma_free(wbuf);
	usk_dma_free(rbuf);
}

static void
test_config_json(void **state)
{
	struct usk_mem_bdev_opts o = {.name = "cfg", .num_blocks = 32, .block_size = 512};
	struct usk_bdev *b;
	json_t *arr = json_array(), *e, *p;
	size_t i, n;
	bool found = false;

	o.uuid[0] = 0x11;
	o.uuid[15] = 0x22;
	assert_int_equal(usk_bdev_malloc_create(&b, &o), 0);
	ut_poll_threads();
	usk_bdev_subsystem_config_json(arr);
	n = json_array_size(arr);
	assert_true(n >= 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "method")),
			    "bdev_set_options");
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(arr, n - 1), "method")),
		"bdev_wait_for_examine");
	for (i = 0; i < n; i++) {
		e = json_array_get(arr, i);
		if (strcmp(json_string_value(json_object_get(e, "method")), "bdev_malloc_create") ==
		    0) {
			p = json_object_get(e, "params");
			assert_string_equal(json_string_value(json_object_get(p, "name")), "cfg");
			assert_int_equal(json_integer_value(json_object_get(p, "num_blocks")), 32);
			assert_int_equal(json_integer_value(json_object_get(p, "block_size")), 512);
			assert_string_equal(json_string_value(json_object_get(p, "uuid")),
					    "11000000-0000-0000-0000-000000000022");
			found = true;
		}
	}
	assert_true(found);
	json_decref(arr);
}

static int g_create_calls;
static int g_create_rc;
static struct usk_bdev *g_created;

static void
create_done(void *cb_arg, struct usk_bdev *bdev, int rc)
{
	g_create_calls++;
	g_create_rc = rc;
	g_created = bdev;
}

/* Poll the threads until the helper's result has come back (at most 10 s). */
static void
wait_create(void)
{
	assert_int_equal(ut_poll_threads_until(&g_create_calls, 1, 10000), 1);
	g_create_calls = 0;
}

static void
test_create_async(void **state)
{
	struct usk_mem_bdev_opts o = {.name = "am", .num_blocks = 2048, .block_size = 4096};
	struct usk_bdev *b;
	struct usk_bdev_desc *desc;
	struct usk_io_channel *ch;
	static uint8_t buf[4096];

	assert_int_equal(usk_bdev_malloc_create_async(&o, NULL, NULL), -EINVAL);
	assert_int_equal(usk_bdev_malloc_create_async(&o, create_done, NULL), 0);
	/* the name is reserved while the buffer is being allocated; the callback has not run */
	assert_int_equal(g_create_calls, 0);
	assert_null(usk_bdev_get_by_name("am"));
	assert_int_equal(usk_bdev_malloc_create_async(&o, create_done, NULL), -EBUSY);
	assert_int_equal(usk_bdev_malloc_create(&b, &o), -EBUSY);
	wait_create();
	assert_int_equal(g_create_rc, 0);
	assert_non_null(g_created);
	assert_ptr_equal(usk_bdev_get_by_name("am"), g_created);
	assert_int_equal(usk_bdev_get_num_blocks(g_created), 2048);
	assert_int_equal(usk_bdev_malloc_create_async(&o, create_done, NULL), -EEXIST);
	/* the buffer is zeroed: the last block reads back as zeroes */
	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(usk_bdev_open_ext("am", false, ev_cb, NULL, &desc), 0);
	ch = usk_bdev_get_io_channel(desc);
	assert_non_null(ch);
	assert_int_equal(usk_bdev_read_blocks(desc, ch, buf, 2047, 1, io_done, NULL), 0);
	wait_io();
	assert_true(g_success);
	for (size_t i = 0; i < sizeof(buf); i++) {
		assert_int_equal(buf[i], 0);
	}
	usk_put_io_channel(ch);
	usk_bdev_close(desc);
	ut_poll_threads();
	/* a default name skips the ones in flight */
	o.name = NULL;
	o.num_blocks = 16;
	assert_int_equal(usk_bdev_malloc_create_async(&o, create_done, NULL), 0);
	assert_int_equal(usk_bdev_malloc_create(&b, &o), 0);
	assert_string_equal(usk_bdev_get_name(b), "Malloc1");
	wait_create();
	assert_int_equal(g_create_rc, 0);
	assert_string_equal(usk_bdev_get_name(g_created), "Malloc0");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_errors, ut_bdev_setup,
						ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_rw_unmap, ut_bdev_setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_config_json, ut_bdev_setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_create_async, ut_bdev_setup, ut_bdev_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
