/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMA-safe memory: where it comes from (2 MiB hugepages from a hugetlbfs mount, or shared memfd
 * memory aligned to 2 MiB and mlock'ed) and a buddy allocator that carves registered 2 MiB
 * chunks into power-of-two blocks of 64 B .. 1 MiB. Larger requests get their own region.
 *
 * Without hugepages the memory is one memfd "arena" (MFD_CLOEXEC, sealed against shrinking),
 * sized once to twice the machine's RAM (at least 64 GiB; only address space and a sparse file:
 * pages exist once touched) and mapped piecewise at fixed offsets, so that the whole of DMA
 * memory is one (fd, offset) range another process can map: vhost-user SET_MEM_TABLE passes it
 * (usk_dma_get_fd_regions). Freed big regions punch their pages out of the file and return
 * their range to a first-fit free list.
 *
 * Trade-offs: one mutex guards the heap (uncontended cost ~20 ns; the I/O path uses mempools,
 * not usk_dma_malloc); sizes round up to a power of two; small chunks are never returned to the
 * OS (they stay registered and are reused), big regions are unmapped on free.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/types.h>

#include "usk/log.h"
#include "usk/pci.h"
#include "usk/util.h"
#include "env_internal.h"

#define MIN_ORDER	6	  /* 64 B */
#define CHUNK_ORDER	SHIFT_2MB /* 2 MiB */
#define MAX_SMALL_ORDER (CHUNK_ORDER - 1)
#define UNITS_PER_CHUNK (1u << (CHUNK_ORDER - MIN_ORDER))

/* Per-64-B-unit state byte at the head of each block; 0 for units inside a block. */
#define ST_ORDER_MASK 0x1f
#define ST_FREE	      0x40
#define ST_ALLOC      0x80

enum region_type {
	REGION_CHUNK = 1,
	REGION_BIG,
};

struct free_node {
	struct free_node *prev;
	struct free_node *next;
};

struct chunk {
	enum region_type type; /* REGION_CHUNK */
	uintptr_t base;
	uint8_t state[UNITS_PER_CHUNK];
};

struct big_region {
	enum region_type type; /* REGION_BIG */
	uintptr_t base;
	size_t size;
};

static pthread_mutex_t g_heap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct free_node *g_free[CHUNK_ORDER + 1]; /* heads of free lists by order */
/* vaddr (2 MiB page) -> struct chunk * or struct big_region *, 0 if not ours. */
static struct usk_mem_map *g_heap_map;

static pthread_mutex_t g_init_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool g_dma_ready;
static bool g_hugepages;
static char g_hugedir[256];
static unsigned g_file_seq;
static bool g_mlock_warned;

/* The memfd arena (no hugepages): [g_arena_base, +g_arena_size) maps g_arena_fd at offset 0. */
#define ARENA_MIN_SIZE (64ULL << 30)
struct arena_extent {
	size_t off;
	size_t len;
};
static pthread_mutex_t g_arena_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_arena_fd = -1;
static uintptr_t g_arena_base;
static size_t g_arena_size;
/* Free ranges of the arena, sorted by offset, never adjacent (merged on free). */
static struct arena_extent *g_arena_free;
static size_t g_arena_nfree, g_arena_cap;

/* ---- backing memory ---- */

static bool
find_hugetlbfs(const char *want, char *dir, size_t dir_len)
{
	char line[1024], src[256], mnt[256], type[64], opts[512];
	FILE *f;
	bool found = false;

	f = fopen("/proc/mounts", "re");
	if (f == NULL) {
		return false;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%255s %255s %63s %511s", src, mnt, type, opts) != 4) {
			continue;
		}
		if (strcmp(type, "hugetlbfs") != 0) {
			continue;
		}
		if (want != NULL && strcmp(want, mnt) != 0) {
			continue;
		}
		/* Only 2 MiB pages: our granule. A pagesize= option other than 2M is skipped. */
		if (strstr(opts, "pagesize=") != NULL && strstr(opts, "pagesize=2M") == NULL &&
		    strstr(opts, "pagesize=2048k") == NULL) {
			continue;
		}
		snprintf(dir, dir_len, "%s", mnt);
		found = true;
		break;
	}
	fclose(f);
	return found;
}

