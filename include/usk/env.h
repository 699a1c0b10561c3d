/* SPDX-License-Identifier: BSD-3-Clause */
/* usk environment: DMA-safe memory, address translation, mempools, rings, ticks, cores. No DPDK. */
#ifndef USK_ENV_H
#define USK_ENV_H

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define USK_ENV_SOCKET_ID_ANY  (-1)
#define USK_ENV_LCORE_ID_ANY   UINT32_MAX
#define USK_ENV_MAX_CORES      128
#define USK_VTOPHYS_ERROR      UINT64_MAX
#define USK_MEM_MAP_PAGE_SHIFT 21
#define USK_MEM_MAP_PAGE_SIZE  (1ULL << USK_MEM_MAP_PAGE_SHIFT) /* 2 MiB translation granule */

struct usk_env_opts {
	/* sizeof(struct usk_env_opts) as the caller knows it; lets the struct grow. */
	size_t opts_size;
	const char *name;
	/* "0x3", "[0,1]" or "0-3". Default "0x1". */
	const char *core_mask;
	int shm_id;
	/* MiB to reserve up front; 0 = grow on demand. */
	int mem_size;
	int main_core;
	/* Never use hugepages even when hugetlbfs is mounted. */
	bool no_huge;
	/* hugetlbfs mount to use; NULL = first one in /proc/mounts. */
	const char *hugedir;
};

/** Fill opts with defaults. */
void usk_env_opts_init(struct usk_env_opts *opts, size_t opts_size);

/**
 * Initialise the environment: parse the core mask (every core must exist on this machine, else
 * -EINVAL), pin the calling thread to the main core, set up memory (2 MiB hugepages when a
 * hugetlbfs with 2 MiB pages is mounted (found in /proc/mounts, or opts->hugedir), some 2 MiB
 * pages are free and !no_huge; mlock'ed memfd memory otherwise (see usk_dma_get_fd_regions), where
 * a failing mlock, e.g. RLIMIT_MEMLOCK, only warns once) and the vtophys map. Call once, from the
 * main thread. Returns 0, -EINVAL, -EALREADY or -ENOMEM.
 *
 * Memory, maps, rings, mempools, ticks and the core queries also work without usk_env_init():
 * memory is then set up on first use with default options, and the core mask is {0}.
 */
int usk_env_init(const struct usk_env_opts *opts);
/**
 * Join threads started by usk_env_thread_launch_pinned and forget the core mask, so that
 * usk_env_init() may be called again. DMA memory stays mapped (objects may still point to it).
 */
void usk_env_fini(void);
/** True when DMA memory comes from hugepages. */
bool usk_env_hugepages_enabled(void);

/* ---- DMA-safe memory ---- */

/**
 * Allocate memory that is pinned and registered in the vtophys map. align 0 = 64 bytes; align
 * must be a power of two. phys_addr may be NULL; it receives the physical address (or the IOVA)
 * of the start.
 *
 * Addresses (chosen once, when memory is first set up): real physical addresses from
 * /proc/self/pagemap with hugepages and root (pagemap readable), unless an IOMMU is active and
 * no PCI device is bound to uio_pci_generic. Otherwise (no hugepages, the default in
 * containers; or an IOMMU, where vfio-pci maps every region, see usk/pci.h) the "physical"
 * address is the virtual address (IOVA = VA); such memory must not be given to a device that
 * needs real physical addresses (uio). DMA memory is placed below 2^39 where the kernel allows,
 * so that IOMMUs with 39-bit address width reach it.
 *
 * Sizes up to 1 MiB come from a buddy allocator over registered 2 MiB chunks (rounded up to a
 * power of two, naturally aligned); larger ones get their own 2 MiB-aligned registered region,
 * unmapped again by usk_dma_free. Thread safe (one mutex; not for the per-I/O path: use a
 * mempool there). A call that needs a new chunk maps, populates and locks it: milliseconds
 * per chunk, and a large size faults in all of it, so on a reactor (an RPC handler on the app
 * thread) it stalls every usk_thread of that core (docs/architecture.md). NULL on failure.
 */
