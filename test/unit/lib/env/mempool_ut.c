/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for usk_mempool: get/put, bulk, exhaustion, ctor/iter, cache flush, threads. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "usk/env.h"
#include "usk/util.h"

static int
ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

static void
check_distinct(void **objs, size_t n)
{
	size_t i;

	qsort(objs, n, sizeof(void *), ptr_cmp);
	for (i = 1; i < n; i++) {
		assert_true(objs[i - 1] != objs[i]);
	}
}

static void
get_put(size_t cache_size)
{
	struct usk_mempool *mp =
		usk_mempool_create("ut_pool", 100, 100, cache_size, USK_ENV_SOCKET_ID_ANY);
	void *objs[100];
	size_t i;

	assert_non_null(mp);
	assert_string_equal(usk_mempool_get_name(mp), "ut_pool");
	assert_int_equal(usk_mempool_count(mp), 100);
	for (i = 0; i < 100; i++) {
		objs[i] = usk_mempool_get(mp);
		assert_non_null(objs[i]);
		assert_int_equal((uintptr_t)objs[i] % USK_CACHE_LINE_SIZE, 0);
		/* objects live in DMA memory */
		assert_true(usk_vtophys(objs[i], NULL) != USK_VTOPHYS_ERROR);
		memset(objs[i], 0xa5, 100);
	}
	assert_int_equal(usk_mempool_count(mp), 0);
	assert_int_equal(usk_mempool_get_exhausted_count(mp), 0);
	assert_null(usk_mempool_get(mp));
	assert_int_equal(usk_mempool_get_exhausted_count(mp), 1);
	assert_null(usk_mempool_get(mp));
	assert_int_equal(usk_mempool_get_exhausted_count(mp), 2);
	for (i = 0; i < 100; i++) {
		usk_mempool_put(mp, objs[i]);
	}
	assert_int_equal(usk_mempool_count(mp), 100);
	/* again: every object comes back exactly once */
	for (i = 0; i < 100; i++) {
		objs[i] = usk_mempool_get(mp);
		assert_non_null(objs[i]);
	}
	check_distinct(objs, 100);
	usk_mempool_put_bulk(mp, objs, 100);
	assert_int_equal(usk_mempool_count(mp), 100);
	usk_mempool_free(mp);
}

static void
test_mempool_get_put(void **state)
{
	get_put(32);
	get_put(0);
	get_put(USK_MEMPOOL_DEFAULT_CACHE_SIZE); /* clamped to 2/3 of count */
}

static void
test_mempool_bulk(void **state)
{
	struct usk_mempool *mp = usk_mempool_create("ut_bulk", 128, 64, 16, USK_ENV_SOCKET_ID_ANY);
	void *a[128], *b[128];

	assert_non_null(mp);
	assert_int_equal(usk_mempool_get_bulk(mp, a, 8), 0);	  /* cache path */
	assert_int_equal(usk_mempool_get_bulk(mp, &a[8], 60), 0); /* larger than cache */
	assert_int_equal(usk_mempool_count(mp), 60);
	/* all or nothing */
	assert_int_equal(usk_mempool_get_bulk(mp, b, 61), -ENOMEM);
	assert_int_equal(usk_mempool_get_exhausted_count(mp), 1);
	assert_int_equal(usk_mempool_count(mp), 60);
	assert_int_equal(usk_mempool_get_bulk(mp, b, 129), -ENOMEM);
	assert_int_equal(usk_mempool_get_exhausted_count(mp), 2);
	assert_int_equal(usk_mempool_get_bulk(mp, &a[68], 60), 0);
	assert_int_equal(usk_mempool_count(mp), 0);
	assert_int_equal(usk_mempool_get_bulk(mp, b, 1), -ENOMEM);
	assert_int_equal(usk_mempool_get_bulk(mp, b, 0), 0);
	memcpy(b, a, sizeof(a));
	check_distinct(b, 128);
	usk_mempool_put_bulk(mp, a, 5);
	usk_mempool_put_bulk(mp, &a[5], 100);
	usk_mempool_put_bulk(mp, &a[105], 23);
	assert_int_equal(usk_mempool_count(mp), 128);
	usk_mempool_free(mp);
}