/* Free 2 MiB hugepages in the system pool, from sysfs (any default page size) or meminfo. */
static long
free_2mb_hugepages(void)
{
	FILE *f;
	long n = -1;
	char line[128];

	f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "re");
	if (f != NULL) {
		if (fscanf(f, "%ld", &n) != 1) {
			n = -1;
		}
		fclose(f);
		return n;
	}
	f = fopen("/proc/meminfo", "re");
	if (f == NULL) {
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "HugePages_Free: %ld", &n) == 1) {
			break;
		}
	}
	fclose(f);
	return n;
}

/*
 * DMA memory is placed from DMA_VA_BASE upwards when the kernel lets us (a hint, never
 * MAP_FIXED): with IOVA = VA the device sees these addresses, and emulated or older IOMMUs
 * translate only 39 bits (QEMU's intel-iommu default), which the usual 0x7f.. mmap addresses
 * exceed. SPDK picks 0x200000000000 for the same reason (DPDK's base-virtaddr). Where the
 * range is taken (e.g. ASan's shadow) the kernel picks an address and vfio says if the IOMMU
 * cannot reach it.
 */
#define DMA_VA_BASE  0x2000000000ULL /* 128 GiB */
#define DMA_VA_LIMIT 0x7f00000000ULL /* below 2^39 */
/* Only a hint: racing callers (big_alloc takes no lock) at worst get a kernel-chosen address. */
static _Atomic uintptr_t g_va_hint = DMA_VA_BASE;

/* Reserve size bytes of address space aligned to align (both multiples of 2 MiB). */
static void *
reserve_aligned(size_t size, size_t align)
{
	uintptr_t raw, aligned;
	void *p;

	uintptr_t hint = atomic_load_explicit(&g_va_hint, memory_order_relaxed);

	if (hint + size + align > DMA_VA_LIMIT) {
		hint = DMA_VA_BASE;
	}
	p = mmap((void *)hint, size + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (p == MAP_FAILED) {
		return NULL;
	}
	if ((uintptr_t)p >= DMA_VA_BASE && (uintptr_t)p < DMA_VA_LIMIT) {
		atomic_store_explicit(&g_va_hint, (uintptr_t)p + size + align,
				      memory_order_relaxed);
	}
	raw = (uintptr_t)p;
	aligned = USK_ALIGN_CEIL(raw, (uintptr_t)align);
	if (aligned > raw) {
		munmap(p, aligned - raw);
	}
	if (raw + align > aligned) {
		munmap((void *)(aligned + size), raw + align - aligned);
	}
	return (void *)aligned;
}

static int
arena_create_locked(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), pgsz = sysconf(_SC_PAGESIZE);
	size_t size = ARENA_MIN_SIZE;
	void *base;
	int fd;

	if (pages > 0 && pgsz > 0 && (size_t)pages * (size_t)pgsz * 2 > size) {
		size = USK_ALIGN_CEIL((size_t)pages * (size_t)pgsz * 2, (size_t)1 << 30);
	}
	fd = memfd_create("usk-dma", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		USK_ERRLOG("dma: memfd_create failed: %s\n", strerror(errno));
		return -errno;
	}
	if (ftruncate(fd, (off_t)size) != 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
		USK_ERRLOG("dma: cannot size or seal the DMA memfd: %s\n", strerror(errno));
		close(fd);
		return -ENOMEM;
	}
	base = reserve_aligned(size, VALUE_2MB);
	if (base == NULL) {
		USK_ERRLOG("dma: cannot reserve %zu GiB of address space\n", size >> 30);
		close(fd);
		return -ENOMEM;
	}
	g_arena_free = calloc(16, sizeof(*g_arena_free));
	if (g_arena_free == NULL) {
		munmap(base, size);
		close(fd);
		return -ENOMEM;
	}
	g_arena_cap = 16;
	g_arena_free[0] = (struct arena_extent){.off = 0, .len = size};
	g_arena_nfree = 1;
	g_arena_base = (uintptr_t)base;
	g_arena_size = size;
	g_arena_fd = fd;
	return 0;
}