void *usk_dma_malloc(size_t size, size_t align, uint64_t *phys_addr);
/** usk_dma_malloc, zero-filled. Same thread rules and failure. */
void *usk_dma_zmalloc(size_t size, size_t align, uint64_t *phys_addr);
/** buf NULL = malloc; size 0 = free (returns NULL). Keeps buf when it still fits. */
void *usk_dma_realloc(void *buf, size_t size, size_t align, uint64_t *phys_addr);
/** NULL is ignored; a pointer not from usk_dma_malloc is logged and ignored. */
void usk_dma_free(void *buf);

/**
 * Translate a virtual address to physical (or IOVA). *size on input is the length wanted;
 * on output, the length that is physically contiguous from vaddr (may be NULL).
 * Returns USK_VTOPHYS_ERROR when vaddr is not registered.
 */
uint64_t usk_vtophys(const void *vaddr, uint64_t *size);

/** A file range that backs DMA memory: [vaddr, vaddr+size) maps fd at offset. */
struct usk_dma_fd_region {
	void *vaddr;
	uint64_t size;
	int fd; /* owned by lib/env: do not close; MFD_CLOEXEC, sealed against shrinking */
	uint64_t offset;
};

/**
 * File ranges backing DMA memory, so that another process can map the same pages (vhost-user
 * SET_MEM_TABLE passes the fds). Without hugepages all DMA memory, present and future, lies in
 * one memfd "arena" region (address space sized to twice the RAM; pages exist once allocated).
 * Fills up to max_regions entries and returns how many regions there are (0 with hugepages:
 * those files are not kept open), or -ENOMEM. Any thread.
 *
 * DMA memory registered later is announced by the REGISTER notification of the mem map API
 * (usk_mem_map_alloc); a user that must see every range in a region calls this again from its
 * notify_cb to learn of a region it does not know yet.
 */
int usk_dma_get_fd_regions(struct usk_dma_fd_region *regions, int max_regions);

/* ---- memory maps (2 MiB granular two-level tables) ---- */

struct usk_mem_map;

enum usk_mem_map_notify_action {
	USK_MEM_MAP_NOTIFY_REGISTER,
	USK_MEM_MAP_NOTIFY_UNREGISTER,
};

typedef int (*usk_mem_map_notify_cb)(void *cb_ctx, struct usk_mem_map *map,
				     enum usk_mem_map_notify_action action, void *vaddr,
				     size_t size);
typedef int (*usk_mem_map_contiguous_translations)(uint64_t addr_1, uint64_t addr_2);

struct usk_mem_map_ops {
	/*
	 * Called for every registered region at alloc time and on each (un)register. May be NULL.
	 * Runs under the registry lock, possibly from usk_dma_malloc: it must not allocate DMA
	 * memory, (un)register memory or alloc/free maps. A non-zero return fails the register
	 * (or the map alloc); on unregister it is reported but the region goes away regardless.
	 */
	usk_mem_map_notify_cb notify_cb;
	/* Whether two adjacent 2 MiB translations may be merged. May be NULL (never merge). */
	usk_mem_map_contiguous_translations are_contiguous;
};

/**
 * Create a map; every already-registered region is replayed to ops->notify_cb.
 * Returns NULL on failure (including a notify_cb error).
 */
struct usk_mem_map *usk_mem_map_alloc(uint64_t default_translation,
				      const struct usk_mem_map_ops *ops, void *cb_ctx);
/** Free *pmap (unregister notifications are sent) and set it to NULL. */
void usk_mem_map_free(struct usk_mem_map **pmap);
/**
 * Set the translation of every 2 MiB page of [vaddr, vaddr+size) to translation (the same value
 * for each page, as SPDK does; set pages one by one for per-page values such as physical
 * addresses). vaddr and size must be 2 MiB aligned, vaddr+size below 2^48.
 * Writers are serialised per map; translate may run concurrently from any thread.
 * Returns 0 or -EINVAL/-ENOMEM.
 */
int usk_mem_map_set_translation(struct usk_mem_map *map, uint64_t vaddr, uint64_t size,
				uint64_t translation);
/** Reset pages to the default translation. Same alignment rules. */
int usk_mem_map_clear_translation(struct usk_mem_map *map, uint64_t vaddr, uint64_t size);
/**
 * Look up vaddr: returns the translation stored for its 2 MiB page (not offset by vaddr's
 * position in the page), or the default translation when not set. Lock free.
 * *size (may be NULL) in: bytes wanted; out: bytes from vaddr that the caller may treat as one
 * range: up to the end of the page, extended over following pages while
 * ops->are_contiguous(prev, next) says so; never more than the input.
 */
