/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Memory maps: 2 MiB granular two-level translation tables, the registry of DMA-able regions
 * (usk_mem_register) that notifies every map, and the vtophys map built on top of them.
 * Semantics follow SPDK lib/env_dpdk/memory.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/queue.h>

#include "usk/log.h"
#include "usk/util.h"
#include "env_internal.h"

#define L1_ENTRIES (1ULL << (SHIFT_256TB - SHIFT_1GB)) /* one per GiB: 256 Ki */
#define L2_ENTRIES (1ULL << (SHIFT_1GB - SHIFT_2MB))   /* one per 2 MiB in a GiB: 512 */
#define L1_IDX(va) ((va) >> SHIFT_1GB)
#define L2_IDX(va) (((va) >> SHIFT_2MB) & (L2_ENTRIES - 1))

struct map_l2 {
	uint64_t translation[L2_ENTRIES];
};

/*
 * Readers (translate) take no lock: an L2 table is fully initialised before its pointer is
 * published (release) and is never freed before the map. Writers hold map->lock.
 */
struct usk_mem_map {
	struct map_l2 *_Atomic *l1; /* L1_ENTRIES pointers, allocated lazily by calloc */
	uint64_t default_translation;
	struct usk_mem_map_ops ops;
	void *cb_ctx;
	pthread_mutex_t lock;
	TAILQ_ENTRY(usk_mem_map) link;
};

/* Flags kept in g_reg_map for each registered 2 MiB page. */
#define REG_REGISTERED	 (1ULL << 0)
#define REG_REGION_START (1ULL << 1)

static pthread_mutex_t g_maps_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(, usk_mem_map) g_maps = TAILQ_HEAD_INITIALIZER(g_maps);
static struct usk_mem_map *g_reg_map; /* not on g_maps, never notified */
static struct usk_mem_map *g_vtophys_map;
static enum env_phys_mode g_phys_mode = ENV_PHYS_IOVA_VA;

static struct usk_mem_map *
map_create(uint64_t default_translation, const struct usk_mem_map_ops *ops, void *cb_ctx)
{
	struct usk_mem_map *map;

	map = calloc(1, sizeof(*map));
	if (map == NULL) {
		return NULL;
	}
	/* 2 MiB of pointers; calloc maps zero pages so only touched parts cost memory. */
	map->l1 = calloc(L1_ENTRIES, sizeof(*map->l1));
	if (map->l1 == NULL) {
		free(map);
		return NULL;
	}
	map->default_translation = default_translation;
	if (ops != NULL) {
		map->ops = *ops;
	}
	map->cb_ctx = cb_ctx;
	pthread_mutex_init(&map->lock, NULL);
	return map;
}

static void
map_destroy(struct usk_mem_map *map)
{
	uint64_t i;

	for (i = 0; i < L1_ENTRIES; i++) {
		free(atomic_load_explicit(&map->l1[i], memory_order_relaxed));
	}
	free(map->l1);
	pthread_mutex_destroy(&map->lock);
	free(map);
}

/* Caller holds map->lock. */
static struct map_l2 *
map_get_l2(struct usk_mem_map *map, uint64_t vaddr, bool create)
{
	struct map_l2 *l2 = atomic_load_explicit(&map->l1[L1_IDX(vaddr)], memory_order_relaxed);
	uint64_t i;

	if (l2 == NULL && create) {
		l2 = malloc(sizeof(*l2));
		if (l2 == NULL) {
			return NULL;
		}
		for (i = 0; i < L2_ENTRIES; i++) {
			l2->translation[i] = map->default_translation;
		}
		/* Release pairs with the acquire load in usk_mem_map_translate(). */
		atomic_store_explicit(&map->l1[L1_IDX(vaddr)], l2, memory_order_release);
	}
	return l2;
}