/* First fit of size bytes at an align-aligned address; returns the offset or SIZE_MAX. */
static size_t
arena_take_locked(size_t size, size_t align)
{
	size_t i, start, end;
	struct arena_extent *e;

	for (i = 0; i < g_arena_nfree; i++) {
		e = &g_arena_free[i];
		start = USK_ALIGN_CEIL(g_arena_base + e->off, align) - g_arena_base;
		if (start < e->off || start - e->off > e->len || e->len - (start - e->off) < size) {
			continue;
		}
		end = start + size;
		if (start == e->off && end == e->off + e->len) {
			memmove(e, e + 1, (g_arena_nfree - i - 1) * sizeof(*e));
			g_arena_nfree--;
		} else if (start == e->off) {
			e->len -= size;
			e->off = end;
		} else if (end == e->off + e->len) {
			e->len = start - e->off;
		} else {
			/* Split in two: needs one more slot. */
			if (g_arena_nfree == g_arena_cap) {
				struct arena_extent *n =
					realloc(g_arena_free, 2 * g_arena_cap * sizeof(*n));

				if (n == NULL) {
					return SIZE_MAX;
				}
				g_arena_free = n;
				g_arena_cap *= 2;
				e = &g_arena_free[i];
			}
			memmove(e + 2, e + 1, (g_arena_nfree - i - 1) * sizeof(*e));
			e[1] = (struct arena_extent){.off = end, .len = e->off + e->len - end};
			e->len = start - e->off;
			g_arena_nfree++;
		}
		return start;
	}
	return SIZE_MAX;
}

/* Give [off, off+len) back; merges with its neighbours. Returns -ENOMEM (range leaked). */
static int
arena_give_locked(size_t off, size_t len)
{
	size_t i;
	struct arena_extent *e;

	for (i = 0; i < g_arena_nfree && g_arena_free[i].off < off; i++) {
	}
	if (i > 0 && g_arena_free[i - 1].off + g_arena_free[i - 1].len == off) {
		e = &g_arena_free[i - 1];
		e->len += len;
		if (i < g_arena_nfree && off + len == g_arena_free[i].off) {
			e->len += g_arena_free[i].len;
			memmove(&g_arena_free[i], &g_arena_free[i + 1],
				(g_arena_nfree - i - 1) * sizeof(*e));
			g_arena_nfree--;
		}
		return 0;
	}
	if (i < g_arena_nfree && off + len == g_arena_free[i].off) {
		g_arena_free[i].off = off;
		g_arena_free[i].len += len;
		return 0;
	}
	if (g_arena_nfree == g_arena_cap) {
		e = realloc(g_arena_free, 2 * g_arena_cap * sizeof(*e));
		if (e == NULL) {
			return -ENOMEM;
		}
		g_arena_free = e;
		g_arena_cap *= 2;
	}
	memmove(&g_arena_free[i + 1], &g_arena_free[i], (g_arena_nfree - i) * sizeof(*e));
	g_arena_free[i] = (struct arena_extent){.off = off, .len = len};
	g_arena_nfree++;
	return 0;
}

static void *
arena_map(size_t size, size_t align)
{
	size_t off;
	void *p = NULL;

	pthread_mutex_lock(&g_arena_lock);
	if (g_arena_fd < 0 && arena_create_locked() != 0) {
		goto out;
	}
	off = arena_take_locked(size, align);
	if (off == SIZE_MAX) {
		USK_ERRLOG("dma: the DMA arena has no free %zu bytes\n", size);
		goto out;
	}
	p = mmap((void *)(g_arena_base + off), size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 g_arena_fd, (off_t)off);
	if (p == MAP_FAILED) {
		USK_ERRLOG("dma: mapping %zu bytes of the DMA memfd failed: %s\n", size,
			   strerror(errno));
		arena_give_locked(off, size);
		p = NULL;
	}
out:
	pthread_mutex_unlock(&g_arena_lock);
	return p;
}

static void
arena_unmap(void *addr, size_t size)
{
	size_t off = (uintptr_t)addr - g_arena_base;

	pthread_mutex_lock(&g_arena_lock);
	/* Drop the pages (the file keeps its size: the seal forbids shrinking, not holes). */
	if (fallocate(g_arena_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
		      (off_t)size) != 0) {
		USK_WARNLOG("dma: punching %zu bytes out of the DMA memfd failed: %s\n", size,
			    strerror(errno));
	}
	/* Back to reserved address space, so nothing else is mapped there. */
	if (mmap(addr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
		 0) == MAP_FAILED ||
	    arena_give_locked(off, size) != 0) {
		USK_WARNLOG("dma: %zu bytes of the DMA arena not reusable\n", size);
	}
	pthread_mutex_unlock(&g_arena_lock);
}

