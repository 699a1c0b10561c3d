/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for usk_ring: SP/MP types, wraparound, full/empty, bulk semantics, MP stress. */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "usk/env.h"
#include "usk/util.h"

static void
test_ring_create_bad(void **state)
{
	struct usk_ring *r;

	assert_null(usk_ring_create(USK_RING_TYPE_SP_SC, 0, USK_ENV_SOCKET_ID_ANY));
	assert_null(usk_ring_create(USK_RING_TYPE_SP_SC, 1, USK_ENV_SOCKET_ID_ANY));
	assert_null(usk_ring_create(USK_RING_TYPE_SP_SC, 3, USK_ENV_SOCKET_ID_ANY));
	assert_null(usk_ring_create(USK_RING_TYPE_MP_MC, 1000, USK_ENV_SOCKET_ID_ANY));
	assert_null(usk_ring_create((enum usk_ring_type)7, 8, USK_ENV_SOCKET_ID_ANY));
	r = usk_ring_create(USK_RING_TYPE_MP_MC, 2, USK_ENV_SOCKET_ID_ANY);
	assert_non_null(r);
	usk_ring_free(r);
}

static void
full_empty(enum usk_ring_type type)
{
	struct usk_ring *r = usk_ring_create(type, 8, USK_ENV_SOCKET_ID_ANY);
	void *in[16], *out[16];
	size_t i, free_space;

	assert_non_null(r);
	for (i = 0; i < 16; i++) {
		in[i] = (void *)(uintptr_t)(i + 1);
	}
	/* empty */
	assert_int_equal(usk_ring_count(r), 0);
	assert_int_equal(usk_ring_dequeue(r, out, 4), 0);
	/* holds count - 1 */
	assert_int_equal(usk_ring_enqueue(r, in, 7, &free_space), 7);
	assert_int_equal(free_space, 0);
	assert_int_equal(usk_ring_count(r), 7);
	assert_int_equal(usk_ring_enqueue(r, in, 1, &free_space), 0);
	assert_int_equal(free_space, 0);
	/* partial dequeue */
	assert_int_equal(usk_ring_dequeue(r, out, 3), 3);
	assert_ptr_equal(out[0], in[0]);
	assert_ptr_equal(out[2], in[2]);
	/* bulk beyond room: all-or-nothing except MP_MC (burst) */
	if (type == USK_RING_TYPE_MP_MC) {
		assert_int_equal(usk_ring_enqueue(r, &in[7], 5, &free_space), 3);
		assert_int_equal(free_space, 0);
	} else {
		assert_int_equal(usk_ring_enqueue(r, &in[7], 5, &free_space), 0);
		assert_int_equal(free_space, 3);
		assert_int_equal(usk_ring_enqueue(r, &in[7], 3, &free_space), 3);
		assert_int_equal(free_space, 0);
	}
	/* dequeue more than present returns what is there, in FIFO order */
	assert_int_equal(usk_ring_dequeue(r, out, 16), 7);
	for (i = 0; i < 7; i++) {
		assert_ptr_equal(out[i], in[3 + i]);
	}
	assert_int_equal(usk_ring_count(r), 0);
	/* larger than the ring: refused (fixed) or clamped (burst) */
	assert_int_equal(usk_ring_enqueue(r, in, 9, NULL), type == USK_RING_TYPE_MP_MC ? 7 : 0);
	usk_ring_free(r);
}

static void
test_ring_full_empty(void **state)
{
	full_empty(USK_RING_TYPE_SP_SC);
	full_empty(USK_RING_TYPE_MP_SC);
	full_empty(USK_RING_TYPE_MP_MC);
}

static void
test_ring_wraparound(void **state)
{
	enum usk_ring_type types[] = {USK_RING_TYPE_SP_SC, USK_RING_TYPE_MP_SC,
				      USK_RING_TYPE_MP_MC};
	uintptr_t next_in = 1, next_out = 1;
	void *buf[8];
	size_t t, iter, i, n, burst;

	for (t = 0; t < USK_COUNTOF(types); t++) {
		struct usk_ring *r = usk_ring_create(types[t], 16, USK_ENV_SOCKET_ID_ANY);

		assert_non_null(r);
		/* odd bursts so slot indexes wrap at every position, and counters pass 2^32 never
		 */
		for (iter = 0; iter < 1000; iter++) {
			burst = 1 + iter % 7;
			for (i = 0; i < burst; i++) {
				buf[i] = (void *)next_in++;
			}
			assert_int_equal(usk_ring_enqueue(r, buf, burst, NULL), burst);
			n = usk_ring_dequeue(r, buf, 1 + (iter * 3) % 8);
			for (i = 0; i < n; i++) {
				assert_ptr_equal(buf[i], (void *)next_out++);
			}
			assert_int_equal(usk_ring_count(r), next_in - next_out);
		}
		while ((n = usk_ring_dequeue(r, buf, 8)) > 0) {
			for (i = 0; i < n; i++) {
				assert_ptr_equal(buf[i], (void *)next_out++);
			}
		}
		assert_int_equal(next_in, next_out);
		usk_ring_free(r);
	}
}

#define STRESS_PER_PRODUCER 200000
#define STRESS_PRODUCERS    4

struct producer {
	struct usk_ring *ring;
	uintptr_t id;
	pthread_t tid;
};

