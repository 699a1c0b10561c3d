/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for memory maps, usk_mem_register/unregister, vtophys and DMA allocation. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "usk/env.h"
#include "usk/util.h"

#define MB2 USK_MEM_MAP_PAGE_SIZE

/* 2 MiB aligned address space of len bytes (anonymous memory, not registered). */
static void *
map_aligned(size_t len)
{
	void *p = mmap(NULL, len + MB2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;

	assert_true(p != MAP_FAILED);
	a = USK_ALIGN_CEIL((uintptr_t)p, (uintptr_t)MB2);
	return (void *)a;
}

struct notify_log {
	int registers;
	int unregisters;
	uint64_t last_vaddr;
	uint64_t last_size;
	uint64_t lo, hi; /* only count notifications inside [lo, hi) */
	int fail_with;
};

static int
log_notify(void *cb_ctx, struct usk_mem_map *map, enum usk_mem_map_notify_action action,
	   void *vaddr, size_t size)
{
	struct notify_log *l = cb_ctx;
	uint64_t va = (uint64_t)(uintptr_t)vaddr;

	if (va < l->lo || va >= l->hi) {
		return 0;
	}
	if (action == USK_MEM_MAP_NOTIFY_REGISTER && l->fail_with != 0) {
		return l->fail_with;
	}
	if (action == USK_MEM_MAP_NOTIFY_REGISTER) {
		l->registers++;
	} else {
		l->unregisters++;
	}
	l->last_vaddr = va;
	l->last_size = size;
	return 0;
}

static int
plus_2mb(uint64_t a, uint64_t b)
{
	return b - a == MB2;
}

static void
test_mem_map_translation(void **state)
{
	const struct usk_mem_map_ops ops = {.notify_cb = NULL, .are_contiguous = plus_2mb};
	struct usk_mem_map *map = usk_mem_map_alloc(0xdead, &ops, NULL);
	struct usk_mem_map *plain = usk_mem_map_alloc(7, NULL, NULL);
	uint64_t base = 0x7f0000000000ULL - 4 * MB2; /* crosses a 1 GiB boundary */
	uint64_t size;

	assert_non_null(map);
	assert_non_null(plain);
	/* unaligned or out of range */
	assert_int_equal(usk_mem_map_set_translation(map, base + 4096, MB2, 1), -EINVAL);
	assert_int_equal(usk_mem_map_set_translation(map, base, 4096, 1), -EINVAL);
	assert_int_equal(usk_mem_map_set_translation(map, 1ULL << 48, MB2, 1), -EINVAL);
	assert_int_equal(usk_mem_map_clear_translation(map, base + 1, MB2), -EINVAL);
	/* unset returns the default */
	size = 100;
	assert_int_equal(usk_mem_map_translate(map, base, &size), 0xdead);
	assert_int_equal(size, 100);
	assert_int_equal(usk_mem_map_translate(map, 1ULL << 50, NULL), 0xdead);
	assert_int_equal(usk_mem_map_translate(plain, base, NULL), 7);

	/* four pages with contiguous translations, set one by one */
	assert_int_equal(usk_mem_map_set_translation(map, base, MB2, 0x100000000ULL), 0);
	assert_int_equal(usk_mem_map_set_translation(map, base + MB2, MB2, 0x100000000ULL + MB2),
			 0);
	assert_int_equal(
		usk_mem_map_set_translation(map, base + 2 * MB2, MB2, 0x100000000ULL + 2 * MB2), 0);
	assert_int_equal(usk_mem_map_set_translation(map, base + 3 * MB2, MB2, 0x900000000ULL), 0);
	assert_int_equal(usk_mem_map_translate(map, base + 5, NULL), 0x100000000ULL);
	assert_int_equal(usk_mem_map_translate(map, base + MB2 + 5, NULL), 0x100000000ULL + MB2);
	/* size: contiguous length from vaddr, capped by the request */
	size = 4 * MB2;
	assert_int_equal(usk_mem_map_translate(map, base + 4096, &size), 0x100000000ULL);
	assert_int_equal(size, 3 * MB2 - 4096);
	size = 8192;
	usk_mem_map_translate(map, base + 4096, &size);
	assert_int_equal(size, 8192);
	size = 4 * MB2;
	usk_mem_map_translate(map, base + 3 * MB2, &size);
	assert_int_equal(size, MB2);
	/* a hole breaks contiguity */
	assert_int_equal(usk_mem_map_clear_translation(map, base + MB2, MB2), 0);
	assert_int_equal(usk_mem_map_translate(map, base + MB2, NULL), 0xdead);
	size = 4 * MB2;
	usk_mem_map_translate(map, base, &size);
	assert_int_equal(size, MB2);

	/* same translation for a multi-page set; without are_contiguous size stops at the page */
	assert_int_equal(usk_mem_map_set_translation(plain, base, 3 * MB2, 42), 0);
	assert_int_equal(usk_mem_map_translate(plain, base + 2 * MB2 + 1, NULL), 42);
	size = 3 * MB2;
	assert_int_equal(usk_mem_map_translate(plain, base + MB2 - 10, &size), 42);
	assert_int_equal(size, 10);
	assert_int_equal(usk_mem_map_clear_translation(plain, base, 3 * MB2), 0);
	assert_int_equal(usk_mem_map_translate(plain, base, NULL), 7);

	usk_mem_map_free(&map);
	assert_null(map);
	usk_mem_map_free(&plain);
	usk_mem_map_free(&plain); /* NULL is fine */
}

static void
test_mem_register_notify(void **state)
{
	uint8_t *mem = map_aligned(8 * MB2);
	struct notify_log l1 = {.lo = (uintptr_t)mem, .hi = (uintptr_t)mem + 8 * MB2};
	struct notify_log l2 = l1, l3 = l1;
	const struct usk_mem_map_ops ops = {.notify_cb = log_notify};
	struct usk_mem_map *m1, *m2, *m3;

	m1 = usk_mem_map_alloc(0, &ops, &l1);
	assert_non_null(m1);
	assert_int_equal(l1.registers, 0);

	/* bad arguments */
	assert_int_equal(usk_mem_register(mem + 4096, MB2), -EINVAL);
	assert_int_equal(usk_mem_register(mem, MB2 + 1), -EINVAL);
	assert_int_equal(usk_mem_register(mem, 0), -EINVAL);

	/* register two regions: [0,2) and [2,5) pages */
	assert_int_equal(usk_mem_register(mem, 2 * MB2), 0);
	assert_int_equal(l1.registers, 1);
	assert_int_equal(l1.last_vaddr, (uintptr_t)mem);
	assert_int_equal(l1.last_size, 2 * MB2);
	assert_int_equal(usk_mem_register(mem + 2 * MB2, 3 * MB2), 0);
	assert_int_equal(l1.registers, 2);

	/* overlaps */
	assert_int_equal(usk_mem_register(mem + MB2, 2 * MB2), -EBUSY);
	assert_int_equal(usk_mem_register(mem + 4 * MB2, 2 * MB2), -EBUSY);
	assert_int_equal(l1.registers, 2);

	/* a new map gets both regions replayed, one notification per region */
	m2 = usk_mem_map_alloc(0, &ops, &l2);
	assert_non_null(m2);
	assert_int_equal(l2.registers, 2);
	assert_int_equal(l2.last_vaddr, (uintptr_t)mem + 2 * MB2);
	assert_int_equal(l2.last_size, 3 * MB2);

	/* a map whose notify fails is not created */
	l3.fail_with = -ENOSPC;
	m3 = usk_mem_map_alloc(0, &ops, &l3);
	assert_null(m3);

	/* vtophys covers user-registered memory too (IOVA = VA without hugepages) */
	if (!usk_env_hugepages_enabled()) {
		uint64_t size = 5 * MB2;

		assert_int_equal(usk_vtophys(mem + 100, &size), (uintptr_t)mem + 100);
		/* contiguous across the two regions, counted from vaddr */
		assert_int_equal(size, 5 * MB2 - 100);
	}

	/* unregister: only whole regions */
	assert_int_equal(usk_mem_unregister(mem + MB2, MB2), -EINVAL);	   /* middle of region */
	assert_int_equal(usk_mem_unregister(mem, MB2), -ERANGE);	   /* part of region */
	assert_int_equal(usk_mem_unregister(mem + 6 * MB2, MB2), -EINVAL); /* not registered */
	assert_int_equal(usk_mem_unregister(mem + 4096, MB2), -EINVAL);
	assert_int_equal(l1.unregisters, 0);
	assert_int_equal(usk_mem_unregister(mem, 2 * MB2), 0);
	assert_int_equal(l1.unregisters, 1);
	assert_int_equal(l2.unregisters, 1);
	assert_int_equal(l1.last_size, 2 * MB2);
	assert_int_equal(usk_vtophys(mem, NULL), USK_VTOPHYS_ERROR);
	/* re-register after unregister works */
	assert_int_equal(usk_mem_register(mem, 2 * MB2), 0);
	assert_int_equal(l1.registers, 3);
	/* several whole regions at once */
	assert_int_equal(usk_mem_unregister(mem, 5 * MB2), 0);
	assert_int_equal(l1.unregisters, 2);

	/* freeing a map sends unregister for what is still registered */
	assert_int_equal(usk_mem_register(mem + 6 * MB2, 2 * MB2), 0);
	assert_int_equal(l2.registers, 4);
	usk_mem_map_free(&m2);
	assert_int_equal(l2.unregisters, 3);
	assert_int_equal(usk_mem_unregister(mem + 6 * MB2, 2 * MB2), 0);
	assert_int_equal(l1.unregisters, 3);
	assert_int_equal(l2.unregisters, 3); /* freed map is not notified */
	usk_mem_map_free(&m1);
}

static void
test_dma_alloc(void **state)
{
	size_t aligns[] = {0, 8, 64, 512, 4096, 65536, MB2, 4 * MB2};
	size_t sizes[] = {1, 63, 64, 100, 4096, 5000, 1 << 20, (1 << 20) + 1, 3 * MB2 + 5};
	size_t i, j;
	uint64_t phys, size;
	uint8_t *p;

	for (i = 0; i < USK_COUNTOF(aligns); i++) {
		for (j = 0; j < USK_COUNTOF(sizes); j++) {
			size_t align = aligns[i] ? aligns[i] : 64;

			p = usk_dma_malloc(sizes[j], aligns[i], &phys);
			assert_non_null(p);
			assert_int_equal((uintptr_t)p % align, 0);
			size = sizes[j];
			assert_int_equal(usk_vtophys(p, &size), phys);
			if (!usk_env_hugepages_enabled()) {
				assert_int_equal(phys, (uintptr_t)p); /* IOVA = VA */
				assert_int_equal(size, sizes[j]);     /* one contiguous range */
			}
			memset(p, 0x5a, sizes[j]);
			usk_dma_free(p);
		}
	}
	assert_null(usk_dma_malloc(16, 3, NULL)); /* align not a power of two */
	usk_dma_free(NULL);
}

static void
test_dma_zmalloc_reuse(void **state)
{
	uint8_t *p, *q;
	size_t i;

	p = usk_dma_malloc(1000, 0, NULL);
	assert_non_null(p);
	memset(p, 0xff, 1000);
	usk_dma_free(p);
	/* the same block comes back (buddy reuse) and is zeroed */
	q = usk_dma_zmalloc(1000, 0, NULL);
	assert_ptr_equal(p, q);
	for (i = 0; i < 1000; i++) {
		assert_int_equal(q[i], 0);
	}
	usk_dma_free(q);

	/* big regions: zeroed too (fresh mappings), even right after a dirty one was freed */
	p = usk_dma_malloc(3 * MB2, 0, NULL);
	assert_non_null(p);
	memset(p, 0xff, 3 * MB2);
	usk_dma_free(p);
	q = usk_dma_zmalloc(3 * MB2, 0, NULL);
	assert_non_null(q);
	for (i = 0; i < 3 * MB2; i += 4093) {
		assert_int_equal(q[i], 0);
	}
	assert_int_equal(q[3 * MB2 - 1], 0);
	usk_dma_free(q);
}

static void
test_dma_realloc(void **state)
{
	uint8_t *p, *q;
	uint64_t phys;
	size_t i;

	p = usk_dma_realloc(NULL, 100, 0, NULL);
	assert_non_null(p);
	for (i = 0; i < 100; i++) {
		p[i] = (uint8_t)i;
	}
	q = usk_dma_realloc(p, 120, 0, &phys); /* fits in the 128 B block */
	assert_ptr_equal(p, q);
	assert_int_equal(phys, usk_vtophys(q, NULL));
	q = usk_dma_realloc(p, 10000, 4096, NULL);
	assert_non_null(q);
	assert_int_equal((uintptr_t)q % 4096, 0);
	for (i = 0; i < 100; i++) {
		assert_int_equal(q[i], (uint8_t)i);
	}
	memset(q, 7, 10000);
	p = usk_dma_realloc(q, 5 * MB2, 0, NULL); /* small -> big region */
	assert_non_null(p);
	assert_int_equal(p[9999], 7);
	q = usk_dma_realloc(p, 50, 0, NULL); /* big -> small */
	assert_non_null(q);
	assert_int_equal(q[49], 7);
	assert_null(usk_dma_realloc(q, 0, 0, NULL)); /* size 0 frees */
}

static void
test_dma_many_small(void **state)
{
	enum {
		N = 20000
	};
	void **ptrs = calloc(N, sizeof(void *));
	size_t i;

	assert_non_null(ptrs);
	/* more than one 2 MiB chunk, mixed sizes, then free in a different order */
	for (i = 0; i < N; i++) {
		ptrs[i] = usk_dma_malloc(64 + (i % 5) * 100, 0, NULL);
		assert_non_null(ptrs[i]);
		memset(ptrs[i], (int)i, 64);
	}
	for (i = 0; i < N; i++) {
		assert_int_equal(*(uint8_t *)ptrs[i], (uint8_t)i);
	}
	for (i = 0; i < N; i += 2) {
		usk_dma_free(ptrs[i]);
	}
	for (i = 1; i < N; i += 2) {
		usk_dma_free(ptrs[i]);
	}
	/* fully coalesced: a 1 MiB block is available without growing much */
	ptrs[0] = usk_dma_malloc(1 << 20, 0, NULL);
	assert_non_null(ptrs[0]);
	usk_dma_free(ptrs[0]);
	free(ptrs);
}

static void *
dma_thread(void *arg)
{
	void *p[64];
	size_t it, i;
	uintptr_t bad = 0;

	for (it = 0; it < 2000; it++) {
		for (i = 0; i < 64; i++) {
			p[i] = usk_dma_malloc(32 + ((it + i) % 700), 0, NULL);
			if (p[i] == NULL) {
				return (void *)1;
			}
			*(uintptr_t *)p[i] = (uintptr_t)arg + i;
		}
		for (i = 0; i < 64; i++) {
			bad |= *(uintptr_t *)p[i] != (uintptr_t)arg + i;
			usk_dma_free(p[i]);
		}
	}
	return (void *)bad;
}

static void
test_dma_threads(void **state)
{
	pthread_t t[4];
	void *rc;
	size_t i;

	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_create(&t[i], NULL, dma_thread, (void *)(i << 20)), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], &rc);
		assert_null(rc);
	}
}