static inline bool
in_arena(const void *addr)
{
	return g_arena_fd >= 0 && (uintptr_t)addr >= g_arena_base &&
	       (uintptr_t)addr - g_arena_base < g_arena_size;
}

int
usk_dma_get_fd_regions(struct usk_dma_fd_region *regions, int max_regions)
{
	int n = 0;

	if (!atomic_load_explicit(&g_dma_ready, memory_order_acquire) && env_dma_init(NULL) != 0) {
		return -ENOMEM;
	}
	if (g_hugepages) {
		return 0;
	}
	pthread_mutex_lock(&g_arena_lock);
	if (g_arena_fd < 0 && arena_create_locked() != 0) {
		pthread_mutex_unlock(&g_arena_lock);
		return -ENOMEM;
	}
	if (max_regions > 0 && regions != NULL) {
		regions[0] = (struct usk_dma_fd_region){
			.vaddr = (void *)g_arena_base,
			.size = g_arena_size,
			.fd = g_arena_fd,
			.offset = 0,
		};
	}
	n = 1;
	pthread_mutex_unlock(&g_arena_lock);
	return n;
}

static void *
hugetlb_map(size_t size, size_t align)
{
	char path[320];
	void *addr, *p;
	int fd;

	addr = reserve_aligned(size, align);
	if (addr == NULL) {
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/usk_%d_%u", g_hugedir, (int)getpid(), g_file_seq++);
	fd = open(path, O_CREAT | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		USK_ERRLOG("dma: cannot create %s: %s\n", path, strerror(errno));
		munmap(addr, size);
		return NULL;
	}
	/* The mapping keeps the pages; the name is not needed once mapped. */
	p = mmap(addr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd, 0);
	unlink(path);
	close(fd);
	if (p == MAP_FAILED) {
		USK_ERRLOG("dma: no free 2 MiB hugepages for %zu bytes (%s)\n", size,
			   strerror(errno));
		munmap(addr, size);
		return NULL;
	}
	return p;
}

static void *
backend_map(size_t size, size_t align)
{
	void *p;

	align = USK_MAX(align, (size_t)VALUE_2MB);
	if (g_hugepages) {
		return hugetlb_map(size, align);
	}
	p = arena_map(size, align);
	if (p == NULL) {
		return NULL;
	}
	madvise(p, size, MADV_HUGEPAGE);
	if (mlock(p, size) != 0) {
		if (!g_mlock_warned) {
			g_mlock_warned = true;
			USK_WARNLOG("dma: mlock failed (%s); DMA memory is not pinned (raise "
				    "RLIMIT_MEMLOCK / ulimit -l, or mount hugetlbfs)\n",
				    strerror(errno));
		}
	}
	return p;
}

static void
backend_unmap(void *addr, size_t size)
{
	if (in_arena(addr)) {
		arena_unmap(addr, size);
		return;
	}
	munmap(addr, size);
}

/* ---- init ---- */

static bool
pagemap_works(void)
{
	uint64_t entry = 0;
	volatile char probe = 1;
	long pgsz = sysconf(_SC_PAGESIZE);
	int fd;
	ssize_t n;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return false;
	}
	n = pread(fd, &entry, sizeof(entry), (off_t)((uintptr_t)&probe / (uint64_t)pgsz * 8));
	close(fd);
	return n == sizeof(entry) && (entry & (1ULL << 63)) && (entry & ((1ULL << 55) - 1)) != 0;
}

static int chunk_add_locked(void *mem, size_t size);