static int
map_set(struct usk_mem_map *map, uint64_t vaddr, uint64_t size, uint64_t translation, bool clear)
{
	struct map_l2 *l2;

	if ((vaddr & MASK_2MB) || (size & MASK_2MB) || vaddr >= MAX_VADDR ||
	    size > MAX_VADDR - vaddr) {
		return -EINVAL;
	}
	pthread_mutex_lock(&map->lock);
	while (size > 0) {
		l2 = map_get_l2(map, vaddr, !clear);
		if (l2 == NULL && !clear) {
			pthread_mutex_unlock(&map->lock);
			return -ENOMEM;
		}
		if (l2 != NULL) {
			__atomic_store_n(&l2->translation[L2_IDX(vaddr)],
					 clear ? map->default_translation : translation,
					 __ATOMIC_RELAXED);
		}
		vaddr += VALUE_2MB;
		size -= VALUE_2MB;
	}
	pthread_mutex_unlock(&map->lock);
	return 0;
}

int
usk_mem_map_set_translation(struct usk_mem_map *map, uint64_t vaddr, uint64_t size,
			    uint64_t translation)
{
	return map_set(map, vaddr, size, translation, false);
}

int
usk_mem_map_clear_translation(struct usk_mem_map *map, uint64_t vaddr, uint64_t size)
{
	return map_set(map, vaddr, size, 0, true);
}

static inline uint64_t
map_lookup(const struct usk_mem_map *map, uint64_t vaddr)
{
	/* Acquire pairs with the release store in map_get_l2(). */
	struct map_l2 *l2 = atomic_load_explicit(&map->l1[L1_IDX(vaddr)], memory_order_acquire);

	if (l2 == NULL) {
		return map->default_translation;
	}
	return __atomic_load_n(&l2->translation[L2_IDX(vaddr)], __ATOMIC_RELAXED);
}

uint64_t
usk_mem_map_translate(const struct usk_mem_map *map, uint64_t vaddr, uint64_t *size)
{
	uint64_t translation, prev, cur, cur_size;

	if (usk_unlikely(vaddr >= MAX_VADDR)) {
		return map->default_translation;
	}
	translation = map_lookup(map, vaddr);
	cur_size = VALUE_2MB - (vaddr & MASK_2MB);
	if (size == NULL) {
		return translation;
	}
	if (map->ops.are_contiguous == NULL || translation == map->default_translation) {
		*size = USK_MIN(*size, cur_size);
		return translation;
	}
	prev = translation;
	vaddr &= ~MASK_2MB;
	while (cur_size < *size) {
		vaddr += VALUE_2MB;
		if (vaddr >= MAX_VADDR) {
			break;
		}
		cur = map_lookup(map, vaddr);
		if (cur == map->default_translation || !map->ops.are_contiguous(prev, cur)) {
			break;
		}
		cur_size += VALUE_2MB;
		prev = cur;
	}
	*size = USK_MIN(*size, cur_size);
	return translation;
}

/*
 * Call fn for every registered region (REGION_START up to the next start or hole), in address
 * order. Caller holds g_maps_lock. Stops at the first error.
 */
typedef int (*region_fn)(void *ctx, uint64_t vaddr, uint64_t len);

static int
walk_regions(region_fn fn, void *ctx)
{
	uint64_t l1, l2, va, start = 0, len = 0, flags;
	struct map_l2 *t;
	int rc;

	for (l1 = 0; l1 < L1_ENTRIES; l1++) {
		t = atomic_load_explicit(&g_reg_map->l1[l1], memory_order_relaxed);
		if (t == NULL) {
			if (len != 0) {
				rc = fn(ctx, start, len);
				if (rc != 0) {
					return rc;
				}
				len = 0;
			}
			continue;
		}
		for (l2 = 0; l2 < L2_ENTRIES; l2++) {
			va = (l1 << SHIFT_1GB) | (l2 << SHIFT_2MB);
			flags = t->translation[l2];
			if (len != 0 && (!(flags & REG_REGISTERED) || (flags & REG_REGION_START))) {
				rc = fn(ctx, start, len);
				if (rc != 0) {
					return rc;
				}
				len = 0;
			}
			if (flags & REG_REGISTERED) {
				if (len == 0) {
					start = va;
				}
				len += VALUE_2MB;
			}
		}
	}
	return len != 0 ? fn(ctx, start, len) : 0;
}

