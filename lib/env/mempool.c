/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fixed-size object pools in DMA memory: a per-OS-thread cache (LIFO array) in front of a
 * shared lockless MP_MC ring, like DPDK's rte_mempool with per-lcore caches.
 *
 * Each OS thread that touches a pool gets a slot index (tls_slot) from a global table on first
 * use; a pool keeps one cache per slot, created by that thread on first use. The cache is only
 * ever touched by its owner thread, so get/put take no lock and make no syscall. When a thread
 * exits, a pthread key destructor flushes its caches in every pool back to the rings and frees
 * the slot. Objects sitting in one thread's cache are not visible to other threads (as in DPDK),
 * so pools should be sized for count + threads * cache_size.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "usk/log.h"
#include "ring_internal.h"

#define MEMPOOL_MAX_SLOTS 256
#define MEMPOOL_CACHE_MAX 512
#define SLOT_UNSET	  (-1)
#define SLOT_NONE	  (-2) /* no slot (table full or thread exiting): bypass caches */

struct mempool_cache {
	/* Written by the owner thread only; len is read racily by usk_mempool_count(). */
	uint32_t len;
	uint32_t size; /* cache_size; holds up to 2 * size while a put is in progress */
	void *objs[];
};

struct mempool_chunk {
	struct mempool_chunk *next;
	char *objs;
	size_t count;
};

struct usk_mempool {
	/* Hot: read on every get/put. */
	struct usk_ring *ring;
	uint32_t cache_size;
	uint32_t ele_size;
	struct mempool_cache *_Atomic caches[MEMPOOL_MAX_SLOTS];

	/* Cold below. */
	_Atomic uint64_t exhausted __attribute__((aligned(USK_CACHE_LINE_SIZE)));
	/* Objects that exist: grows (usk_mempool_grow) up to max_count, never shrinks. */
	_Atomic size_t count;
	size_t max_count; /* the ring holds this many: every put fits */
	size_t stride;
	char *objs;		      /* the first count-at-create objects */
	pthread_mutex_t grow_lock;    /* serializes growers; never taken by get/put */
	struct mempool_chunk *chunks; /* added by usk_mempool_grow, freed with the pool */
	char name[64];
	TAILQ_ENTRY(usk_mempool) link;
};

static pthread_mutex_t g_pools_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(, usk_mempool) g_pools = TAILQ_HEAD_INITIALIZER(g_pools);

static pthread_mutex_t g_slot_lock = PTHREAD_MUTEX_INITIALIZER;
static bool g_slot_used[MEMPOOL_MAX_SLOTS];
static pthread_key_t g_slot_key;
static pthread_once_t g_slot_key_once = PTHREAD_ONCE_INIT;
static __thread int tls_slot = SLOT_UNSET;

/* ---- thread slots ---- */

static void
slot_release(void *v)
{
	int slot = (int)(intptr_t)v - 1;
	struct usk_mempool *mp;
	struct mempool_cache *c;

	/* Later puts from other TLS destructors of this thread go straight to the rings. */
	tls_slot = SLOT_NONE;
	pthread_mutex_lock(&g_pools_lock);
	TAILQ_FOREACH(mp, &g_pools, link) {
		c = atomic_load_explicit(&mp->caches[slot], memory_order_relaxed);
		if (c != NULL && c->len > 0) {
			ring_do_enqueue(mp->ring, c->objs, c->len, false, NULL);
			__atomic_store_n(&c->len, 0, __ATOMIC_RELAXED);
		}
	}
	pthread_mutex_unlock(&g_pools_lock);
	pthread_mutex_lock(&g_slot_lock);
	g_slot_used[slot] = false;
	pthread_mutex_unlock(&g_slot_lock);
}

static void
slot_key_create(void)
{
	if (pthread_key_create(&g_slot_key, slot_release) != 0) {
		USK_ERRLOG("mempool: pthread_key_create failed; caches disabled\n");
	}
}

static int
slot_acquire(void)
{
	int slot;

	pthread_once(&g_slot_key_once, slot_key_create);
	pthread_mutex_lock(&g_slot_lock);
	for (slot = 0; slot < MEMPOOL_MAX_SLOTS && g_slot_used[slot]; slot++) {
	}
	if (slot == MEMPOOL_MAX_SLOTS) {
		pthread_mutex_unlock(&g_slot_lock);
		USK_WARNLOG("mempool: more than %d threads use mempools; this one runs without "
			    "cache\n",
			    MEMPOOL_MAX_SLOTS);
		tls_slot = SLOT_NONE;
		return SLOT_NONE;
	}
	g_slot_used[slot] = true;
	pthread_mutex_unlock(&g_slot_lock);
	if (pthread_setspecific(g_slot_key, (void *)(intptr_t)(slot + 1)) != 0) {
		pthread_mutex_lock(&g_slot_lock);
		g_slot_used[slot] = false;
		pthread_mutex_unlock(&g_slot_lock);
		tls_slot = SLOT_NONE;
		return SLOT_NONE;
	}
	tls_slot = slot;
	return slot;
}

