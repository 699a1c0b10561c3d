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
	/*
	 * Last value of the other side's tail seen by this side. Lets a side skip reading the
	 * other side's cache line while the cached view already shows enough room (producer) or
	 * entries (consumer), so in a cross-core ring each side pulls the other's line about once
	 * per batch instead of once per call. Only ever behind the real value, which is
	 * conservative; a view that looks impossible (more than capacity) forces a real read.
	 */
	_Atomic uint32_t other_tail;
	bool single; /* one thread only: no CAS on head (informational) */
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
 * Read the other side's tail and remember it in our cached copy. The store is skipped when the
 * value is unchanged: a side spinning on a full/empty ring must not keep writing to its own
 * line, which the other side reads on every call.
 */
static inline uint32_t
ring_refresh_other_tail(struct ring_headtail *mine, struct ring_headtail *other)
{
	/*
	 * Acquire pairs with the other side's release store of its tail in ring_update_tail():
	 * producer: slots the consumer freed are fully read before we overwrite them;
	 * consumer: object pointers the producer wrote are visible before we read them.
	 */
	uint32_t tail = atomic_load_explicit(&other->tail, memory_order_acquire);

	if (atomic_load_explicit(&mine->other_tail, memory_order_relaxed) != tail) {
		/* Release pairs with the acquire load of other_tail in ring_move_*_head(). */
		atomic_store_explicit(&mine->other_tail, tail, memory_order_release);
	}
	return tail;
}

/*
 * Reserve up to n slots on the producer side. Returns how many (0 .. n); fixed=true means all or
 * nothing. *old_head receives the first reserved index, *free_entries the room seen (a lower
 * bound when the cached consumer tail was enough).
 */
static inline __attribute__((always_inline)) uint32_t
ring_move_prod_head(struct usk_ring *r, uint32_t n, bool fixed, bool single, uint32_t *old_head,
		    uint32_t *free_entries)
{
	uint32_t cons_tail, used, new_head, max = n;
	bool ok;

	*old_head = atomic_load_explicit(&r->prod.head, memory_order_relaxed);
	do {
		n = max;
		/*
		 * Cached consumer tail. Acquire pairs with the release store below (another
		 * producer's, for MP): that producer's acquire of cons.tail then also orders the
		 * consumer's slot reads before our slot writes.
		 */
		cons_tail = atomic_load_explicit(&r->prod.other_tail, memory_order_acquire);
		used = *old_head - cons_tail;
		*free_entries = used <= r->capacity ? r->capacity - used : 0;
		if (n > *free_entries) {
			cons_tail = ring_refresh_other_tail(&r->prod, &r->cons);
			/*
			 * With a stale old_head (MP) this may exceed the real room; the CAS below
			 * then fails and we retry with a fresh head.
			 */
			*free_entries = r->capacity + cons_tail - *old_head;
			if (n > *free_entries) {
				n = fixed ? 0 : *free_entries;
			}
			if (n == 0) {
				return 0;
			}
		}
		new_head = *old_head + n;
		if (single) {
			atomic_store_explicit(&r->prod.head, new_head, memory_order_relaxed);
			ok = true;
		} else {
			/*
			 * Relaxed is enough: the CAS only arbitrates between producers; on failure
			 * old_head is reloaded and the room re-checked in the next round.
			 */
			ok = atomic_compare_exchange_weak_explicit(&r->prod.head, old_head,
								   new_head, memory_order_relaxed,
								   memory_order_relaxed);
		}
	} while (usk_unlikely(!ok));
	return n;
}

