/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the uring bdev: create errors, data reaches the file, flush, rescan, delete. */
#include "uring.h"

#define FILE_CREATE usk_bdev_uring_create
#define FILE_DELETE usk_bdev_uring_delete
#define FILE_RESCAN usk_bdev_uring_rescan
#define MODULE_NAME "uring"
#include "file_bdev_ut.h"

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_errors, file_setup, file_teardown),
		cmocka_unit_test_setup_teardown(test_io_reaches_file, file_setup, file_teardown),
		cmocka_unit_test(test_flush_coalescing),
		cmocka_unit_test_setup_teardown(test_flush_and_fua, file_setup, file_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