static struct mempool_cache *
cache_create(struct usk_mempool *mp, int slot)
{
	struct mempool_cache *c;

	c = calloc(1, sizeof(*c) + 2 * (size_t)mp->cache_size * sizeof(void *));
	if (c == NULL) {
		return NULL;
	}
	c->size = mp->cache_size;
	/* Release pairs with the acquire load in usk_mempool_count(). */
	atomic_store_explicit(&mp->caches[slot], c, memory_order_release);
	return c;
}

/* The calling thread's cache for mp, or NULL to go straight to the ring. */
static inline struct mempool_cache *
cache_get(struct usk_mempool *mp)
{
	struct mempool_cache *c;
	int slot = tls_slot;

	if (usk_unlikely(mp->cache_size == 0)) {
		return NULL;
	}
	if (usk_unlikely(slot < 0)) {
		if (slot == SLOT_NONE) {
			return NULL;
		}
		slot = slot_acquire();
		if (slot < 0) {
			return NULL;
		}
	}
	/* Relaxed: only this thread ever stores this slot's pointer (or the pool creator, NULL). */
	c = atomic_load_explicit(&mp->caches[slot], memory_order_relaxed);
	if (usk_unlikely(c == NULL)) {
		c = cache_create(mp, slot);
	}
	return c;
}

/* ---- get / put ---- */

static int
get_slow(struct usk_mempool *mp, struct mempool_cache *c, void **objs, uint32_t n)
{
	uint32_t got, take, i;

	if (c != NULL && n <= c->size) {
		/* Refill to half a cache beyond the request, as much as the ring has. */
		got = ring_do_dequeue(mp->ring, &c->objs[c->len], c->size / 2 + n - c->len, false);
		c->len += got;
		if (c->len >= n) {
			for (i = 0; i < n; i++) {
				objs[i] = c->objs[c->len - 1 - i];
			}
			__atomic_store_n(&c->len, c->len - n, __ATOMIC_RELAXED);
			return 0;
		}
		__atomic_store_n(&c->len, c->len, __ATOMIC_RELAXED);
		goto exhausted;
	}
	/* No cache, or a request larger than the cache: the ring first, then our cache. */
	got = ring_do_dequeue(mp->ring, objs, n, false);
	if (got < n && c != NULL) {
		take = USK_MIN(n - got, c->len);
		for (i = 0; i < take; i++) {
			objs[got + i] = c->objs[c->len - 1 - i];
		}
		__atomic_store_n(&c->len, c->len - take, __ATOMIC_RELAXED);
		got += take;
	}
	if (got == n) {
		return 0;
	}
	if (got > 0) {
		ring_do_enqueue(mp->ring, objs, got, false, NULL);
	}
exhausted:
	atomic_fetch_add_explicit(&mp->exhausted, 1, memory_order_relaxed);
	return -ENOMEM;
}

static inline int
get_n(struct usk_mempool *mp, void **objs, uint32_t n)
{
	struct mempool_cache *c = cache_get(mp);
	uint32_t i;

	if (usk_likely(c != NULL && c->len >= n)) {
		for (i = 0; i < n; i++) {
			objs[i] = c->objs[c->len - 1 - i];
		}
		__atomic_store_n(&c->len, c->len - n, __ATOMIC_RELAXED);
		return 0;
	}
	return get_slow(mp, c, objs, n);
}

static void
cache_flush(struct usk_mempool *mp, struct mempool_cache *c)
{
	uint32_t keep = c->size / 2, excess = c->len - keep;

	/* Send the oldest objects to the ring and keep the recently freed (cache-hot) ones. */
	ring_do_enqueue(mp->ring, c->objs, excess, false, NULL);
	memmove(c->objs, &c->objs[excess], keep * sizeof(void *));
	__atomic_store_n(&c->len, keep, __ATOMIC_RELAXED);
}

static inline void
put_n(struct usk_mempool *mp, void *const *objs, uint32_t n)
{
	struct mempool_cache *c = cache_get(mp);
	uint32_t i;

	if (usk_likely(c != NULL && n <= c->size)) {
		for (i = 0; i < n; i++) {
			c->objs[c->len + i] = objs[i];
		}
		c->len += n;
		if (usk_unlikely(c->len > c->size)) {
			cache_flush(mp, c);
		} else {
			__atomic_store_n(&c->len, c->len, __ATOMIC_RELAXED);
		}
		return;
	}
	/* The ring holds every object of the pool, so this always fits. */
	ring_do_enqueue(mp->ring, objs, n, false, NULL);
}