static void *
producer_fn(void *arg)
{
	struct producer *p = arg;
	void *objs[4];
	uintptr_t seq = 0;
	size_t n, burst, i;

	while (seq < STRESS_PER_PRODUCER) {
		burst = USK_MIN((size_t)(1 + seq % 4), (size_t)(STRESS_PER_PRODUCER - seq));
		for (i = 0; i < burst; i++) {
			objs[i] = (void *)((p->id << 32) | (seq + i + 1));
		}
		n = usk_ring_enqueue(p->ring, objs, burst, NULL);
		if (n == 0) {
			sched_yield();
			continue;
		}
		seq += n; /* MP_MC enqueue may take part of a burst */
	}
	return NULL;
}

static void
mp_stress(enum usk_ring_type type, size_t nprod, size_t ring_size)
{
	struct producer prod[STRESS_PRODUCERS];
	uintptr_t last[STRESS_PRODUCERS] = {0};
	struct usk_ring *r = usk_ring_create(type, ring_size, USK_ENV_SOCKET_ID_ANY);
	void *objs[32];
	size_t total = 0, n, i;

	assert_non_null(r);
	for (i = 0; i < nprod; i++) {
		prod[i].ring = r;
		prod[i].id = i;
		assert_int_equal(pthread_create(&prod[i].tid, NULL, producer_fn, &prod[i]), 0);
	}
	while (total < (size_t)STRESS_PER_PRODUCER * nprod) {
		n = usk_ring_dequeue(r, objs, 32);
		for (i = 0; i < n; i++) {
			uintptr_t v = (uintptr_t)objs[i], id = v >> 32, seq = v & 0xffffffffu;

			assert_true(id < nprod);
			/* each producer's items arrive complete and in order */
			assert_int_equal(seq, last[id] + 1);
			last[id] = seq;
		}
		total += n;
		if (n == 0) {
			sched_yield();
		}
	}
	for (i = 0; i < nprod; i++) {
		pthread_join(prod[i].tid, NULL);
		assert_int_equal(last[i], STRESS_PER_PRODUCER);
	}
	assert_int_equal(usk_ring_count(r), 0);
	usk_ring_free(r);
}

static void
test_ring_mp_sc_stress(void **state)
{
	mp_stress(USK_RING_TYPE_MP_SC, STRESS_PRODUCERS, 256);
	mp_stress(USK_RING_TYPE_MP_SC, 2, 8); /* tiny ring: constant full/empty transitions */
}

static void
test_ring_sp_sc_two_threads(void **state)
{
	mp_stress(USK_RING_TYPE_SP_SC, 1, 16);
	mp_stress(USK_RING_TYPE_SP_SC, 1, 1024);
}

struct mc_consumer {
	struct usk_ring *ring;
	_Atomic size_t *remaining;
	uint64_t sum;
	pthread_t tid;
};

static void *
consumer_fn(void *arg)
{
	struct mc_consumer *c = arg;
	void *objs[8];
	size_t n, i;

	while (atomic_load_explicit(c->remaining, memory_order_relaxed) > 0) {
		n = usk_ring_dequeue(c->ring, objs, 1 + (c->sum & 7));
		for (i = 0; i < n; i++) {
			c->sum += (uintptr_t)objs[i] & 0xffffffffu;
		}
		if (n == 0) {
			sched_yield();
		}
		atomic_fetch_sub_explicit(c->remaining, n, memory_order_relaxed);
	}
	return NULL;
}

static void
test_ring_mp_mc_stress(void **state)
{
	struct producer prod[2];
	struct mc_consumer cons[2];
	_Atomic size_t remaining = 2 * (size_t)STRESS_PER_PRODUCER;
	struct usk_ring *r = usk_ring_create(USK_RING_TYPE_MP_MC, 64, USK_ENV_SOCKET_ID_ANY);
	uint64_t expect = 2 * (uint64_t)STRESS_PER_PRODUCER * (STRESS_PER_PRODUCER + 1) / 2;
	size_t i;

	assert_non_null(r);
	for (i = 0; i < 2; i++) {
		cons[i] = (struct mc_consumer){.ring = r, .remaining = &remaining};
		assert_int_equal(pthread_create(&cons[i].tid, NULL, consumer_fn, &cons[i]), 0);
	}
	for (i = 0; i < 2; i++) {
		prod[i].ring = r;
		prod[i].id = i;
		assert_int_equal(pthread_create(&prod[i].tid, NULL, producer_fn, &prod[i]), 0);
	}
	for (i = 0; i < 2; i++) {
		pthread_join(prod[i].tid, NULL);
	}
	for (i = 0; i < 2; i++) {
		pthread_join(cons[i].tid, NULL);
	}
	/* MP_MC enqueue is a burst, so producers may have split bursts; the sum still matches */
	assert_true(cons[0].sum + cons[1].sum == expect);
	assert_int_equal(usk_ring_count(r), 0);
	usk_ring_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_create_bad),
		cmocka_unit_test(test_ring_full_empty),
		cmocka_unit_test(test_ring_wraparound),
		cmocka_unit_test(test_ring_sp_sc_two_threads),
		cmocka_unit_test(test_ring_mp_sc_stress),
		cmocka_unit_test(test_ring_mp_mc_stress),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