static inline __attribute__((always_inline)) uint32_t
ring_move_cons_head(struct usk_ring *r, uint32_t n, bool fixed, bool single, uint32_t *old_head,
		    uint32_t *entries)
{
	uint32_t prod_tail, new_head, max = n;
	bool ok;

	*old_head = atomic_load_explicit(&r->cons.head, memory_order_relaxed);
	do {
		n = max;
		/* Cached producer tail; acquire/release as for producers above. */
		prod_tail = atomic_load_explicit(&r->cons.other_tail, memory_order_acquire);
		*entries = prod_tail - *old_head;
		/*
		 * Read prod.tail only when the cached view cannot satisfy the whole request, so a
		 * burst still returns everything published (callers treat a short burst as "the
		 * ring had no more").
		 */
		if (*entries > r->capacity || n > *entries) {
			prod_tail = ring_refresh_other_tail(&r->cons, &r->prod);
			/* As for producers, a stale old_head (MC) is caught by the CAS. */
			*entries = prod_tail - *old_head;
		}
		if (n > *entries) {
			n = fixed ? 0 : *entries;
		}
		if (n == 0) {
			return 0;
		}
		new_head = *old_head + n;
		if (single) {
			atomic_store_explicit(&r->cons.head, new_head, memory_order_relaxed);
			ok = true;
		} else {
			/* As for producers: the CAS only arbitrates among consumers. */
			ok = atomic_compare_exchange_weak_explicit(&r->cons.head, old_head,
								   new_head, memory_order_relaxed,
								   memory_order_relaxed);
		}
	} while (usk_unlikely(!ok));
	return n;
}

/* Spin (then yield) until ht->tail reaches old_val; out of line to keep the fast path small. */
static __attribute__((noinline, cold, unused)) void
ring_wait_tail(struct ring_headtail *ht, uint32_t old_val)
{
	unsigned spins = 0;

	/* Acquire: see ring_update_tail(). */
	while (atomic_load_explicit(&ht->tail, memory_order_acquire) != old_val) {
		/*
		 * The thread we wait for may have been preempted (more threads than cores): after
		 * a short spin, give it the CPU instead of burning our time slice.
		 */
		if (++spins < 128) {
			ring_pause();
		} else {
			sched_yield();
		}
	}
}

/* Publish [old_val, new_val) to the other side once earlier reservations are published. */
static inline __attribute__((always_inline)) void
ring_update_tail(struct ring_headtail *ht, uint32_t old_val, uint32_t new_val, bool single)
{
	/*
	 * Multi-thread side: another thread of our side reserved before us; wait until it has
	 * published, so tails move in reservation order. The acquire load pairs with that
	 * thread's release store below: its slot copies then happen-before our release, so the
	 * other side, which acquires only our (later) tail value, also sees them. (DPDK uses a
	 * relaxed load, enough on x86/arm64 hardware but not in the C11 model; acquire costs
	 * nothing on x86.)
	 */
	if (!single &&
	    usk_unlikely(atomic_load_explicit(&ht->tail, memory_order_acquire) != old_val)) {
		ring_wait_tail(ht, old_val);
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

/*
 * single/fixed are compile-time constants at every call site (ring.c, mempool.c),
 * so each ring type gets straight-line code without the unused branches.
 */
static inline __attribute__((always_inline)) uint32_t
ring_enqueue_x(struct usk_ring *r, void *const *objs, uint32_t n, bool fixed, bool single,
	       uint32_t *free_space)
{
	uint32_t head, free_entries;

	n = ring_move_prod_head(r, n, fixed, single, &head, &free_entries);
	if (n != 0) {
		ring_copy_in(r, head, objs, n);
		ring_update_tail(&r->prod, head, head + n, single);
	}
	if (free_space != NULL) {
		*free_space = free_entries - n;
	}
	return n;
}

static inline __attribute__((always_inline)) uint32_t
ring_dequeue_x(struct usk_ring *r, void **objs, uint32_t n, bool fixed, bool single)
{
	uint32_t head, entries;

	n = ring_move_cons_head(r, n, fixed, single, &head, &entries);
	if (n != 0) {
		ring_copy_out(r, head, objs, n);
		ring_update_tail(&r->cons, head, head + n, single);
	}
	return n;
}

/* Multi-producer / multi-consumer forms (safe for any ring), used by mempool.c. */
static inline uint32_t
ring_do_enqueue(struct usk_ring *r, void *const *objs, uint32_t n, bool fixed, uint32_t *free_space)
{
	return ring_enqueue_x(r, objs, n, fixed, false, free_space);
}

static inline uint32_t
ring_do_dequeue(struct usk_ring *r, void **objs, uint32_t n, bool fixed)
{
	return ring_dequeue_x(r, objs, n, fixed, false);
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