void *
usk_mempool_get(struct usk_mempool *mp)
{
	void *obj;

	return get_n(mp, &obj, 1) == 0 ? obj : NULL;
}

int
usk_mempool_get_bulk(struct usk_mempool *mp, void **ele_arr, size_t count)
{
	if (usk_unlikely(count > atomic_load_explicit(&mp->count, memory_order_relaxed))) {
		atomic_fetch_add_explicit(&mp->exhausted, 1, memory_order_relaxed);
		return -ENOMEM;
	}
	if (count == 0) {
		return 0;
	}
	return get_n(mp, ele_arr, (uint32_t)count);
}

void
usk_mempool_put(struct usk_mempool *mp, void *ele)
{
	put_n(mp, &ele, 1);
}

void
usk_mempool_put_bulk(struct usk_mempool *mp, void **ele_arr, size_t count)
{
	if (count > 0) {
		put_n(mp, ele_arr, (uint32_t)count);
	}
}

/* ---- lifecycle ---- */

static struct usk_mempool *
mempool_create(const char *name, size_t count, size_t max_count, size_t ele_size, size_t cache_size,
	       usk_mempool_obj_cb_t *obj_init, void *obj_init_arg)
{
	struct usk_mempool *mp;
	size_t i;

	if (count == 0 || max_count >= (1u << 30) || ele_size == 0 || ele_size > (1u << 30) ||
	    max_count < count) {
		USK_ERRLOG("mempool %s: count %zu (max %zu) and ele_size %zu must be in 1..2^30\n",
			   name ? name : "", count, max_count, ele_size);
		return NULL;
	}
	mp = aligned_alloc(USK_CACHE_LINE_SIZE, USK_ALIGN_CEIL(sizeof(*mp), USK_CACHE_LINE_SIZE));
	if (mp == NULL) {
		return NULL;
	}
	memset(mp, 0, sizeof(*mp));
	snprintf(mp->name, sizeof(mp->name), "%s", name ? name : "");
	/* As DPDK: a cache larger than count / 1.5 could strand most objects in one thread. */
	cache_size = USK_MIN(cache_size, (size_t)MEMPOOL_CACHE_MAX);
	cache_size = USK_MIN(cache_size, count * 2 / 3);
	mp->cache_size = (uint32_t)cache_size;
	mp->ele_size = (uint32_t)ele_size;
	atomic_init(&mp->count, count);
	mp->max_count = max_count;
	pthread_mutex_init(&mp->grow_lock, NULL);
	/* Whole cache lines per object so objects used by different threads never share one. */
	mp->stride = USK_ALIGN_CEIL(ele_size, (size_t)USK_CACHE_LINE_SIZE);
	mp->ring =
		ring_create_internal(USK_RING_TYPE_MP_MC, (uint32_t)usk_align64pow2(max_count + 1));
	if (mp->ring == NULL) {
		goto err_free_mp;
	}
	mp->objs = usk_dma_malloc(count * mp->stride, USK_CACHE_LINE_SIZE, NULL);
	if (mp->objs == NULL) {
		USK_ERRLOG("mempool %s: no DMA memory for %zu objects of %zu bytes\n", mp->name,
			   count, ele_size);
		goto err_free_ring;
	}
	for (i = 0; i < count; i++) {
		void *obj = mp->objs + i * mp->stride;

		if (obj_init != NULL) {
			obj_init(mp, obj_init_arg, obj, (unsigned)i);
		}
		ring_do_enqueue(mp->ring, &obj, 1, true, NULL);
	}
	pthread_mutex_lock(&g_pools_lock);
	TAILQ_INSERT_TAIL(&g_pools, mp, link);
	pthread_mutex_unlock(&g_pools_lock);
	return mp;

err_free_ring:
	usk_ring_free(mp->ring);
err_free_mp:
	free(mp);
	return NULL;
}

struct usk_mempool *
usk_mempool_create_ctor(const char *name, size_t count, size_t ele_size, size_t cache_size,
			int socket_id, usk_mempool_obj_cb_t *obj_init, void *obj_init_arg)
{
	return mempool_create(name, count, count, ele_size, cache_size, obj_init, obj_init_arg);
}

struct usk_mempool *
usk_mempool_create_growable(const char *name, size_t count, size_t max_count, size_t ele_size,
			    size_t cache_size, int socket_id)
{
	return mempool_create(name, count, max_count, ele_size, cache_size, NULL, NULL);
}

