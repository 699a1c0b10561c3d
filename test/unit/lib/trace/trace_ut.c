/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests: trace mask parsing, group switching, records in the shared-memory ring, wrap. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "usk/trace.h"

static void
test_parse_mask(void **state)
{
	uint64_t m = 0;

	assert_int_equal(usk_trace_parse_mask("bdev", &m), 0);
	assert_int_equal(m, 1);
	assert_int_equal(usk_trace_parse_mask("nvmf_tcp,bdev", &m), 0);
	assert_int_equal(m, 3);
	assert_int_equal(usk_trace_parse_mask("all", &m), 0);
	assert_int_equal(m, (1ULL << USK_TRACE_GROUP_COUNT) - 1);
	assert_int_equal(usk_trace_parse_mask("0x4", &m), 0);
	assert_int_equal(m, 4);
	assert_int_equal(usk_trace_parse_mask("0", &m), 0);
	assert_int_equal(m, 0);
	assert_int_equal(usk_trace_parse_mask("bdev,bogus", &m), -EINVAL);
	assert_int_equal(usk_trace_parse_mask("", &m), -EINVAL);
	assert_int_equal(usk_trace_parse_mask("0x100", &m), -EINVAL); /* no such group */
	assert_int_equal(usk_trace_parse_mask("12abc", &m), -EINVAL);
	assert_string_equal(usk_trace_group_name(USK_TRACE_GROUP_NVMF_TCP), "nvmf_tcp");
	assert_int_equal(usk_trace_group_from_name("thread"), USK_TRACE_GROUP_THREAD);
	assert_int_equal(usk_trace_tpoint_group_bit(USK_TPOINT_TCP_PDU_RECV),
			 1ULL << USK_TRACE_GROUP_NVMF_TCP);
}

/* Map the file the library wrote, as usk_trace does. */
static struct usk_trace_header *
map_file(size_t *len)
{
	struct stat st;
	void *p;
	int fd = open(usk_trace_get_path(), O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(p != MAP_FAILED);
	*len = (size_t)st.st_size;
	return p;
}

static void
test_records_and_wrap(void **state)
{
	struct usk_trace_header *h;
	const struct usk_trace_ring *r;
	char path[128];
	size_t len;
	int i;

	assert_int_equal(usk_trace_set_mask(1, true), -ENODEV); /* before init */
	assert_int_equal(usk_trace_init("trace_ut", 2, 5, 1ULL << USK_TRACE_GROUP_BDEV), 0);
	assert_int_equal(usk_trace_init("trace_ut", 2, 5, 0), -EALREADY);
	snprintf(path, sizeof(path), "/dev/shm/trace_ut_trace.pid%d", (int)getpid());
	assert_string_equal(usk_trace_get_path(), path);
	h = map_file(&len);
	assert_int_equal(h->magic, USK_TRACE_MAGIC);
	assert_int_equal(h->num_cores, 2);
	assert_int_equal(h->num_entries, 8); /* rounded up to a power of two */
	assert_int_equal(len, sizeof(*h) + 2 * (sizeof(struct usk_trace_ring) +
						8 * sizeof(struct usk_trace_entry)));

	/* a disabled group records nothing */
	USK_TRACE(USK_TRACE_GROUP_NVMF_TCP, USK_TPOINT_TCP_PDU_RECV, 1, 2, 3);
	r = (const void *)(h + 1); /* this (non-reactor) thread writes ring 0 */
	assert_int_equal(r->head, 0);
	USK_TRACE(USK_TRACE_GROUP_BDEV, USK_TPOINT_BDEV_IO_START, 0xabc, 1, 77);
	assert_int_equal(r->head, 1);
	assert_true(r->entries[0].tsc != 0);
	assert_int_equal(r->entries[0].tpoint, USK_TPOINT_BDEV_IO_START);
	assert_int_equal(r->entries[0].object_id, 0xabc);
	assert_int_equal(r->entries[0].arg1, 1);
	assert_int_equal(r->entries[0].arg2, 77);
	/* enable another group at run time; then wrap the 8-entry ring */
	assert_int_equal(usk_trace_set_mask(1ULL << USK_TRACE_GROUP_NVMF_TCP, true), 0);
	assert_int_equal(h->tpoint_mask, 3);
	for (i = 0; i < 10; i++) {
		USK_TRACE(USK_TRACE_GROUP_NVMF_TCP, USK_TPOINT_TCP_PDU_SEND, 100 + i, i, 0);
	}
	assert_int_equal(r->head, 11);
	/* entry k lives at k % 8: the newest (k = 10, i = 9) at slot 2, the oldest kept (k = 3) at
	 * 3 */
	assert_int_equal(r->entries[10 % 8].object_id, 109);
	assert_int_equal(r->entries[3].object_id, 102);
	assert_true(r->entries[10 % 8].tsc >= r->entries[3].tsc);
	assert_int_equal(usk_trace_set_mask(1ULL << USK_TRACE_GROUP_BDEV, false), 0);
	assert_int_equal(usk_trace_get_mask(), 2);
	USK_TRACE(USK_TRACE_GROUP_BDEV, USK_TPOINT_BDEV_IO_DONE, 1, 0, 0);
	assert_int_equal(r->head, 11);
	munmap(h, len);
	usk_trace_fini();
	assert_null(usk_trace_get_path());
	assert_int_equal(access(path, F_OK), -1); /* removed */
	assert_int_equal(usk_trace_get_mask(), 0);
	assert_int_equal(usk_trace_init("trace_ut", 0, 8, 0), -EINVAL);
	assert_int_equal(usk_trace_init("trace_ut", USK_TRACE_MAX_CORES + 1, 8, 0), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_mask),
		cmocka_unit_test(test_records_and_wrap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