struct notify_ctx {
	struct usk_mem_map *map;
	enum usk_mem_map_notify_action action;
	uint64_t stop_at; /* for rollback: regions at or above this were not notified */
};

static int
notify_region(void *ctx, uint64_t vaddr, uint64_t len)
{
	struct notify_ctx *n = ctx;

	if (vaddr >= n->stop_at) {
		return 1; /* stop walking, not an error */
	}
	return n->map->ops.notify_cb(n->map->cb_ctx, n->map, n->action, (void *)vaddr, len);
}

struct fail_ctx {
	uint64_t failed_at;
	int rc;
	struct notify_ctx *n;
};

static int
notify_region_track(void *ctx, uint64_t vaddr, uint64_t len)
{
	struct fail_ctx *f = ctx;
	int rc = notify_region(f->n, vaddr, len);

	if (rc != 0) {
		f->failed_at = vaddr;
		f->rc = rc;
	}
	return rc;
}

struct usk_mem_map *
usk_mem_map_alloc(uint64_t default_translation, const struct usk_mem_map_ops *ops, void *cb_ctx)
{
	struct usk_mem_map *map;
	struct notify_ctx n;
	struct fail_ctx f;

	if (env_dma_init(NULL) != 0) {
		return NULL;
	}
	map = map_create(default_translation, ops, cb_ctx);
	if (map == NULL) {
		return NULL;
	}
	pthread_mutex_lock(&g_maps_lock);
	if (map->ops.notify_cb != NULL) {
		n = (struct notify_ctx){
			.map = map, .action = USK_MEM_MAP_NOTIFY_REGISTER, .stop_at = UINT64_MAX};
		f = (struct fail_ctx){.n = &n};
		if (walk_regions(notify_region_track, &f) != 0) {
			/* Undo the regions notified before the failing one. */
			n.action = USK_MEM_MAP_NOTIFY_UNREGISTER;
			n.stop_at = f.failed_at;
			walk_regions(notify_region, &n);
			pthread_mutex_unlock(&g_maps_lock);
			USK_ERRLOG("mem map: notify_cb failed (%d) replaying region 0x%" PRIx64
				   "\n",
				   f.rc, f.failed_at);
			map_destroy(map);
			return NULL;
		}
	}
	TAILQ_INSERT_TAIL(&g_maps, map, link);
	pthread_mutex_unlock(&g_maps_lock);
	return map;
}

void
usk_mem_map_free(struct usk_mem_map **pmap)
{
	struct usk_mem_map *map;
	struct notify_ctx n;

	if (pmap == NULL || *pmap == NULL) {
		return;
	}
	map = *pmap;
	pthread_mutex_lock(&g_maps_lock);
	TAILQ_REMOVE(&g_maps, map, link);
	if (map->ops.notify_cb != NULL) {
		n = (struct notify_ctx){
			.map = map, .action = USK_MEM_MAP_NOTIFY_UNREGISTER, .stop_at = UINT64_MAX};
		walk_regions(notify_region, &n);
	}
	pthread_mutex_unlock(&g_maps_lock);
	map_destroy(map);
	*pmap = NULL;
}

/* Caller holds g_maps_lock. Notify maps from first up to (not including) stop. */
static int
notify_maps(struct usk_mem_map *stop, enum usk_mem_map_notify_action action, void *vaddr,
	    size_t len, struct usk_mem_map **failed)
{
	struct usk_mem_map *map;
	int rc;

	TAILQ_FOREACH(map, &g_maps, link) {
		if (map == stop) {
			break;
		}
		if (map->ops.notify_cb == NULL) {
			continue;
		}
		rc = map->ops.notify_cb(map->cb_ctx, map, action, vaddr, len);
		if (rc != 0) {
			if (failed != NULL) {
				*failed = map;
			}
			return rc;
		}
	}
	return 0;
}