static void
obj_ctor(struct usk_mempool *mp, void *arg, void *obj, unsigned idx)
{
	unsigned *calls = arg;

	*(unsigned *)obj = idx;
	(*calls)++;
}

static void
obj_check(struct usk_mempool *mp, void *arg, void *obj, unsigned idx)
{
	unsigned *calls = arg;

	assert_int_equal(*(unsigned *)obj, idx);
	(*calls)++;
}

static void
test_mempool_ctor_iter(void **state)
{
	unsigned calls = 0;
	struct usk_mempool *mp = usk_mempool_create_ctor("ut_ctor", 37, 24, 4,
							 USK_ENV_SOCKET_ID_ANY, obj_ctor, &calls);

	assert_non_null(mp);
	assert_int_equal(calls, 37);
	calls = 0;
	assert_int_equal(usk_mempool_obj_iter(mp, obj_check, &calls), 37);
	assert_int_equal(calls, 37);
	usk_mempool_free(mp);
	assert_null(usk_mempool_create("bad", 0, 8, 0, USK_ENV_SOCKET_ID_ANY));
	assert_null(usk_mempool_create("bad", 8, 0, 0, USK_ENV_SOCKET_ID_ANY));
}

static void
count_obj(struct usk_mempool *mp, void *arg, void *obj, unsigned idx)
{
	(*(unsigned *)arg)++;
}

/* A growable pool: empty at its floor until grown, never past its ceiling, all freed. */
static void
test_mempool_grow(void **state)
{
	struct usk_mempool *mp =
		usk_mempool_create_growable("ut_grow", 8, 20, 4096, 0, USK_ENV_SOCKET_ID_ANY);
	void *objs[20];
	unsigned i, n = 0;

	assert_non_null(mp);
	assert_int_equal(usk_mempool_get_size(mp), 8);
	for (i = 0; i < 8; i++) {
		objs[i] = usk_mempool_get(mp);
		assert_non_null(objs[i]);
	}
	assert_null(usk_mempool_get(mp));
	assert_int_equal(usk_mempool_get_bulk(mp, &objs[8], 10), -ENOMEM);
	assert_int_equal(usk_mempool_grow(mp, 10), 10);
	assert_int_equal(usk_mempool_get_size(mp), 18);
	assert_int_equal(usk_mempool_get_bulk(mp, &objs[8], 10), 0);
	for (i = 8; i < 18; i++) {
		memset(objs[i], 0xab, 4096); /* the new objects are whole and writable */
	}
	/* only 2 more fit under the ceiling */
	assert_int_equal(usk_mempool_grow(mp, 10), 2);
	assert_int_equal(usk_mempool_grow(mp, 1), -ENOSPC);
	assert_int_equal(usk_mempool_get_bulk(mp, &objs[18], 2), 0);
	assert_null(usk_mempool_get(mp));
	usk_mempool_put_bulk(mp, objs, 20);
	assert_int_equal(usk_mempool_count(mp), 20);
	assert_int_equal(usk_mempool_obj_iter(mp, count_obj, &n), 20);
	assert_int_equal(n, 20);
	usk_mempool_free(mp);
	assert_null(usk_mempool_create_growable("bad", 8, 4, 64, 0, USK_ENV_SOCKET_ID_ANY));
}

struct hog {
	struct usk_mempool *mp;
	size_t n;
};

static void *
hog_fn(void *arg)
{
	struct hog *h = arg;
	void *objs[64];
	size_t i;

	for (i = 0; i < h->n; i++) {
		objs[i] = usk_mempool_get(h->mp);
	}
	for (i = 0; i < h->n; i++) {
		if (objs[i] != NULL) {
			usk_mempool_put(h->mp, objs[i]);
		}
	}
	/* objects now sit in this thread's cache; thread exit must flush them */
	return NULL;
}

static void
test_mempool_cache_flush_on_exit(void **state)
{
	struct usk_mempool *mp = usk_mempool_create("ut_flush", 64, 32, 40, USK_ENV_SOCKET_ID_ANY);
	struct hog h = {.mp = mp, .n = 30};
	void *objs[64];
	pthread_t tid;
	size_t i;

	assert_non_null(mp);
	assert_int_equal(pthread_create(&tid, NULL, hog_fn, &h), 0);
	pthread_join(tid, NULL);
	assert_int_equal(usk_mempool_count(mp), 64);
	/* all 64 reachable from this thread, including those the exited thread cached */
	for (i = 0; i < 64; i++) {
		objs[i] = usk_mempool_get(mp);
		assert_non_null(objs[i]);
	}
	assert_null(usk_mempool_get(mp));
	usk_mempool_put_bulk(mp, objs, 64);
	usk_mempool_free(mp);
}