int
env_dma_init(const struct usk_env_opts *opts)
{
	enum env_phys_mode mode = ENV_PHYS_IOVA_VA;
	size_t reserve;
	void *mem;
	int rc = 0;

	if (atomic_load_explicit(&g_dma_ready, memory_order_acquire)) {
		if (opts != NULL && opts->no_huge && g_hugepages) {
			USK_NOTICELOG(
				"dma: memory was already set up with hugepages; no_huge ignored\n");
		}
		return 0;
	}
	pthread_mutex_lock(&g_init_lock);
	if (atomic_load_explicit(&g_dma_ready, memory_order_relaxed)) {
		goto out;
	}
	g_hugepages = false;
	if (opts == NULL || !opts->no_huge) {
		g_hugepages =
			find_hugetlbfs(opts ? opts->hugedir : NULL, g_hugedir, sizeof(g_hugedir));
		if (!g_hugepages && opts != NULL && opts->hugedir != NULL) {
			USK_ERRLOG("dma: %s is not a 2 MiB hugetlbfs mount\n", opts->hugedir);
			rc = -EINVAL;
			goto out;
		}
		/*
		 * systemd mounts /dev/hugepages on most hosts even with no pages reserved: use
		 * hugepages only when some are free, else every allocation would fail.
		 */
		if (g_hugepages && free_2mb_hugepages() == 0) {
			USK_NOTICELOG("dma: %s is mounted but no 2 MiB hugepages are free; using "
				      "memfd memory (IOVA = VA)\n",
				      g_hugedir);
			g_hugepages = false;
		}
	}
	/*
	 * Physical addresses only where a device needs them: uio_pci_generic devices do DMA to
	 * physical addresses; behind an IOMMU vfio-pci devices use IOVA = VA (so do devices
	 * with no kernel driver in between, e.g. vhost), which also works without hugepages.
	 */
	if (g_hugepages && pagemap_works() && (!usk_pci_iommu_present() || env_pci_uio_bound())) {
		mode = ENV_PHYS_PAGEMAP;
	}
	rc = env_mem_maps_init(mode);
	if (rc != 0) {
		goto out;
	}
	g_heap_map = env_mem_map_create_private(0);
	if (g_heap_map == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	USK_INFOLOG(env, "dma: %s, addresses %s\n",
		    g_hugepages ? g_hugedir : "memfd arena (no hugepages)",
		    mode == ENV_PHYS_PAGEMAP ? "physical (pagemap)" : "IOVA = VA");
	atomic_store_explicit(&g_dma_ready, true, memory_order_release);
	if (opts != NULL && opts->mem_size > 0) {
		reserve = USK_ALIGN_CEIL((size_t)opts->mem_size << 20, (size_t)VALUE_2MB);
		mem = backend_map(reserve, VALUE_2MB);
		if (mem == NULL) {
			USK_ERRLOG("dma: cannot reserve %d MiB\n", opts->mem_size);
			rc = -ENOMEM;
			goto out;
		}
		pthread_mutex_lock(&g_heap_lock);
		rc = chunk_add_locked(mem, reserve);
		pthread_mutex_unlock(&g_heap_lock);
		if (rc != 0) {
			backend_unmap(mem, reserve);
		}
	}
out:
	pthread_mutex_unlock(&g_init_lock);
	return rc;
}

bool
env_dma_hugepages(void)
{
	return g_hugepages;
}

/* ---- buddy heap ---- */

static inline void
free_push(unsigned order, uintptr_t addr)
{
	struct free_node *n = (struct free_node *)addr;

	n->prev = NULL;
	n->next = g_free[order];
	if (n->next != NULL) {
		n->next->prev = n;
	}
	g_free[order] = n;
}

static inline void
free_remove(unsigned order, uintptr_t addr)
{
	struct free_node *n = (struct free_node *)addr;

	if (n->prev != NULL) {
		n->prev->next = n->next;
	} else {
		g_free[order] = n->next;
	}
	if (n->next != NULL) {
		n->next->prev = n->prev;
	}
}

static inline struct chunk *
chunk_of(uintptr_t addr)
{
	return (struct chunk *)(uintptr_t)usk_mem_map_translate(g_heap_map, addr, NULL);
}

/* Register mem (size a multiple of 2 MiB) and turn it into free whole chunks. */
static int
chunk_add_locked(void *mem, size_t size)
{
	struct chunk **chunks;
	size_t n = size / VALUE_2MB, i;
	int rc;

	chunks = calloc(n, sizeof(*chunks));
	if (chunks == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		chunks[i] = calloc(1, sizeof(struct chunk));
		if (chunks[i] == NULL) {
			rc = -ENOMEM;
			goto err_free_chunks;
		}
	}
	rc = usk_mem_register(mem, size);
	if (rc != 0) {
		USK_ERRLOG("dma: registering %zu bytes failed: %d\n", size, rc);
		goto err_free_chunks;
	}
	for (i = 0; i < n; i++) {
		uintptr_t base = (uintptr_t)mem + i * VALUE_2MB;

		chunks[i]->type = REGION_CHUNK;
		chunks[i]->base = base;
		chunks[i]->state[0] = ST_FREE | CHUNK_ORDER;
		usk_mem_map_set_translation(g_heap_map, base, VALUE_2MB,
					    (uint64_t)(uintptr_t)chunks[i]);
		free_push(CHUNK_ORDER, base);
	}
	free(chunks);
	return 0;

err_free_chunks:
	for (i = 0; i < n; i++) {
		free(chunks[i]);
	}
	free(chunks);
	return rc;
}

static void *
small_alloc(unsigned order)
{
	unsigned k;
	uintptr_t addr;
	struct chunk *c;
	void *mem;

	pthread_mutex_lock(&g_heap_lock);
	for (k = order; k <= CHUNK_ORDER && g_free[k] == NULL; k++) {
	}
	if (k > CHUNK_ORDER) {
		mem = backend_map(VALUE_2MB, VALUE_2MB);
		if (mem == NULL || chunk_add_locked(mem, VALUE_2MB) != 0) {
			pthread_mutex_unlock(&g_heap_lock);
			if (mem != NULL) {
				backend_unmap(mem, VALUE_2MB);
			}
			return NULL;
		}
		k = CHUNK_ORDER;
	}
	addr = (uintptr_t)g_free[k];
	free_remove(k, addr);
	c = chunk_of(addr);
	/* Split, keeping the lower half each time; upper halves become free buddies. */
	while (k > order) {
		k--;
		c->state[((addr + (1ul << k)) - c->base) >> MIN_ORDER] = (uint8_t)(ST_FREE | k);
		free_push(k, addr + (1ul << k));
	}
	c->state[(addr - c->base) >> MIN_ORDER] = (uint8_t)(ST_ALLOC | order);
	pthread_mutex_unlock(&g_heap_lock);
	return (void *)addr;
}

static void
small_free(struct chunk *c, uintptr_t addr)
{
	uintptr_t off = addr - c->base, buddy;
	unsigned order;
	uint8_t st;

	pthread_mutex_lock(&g_heap_lock);
	st = (off & ((1u << MIN_ORDER) - 1)) ? 0 : c->state[off >> MIN_ORDER];
	if (!(st & ST_ALLOC)) {
		pthread_mutex_unlock(&g_heap_lock);
		USK_ERRLOG("dma: free of %p that is not an allocated block (double free?)\n",
			   (void *)addr);
		return;
	}
	order = st & ST_ORDER_MASK;
	c->state[off >> MIN_ORDER] = 0;
	while (order < CHUNK_ORDER) {
		buddy = off ^ (1ul << order);
		if (c->state[buddy >> MIN_ORDER] != (ST_FREE | order)) {
			break;
		}
		free_remove(order, c->base + buddy);
		c->state[buddy >> MIN_ORDER] = 0;
		off = USK_MIN(off, buddy);
		order++;
	}
	c->state[off >> MIN_ORDER] = (uint8_t)(ST_FREE | order);
	free_push(order, c->base + off);
	pthread_mutex_unlock(&g_heap_lock);
}

static void *
big_alloc(size_t size, size_t align)
{
	struct big_region *r;
	void *mem;
	int rc;

	size = USK_ALIGN_CEIL(size, (size_t)VALUE_2MB);
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return NULL;
	}
	mem = backend_map(size, align);
	if (mem == NULL) {
		free(r);
		return NULL;
	}
	rc = usk_mem_register(mem, size);
	if (rc != 0) {
		USK_ERRLOG("dma: registering %zu bytes failed: %d\n", size, rc);
		backend_unmap(mem, size);
		free(r);
		return NULL;
	}
	r->type = REGION_BIG;
	r->base = (uintptr_t)mem;
	r->size = size;
	usk_mem_map_set_translation(g_heap_map, r->base, size, (uint64_t)(uintptr_t)r);
	return mem;
}