int
usk_mempool_grow(struct usk_mempool *mp, size_t n)
{
	struct mempool_chunk *chunk;
	size_t have, i;

	pthread_mutex_lock(&mp->grow_lock);
	have = atomic_load_explicit(&mp->count, memory_order_relaxed);
	n = USK_MIN(n, mp->max_count - have);
	if (n == 0) {
		pthread_mutex_unlock(&mp->grow_lock);
		return -ENOSPC;
	}
	chunk = calloc(1, sizeof(*chunk));
	if (chunk == NULL) {
		pthread_mutex_unlock(&mp->grow_lock);
		return -ENOMEM;
	}
	chunk->objs = usk_dma_malloc(n * mp->stride, USK_CACHE_LINE_SIZE, NULL);
	if (chunk->objs == NULL) {
		free(chunk);
		pthread_mutex_unlock(&mp->grow_lock);
		USK_ERRLOG("mempool %s: no DMA memory to grow by %zu objects\n", mp->name, n);
		return -ENOMEM;
	}
	chunk->count = n;
	chunk->next = mp->chunks;
	mp->chunks = chunk;
	/* count first: a get_bulk that sees the new objects must not be refused by the old count */
	atomic_store_explicit(&mp->count, have + n, memory_order_relaxed);
	for (i = 0; i < n; i++) {
		void *obj = chunk->objs + i * mp->stride;

		/* the ring's release store publishes the object to whoever dequeues it */
		ring_do_enqueue(mp->ring, &obj, 1, false, NULL);
	}
	pthread_mutex_unlock(&mp->grow_lock);
	return (int)n;
}

size_t
usk_mempool_get_size(const struct usk_mempool *mp)
{
	return atomic_load_explicit(&((struct usk_mempool *)mp)->count, memory_order_relaxed);
}

struct usk_mempool *
usk_mempool_create(const char *name, size_t count, size_t ele_size, size_t cache_size,
		   int socket_id)
{
	return usk_mempool_create_ctor(name, count, ele_size, cache_size, socket_id, NULL, NULL);
}

void
usk_mempool_free(struct usk_mempool *mp)
{
	struct mempool_chunk *chunk;
	size_t avail, count;
	int i;

	if (mp == NULL) {
		return;
	}
	count = atomic_load_explicit(&mp->count, memory_order_relaxed);
	pthread_mutex_lock(&g_pools_lock);
	TAILQ_REMOVE(&g_pools, mp, link);
	pthread_mutex_unlock(&g_pools_lock);
	avail = usk_mempool_count(mp);
	if (avail != count) {
		USK_ERRLOG("mempool %s freed with %zu of %zu objects still in use\n", mp->name,
			   count - avail, count);
	}
	while ((chunk = mp->chunks) != NULL) {
		mp->chunks = chunk->next;
		usk_dma_free(chunk->objs);
		free(chunk);
	}
	pthread_mutex_destroy(&mp->grow_lock);
	for (i = 0; i < MEMPOOL_MAX_SLOTS; i++) {
		free(atomic_load_explicit(&mp->caches[i], memory_order_relaxed));
	}
	usk_dma_free(mp->objs);
	usk_ring_free(mp->ring);
	free(mp);
}

const char *
usk_mempool_get_name(struct usk_mempool *mp)
{
	return mp->name;
}

size_t
usk_mempool_count(const struct usk_mempool *mp)
{
	struct mempool_cache *c;
	size_t n = ring_count(mp->ring);
	int i;

	for (i = 0; i < MEMPOOL_MAX_SLOTS; i++) {
		/* Acquire pairs with the release store in cache_create(). */
		c = atomic_load_explicit(&((struct usk_mempool *)mp)->caches[i],
					 memory_order_acquire);
		if (c != NULL) {
			n += __atomic_load_n(&c->len, __ATOMIC_RELAXED);
		}
	}
	return USK_MIN(n, usk_mempool_get_size(mp));
}

uint64_t
usk_mempool_get_exhausted_count(const struct usk_mempool *mp)
{
	return atomic_load_explicit(&((struct usk_mempool *)mp)->exhausted, memory_order_relaxed);
}

uint32_t
usk_mempool_obj_iter(struct usk_mempool *mp, usk_mempool_obj_cb_t obj_cb, void *obj_cb_arg)
{
	struct mempool_chunk *chunk;
	size_t i, n = 0, first;

	pthread_mutex_lock(&mp->grow_lock);
	first = atomic_load_explicit(&mp->count, memory_order_relaxed);
	for (chunk = mp->chunks; chunk != NULL; chunk = chunk->next) {
		first -= chunk->count;
	}
	for (i = 0; i < first; i++) {
		obj_cb(mp, obj_cb_arg, mp->objs + i * mp->stride, (unsigned)n++);
	}
	for (chunk = mp->chunks; chunk != NULL; chunk = chunk->next) {
		for (i = 0; i < chunk->count; i++) {
			obj_cb(mp, obj_cb_arg, chunk->objs + i * mp->stride, (unsigned)n++);
		}
	}
	pthread_mutex_unlock(&mp->grow_lock);
	return (uint32_t)n;
}