static void
test_vtophys_unregistered(void **state)
{
	int local = 0;
	uint64_t size = 100;

	assert_int_equal(usk_vtophys(&local, &size), USK_VTOPHYS_ERROR);
	assert_int_equal(usk_vtophys(NULL, NULL), USK_VTOPHYS_ERROR);
}

/*
 * Without hugepages every DMA allocation lies in the one memfd region that
 * usk_dma_get_fd_regions reports, and the file shows what was written through the mapping (what
 * a vhost-user back-end that maps the fd sees). A freed big region's range is reused, and reads
 * back as zeros from the file (punched).
 */
static void
test_dma_fd_regions(void **state)
{
	struct usk_dma_fd_region r[2];
	uint8_t *small, *big, *big2, byte = 0;
	uint64_t off;
	int n, seals;

	if (usk_env_hugepages_enabled()) {
		skip();
	}
	small = usk_dma_malloc(4096, 4096, NULL);
	big = usk_dma_malloc(5 * MB2, 0, NULL);
	assert_non_null(small);
	assert_non_null(big);
	n = usk_dma_get_fd_regions(r, 2);
	assert_int_equal(n, 1);
	assert_true(r[0].fd >= 0);
	assert_true(r[0].size >= (64ULL << 30));
	assert_true((uintptr_t)small >= (uintptr_t)r[0].vaddr);
	assert_true((uintptr_t)big + 5 * MB2 <= (uintptr_t)r[0].vaddr + r[0].size);
	seals = fcntl(r[0].fd, F_GET_SEALS);
	assert_true(seals >= 0 && (seals & F_SEAL_SHRINK));
	assert_true(fcntl(r[0].fd, F_GETFD) & FD_CLOEXEC);
	assert_int_not_equal(ftruncate(r[0].fd, 0), 0);

	small[17] = 0xa5;
	off = r[0].offset + (uint64_t)((uintptr_t)small - (uintptr_t)r[0].vaddr) + 17;
	assert_int_equal(pread(r[0].fd, &byte, 1, (off_t)off), 1);
	assert_int_equal(byte, 0xa5);
	big[5 * MB2 - 1] = 0x3c;
	off = r[0].offset + (uint64_t)((uintptr_t)big - (uintptr_t)r[0].vaddr) + 5 * MB2 - 1;
	assert_int_equal(pread(r[0].fd, &byte, 1, (off_t)off), 1);
	assert_int_equal(byte, 0x3c);

	usk_dma_free(big);
	assert_int_equal(pread(r[0].fd, &byte, 1, (off_t)off), 1);
	assert_int_equal(byte, 0);
	/* First fit: the same range again, zeroed. */
	big2 = usk_dma_malloc(5 * MB2, 0, NULL);
	assert_ptr_equal(big2, big);
	assert_int_equal(big2[5 * MB2 - 1], 0);
	usk_dma_free(big2);
	usk_dma_free(small);
	/* Counting only. */
	assert_int_equal(usk_dma_get_fd_regions(NULL, 0), 1);
}