uint64_t usk_mem_map_translate(const struct usk_mem_map *map, uint64_t vaddr, uint64_t *size);

/**
 * Register [vaddr, vaddr+len) (2 MiB aligned) as DMA memory: every map's notify_cb is called
 * once for the range, and the vtophys map learns it. The caller keeps the memory pinned.
 * Returns 0, -EINVAL (unaligned or empty), -EBUSY (overlaps a registered region) or a notify
 * error (then no map keeps the region).
 */
int usk_mem_register(void *vaddr, size_t len);
/**
 * Unregister whole regions: vaddr must start a registered region and vaddr+len end one (several
 * adjacent regions at once are fine). Every map gets one UNREGISTER call for the range.
 * Returns 0, -EINVAL (unaligned, not registered, not a region start) or -ERANGE (ends inside a
 * region).
 */
int usk_mem_unregister(void *vaddr, size_t len);

/* ---- mempool ---- */

struct usk_mempool;
#define USK_MEMPOOL_DEFAULT_CACHE_SIZE 256

/**
 * Fixed-size object pool in DMA memory with a per-OS-thread cache of up to cache_size objects
 * (0 = no cache; capped at 512 and at 2/3 of count) in front of a lockless shared ring. count
 * is rounded up internally only for the ring; exactly count objects exist, each aligned to a
 * cache line. get/put never lock or make syscalls (a thread's first use of a pool allocates its
 * cache). Objects in one thread's cache are invisible to others, so size pools for
 * count + threads * cache_size; a thread's caches are returned to the pool when it exits.
 * Returns NULL on failure.
 */
struct usk_mempool *usk_mempool_create(const char *name, size_t count, size_t ele_size,
				       size_t cache_size, int socket_id);
/** As create, calling obj_init(mp, arg, obj, index) on every object once. */
typedef void(usk_mempool_obj_cb_t)(struct usk_mempool *mp, void *arg, void *obj, unsigned idx);
/**
 * usk_mempool_create, then obj_init(mp, obj_init_arg, obj, index) once per object on the calling
 * thread before it returns.
 */
struct usk_mempool *usk_mempool_create_ctor(const char *name, size_t count, size_t ele_size,
					    size_t cache_size, int socket_id,
					    usk_mempool_obj_cb_t *obj_init, void *obj_init_arg);
/**
 * As create, but the pool can later grow to max_count objects (usk_mempool_grow). The shared
 * ring is sized for max_count up front, so get/put stay lockless after a grow.
 */
struct usk_mempool *usk_mempool_create_growable(const char *name, size_t count, size_t max_count,
						size_t ele_size, size_t cache_size, int socket_id);
/**
 * Add up to n new objects (fewer when max_count is near). Allocates DMA memory: call it off
 * the I/O path (any thread; growers are serialized by a mutex that get/put never take).
 * Returns the number added, -ENOSPC at max_count, or -ENOMEM.
 */
int usk_mempool_grow(struct usk_mempool *mp, size_t n);
/** Objects that exist (count at create plus every grow). */
size_t usk_mempool_get_size(const struct usk_mempool *mp);
/** Free mp (NULL is a no-op). Every object should be back; no thread may use mp any more. */
void usk_mempool_free(struct usk_mempool *mp);
/** The name given at creation. Any thread. */
const char *usk_mempool_get_name(struct usk_mempool *mp);
/** NULL when empty (the pool's exhaustion counter is incremented). Thread safe. */
void *usk_mempool_get(struct usk_mempool *mp);
/** All or nothing: returns 0 or -ENOMEM. */
int usk_mempool_get_bulk(struct usk_mempool *mp, void **ele_arr, size_t count);
/**
 * Return ele (from this pool) to the calling thread's cache or the shared ring. Thread safe; no
 * lock, no syscall.
 */
void usk_mempool_put(struct usk_mempool *mp, void *ele);
/** usk_mempool_put of count objects at once. Thread safe. */
void usk_mempool_put_bulk(struct usk_mempool *mp, void **ele_arr, size_t count);
/** Objects available (shared ring + all caches). Approximate while others run. */
size_t usk_mempool_count(const struct usk_mempool *mp);
/** How many get/get_bulk calls found the pool empty. */
uint64_t usk_mempool_get_exhausted_count(const struct usk_mempool *mp);
/** Visit every object (for teardown checks). */
uint32_t usk_mempool_obj_iter(struct usk_mempool *mp, usk_mempool_obj_cb_t obj_cb,
			      void *obj_cb_arg);

