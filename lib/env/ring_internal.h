/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Lockless ring internals (layout + inline enqueue/dequeue), shared by ring.c and mempool.c.
 * Head/tail scheme as in DPDK's rte_ring_c11_pvt.h: a side first reserves slots by moving its
 * head, copies, then publishes by moving its tail. Indexes are free-running 32-bit counters;
 * slot = index & mask.
 */
#ifndef USK_ENV_RING_INTERNAL_H
#define USK_ENV_RING_INTERNAL_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "usk/env.h"
#include "usk/util.h"

struct ring_headtail {
	_Atomic uint32_t head; /* next index to reserve */
	_Atomic uint32_t tail; /* indexes before tail are published to the other side */
	bool single;           /* one thread only: no CAS on head */
};

struct usk_ring {
	/* Read-mostly: shared by both sides. */
	uint32_t mask;
	uint32_t capacity; /* mask: one slot stays free */
	enum usk_ring_type type;

	/* Producer and consumer each on their own cache lines, so they never false-share. */
	struct ring_headtail prod __attribute__((aligned(USK_CACHE_LINE_SIZE * 2)));
	struct ring_headtail cons __attribute__((aligned(USK_CACHE_LINE_SIZE * 2)));

	void *slots[] __attribute__((aligned(USK_CACHE_LINE_SIZE * 2)));
};

static inline void
ring_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/*
 * Reserve up to n slots on the producer side. Returns how many (0 .. n); fixed=true means all or
 * nothing. *old_head receives the first reserved index, *free_entries the room seen.
 */
static inline uint32_t
ring_move_prod_head(struct usk_ring *r, uint32_t n, bool fixed, uint32_t *old_head,
		    uint32_t *free_entries)
{
	uint32_t cons_tail, new_head, max = n;
	bool ok;

	*old_head = atomic_load_explicit(&r->prod.head, memory_order_relaxed);
	do {
		n = max;
		/*
		 * Acquire pairs with the consumer's release store of cons.tail in
		 * ring_update_tail(): slots it has freed are fully read before we overwrite them.
		 */
		cons_tail = atomic_load_explicit(&r->cons.tail, memory_order_acquire);
		*free_entries = r->capacity + cons_tail - *old_head;
		if (n > *free_entries) {
			n = fixed ? 0 : *free_entries;
		}
		if (n == 0) {
			return 0;
		}
		new_head = *old_head + n;
		if (r->prod.single) {
			atomic_store_explicit(&r->prod.head, new_head, memory_order_relaxed);
			ok = true;
		} else {
			/*
			 * Relaxed is enough: the CAS only arbitrates between producers; on failure
			 * old_head is reloaded and cons.tail re-read (acquire) in the next round.
			 */
			ok = atomic_compare_exchange_weak_explicit(&r->prod.head, old_head, new_head,
					memory_order_relaxed, memory_order_relaxed);
		}
	} while (usk_unlikely(!ok));
	return n;
}

static inline uint32_t
ring_move_cons_head(struct usk_ring *r, uint32_t n, bool fixed, uint32_t *old_head,
		    uint32_t *entries)
{
	uint32_t prod_tail, new_head, max = n;
	bool ok;

	*old_head = atomic_load_explicit(&r->cons.head, memory_order_relaxed);
	do {
		n = max;
		/*
		 * Acquire pairs with the producer's release store of prod.tail in
		 * ring_update_tail(): the object pointers it wrote are visible before we read them.
		 */
		prod_tail = atomic_load_explicit(&r->prod.tail, memory_order_acquire);
		*entries = prod_tail - *old_head;
		if (n > *entries) {
			n = fixed ? 0 : *entries;
		}
		if (n == 0) {
			return 0;
		}
		new_head = *old_head + n;
		if (r->cons.single) {
			atomic_store_explicit(&r->cons.head, new_head, memory_order_relaxed);
			ok = true;
		} else {
			/* As for producers: the CAS only arbitrates among consumers. */
			ok = atomic_compare_exchange_weak_explicit(&r->cons.head, old_head, new_head,
					memory_order_relaxed, memory_order_relaxed);
		}
	} while (usk_unlikely(!ok));
	return n;
}

/* Publish [old_val, new_val) to the other side once earlier reservations are published. */
static inline void
ring_update_tail(struct ring_headtail *ht, uint32_t old_val, uint32_t new_val)
{
	if (!ht->single) {
		/*
		 * Another thread of our side reserved before us: wait until it has published, so
		 * tails move in reservation order. Relaxed: we only need to see the value; our
		 * own copies are ordered by the release below.
		 */
		unsigned spins = 0;

		while (usk_unlikely(atomic_load_explicit(&ht->tail, memory_order_relaxed) != old_val)) {
			/*
			 * The thread we wait for may have been preempted (more threads than cores):
			 * after a short spin, give it the CPU instead of burning our time slice.
			 */
			if (++spins < 128) {
				ring_pause();
			} else {
				sched_yield();
			}
		}
	}
	/*
	 * Release pairs with the other side's acquire load of this tail in ring_move_*_head():
	 * producer: our slot writes become visible before the consumer reads them;
	 * consumer: our slot reads complete before the producer may overwrite them.
	 */
	atomic_store_explicit(&ht->tail, new_val, memory_order_release);
}

static inline void
ring_copy_in(struct usk_ring *r, uint32_t head, void *const *objs, uint32_t n)
{
	uint32_t idx = head & r->mask;
	uint32_t first = USK_MIN(n, r->mask + 1 - idx);
	uint32_t i;

	for (i = 0; i < first; i++) {
		r->slots[idx + i] = objs[i];
	}
	for (; i < n; i++) {
		r->slots[i - first] = objs[i];
	}
}

static inline void
ring_copy_out(struct usk_ring *r, uint32_t head, void **objs, uint32_t n)
{
	uint32_t idx = head & r->mask;
	uint32_t first = USK_MIN(n, r->mask + 1 - idx);
	uint32_t i;

	for (i = 0; i < first; i++) {
		objs[i] = r->slots[idx + i];
	}
	for (; i < n; i++) {
		objs[i] = r->slots[i - first];
	}
}

static inline uint32_t
ring_do_enqueue(struct usk_ring *r, void *const *objs, uint32_t n, bool fixed, uint32_t *free_space)
{
	uint32_t head, free_entries;

	n = ring_move_prod_head(r, n, fixed, &head, &free_entries);
	if (n != 0) {
		ring_copy_in(r, head, objs, n);
		ring_update_tail(&r->prod, head, head + n);
	}
	if (free_space != NULL) {
		*free_space = free_entries - n;
	}
	return n;
}

static inline uint32_t
ring_do_dequeue(struct usk_ring *r, void **objs, uint32_t n, bool fixed)
{
	uint32_t head, entries;

	n = ring_move_cons_head(r, n, fixed, &head, &entries);
	if (n != 0) {
		ring_copy_out(r, head, objs, n);
		ring_update_tail(&r->cons, head, head + n);
	}
	return n;
}

static inline uint32_t
ring_count(const struct usk_ring *r)
{
	uint32_t prod_tail = atomic_load_explicit(&r->prod.tail, memory_order_relaxed);
	uint32_t cons_tail = atomic_load_explicit(&r->cons.tail, memory_order_relaxed);
	uint32_t count = prod_tail - cons_tail;

	/* Racy snapshot: clamp a transiently inconsistent pair. */
	return count > r->capacity ? r->capacity : count;
}

struct usk_ring *ring_create_internal(enum usk_ring_type type, uint32_t count);

#endif