/*
 * Arena free list: a freed range is split for a smaller request and merged with its neighbours.
 * (The cases run in order in one process; the earlier ones leave their freed ranges merged into
 * the arena's tail, so fresh ranges here are adjacent.)
 */
static void
test_dma_arena_reuse(void **state)
{
	uint8_t *a, *b, *c, *d, *big;

	if (usk_env_hugepages_enabled()) {
		skip();
	}
	a = usk_dma_malloc(4 * MB2, 0, NULL);
	b = usk_dma_malloc(4 * MB2, 0, NULL);
	c = usk_dma_malloc(4 * MB2, 0, NULL);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	/* Fresh ranges come one after the other from the arena. */
	assert_ptr_equal(b, a + 4 * MB2);
	assert_ptr_equal(c, b + 4 * MB2);
	usk_dma_free(b);
	d = usk_dma_malloc(2 * MB2, 0, NULL); /* first fit: the front of b's range */
	assert_ptr_equal(d, b);
	usk_dma_free(a);
	usk_dma_free(c);
	usk_dma_free(d);
	/* a, b and c merged again: one 12 MiB region fits where a began. */
	big = usk_dma_malloc(12 * MB2, 0, NULL);
	assert_ptr_equal(big, a);
	big[12 * MB2 - 1] = 1;
	usk_dma_free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mem_map_translation),
		cmocka_unit_test(test_mem_register_notify),
		cmocka_unit_test(test_dma_alloc),
		cmocka_unit_test(test_dma_zmalloc_reuse),
		cmocka_unit_test(test_dma_realloc),
		cmocka_unit_test(test_dma_many_small),
		cmocka_unit_test(test_dma_threads),
		cmocka_unit_test(test_vtophys_unregistered),
		cmocka_unit_test(test_dma_fd_regions),
		cmocka_unit_test(test_dma_arena_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