/* ---- ring ---- */

struct usk_ring;

enum usk_ring_type {
	USK_RING_TYPE_SP_SC, /* single producer, single consumer */
	USK_RING_TYPE_MP_SC, /* multi producer, single consumer */
	USK_RING_TYPE_MP_MC, /* multi producer, multi consumer */
};

/**
 * Lockless ring of pointers (head/tail scheme of DPDK's rte_ring, C11 atomics). SP_SC: one
 * producer thread and one consumer thread at a time; MP_SC: any producers, one consumer;
 * MP_MC: any of both. count must be a power of two (2 .. 2^31); the ring holds count - 1
 * entries. Not backed by DMA memory. NULL on failure.
 */
struct usk_ring *usk_ring_create(enum usk_ring_type type, size_t count, int socket_id);
/** Free ring (NULL is a no-op); nothing may enqueue or dequeue any more. */
void usk_ring_free(struct usk_ring *ring);
/** Entries in the ring now; approximate while producers or consumers run. Any thread. */
size_t usk_ring_count(struct usk_ring *ring);
/**
 * Enqueue up to count objects; returns how many were enqueued (all or nothing for SP_SC and
 * MP_SC: 0 or count). free_space (may be NULL) receives the remaining room as this producer saw
 * it (a lower bound while a consumer runs concurrently). Never blocks; no syscall except a
 * sched_yield() when an MP producer waits for a preempted earlier producer.
 */
size_t usk_ring_enqueue(struct usk_ring *ring, void **objs, size_t count, size_t *free_space);
/** Dequeue up to count objects (FIFO); returns how many (0 when empty). */
size_t usk_ring_dequeue(struct usk_ring *ring, void **objs, size_t count);

/* ---- time ---- */

/** Monotonic tick counter (TSC when invariant, else CLOCK_MONOTONIC_RAW in ns). */
uint64_t usk_get_ticks(void);
/** Ticks per second. */
uint64_t usk_get_ticks_hz(void);
/**
 * Wait us microseconds: busy-polls the tick counter below 1 ms, nanosleep()s from 1 ms up.
 * Blocks the calling thread: never on a reactor after start-up (tests, start-up, tools).
 */
void usk_delay_us(unsigned int us);

/* ---- cores ---- */

/** Cores in the core mask given to usk_env_init ({0} before). Any thread. */
uint32_t usk_env_get_core_count(void);
/** Core the calling OS thread is pinned to, or USK_ENV_LCORE_ID_ANY. */
uint32_t usk_env_get_current_core(void);
/** The main core (first of the mask unless main_core was set). Any thread. */
uint32_t usk_env_get_main_core(void);
/** Lowest core of the mask. Any thread. */
uint32_t usk_env_get_first_core(void);
/** Highest core of the mask. Any thread. */
uint32_t usk_env_get_last_core(void);
/** Next core of the mask after prev_core, or UINT32_MAX. */
uint32_t usk_env_get_next_core(uint32_t prev_core);
#define USK_ENV_FOREACH_CORE(i) \
	for (i = usk_env_get_first_core(); i < UINT32_MAX; i = usk_env_get_next_core(i))

typedef int (*usk_thread_fn)(void *arg);
/** Start an OS thread pinned to core (which must be in the mask and not the current one). */
int usk_env_thread_launch_pinned(uint32_t core, usk_thread_fn fn, void *arg);
/** Join every thread started by usk_env_thread_launch_pinned. */
void usk_env_thread_wait_all(void);
/** Pin the calling thread to core. Returns 0 or -errno. */
int usk_env_pin_current(uint32_t core);
/**
 * Let tid run on every online core. For helper threads that a reactor creates for blocking
 * work (fdatasync, zeroing a large buffer): they inherit the reactor's single-core pinning and
 * would otherwise compete with the busy-polling reactor for its core. Any thread. Returns 0
 * or -errno.
 */
int usk_env_unpin_thread(pthread_t tid);

#ifdef __cplusplus
}
#endif
#endif