static void
big_free(struct big_region *r, uintptr_t addr)
{
	if (addr != r->base) {
		USK_ERRLOG("dma: free of %p inside a region that starts at %p\n", (void *)addr,
			   (void *)r->base);
		return;
	}
	usk_mem_map_clear_translation(g_heap_map, r->base, r->size);
	usk_mem_unregister((void *)r->base, r->size);
	backend_unmap((void *)r->base, r->size);
	free(r);
}

/* Usable size of an allocation, 0 if buf is not one. */
static size_t
alloc_size(const void *buf)
{
	uintptr_t addr = (uintptr_t)buf;
	struct chunk *c = chunk_of(addr);
	uint8_t st;

	if (c == NULL) {
		return 0;
	}
	if (c->type == REGION_BIG) {
		return ((struct big_region *)c)->size;
	}
	st = c->state[(addr - c->base) >> MIN_ORDER];
	return (st & ST_ALLOC) ? (size_t)1 << (st & ST_ORDER_MASK) : 0;
}

/* *fresh is set when the memory was just mapped (and so is already zero). */
static void *
dma_alloc(size_t size, size_t align, uint64_t *phys_addr, bool *fresh)
{
	uint64_t need;
	unsigned order;
	void *buf;

	if (usk_unlikely(!atomic_load_explicit(&g_dma_ready, memory_order_acquire))) {
		if (env_dma_init(NULL) != 0) {
			return NULL;
		}
	}
	if (align == 0) {
		align = USK_CACHE_LINE_SIZE;
	}
	if (!USK_IS_POW2(align) || size > (SIZE_MAX >> 2) || align > (SIZE_MAX >> 2)) {
		return NULL;
	}
	if (size == 0) {
		size = 1;
	}
	need = usk_align64pow2(USK_MAX(size, align));
	if (need > (1ULL << MAX_SMALL_ORDER)) {
		/* Big regions are always newly mapped: zero pages from the kernel. */
		buf = big_alloc(size, align);
		*fresh = true;
	} else {
		order = (unsigned)__builtin_ctzll(need);
		buf = small_alloc(USK_MAX(order, (unsigned)MIN_ORDER));
	}
	if (buf != NULL && phys_addr != NULL) {
		*phys_addr = usk_vtophys(buf, NULL);
	}
	return buf;
}