int
usk_mem_register(void *vaddr, size_t len)
{
	uint64_t va = (uint64_t)(uintptr_t)vaddr, off;
	struct usk_mem_map *failed = NULL;
	int rc;

	if ((va & MASK_2MB) || (len & MASK_2MB) || len == 0 || va >= MAX_VADDR ||
	    len > MAX_VADDR - va) {
		return -EINVAL;
	}
	if (env_dma_init(NULL) != 0) {
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_maps_lock);
	for (off = 0; off < len; off += VALUE_2MB) {
		if (map_lookup(g_reg_map, va + off) & REG_REGISTERED) {
			pthread_mutex_unlock(&g_maps_lock);
			return -EBUSY;
		}
	}
	rc = map_set(g_reg_map, va, len, REG_REGISTERED, false);
	if (rc == 0) {
		rc = map_set(g_reg_map, va, VALUE_2MB, REG_REGISTERED | REG_REGION_START, false);
	}
	if (rc != 0) {
		map_set(g_reg_map, va, len, 0, true);
		pthread_mutex_unlock(&g_maps_lock);
		return rc;
	}
	rc = notify_maps(NULL, USK_MEM_MAP_NOTIFY_REGISTER, vaddr, len, &failed);
	if (rc != 0) {
		notify_maps(failed, USK_MEM_MAP_NOTIFY_UNREGISTER, vaddr, len, NULL);
		map_set(g_reg_map, va, len, 0, true);
	}
	pthread_mutex_unlock(&g_maps_lock);
	return rc;
}

int
usk_mem_unregister(void *vaddr, size_t len)
{
	uint64_t va = (uint64_t)(uintptr_t)vaddr, off, flags;
	int rc;

	if ((va & MASK_2MB) || (len & MASK_2MB) || len == 0 || va >= MAX_VADDR ||
	    len > MAX_VADDR - va) {
		return -EINVAL;
	}
	if (g_reg_map == NULL) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_maps_lock);
	/* The range must be whole registered regions: starts at a region, ends at one's end. */
	for (off = 0; off < len; off += VALUE_2MB) {
		flags = map_lookup(g_reg_map, va + off);
		if (!(flags & REG_REGISTERED) || (off == 0 && !(flags & REG_REGION_START))) {
			pthread_mutex_unlock(&g_maps_lock);
			return -EINVAL;
		}
	}
	if (va + len < MAX_VADDR) {
		flags = map_lookup(g_reg_map, va + len);
		if ((flags & REG_REGISTERED) && !(flags & REG_REGION_START)) {
			pthread_mutex_unlock(&g_maps_lock);
			return -ERANGE;
		}
	}
	/* Unregister every map, even if one fails (the memory goes away regardless). */
	rc = 0;
	{
		struct usk_mem_map *map;

		TAILQ_FOREACH(map, &g_maps, link) {
			if (map->ops.notify_cb != NULL) {
				int r = map->ops.notify_cb(map->cb_ctx, map,
							   USK_MEM_MAP_NOTIFY_UNREGISTER, vaddr,
							   len);
				if (r != 0 && rc == 0) {
					rc = r;
				}
			}
		}
	}
	map_set(g_reg_map, va, len, 0, true);
	pthread_mutex_unlock(&g_maps_lock);
	return rc;
}

/* ---- vtophys ---- */

