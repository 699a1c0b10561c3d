/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the delay vbdev: reads/writes wait their latency, update_latency, errors. */
#include <unistd.h>

#include "vbdev_ut_helpers.h"
#include "delay.h"

static void
test_latency(void **state)
{
	uint64_t lat[USK_DELAY_NUM_LATENCY_TYPES] = {20000, 20000, 0, 0}; /* reads 20 ms */
	struct usk_bdev_desc *d = NULL;
	struct usk_io_channel *ch;
	char err[256];
	uint8_t *buf;
	uint64_t t0;

	ut_malloc("M0", 256, 512);
	assert_int_equal(usk_bdev_delay_create("M0", "D0", lat, err, sizeof(err)), 0);
	ut_poll_threads();
	assert_non_null(usk_bdev_get_by_name("D0"));
	assert_int_equal(usk_bdev_open_ext("D0", true, ut_ev_cb, NULL, &d), 0);
	ch = usk_bdev_get_io_channel(d);
	buf = usk_dma_zmalloc(512, 4096, NULL);

	/* Writes have no delay configured: done at once. */
	assert_true(ut_write(d, ch, buf, 0, 1));

	/* A read completes only once 20 ms have passed. */
	g_io_done = 0;
	t0 = usk_get_ticks();
	assert_int_equal(usk_bdev_read_blocks(d, ch, buf, 0, 1, ut_io_cb, NULL), 0);
	ut_poll_threads();
	if (usk_get_ticks() - t0 < usk_get_ticks_hz() / 50) {
		assert_int_equal(g_io_done, 0);
	}
	while (g_io_done == 0 && usk_get_ticks() - t0 < usk_get_ticks_hz()) {
		usleep(1000);
		ut_poll_threads();
	}
	assert_int_equal(g_io_done, 1);
	assert_true(g_io_success);
	assert_true(usk_get_ticks() - t0 >= usk_get_ticks_hz() / 50);

	/* Lowering the read latencies to 0 takes effect for the next I/O. */
	assert_int_equal(
		usk_bdev_delay_update_latency("D0", USK_DELAY_AVG_READ, 0, err, sizeof(err)), 0);
	assert_int_equal(
		usk_bdev_delay_update_latency("D0", USK_DELAY_P99_READ, 0, err, sizeof(err)), 0);
	assert_true(ut_read(d, ch, buf, 0, 1));
	assert_int_equal(usk_bdev_delay_update_latency("nope", USK_DELAY_AVG_READ, 0, err,
						       sizeof(err)),
			 -ENODEV);
	assert_non_null(strstr(err, "delay_bdev_name"));

	usk_put_io_channel(ch);
	ut_poll_threads();
	usk_bdev_close(d);
	usk_dma_free(buf);
}

static void
test_errors_and_deferred(void **state)
{
	uint64_t bad[USK_DELAY_NUM_LATENCY_TYPES] = {100, 10, 1, 1};
	uint64_t ok[USK_DELAY_NUM_LATENCY_TYPES] = {1, 2, 3, 4};
	char err[256];

	ut_malloc("M1", 64, 512);
	assert_int_equal(usk_bdev_delay_create("M1", "D1", bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "p99_read_latency"));
	bad[USK_DELAY_P99_READ] = 100;
	bad[USK_DELAY_AVG_WRITE] = 7;
	assert_int_equal(usk_bdev_delay_create("M1", "D1", bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "p99_write_latency"));
	assert_null(usk_bdev_get_by_name("D1"));
	assert_int_equal(usk_bdev_delay_create("M1", "M1", ok, err, sizeof(err)), -EEXIST);

	/* Deferred until the base exists. */
	assert_int_equal(usk_bdev_delay_create("M2", "D2", ok, err, sizeof(err)), 0);
	assert_null(usk_bdev_get_by_name("D2"));
	ut_malloc("M2", 64, 512);
	assert_non_null(usk_bdev_get_by_name("D2"));
	assert_int_equal(usk_bdev_delay_delete("D2", NULL, NULL), 0);
	ut_poll_threads();
	assert_null(usk_bdev_get_by_name("D2"));
	assert_int_equal(usk_bdev_delay_delete("D2", NULL, NULL), -ENODEV);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_latency, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_errors_and_deferred, ut_setup, ut_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