void *
usk_dma_malloc(size_t size, size_t align, uint64_t *phys_addr)
{
	bool fresh = false;

	return dma_alloc(size, align, phys_addr, &fresh);
}

void *
usk_dma_zmalloc(size_t size, size_t align, uint64_t *phys_addr)
{
	bool fresh = false;
	void *buf = dma_alloc(size, align, phys_addr, &fresh);

	/* Skipping the memset of a fresh region saves e.g. ~0.2 s per GiB of malloc bdev. */
	if (buf != NULL && !fresh) {
		memset(buf, 0, size);
	}
	return buf;
}

void
usk_dma_free(void *buf)
{
	struct chunk *c;

	if (buf == NULL) {
		return;
	}
	c = g_heap_map ? chunk_of((uintptr_t)buf) : NULL;
	if (c == NULL) {
		USK_ERRLOG("dma: free of %p that was not allocated by usk_dma_malloc\n", buf);
		return;
	}
	if (c->type == REGION_BIG) {
		big_free((struct big_region *)c, (uintptr_t)buf);
	} else {
		small_free(c, (uintptr_t)buf);
	}
}

void *
usk_dma_realloc(void *buf, size_t size, size_t align, uint64_t *phys_addr)
{
	size_t old;
	void *nbuf;

	if (buf == NULL) {
		return usk_dma_malloc(size, align, phys_addr);
	}
	if (size == 0) {
		usk_dma_free(buf);
		return NULL;
	}
	if (align == 0) {
		align = USK_CACHE_LINE_SIZE;
	}
	old = g_heap_map ? alloc_size(buf) : 0;
	if (old == 0) {
		USK_ERRLOG("dma: realloc of %p that was not allocated by usk_dma_malloc\n", buf);
		return NULL;
	}
	if (size <= old && USK_IS_POW2(align) && ((uintptr_t)buf & (align - 1)) == 0 &&
	    (old <= VALUE_2MB || size > old / 2)) {
		if (phys_addr != NULL) {
			*phys_addr = usk_vtophys(buf, NULL);
		}
		return buf;
	}
	nbuf = usk_dma_malloc(size, align, phys_addr);
	if (nbuf == NULL) {
		return NULL;
	}
	memcpy(nbuf, buf, USK_MIN(old, size));
	usk_dma_free(buf);
	return nbuf;
}