#define MT_THREADS 4
#define MT_ITERS   100000

struct worker {
	struct usk_mempool *mp;
	uint64_t id;
	uint64_t failures;
	uint64_t corrupt;
	pthread_t tid;
};

static void *
worker_fn(void *arg)
{
	struct worker *w = arg;
	void *objs[8];
	size_t it, n, i;

	for (it = 0; it < MT_ITERS; it++) {
		n = 1 + (it % 8);
		if (n == 1) {
			objs[0] = usk_mempool_get(w->mp);
			if (objs[0] == NULL) {
				w->failures++;
				continue;
			}
		} else if (usk_mempool_get_bulk(w->mp, objs, n) != 0) {
			w->failures++;
			continue;
		}
		for (i = 0; i < n; i++) {
			*(volatile uint64_t *)objs[i] = w->id;
		}
		for (i = 0; i < n; i++) {
			/* nobody else may hold an object we hold */
			if (*(volatile uint64_t *)objs[i] != w->id) {
				w->corrupt++;
			}
		}
		if (it % 3 == 0) {
			for (i = 0; i < n; i++) {
				usk_mempool_put(w->mp, objs[i]);
			}
		} else {
			usk_mempool_put_bulk(w->mp, objs, n);
		}
	}
	return NULL;
}

static void
test_mempool_multithread(void **state)
{
	struct usk_mempool *mp = usk_mempool_create("ut_mt", 1024, 64, 64, USK_ENV_SOCKET_ID_ANY);
	struct worker w[MT_THREADS];
	void *objs[1024];
	size_t i;

	assert_non_null(mp);
	for (i = 0; i < MT_THREADS; i++) {
		w[i] = (struct worker){.mp = mp, .id = i + 1};
		assert_int_equal(pthread_create(&w[i].tid, NULL, worker_fn, &w[i]), 0);
	}
	for (i = 0; i < MT_THREADS; i++) {
		pthread_join(w[i].tid, NULL);
		assert_int_equal(w[i].corrupt, 0);
		/* 1024 objects >> 4 threads * (64 cache + 8 held): never empty */
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(usk_mempool_count(mp), 1024);
	assert_int_equal(usk_mempool_get_exhausted_count(mp), 0);
	assert_int_equal(usk_mempool_get_bulk(mp, objs, 1024), 0);
	check_distinct(objs, 1024);
	usk_mempool_put_bulk(mp, objs, 1024);
	usk_mempool_free(mp);
}

static void
test_mempool_multithread_scarce(void **state)
{
	/* Fewer objects than threads could cache: gets fail sometimes, nothing is lost. */
	struct usk_mempool *mp = usk_mempool_create("ut_scarce", 48, 64, 16, USK_ENV_SOCKET_ID_ANY);
	struct worker w[MT_THREADS];
	uint64_t failures = 0;
	size_t i;

	assert_non_null(mp);
	for (i = 0; i < MT_THREADS; i++) {
		w[i] = (struct worker){.mp = mp, .id = i + 1};
		assert_int_equal(pthread_create(&w[i].tid, NULL, worker_fn, &w[i]), 0);
	}
	for (i = 0; i < MT_THREADS; i++) {
		pthread_join(w[i].tid, NULL);
		assert_int_equal(w[i].corrupt, 0);
		failures += w[i].failures;
	}
	assert_int_equal(usk_mempool_get_exhausted_count(mp), failures);
	assert_int_equal(usk_mempool_count(mp), 48);
	usk_mempool_free(mp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mempool_get_put),
		cmocka_unit_test(test_mempool_bulk),
		cmocka_unit_test(test_mempool_ctor_iter),
		cmocka_unit_test(test_mempool_grow),
		cmocka_unit_test(test_mempool_cache_flush_on_exit),
		cmocka_unit_test(test_mempool_multithread),
		cmocka_unit_test(test_mempool_multithread_scarce),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