static uint64_t
pagemap_phys(uint64_t vaddr)
{
	static int fd = -1;
	uint64_t entry, pfn;
	long pgsz = sysconf(_SC_PAGESIZE);

	/* procfs, served from the page tables: no disk I/O, bounded time (registration path). */
	if (fd < 0) {
		fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			return USK_VTOPHYS_ERROR;
		}
	}
	if (pread(fd, &entry, sizeof(entry), (off_t)(vaddr / (uint64_t)pgsz * sizeof(entry))) !=
	    sizeof(entry)) {
		return USK_VTOPHYS_ERROR;
	}
	/* bit 63 present, bits 0-54 PFN (zero without CAP_SYS_ADMIN) */
	if (!(entry & (1ULL << 63))) {
		return USK_VTOPHYS_ERROR;
	}
	pfn = entry & ((1ULL << 55) - 1);
	if (pfn == 0) {
		return USK_VTOPHYS_ERROR;
	}
	return pfn * (uint64_t)pgsz + (vaddr & ((uint64_t)pgsz - 1));
}

static int
vtophys_notify(void *cb_ctx, struct usk_mem_map *map, enum usk_mem_map_notify_action action,
	       void *vaddr, size_t size)
{
	uint64_t va = (uint64_t)(uintptr_t)vaddr, off, pa;
	int rc;

	if (action == USK_MEM_MAP_NOTIFY_UNREGISTER) {
		return usk_mem_map_clear_translation(map, va, size);
	}
	for (off = 0; off < size; off += VALUE_2MB) {
		if (g_phys_mode == ENV_PHYS_PAGEMAP) {
			/* Touch so the page is present; hugepages are pinned once faulted. */
			*(volatile char *)(uintptr_t)(va + off) =
				*(volatile char *)(uintptr_t)(va + off);
			pa = pagemap_phys(va + off);
			if (pa == USK_VTOPHYS_ERROR) {
				USK_ERRLOG("vtophys: no physical address for 0x%" PRIx64 "\n",
					   va + off);
				usk_mem_map_clear_translation(map, va, off);
				return -EFAULT;
			}
		} else {
			pa = va + off;
		}
		rc = usk_mem_map_set_translation(map, va + off, VALUE_2MB, pa);
		if (rc != 0) {
			usk_mem_map_clear_translation(map, va, off);
			return rc;
		}
	}
	return 0;
}

static int
vtophys_are_contiguous(uint64_t paddr1, uint64_t paddr2)
{
	return paddr2 - paddr1 == VALUE_2MB;
}

static const struct usk_mem_map_ops g_vtophys_ops = {
	.notify_cb = vtophys_notify,
	.are_contiguous = vtophys_are_contiguous,
};

struct usk_mem_map *
env_mem_map_create_private(uint64_t default_translation)
{
	return map_create(default_translation, NULL, NULL);
}

int
env_mem_maps_init(enum env_phys_mode mode)
{
	if (g_reg_map != NULL) {
		return 0;
	}
	g_phys_mode = mode;
	g_reg_map = map_create(0, NULL, NULL);
	if (g_reg_map == NULL) {
		return -ENOMEM;
	}
	g_vtophys_map = map_create(USK_VTOPHYS_ERROR, &g_vtophys_ops, NULL);
	if (g_vtophys_map == NULL) {
		map_destroy(g_reg_map);
		g_reg_map = NULL;
		return -ENOMEM;
	}
	/* Nothing is registered yet, so no replay is needed. */
	pthread_mutex_lock(&g_maps_lock);
	TAILQ_INSERT_TAIL(&g_maps, g_vtophys_map, link);
	pthread_mutex_unlock(&g_maps_lock);
	return 0;
}

enum env_phys_mode
env_phys_mode(void)
{
	return g_phys_mode;
}

uint64_t
usk_vtophys(const void *vaddr, uint64_t *size)
{
	uint64_t va = (uint64_t)(uintptr_t)vaddr, pa;

	if (usk_unlikely(g_vtophys_map == NULL)) {
		return USK_VTOPHYS_ERROR;
	}
	pa = usk_mem_map_translate(g_vtophys_map, va, size);
	if (pa == USK_VTOPHYS_ERROR) {
		return USK_VTOPHYS_ERROR;
	}
	return pa + (va & MASK_2MB);
}
