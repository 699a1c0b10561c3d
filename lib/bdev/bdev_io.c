/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bdev I/O path: channels, bdev_io cache, submit/complete, NOMEM retry, io_wait, data buffers,
 * deferred completion. Splitting, emulation, reset and abort live in bdev_io_ext.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "usk/trace.h"
#include "bdev_internal.h"

/* ---- per-thread management channel ---- */

static int mgmt_retry_poll(void *ctx);
static void deferred_drain_msg(void *ctx);

int
bdev_mgmt_channel_create(void *io_device, void *ctx_buf)
{
	struct bdev_mgmt_channel *mgmt = ctx_buf;
	struct usk_bdev_io *io;
	uint32_t i;

	memset(mgmt, 0, sizeof(*mgmt));
	mgmt->thread = usk_get_thread();
	mgmt->cache_size = g_bdev_opts.bdev_io_cache_size;
	for (i = 0; i < mgmt->cache_size; i++) {
		io = usk_mempool_get(g_bdev_mgr.bdev_io_pool);
		if (io == NULL) {
			break;
		}
		io->internal.link = mgmt->cache;
		mgmt->cache = io;
		mgmt->cache_count++;
	}
	pthread_mutex_lock(&g_bdev_mgr.mgmt_mutex);
	TAILQ_INSERT_TAIL(&g_bdev_mgr.mgmt_channels, mgmt, link);
	pthread_mutex_unlock(&g_bdev_mgr.mgmt_mutex);
	return 0;
}

void
bdev_mgmt_channel_destroy(void *io_device, void *ctx_buf)
{
	struct bdev_mgmt_channel *mgmt = ctx_buf;
	struct usk_bdev_io *io;

	if (mgmt->io_wait_head || mgmt->buf_wait_head || mgmt->deferred_head) {
		USK_ERRLOG("bdev management channel destroyed with waiters queued\n");
	}
	while ((io = mgmt->cache) != NULL) {
		mgmt->cache = io->internal.link;
		usk_mempool_put(g_bdev_mgr.bdev_io_pool, io);
	}
	mgmt->cache_count = 0;
	if (mgmt->buf_retry_poller) {
		usk_poller_unregister(&mgmt->buf_retry_poller);
	}
	pthread_mutex_lock(&g_bdev_mgr.mgmt_mutex);
	TAILQ_REMOVE(&g_bdev_mgr.mgmt_channels, mgmt, link);
	pthread_mutex_unlock(&g_bdev_mgr.mgmt_mutex);
}

/* ---- bdev channels ---- */

size_t g_bdev_ch_ctx_offset;
static bool g_bdev_ch_ctx_offset_varies;

static void
learn_ctx_offset(struct usk_io_channel *ch, void *ctx)
{
	size_t off = (size_t)((uint8_t *)ctx - (uint8_t *)ch);

	if (g_bdev_ch_ctx_offset_varies) {
		return;
	}
	if (g_bdev_ch_ctx_offset == 0) {
		__atomic_store_n(&g_bdev_ch_ctx_offset, off, __ATOMIC_RELAXED);
	} else if (g_bdev_ch_ctx_offset != off) {
		g_bdev_ch_ctx_offset_varies = true;
		__atomic_store_n(&g_bdev_ch_ctx_offset, 0, __ATOMIC_RELAXED);
	}
}

static bool
bdev_needs_split_check(const struct usk_bdev *bdev)
{
	return (bdev->split_on_optimal_io_boundary && bdev->optimal_io_boundary) ||
	       bdev->max_segment_size || bdev->max_num_segments || bdev->max_rw_size;
}

int
bdev_channel_create(void *io_device, void *ctx_buf)
{
	struct usk_bdev_internal *bi = io_device;
	struct usk_bdev *bdev = bi->bdev;
	struct usk_bdev_channel *bch;

	bch = aligned_alloc(USK_CACHE_LINE_SIZE,
			    USK_ALIGN_CEIL(sizeof(*bch), (size_t)USK_CACHE_LINE_SIZE));
	if (bch == NULL) {
		return -ENOMEM;
	}
	memset(bch, 0, sizeof(*bch));
	*(struct usk_bdev_channel **)ctx_buf = bch;
	bch->bdev = bdev;
	bch->submit_request = bdev->fn_table->submit_request;
	bch->thread = usk_get_thread();
	bch->self = usk_io_channel_from_ctx(ctx_buf);
	learn_ctx_offset(bch->self, ctx_buf);
	bch->module_ch = bdev->fn_table->get_io_channel(bdev->ctxt);
	if (bch->module_ch == NULL) {
		USK_ERRLOG("bdev %s: module could not create an I/O channel\n", bdev->name);
		free(bch);
		return -ENOMEM;
	}
	bch->mgmt_ch = usk_get_io_channel(&g_bdev_mgr);
	if (bch->mgmt_ch == NULL) {
		usk_put_io_channel(bch->module_ch);
		free(bch);
		return -ENOMEM;
	}
	bch->mgmt = usk_io_channel_get_ctx(bch->mgmt_ch);
	if (bdev_needs_split_check(bdev)) {
		bch->flags |= BDEV_CH_SPLIT;
	}
	bdev_stat_reset(&bch->stat, USK_BDEV_RESET_STAT_ALL);
	pthread_mutex_lock(&bi->mutex);
	if (__atomic_load_n(&bi->histogram_off, __ATOMIC_RELAXED)) {
		bch->flags |= BDEV_CH_NO_HISTOGRAM;
	}
	TAILQ_INSERT_TAIL(&bi->channels, bch, link);
	if (bi->reset_in_progress) {
		bch->flags |= BDEV_CH_RESET_IN_PROGRESS;
	}
	pthread_mutex_unlock(&bi->mutex);
	bdev_qos_channel_init(bch);
	return 0;
}

static void
bdev_channel_free(struct usk_bdev_channel *bch)
{
	usk_put_io_channel(bch->module_ch);
	usk_put_io_channel(bch->mgmt_ch);
	free(bch);
}

static void
zombie_free_msg(void *ctx)
{
	struct usk_bdev_channel *bch = ctx;
	struct usk_bdev_internal *bi = bch->bdev->internal;
	bool last;

	bch->free_scheduled = false;
	if (bch->io_outstanding || bch->user_inflight) {
		return; /* more I/O came back meanwhile (cannot happen: nothing new is submitted) */
	}
	pthread_mutex_lock(&bi->mutex);
	bdev_stat_add(&bi->stat_closed, &bch->stat);
	last = --bi->zombies == 0 && bi->destruct_waiting;
	pthread_mutex_unlock(&bi->mutex);
	bdev_channel_free(bch);
	if (last) {
		bdev_zombies_gone(bi);
	}
}

void
bdev_channel_zombie_check(struct usk_bdev_channel *bch)
{
	if (bch->io_outstanding || bch->user_inflight || bch->free_scheduled) {
		return;
	}
	/* From a message: the caller's stack may still hold bch. */
	if (usk_thread_send_msg(bch->thread, zombie_free_msg, bch) == 0) {
		bch->free_scheduled = true;
	}
}

void
bdev_channel_destroy(void *io_device, void *ctx_buf)
{
	struct usk_bdev_internal *bi = io_device;
	struct usk_bdev_channel *bch = *(struct usk_bdev_channel **)ctx_buf;

	/* Queued I/O must not outlive its channel: fail it. */
	bdev_channel_abort_queued(bch, &bch->nomem_head, &bch->nomem_tail, NULL, true);
	bdev_qos_channel_destroy(bch);
	if (bch->nomem_poller) {
		usk_poller_unregister(&bch->nomem_poller);
	}
	pthread_mutex_lock(&bi->mutex);
	TAILQ_REMOVE(&bi->channels, bch, link);
	if (bch->io_outstanding || bch->user_inflight) {
		/* The user put the channel with I/O in flight: keep the channel (and the module's
		 * channel) until that I/O is done, and the bdev until then too. */
		bi->zombies++;
		bch->flags |= BDEV_CH_ZOMBIE;
		pthread_mutex_unlock(&bi->mutex);
		USK_WARNLOG(
			"bdev %s: channel put with %lu I/O in flight; freed when it completes\n",
			bi->bdev->name,
			(unsigned long)USK_MAX(bch->io_outstanding, bch->user_inflight));
		return;
	}
	bdev_stat_add(&bi->stat_closed, &bch->stat);
	pthread_mutex_unlock(&bi->mutex);
	bdev_channel_free(bch);
}

/* ---- bdev_io allocation ---- */

static inline struct usk_bdev_io *
bdev_io_get(struct bdev_mgmt_channel *mgmt)
{
	struct usk_bdev_io *io = mgmt->cache;

	if (usk_likely(io != NULL)) {
		mgmt->cache = io->internal.link;
		mgmt->cache_count--;
		return io;
	}
	return usk_mempool_get(g_bdev_mgr.bdev_io_pool);
}

static void
mgmt_ensure_retry_poller(struct bdev_mgmt_channel *mgmt)
{
	if (mgmt->buf_retry_poller == NULL) {
		mgmt->buf_retry_poller = usk_poller_register_named(
			mgmt_retry_poll, mgmt, BDEV_BUF_RETRY_US, "bdev_mgmt_retry");
	}
}

static void
mgmt_run_io_waiters(struct bdev_mgmt_channel *mgmt)
{
	struct usk_bdev_io_wait_entry *e;

	while ((e = mgmt->io_wait_head) != NULL && mgmt->cache_count > 0) {
		mgmt->io_wait_head = e->next;
		if (mgmt->io_wait_head == NULL) {
			mgmt->io_wait_tail = NULL;
		}
		e->cb_fn(e->cb_arg);
	}
}

static void bdev_buf_release(struct bdev_mgmt_channel *mgmt, struct usk_bdev_io *io);

void
usk_bdev_free_io(struct usk_bdev_io *bdev_io)
{
	struct bdev_mgmt_channel *mgmt = bdev_io->internal.ch->mgmt;

	if (usk_unlikely(bdev_io->internal.flags & BDEV_IO_F_HAS_BUF)) {
		bdev_buf_release(mgmt, bdev_io);
	}
	if (usk_likely(mgmt->cache_count < mgmt->cache_size)) {
		bdev_io->internal.link = mgmt->cache;
		mgmt->cache = bdev_io;
		mgmt->cache_count++;
	} else {
		usk_mempool_put(g_bdev_mgr.bdev_io_pool, bdev_io);
	}
	if (usk_unlikely(mgmt->io_wait_head != NULL)) {
		mgmt_run_io_waiters(mgmt);
	}
}

void
bdev_mgmt_queue_wait(struct bdev_mgmt_channel *mgmt, struct usk_bdev_io_wait_entry *entry)
{
	entry->next = NULL;
	if (mgmt->io_wait_tail) {
		mgmt->io_wait_tail->next = entry;
	} else {
		mgmt->io_wait_head = entry;
	}
	mgmt->io_wait_tail = entry;
	/* bdev_io freed on other threads never reach this cache: poll the shared pool too. */
	mgmt_ensure_retry_poller(mgmt);
}

int
usk_bdev_queue_io_wait(struct usk_bdev *bdev, struct usk_io_channel *ch,
		       struct usk_bdev_io_wait_entry *entry)
{
	struct usk_bdev_channel *bch = bdev_ch_from_io_channel(ch);
	struct bdev_mgmt_channel *mgmt = bch->mgmt;

	if (mgmt->cache_count > 0 || entry == NULL || entry->cb_fn == NULL) {
		return -EINVAL;
	}
	bdev_mgmt_queue_wait(mgmt, entry);
	return 0;
}

/* ---- data buffers ---- */

/*
 * The data buffer pools (~230 MiB with the default sizes) are created on first use, or at
 * init with usk_bdev_opts.buf_pools_at_init. Creating them maps, populates and mlocks that
 * memory: tens to hundreds of milliseconds, far too long for a reactor. So the first
 * usk_bdev_io_get_buf starts a helper thread and queues its I/O as if the pool were empty; the
 * channel's retry poller hands buffers out once the helper has published the pools.
 * A failed creation fails the I/O that were waiting and the next request tries again.
 *
 * g_buf_pool_state: NONE -> CREATING (a get_buf, under the mutex) -> READY | FAILED (helper,
 * release store; read with acquire: READY means both pool pointers are visible).
 * FAILED -> NONE (the next get_buf, after joining the helper). READY stays until fini.
 */
enum buf_pool_state {
	BUF_POOLS_NONE,
	BUF_POOLS_CREATING,
	BUF_POOLS_READY,
	BUF_POOLS_FAILED,
};

static pthread_mutex_t g_buf_pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static int g_buf_pool_state;	    /* enum buf_pool_state */
static pthread_t g_buf_pool_thread; /* valid while g_buf_pool_joinable */
static bool g_buf_pool_joinable;    /* under g_buf_pool_mutex */

int
bdev_buf_pools_create(void)
{
	struct usk_mempool *small, *large;

	small = usk_mempool_create("bdev_small_buf", g_bdev_opts.small_buf_pool_size,
				   USK_BDEV_SMALL_BUF_MAX_SIZE + USK_BDEV_BUF_ALIGN, 32,
				   USK_ENV_SOCKET_ID_ANY);
	large = usk_mempool_create("bdev_large_buf", g_bdev_opts.large_buf_pool_size,
				   USK_BDEV_LARGE_BUF_MAX_SIZE + USK_BDEV_BUF_ALIGN, 8,
				   USK_ENV_SOCKET_ID_ANY);
	if (small == NULL || large == NULL) {
		USK_ERRLOG("could not allocate the bdev data buffer pools\n");
		usk_mempool_free(small);
		usk_mempool_free(large);
		return -ENOMEM;
	}
	g_bdev_mgr.small_buf_pool = small;
	/* Pairs with the acquire loads of large_buf_pool / g_buf_pool_state: small is set. */
	__atomic_store_n(&g_bdev_mgr.large_buf_pool, large, __ATOMIC_RELEASE);
	__atomic_store_n(&g_buf_pool_state, BUF_POOLS_READY, __ATOMIC_RELEASE);
	return 0;
}

static void *
buf_pool_thread(void *arg)
{
	if (bdev_buf_pools_create() != 0) {
		__atomic_store_n(&g_buf_pool_state, BUF_POOLS_FAILED, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* Where the pools are; starts their creation when nobody has yet. Never blocks for long. */
static enum buf_pool_state
bdev_buf_pools_state(void)
{
	int s = __atomic_load_n(&g_buf_pool_state, __ATOMIC_ACQUIRE);

	if (usk_likely(s == BUF_POOLS_READY) || s == BUF_POOLS_CREATING) {
		return (enum buf_pool_state)s;
	}
	pthread_mutex_lock(&g_buf_pool_mutex);
	s = __atomic_load_n(&g_buf_pool_state, __ATOMIC_ACQUIRE);
	if (s == BUF_POOLS_FAILED) {
		/* The helper has returned: this join does not wait. Report the failure once. */
		if (g_buf_pool_joinable) {
			pthread_join(g_buf_pool_thread, NULL);
			g_buf_pool_joinable = false;
		}
		__atomic_store_n(&g_buf_pool_state, BUF_POOLS_NONE, __ATOMIC_RELAXED);
	} else if (s == BUF_POOLS_NONE) {
		if (g_buf_pool_joinable) {
			pthread_join(g_buf_pool_thread, NULL);
			g_buf_pool_joinable = false;
		}
		__atomic_store_n(&g_buf_pool_state, BUF_POOLS_CREATING, __ATOMIC_RELAXED);
		/* pthread_create maps a stack and clones: bounded, unlike the pools themselves. */
		if (pthread_create(&g_buf_pool_thread, NULL, buf_pool_thread, NULL) == 0) {
			g_buf_pool_joinable = true;
			s = BUF_POOLS_CREATING;
		} else {
			USK_ERRLOG("cannot start the thread that creates the bdev buffer pools\n");
			__atomic_store_n(&g_buf_pool_state, BUF_POOLS_NONE, __ATOMIC_RELAXED);
			s = BUF_POOLS_FAILED;
		}
	}
	pthread_mutex_unlock(&g_buf_pool_mutex);
	return (enum buf_pool_state)s;
}

void
bdev_buf_pools_free(void)
{
	pthread_mutex_lock(&g_buf_pool_mutex);
	if (g_buf_pool_joinable) {
		/* Shutdown: waits for a creation still running (it cannot be cancelled). */
		pthread_join(g_buf_pool_thread, NULL);
		g_buf_pool_joinable = false;
	}
	usk_mempool_free(g_bdev_mgr.small_buf_pool);
	usk_mempool_free(g_bdev_mgr.large_buf_pool);
	g_bdev_mgr.small_buf_pool = NULL;
	g_bdev_mgr.large_buf_pool = NULL;
	__atomic_store_n(&g_buf_pool_state, BUF_POOLS_NONE, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&g_buf_pool_mutex);
}

static inline struct usk_mempool *
buf_pool_for(uint64_t len)
{
	return len <= USK_BDEV_SMALL_BUF_MAX_SIZE ? g_bdev_mgr.small_buf_pool :
						    g_bdev_mgr.large_buf_pool;
}

static void
bdev_io_set_buf(struct usk_bdev_io *io, void *buf, uint64_t len)
{
	uintptr_t aligned = USK_ALIGN_CEIL((uintptr_t)buf, (uintptr_t)USK_BDEV_BUF_ALIGN);

	io->internal.buf = buf;
	io->internal.buf_len = len;
	io->internal.flags |= BDEV_IO_F_HAS_BUF;
	if (io->u.bdev.iovs == NULL || io->u.bdev.iovcnt == 0) {
		io->u.bdev.iovs = &io->u.bdev.iov;
		io->u.bdev.iovcnt = 1;
	}
	io->u.bdev.iovs[0].iov_base = (void *)aligned;
	io->u.bdev.iovs[0].iov_len = len;
}

static bool
bdev_buf_try_get(struct bdev_mgmt_channel *mgmt, struct usk_bdev_io *io, bool count_exhaustion)
{
	uint64_t len = io->internal.buf_len;
	void *buf = usk_mempool_get(buf_pool_for(len));

	if (buf == NULL) {
		if (count_exhaustion) {
			if (len <= USK_BDEV_SMALL_BUF_MAX_SIZE) {
				mgmt->small_exhausted++;
			} else {
				mgmt->large_exhausted++;
			}
		}
		return false;
	}
	bdev_io_set_buf(io, buf, len);
	return true;
}

static void
mgmt_run_buf_waiters(struct bdev_mgmt_channel *mgmt)
{
	struct usk_bdev_io *io;

	switch (bdev_buf_pools_state()) {
	case BUF_POOLS_READY:
		break;
	case BUF_POOLS_FAILED:
		while ((io = bdev_io_fifo_pop(&mgmt->buf_wait_head, &mgmt->buf_wait_tail)) !=
		       NULL) {
			mgmt->buf_wait_count--;
			io->internal.get_buf_cb(io->internal.ch->module_ch, io, false);
		}
		return;
	default:
		return; /* still being created */
	}
	while ((io = mgmt->buf_wait_head) != NULL) {
		if (!bdev_buf_try_get(mgmt, io, false)) {
			return;
		}
		bdev_io_fifo_pop(&mgmt->buf_wait_head, &mgmt->buf_wait_tail);
		mgmt->buf_wait_count--;
		mgmt->buf_retries++;
		io->internal.get_buf_cb(io->internal.ch->module_ch, io, true);
	}
}

static void
bdev_buf_release(struct bdev_mgmt_channel *mgmt, struct usk_bdev_io *io)
{
	usk_mempool_put(buf_pool_for(io->internal.buf_len), io->internal.buf);
	io->internal.buf = NULL;
	io->internal.flags &= ~BDEV_IO_F_HAS_BUF;
	if (mgmt->buf_wait_head) {
		mgmt_run_buf_waiters(mgmt);
	}
}

static int
mgmt_retry_poll(void *ctx)
{
	struct bdev_mgmt_channel *mgmt = ctx;
	struct usk_bdev_io *io;
	int busy = 0;

	if (mgmt->buf_wait_head) {
		mgmt_run_buf_waiters(mgmt);
		busy = 1;
	}
	if (mgmt->io_wait_head && mgmt->cache_count == 0) {
		io = usk_mempool_get(g_bdev_mgr.bdev_io_pool);
		if (io) {
			io->internal.link = mgmt->cache;
			mgmt->cache = io;
			mgmt->cache_count++;
		}
	}
	if (mgmt->io_wait_head && mgmt->cache_count > 0) {
		mgmt_run_io_waiters(mgmt);
		busy = 1;
	}
	if (mgmt->deferred_head && !mgmt->deferred_msg_sent) {
		deferred_drain_msg(mgmt);
		busy = 1;
	}
	if (mgmt->buf_wait_head == NULL && mgmt->io_wait_head == NULL &&
	    mgmt->deferred_head == NULL) {
		usk_poller_unregister(&mgmt->buf_retry_poller);
	}
	return busy ? USK_POLLER_BUSY : USK_POLLER_IDLE;
}

void
usk_bdev_io_get_buf(struct usk_bdev_io *bdev_io, usk_bdev_io_get_buf_cb cb, uint64_t len)
{
	struct usk_bdev_channel *bch = bdev_io->internal.ch;
	struct bdev_mgmt_channel *mgmt = bch->mgmt;
	enum buf_pool_state state;

	if (bdev_io->u.bdev.iovs && bdev_io->u.bdev.iovcnt > 0 &&
	    bdev_io->u.bdev.iovs[0].iov_base) {
		cb(bch->module_ch, bdev_io, true);
		return;
	}
	if (len > USK_BDEV_LARGE_BUF_MAX_SIZE || len == 0) {
		USK_ERRLOG("get_buf of %lu bytes: must be 1..%u\n", (unsigned long)len,
			   USK_BDEV_LARGE_BUF_MAX_SIZE);
		cb(bch->module_ch, bdev_io, false);
		return;
	}
	state = bdev_buf_pools_state();
	if (state == BUF_POOLS_FAILED) {
		cb(bch->module_ch, bdev_io, false);
		return;
	}
	bdev_io->internal.buf_len = len;
	bdev_io->internal.get_buf_cb = cb;
	if (state == BUF_POOLS_READY && mgmt->buf_wait_head == NULL &&
	    bdev_buf_try_get(mgmt, bdev_io, true)) {
		cb(bch->module_ch, bdev_io, true);
		return;
	}
	if (state == BUF_POOLS_READY && mgmt->buf_wait_head != NULL) {
		/* Behind others: still counts as an exhaustion. */
		if (len <= USK_BDEV_SMALL_BUF_MAX_SIZE) {
			mgmt->small_exhausted++;
		} else {
			mgmt->large_exhausted++;
		}
	}
	bdev_io_fifo_push(&mgmt->buf_wait_head, &mgmt->buf_wait_tail, bdev_io);
	mgmt->buf_wait_count++;
	mgmt_ensure_retry_poller(mgmt);
}

void
usk_bdev_get_buf_stats(struct usk_bdev_buf_stats *stats)
{
	struct bdev_mgmt_channel *mgmt;
	struct usk_thread *self = usk_get_thread();

	memset(stats, 0, sizeof(*stats));
	stats->small_pool_size = g_bdev_opts.small_buf_pool_size;
	stats->large_pool_size = g_bdev_opts.large_buf_pool_size;
	if (__atomic_load_n(&g_bdev_mgr.large_buf_pool, __ATOMIC_ACQUIRE) != NULL) {
		stats->small_available = usk_mempool_count(g_bdev_mgr.small_buf_pool);
		stats->large_available = usk_mempool_count(g_bdev_mgr.large_buf_pool);
	} else {
		/* Not created yet (no buffer was ever asked for): all of them are available. */
		stats->small_available = stats->small_pool_size;
		stats->large_available = stats->large_pool_size;
	}
	/* Counters are written by their own threads only; reading them racily is fine for stats. */
	pthread_mutex_lock(&g_bdev_mgr.mgmt_mutex);
	TAILQ_FOREACH(mgmt, &g_bdev_mgr.mgmt_channels, link) {
		stats->small_exhausted += __atomic_load_n(&mgmt->small_exhausted, __ATOMIC_RELAXED);
		stats->large_exhausted += __atomic_load_n(&mgmt->large_exhausted, __ATOMIC_RELAXED);
		stats->retries += __atomic_load_n(&mgmt->buf_retries, __ATOMIC_RELAXED);
		if (mgmt->thread == self) {
			stats->queued_now += mgmt->buf_wait_count;
		}
	}
	pthread_mutex_unlock(&g_bdev_mgr.mgmt_mutex);
}

/* ---- submit ---- */

static void bdev_nomem_retry(struct usk_bdev_channel *bch);
static int nomem_poll(void *ctx);

static inline __attribute__((always_inline)) void
bdev_io_do_submit_inline(struct usk_bdev_channel *bch, struct usk_bdev_io *bdev_io)
{
	/*
	 * While the module is out of resources, new I/O queues behind the waiting ones (as
	 * SPDK's nomem_io): otherwise a fresh submission takes the slot a completion freed and
	 * a queued I/O can starve. The retry empties the queue before it resubmits, so its own
	 * submissions pass. Resets and aborts act on the queue and never wait in it.
	 */
	if (usk_unlikely(bch->nomem_head != NULL) && bdev_io->type != USK_BDEV_IO_TYPE_RESET &&
	    bdev_io->type != USK_BDEV_IO_TYPE_ABORT) {
		bdev_io_fifo_push(&bch->nomem_head, &bch->nomem_tail, bdev_io);
		return;
	}
	bch->io_outstanding++;
	bch->in_submit++;
	bch->submit_request(bch->module_ch, bdev_io);
	bch->in_submit--;
}

void
bdev_io_do_submit(struct usk_bdev_channel *bch, struct usk_bdev_io *bdev_io)
{
	bdev_io_do_submit_inline(bch, bdev_io);
}

static void
bdev_io_submit_slow(struct usk_bdev_io *bdev_io)
{
	struct usk_bdev_channel *bch = bdev_io->internal.ch;

	if ((bch->flags & BDEV_CH_RESET_IN_PROGRESS) && bdev_io->type != USK_BDEV_IO_TYPE_RESET) {
		bdev_io_complete_deferred(bdev_io, USK_BDEV_IO_STATUS_ABORTED);
		return;
	}
	if ((bch->flags & BDEV_CH_SPLIT) && !(bdev_io->internal.flags & BDEV_IO_F_CHILD) &&
	    bdev_io_should_split(bdev_io)) {
		bdev_io_split(bdev_io);
		return;
	}
	if ((bch->flags & BDEV_CH_QOS_ENABLED) && bdev_io->type != USK_BDEV_IO_TYPE_RESET &&
	    bdev_io->type != USK_BDEV_IO_TYPE_ABORT) {
		bdev_qos_submit(bch, bdev_io);
		return;
	}
	bdev_io_do_submit(bch, bdev_io);
}

static inline __attribute__((always_inline)) void
bdev_io_submit_inline(struct usk_bdev_io *bdev_io)
{
	struct usk_bdev_channel *bch = bdev_io->internal.ch;
	uint64_t now = bch->cb_now;

	/* The thread's poll timestamp: a load instead of a TSC read per I/O. */
	if (now == 0) {
		now = usk_thread_get_last_tsc(bch->thread);
	}
	bdev_io->internal.submit_tsc = now;
	USK_TRACE(USK_TRACE_GROUP_BDEV, USK_TPOINT_BDEV_IO_START, (uintptr_t)bdev_io, bdev_io->type,
		  bdev_io->u.bdev.offset_blocks);
	if (usk_unlikely(bch->flags & BDEV_CH_SLOW)) {
		bdev_io_submit_slow(bdev_io);
		return;
	}
	bdev_io_do_submit_inline(bch, bdev_io);
}

void
bdev_io_submit(struct usk_bdev_io *bdev_io)
{
	bdev_io_submit_inline(bdev_io);
}

static inline bool
bdev_range_valid(const struct usk_bdev *bdev, uint64_t offset_blocks, uint64_t num_blocks)
{
	/* Overflow-safe: offset + num <= blockcnt. */
	return num_blocks <= bdev->blockcnt && offset_blocks <= bdev->blockcnt - num_blocks;
}

static inline void
bdev_io_init(struct usk_bdev_io *io, struct usk_bdev *bdev, struct usk_bdev_channel *bch,
	     uint8_t type, usk_bdev_io_completion_cb cb, void *cb_arg)
{
	io->bdev = bdev;
	io->type = type;
	io->internal.ch = bch;
	io->internal.cb = cb;
	io->internal.caller_ctx = cb_arg;
	io->internal.status = USK_BDEV_IO_STATUS_PENDING;
	io->internal.flags = 0;
	io->u.bdev.fua = false;
}

static inline int
bdev_rw_blocks_flags(struct usk_bdev_desc *desc, struct usk_io_channel *ch, void *buf,
		     struct iovec *iov, int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
		     uint8_t type, usk_bdev_io_completion_cb cb, void *cb_arg, uint32_t io_flags)
{
	struct usk_bdev *bdev = desc->bdev;
	struct usk_bdev_channel *bch = bdev_ch_from_io_channel(ch);
	struct usk_bdev_io *io;

	if (usk_unlikely(!bdev_range_valid(bdev, offset_blocks, num_blocks) || num_blocks == 0)) {
		return -EINVAL;
	}
	io = bdev_io_get(bch->mgmt);
	if (usk_unlikely(io == NULL)) {
		return -ENOMEM;
	}
	bdev_io_init(io, bdev, bch, type, cb, cb_arg);
	if (iov == NULL) {
		io->u.bdev.iov.iov_base = buf;
		io->u.bdev.iov.iov_len = num_blocks * bdev->blocklen;
		io->u.bdev.iovs = &io->u.bdev.iov;
		io->u.bdev.iovcnt = 1;
	} else {
		io->u.bdev.iovs = iov;
		io->u.bdev.iovcnt = iovcnt;
	}
	io->u.bdev.num_blocks = num_blocks;
	io->u.bdev.offset_blocks = offset_blocks;
	if (usk_unlikely(io_flags & USK_BDEV_IO_FLAG_FUA)) {
		bdev_io_set_fua(io);
	}
	bch->user_inflight++;
	bdev_io_submit_inline(io);
	return 0;
}

static inline int
bdev_rw_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch, void *buf, struct iovec *iov,
	       int iovcnt, uint64_t offset_blocks, uint64_t num_blocks, uint8_t type,
	       usk_bdev_io_completion_cb cb, void *cb_arg)
{
	return bdev_rw_blocks_flags(desc, ch, buf, iov, iovcnt, offset_blocks, num_blocks, type, cb,
				    cb_arg, 0);
}

/* Flags of an ext call: 0 or -EINVAL (size 0, unknown flags). */
static int
ext_opts_flags(const struct usk_bdev_ext_io_opts *opts, uint32_t *flags)
{
	*flags = 0;
	if (opts == NULL) {
		return 0;
	}
	if (opts->size < offsetof(struct usk_bdev_ext_io_opts, flags) + sizeof(opts->flags)) {
		return -EINVAL;
	}
	if (opts->flags & ~USK_BDEV_IO_FLAG_FUA) {
		return -EINVAL;
	}
	*flags = opts->flags;
	return 0;
}

void
bdev_io_set_fua(struct usk_bdev_io *io)
{
	struct usk_bdev *bdev = io->bdev;

	if (bdev->fua_supported && io->type == USK_BDEV_IO_TYPE_WRITE) {
		io->u.bdev.fua = true;
		return;
	}
	if (bdev->write_cache &&
	    bdev->fn_table->io_type_supported(bdev->ctxt, USK_BDEV_IO_TYPE_FLUSH)) {
		io->internal.flags |= BDEV_IO_F_FUA_EMU;
	}
	/* Otherwise no volatile cache: a completed write is durable already. */
}

static inline int
bytes_to_blocks(const struct usk_bdev *bdev, uint64_t offset, uint64_t *offset_blocks, uint64_t len,
		uint64_t *num_blocks)
{
	uint32_t bs = bdev->blocklen;

	if (usk_likely(USK_IS_POW2(bs))) {
		uint32_t shift = usk_u32log2(bs);

		if ((offset | len) & (bs - 1)) {
			return -EINVAL;
		}
		*offset_blocks = offset >> shift;
		*num_blocks = len >> shift;
		return 0;
	}
	if (offset % bs || len % bs) {
		return -EINVAL;
	}
	*offset_blocks = offset / bs;
	*num_blocks = len / bs;
	return 0;
}

int
usk_bdev_read_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch, void *buf,
		     uint64_t offset_blocks, uint64_t num_blocks, usk_bdev_io_completion_cb cb,
		     void *cb_arg)
{
	return bdev_rw_blocks(desc, ch, buf, NULL, 0, offset_blocks, num_blocks,
			      USK_BDEV_IO_TYPE_READ, cb, cb_arg);
}

int
usk_bdev_read(struct usk_bdev_desc *desc, struct usk_io_channel *ch, void *buf, uint64_t offset,
	      uint64_t nbytes, usk_bdev_io_completion_cb cb, void *cb_arg)
{
	uint64_t ob, nb;

	if (bytes_to_blocks(desc->bdev, offset, &ob, nbytes, &nb) != 0) {
		return -EINVAL;
	}
	return usk_bdev_read_blocks(desc, ch, buf, ob, nb, cb, cb_arg);
}

int
usk_bdev_readv_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch, struct iovec *iov,
		      int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
		      usk_bdev_io_completion_cb cb, void *cb_arg)
{
	if (iov == NULL || iovcnt <= 0) {
		/* The module supplies the buffer (usk_bdev_io_get_buf). */
		return bdev_rw_blocks(desc, ch, NULL, NULL, 0, offset_blocks, num_blocks,
				      USK_BDEV_IO_TYPE_READ, cb, cb_arg);
	}
	return bdev_rw_blocks(desc, ch, NULL, iov, iovcnt, offset_blocks, num_blocks,
			      USK_BDEV_IO_TYPE_READ, cb, cb_arg);
}

int
usk_bdev_readv(struct usk_bdev_desc *desc, struct usk_io_channel *ch, struct iovec *iov, int iovcnt,
	       uint64_t offset, uint64_t nbytes, usk_bdev_io_completion_cb cb, void *cb_arg)
{
	uint64_t ob, nb;

	if (bytes_to_blocks(desc->bdev, offset, &ob, nbytes, &nb) != 0) {
		return -EINVAL;
	}
	return usk_bdev_readv_blocks(desc, ch, iov, iovcnt, ob, nb, cb, cb_arg);
}

int
usk_bdev_write_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch, void *buf,
		      uint64_t offset_blocks, uint64_t num_blocks, usk_bdev_io_completion_cb cb,
		      void *cb_arg)
{
	if (usk_unlikely(!desc->write)) {
		return -EBADF;
	}
	return bdev_rw_blocks(desc, ch, buf, NULL, 0, offset_blocks, num_blocks,
			      USK_BDEV_IO_TYPE_WRITE, cb, cb_arg);
}

int
usk_bdev_write(struct usk_bdev_desc *desc, struct usk_io_channel *ch, void *buf, uint64_t offset,
	       uint64_t nbytes, usk_bdev_io_completion_cb cb, void *cb_arg)
{
	uint64_t ob, nb;

	if (bytes_to_blocks(desc->bdev, offset, &ob, nbytes, &nb) != 0) {
		return -EINVAL;
	}
	return usk_bdev_write_blocks(desc, ch, buf, ob, nb, cb, cb_arg);
}

int
usk_bdev_writev_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch, struct iovec *iov,
		       int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
		       usk_bdev_io_completion_cb cb, void *cb_arg)
{
	if (usk_unlikely(!desc->write)) {
		return -EBADF;
	}
	if (iov == NULL || iovcnt <= 0) {
		return -EINVAL;
	}
	return bdev_rw_blocks(desc, ch, NULL, iov, iovcnt, offset_blocks, num_blocks,
			      USK_BDEV_IO_TYPE_WRITE, cb, cb_arg);
}

int
usk_bdev_writev_blocks_ext(struct usk_bdev_desc *desc, struct usk_io_channel *ch, struct iovec *iov,
			   int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
			   usk_bdev_io_completion_cb cb, void *cb_arg,
			   const struct usk_bdev_ext_io_opts *opts)
{
	uint32_t flags;

	if (usk_unlikely(!desc->write)) {
		return -EBADF;
	}
	if (iov == NULL || iovcnt <= 0 || ext_opts_flags(opts, &flags) != 0) {
		return -EINVAL;
	}
	return bdev_rw_blocks_flags(desc, ch, NULL, iov, iovcnt, offset_blocks, num_blocks,
				    USK_BDEV_IO_TYPE_WRITE, cb, cb_arg, flags);
}

int
usk_bdev_writev(struct usk_bdev_desc *desc, struct usk_io_channel *ch, struct iovec *iov,
		int iovcnt, uint64_t offset, uint64_t len, usk_bdev_io_completion_cb cb,
		void *cb_arg)
{
	uint64_t ob, nb;

	if (bytes_to_blocks(desc->bdev, offset, &ob, len, &nb) != 0) {
		return -EINVAL;
	}
	return usk_bdev_writev_blocks(desc, ch, iov, iovcnt, ob, nb, cb, cb_arg);
}

int
usk_bdev_comparev_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch, struct iovec *iov,
			 int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
			 usk_bdev_io_completion_cb cb, void *cb_arg)
{
	struct usk_bdev *bdev = desc->bdev;

	if (!bdev->fn_table->io_type_supported(bdev->ctxt, USK_BDEV_IO_TYPE_COMPARE)) {
		return -ENOTSUP;
	}
	if (iov == NULL || iovcnt <= 0) {
		return -EINVAL;
	}
	return bdev_rw_blocks(desc, ch, NULL, iov, iovcnt, offset_blocks, num_blocks,
			      USK_BDEV_IO_TYPE_COMPARE, cb, cb_arg);
}

int
usk_bdev_compare_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch, void *buf,
			uint64_t offset_blocks, uint64_t num_blocks, usk_bdev_io_completion_cb cb,
			void *cb_arg)
{
	struct usk_bdev *bdev = desc->bdev;

	if (!bdev->fn_table->io_type_supported(bdev->ctxt, USK_BDEV_IO_TYPE_COMPARE)) {
		return -ENOTSUP;
	}
	return bdev_rw_blocks(desc, ch, buf, NULL, 0, offset_blocks, num_blocks,
			      USK_BDEV_IO_TYPE_COMPARE, cb, cb_arg);
}

/* Unmap, flush, write_zeroes: no data buffer. */
static int
bdev_nodata_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch, uint64_t offset_blocks,
		   uint64_t num_blocks, uint8_t type, usk_bdev_io_completion_cb cb, void *cb_arg,
		   struct usk_bdev_io **out)
{
	struct usk_bdev *bdev = desc->bdev;
	struct usk_bdev_channel *bch = bdev_ch_from_io_channel(ch);
	struct usk_bdev_io *io;

	if (!desc->write) {
		return -EBADF;
	}
	if (!bdev_range_valid(bdev, offset_blocks, num_blocks)) {
		return -EINVAL;
	}
	io = bdev_io_get(bch->mgmt);
	if (io == NULL) {
		return -ENOMEM;
	}
	bdev_io_init(io, bdev, bch, type, cb, cb_arg);
	io->u.bdev.iovs = NULL;
	io->u.bdev.iovcnt = 0;
	io->u.bdev.iov.iov_base = NULL;
	io->u.bdev.iov.iov_len = 0;
	io->u.bdev.offset_blocks = offset_blocks;
	io->u.bdev.num_blocks = num_blocks;
	bch->user_inflight++;
	*out = io;
	return 0;
}

int
usk_bdev_unmap_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch, uint64_t offset_blocks,
		      uint64_t num_blocks, usk_bdev_io_completion_cb cb, void *cb_arg)
{
	struct usk_bdev *bdev = desc->bdev;
	struct usk_bdev_io *io;
	int rc;

	if (!bdev->fn_table->io_type_supported(bdev->ctxt, USK_BDEV_IO_TYPE_UNMAP)) {
		return -ENOTSUP;
	}
	if (num_blocks == 0) {
		return -EINVAL;
	}
	rc = bdev_nodata_blocks(desc, ch, offset_blocks, num_blocks, USK_BDEV_IO_TYPE_UNMAP, cb,
				cb_arg, &io);
	if (rc == 0) {
		bdev_io_submit(io);
	}
	return rc;
}

int
usk_bdev_unmap(struct usk_bdev_desc *desc, struct usk_io_channel *ch, uint64_t offset,
	       uint64_t nbytes, usk_bdev_io_completion_cb cb, void *cb_arg)
{
	uint64_t ob, nb;

	if (bytes_to_blocks(desc->bdev, offset, &ob, nbytes, &nb) != 0) {
		return -EINVAL;
	}
	return usk_bdev_unmap_blocks(desc, ch, ob, nb, cb, cb_arg);
}

int
usk_bdev_flush_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch, uint64_t offset_blocks,
		      uint64_t num_blocks, usk_bdev_io_completion_cb cb, void *cb_arg)
{
	struct usk_bdev *bdev = desc->bdev;
	struct usk_bdev_io *io;
	int rc;

	rc = bdev_nodata_blocks(desc, ch, offset_blocks, num_blocks, USK_BDEV_IO_TYPE_FLUSH, cb,
				cb_arg, &io);
	if (rc != 0) {
		return rc;
	}
	if (!bdev->fn_table->io_type_supported(bdev->ctxt, USK_BDEV_IO_TYPE_FLUSH)) {
		/* Nothing to flush: a no-op success, as SPDK does. */
		io->internal.submit_tsc = usk_thread_get_last_tsc(io->internal.ch->thread);
		bdev_io_complete_deferred(io, USK_BDEV_IO_STATUS_SUCCESS);
		return 0;
	}
	bdev_io_submit(io);
	return 0;
}

int
usk_bdev_flush(struct usk_bdev_desc *desc, struct usk_io_channel *ch, uint64_t offset,
	       uint64_t length, usk_bdev_io_completion_cb cb, void *cb_arg)
{
	uint64_t ob, nb;

	if (bytes_to_blocks(desc->bdev, offset, &ob, length, &nb) != 0) {
		return -EINVAL;
	}
	return usk_bdev_flush_blocks(desc, ch, ob, nb, cb, cb_arg);
}

int
usk_bdev_write_zeroes_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch,
			     uint64_t offset_blocks, uint64_t num_blocks,
			     usk_bdev_io_completion_cb cb, void *cb_arg)
{
	return usk_bdev_write_zeroes_blocks_ext(desc, ch, offset_blocks, num_blocks, cb, cb_arg,
						NULL);
}

int
usk_bdev_write_zeroes_blocks_ext(struct usk_bdev_desc *desc, struct usk_io_channel *ch,
				 uint64_t offset_blocks, uint64_t num_blocks,
				 usk_bdev_io_completion_cb cb, void *cb_arg,
				 const struct usk_bdev_ext_io_opts *opts)
{
	struct usk_bdev *bdev = desc->bdev;
	struct usk_bdev_io *io;
	uint32_t flags;
	bool native;
	int rc;

	if (ext_opts_flags(opts, &flags) != 0) {
		return -EINVAL;
	}

	native = bdev->fn_table->io_type_supported(bdev->ctxt, USK_BDEV_IO_TYPE_WRITE_ZEROES);
	if (!native && !bdev->fn_table->io_type_supported(bdev->ctxt, USK_BDEV_IO_TYPE_WRITE)) {
		return -ENOTSUP;
	}
	if (num_blocks == 0) {
		return -EINVAL;
	}
	rc = bdev_nodata_blocks(desc, ch, offset_blocks, num_blocks, USK_BDEV_IO_TYPE_WRITE_ZEROES,
				cb, cb_arg, &io);
	if (rc != 0) {
		return rc;
	}
	if (flags & USK_BDEV_IO_FLAG_FUA) {
		/* No module takes FUA on write_zeroes: always the write + flush emulation. */
		bdev_io_set_fua(io);
	}
	if (native) {
		bdev_io_submit(io);
	} else {
		io->internal.submit_tsc = usk_thread_get_last_tsc(io->internal.ch->thread);
		bdev_write_zeroes_emulate(io);
	}
	return 0;
}

int
usk_bdev_write_zeroes(struct usk_bdev_desc *desc, struct usk_io_channel *ch, uint64_t offset,
		      uint64_t len, usk_bdev_io_completion_cb cb, void *cb_arg)
{
	uint64_t ob, nb;

	if (bytes_to_blocks(desc->bdev, offset, &ob, len, &nb) != 0) {
		return -EINVAL;
	}
	return usk_bdev_write_zeroes_blocks(desc, ch, ob, nb, cb, cb_arg);
}

/* Allocate a bdev_io for internal use (children, reset, abort). NULL when none is free. */
struct usk_bdev_io *
bdev_io_alloc_internal(struct usk_bdev_channel *bch, struct usk_bdev *bdev, uint8_t type,
		       usk_bdev_io_completion_cb cb, void *cb_arg)
{
	struct usk_bdev_io *io = bdev_io_get(bch->mgmt);

	if (io) {
		bdev_io_init(io, bdev, bch, type, cb, cb_arg);
	}
	return io;
}

/* ---- completion ---- */

static void
deferred_drain_msg(void *ctx)
{
	struct bdev_mgmt_channel *mgmt = ctx;
	struct usk_bdev_io *io, *list;

	mgmt->deferred_msg_sent = false;
	/* Take the batch: completions deferred while it runs go to the next message. */
	list = mgmt->deferred_head;
	mgmt->deferred_head = NULL;
	mgmt->deferred_tail = NULL;
	while ((io = list) != NULL) {
		list = io->internal.link;
		bdev_io_complete_final(io);
	}
}

static void
bdev_io_defer(struct usk_bdev_io *bdev_io)
{
	struct bdev_mgmt_channel *mgmt = bdev_io->internal.ch->mgmt;

	bdev_io_fifo_push(&mgmt->deferred_head, &mgmt->deferred_tail, bdev_io);
	if (!mgmt->deferred_msg_sent) {
		if (usk_thread_send_msg(mgmt->thread, deferred_drain_msg, mgmt) == 0) {
			mgmt->deferred_msg_sent = true;
		} else {
			/* No message object: the retry poller drains the list. */
			USK_ERRLOG("no message for a deferred bdev completion; retrying\n");
			mgmt_ensure_retry_poller(mgmt);
		}
	}
}

void
bdev_io_complete_deferred(struct usk_bdev_io *bdev_io, enum usk_bdev_io_status status)
{
	bdev_io->internal.status = status;
	bdev_io_defer(bdev_io);
}

static inline void
stat_lat(uint64_t *sum, uint64_t *max, uint64_t *min, uint64_t lat)
{
	*sum += lat;
	if (lat > *max) {
		*max = lat;
	}
	if (lat < *min) {
		*min = lat;
	}
}

static inline void
bdev_io_update_stat(struct usk_bdev_channel *bch, struct usk_bdev_io *io, uint64_t now)
{
	struct usk_bdev_io_stat *st = &bch->stat;
	uint64_t lat, bytes;

	if (usk_unlikely(io->internal.status != USK_BDEV_IO_STATUS_SUCCESS)) {
		st->io_error[io->type]++;
		return;
	}
	lat = now - io->internal.submit_tsc;
	bytes = io->u.bdev.num_blocks * io->bdev->blocklen;
	switch (io->type) {
	case USK_BDEV_IO_TYPE_READ:
		st->bytes_read += bytes;
		st->num_read_ops++;
		stat_lat(&st->read_latency_ticks, &st->max_read_latency_ticks,
			 &st->min_read_latency_ticks, lat);
		if (usk_likely(!(bch->flags & BDEV_CH_NO_HISTOGRAM))) {
			usk_histogram_add(&st->read_latency_hist, lat);
		}
		break;
	case USK_BDEV_IO_TYPE_WRITE:
		st->bytes_written += bytes;
		st->num_write_ops++;
		stat_lat(&st->write_latency_ticks, &st->max_write_latency_ticks,
			 &st->min_write_latency_ticks, lat);
		if (usk_likely(!(bch->flags & BDEV_CH_NO_HISTOGRAM))) {
			usk_histogram_add(&st->write_latency_hist, lat);
		}
		break;
	case USK_BDEV_IO_TYPE_UNMAP:
		st->bytes_unmapped += bytes;
		st->num_unmap_ops++;
		stat_lat(&st->unmap_latency_ticks, &st->max_unmap_latency_ticks,
			 &st->min_unmap_latency_ticks, lat);
		break;
	case USK_BDEV_IO_TYPE_COPY:
		st->bytes_copied += bytes;
		st->num_copy_ops++;
		stat_lat(&st->copy_latency_ticks, &st->max_copy_latency_ticks,
			 &st->min_copy_latency_ticks, lat);
		break;
	default:
		break;
	}
}

/* Final step on the submitting channel's thread: stats and the user's callback. */
static inline __attribute__((always_inline)) void
bdev_io_complete_final_inline(struct usk_bdev_io *bdev_io)
{
	struct usk_bdev_channel *bch = bdev_io->internal.ch;
	uint64_t now, saved;

	if (usk_unlikely(bdev_io->internal.flags & (BDEV_IO_F_CHILD | BDEV_IO_F_QOS_FWD |
						    BDEV_IO_F_PARENT | BDEV_IO_F_FUA_EMU))) {
		if (bdev_io_complete_special(bdev_io)) {
			return;
		}
		bch = bdev_io->internal.ch;
	}
	saved = bch->cb_now;
	now = saved ? saved : usk_thread_get_last_tsc(bch->thread);
	bdev_io_update_stat(bch, bdev_io, now);
	bch->cb_now = now;
	bch->user_inflight--;
	bdev_io->internal.cb(bdev_io, bdev_io->internal.status == USK_BDEV_IO_STATUS_SUCCESS,
			     bdev_io->internal.caller_ctx);
	/* Still valid even if the callback put the channel: destruction is deferred by a
	 * message, and a zombie channel is freed from a message too. */
	bch->cb_now = saved;
	if (usk_unlikely(bch->flags & BDEV_CH_ZOMBIE)) {
		bdev_channel_zombie_check(bch);
	}
}

void
bdev_io_complete_final(struct usk_bdev_io *bdev_io)
{
	bdev_io_complete_final_inline(bdev_io);
}

void
usk_bdev_io_complete(struct usk_bdev_io *bdev_io, enum usk_bdev_io_status status)
{
	struct usk_bdev_channel *bch = bdev_io->internal.ch;

	USK_TRACE(USK_TRACE_GROUP_BDEV, USK_TPOINT_BDEV_IO_DONE, (uintptr_t)bdev_io, status, 0);
	bch->io_outstanding--;
	if (usk_unlikely(status == USK_BDEV_IO_STATUS_NOMEM)) {
		bdev_io_fifo_push(&bch->nomem_head, &bch->nomem_tail, bdev_io);
		if (bch->nomem_poller == NULL) {
			/* Guarantees progress when no other completion comes to retry it. */
			bch->nomem_poller = usk_poller_register_named(
				nomem_poll, bch, BDEV_NOMEM_RETRY_US, "bdev_nomem_retry");
		}
		return;
	}
	bdev_io->internal.status = (int8_t)status;
	if (usk_unlikely(bch->in_submit)) {
		/* Completed from inside submit_request: the caller's submit call is still on the
		 * stack, so run its callback later. */
		bdev_io_defer(bdev_io);
		return;
	}
	if (usk_unlikely(bch->nomem_head != NULL || (bch->flags & BDEV_CH_ZOMBIE))) {
		bdev_io_complete_final(bdev_io);
		if (bch->flags & BDEV_CH_ZOMBIE) {
			/* I/O forwarded by QoS keeps the QoS channel busy, not the user's. */
			bdev_channel_zombie_check(bch);
			return;
		}
		bdev_nomem_retry(bch);
		return;
	}
	bdev_io_complete_final_inline(bdev_io);
}

void
usk_bdev_io_complete_nvme_status(struct usk_bdev_io *bdev_io, uint32_t cdw0, int sct, int sc)
{
	enum usk_bdev_io_status status;

	bdev_io->internal.nvme_cdw0 = cdw0;
	bdev_io->internal.nvme_sct = (int16_t)sct;
	bdev_io->internal.nvme_sc = (int16_t)sc;
	if (sct == 0 && sc == 0) {
		status = USK_BDEV_IO_STATUS_SUCCESS;
	} else if (sct == 0 && sc == 0x07) { /* Command Abort Requested */
		status = USK_BDEV_IO_STATUS_ABORTED;
	} else if (sct == 2 && sc == 0x85) { /* Compare Failure */
		status = USK_BDEV_IO_STATUS_MISCOMPARE;
	} else {
		status = USK_BDEV_IO_STATUS_NVME_ERROR;
	}
	usk_bdev_io_complete(bdev_io, status);
}

void
usk_bdev_io_complete_aio_status(struct usk_bdev_io *bdev_io, int aio_result)
{
	bdev_io->internal.aio_errno = aio_result;
	usk_bdev_io_complete(bdev_io, aio_result == 0 ? USK_BDEV_IO_STATUS_SUCCESS :
							USK_BDEV_IO_STATUS_AIO_ERROR);
}

void
usk_bdev_io_get_nvme_status(const struct usk_bdev_io *bdev_io, uint32_t *cdw0, int *sct, int *sc)
{
	*cdw0 = 0;
	switch (bdev_io->internal.status) {
	case USK_BDEV_IO_STATUS_SUCCESS:
		*sct = 0;
		*sc = 0;
		*cdw0 = bdev_io->internal.nvme_cdw0;
		break;
	case USK_BDEV_IO_STATUS_NVME_ERROR:
		*cdw0 = bdev_io->internal.nvme_cdw0;
		*sct = bdev_io->internal.nvme_sct;
		*sc = bdev_io->internal.nvme_sc;
		break;
	case USK_BDEV_IO_STATUS_ABORTED:
		*sct = 0;
		*sc = 0x07; /* Command Abort Requested */
		break;
	case USK_BDEV_IO_STATUS_MISCOMPARE:
		*sct = 2;
		*sc = 0x85; /* Compare Failure */
		break;
	case USK_BDEV_IO_STATUS_FIRST_FUSED_FAILED:
		*sct = 0;
		*sc = 0x0a; /* Aborted due to failed fused command */
		break;
	default:
		*sct = 0;
		*sc = 0x06; /* Internal Error */
		break;
	}
}

void
usk_bdev_io_get_iovec(struct usk_bdev_io *bdev_io, struct iovec **iovp, int *iovcntp)
{
	*iovp = bdev_io->u.bdev.iovs;
	*iovcntp = bdev_io->u.bdev.iovcnt;
}

enum usk_bdev_io_type
usk_bdev_io_get_type(const struct usk_bdev_io *bdev_io)
{
	return (enum usk_bdev_io_type)bdev_io->type;
}

struct usk_io_channel *
usk_bdev_io_get_io_channel(struct usk_bdev_io *bdev_io)
{
	return bdev_io->internal.ch->module_ch;
}

struct usk_thread *
usk_bdev_io_get_thread(struct usk_bdev_io *bdev_io)
{
	return bdev_io->internal.ch->thread;
}

struct usk_bdev_io *
usk_bdev_io_from_ctx(void *ctx)
{
	return USK_CONTAINEROF(ctx, struct usk_bdev_io, driver_ctx);
}

uint64_t
usk_bdev_io_get_submit_tsc(struct usk_bdev_io *bdev_io)
{
	return bdev_io->internal.submit_tsc;
}

/* ---- NOMEM retry ---- */

static int
nomem_poll(void *ctx)
{
	struct usk_bdev_channel *bch = ctx;

	if (bch->nomem_head == NULL) {
		usk_poller_unregister(&bch->nomem_poller);
		return USK_POLLER_IDLE;
	}
	bdev_nomem_retry(bch);
	return USK_POLLER_BUSY;
}

static void
bdev_nomem_retry(struct usk_bdev_channel *bch)
{
	struct usk_bdev_io *list = bch->nomem_head, *io;

	bch->nomem_head = NULL;
	bch->nomem_tail = NULL;
	while ((io = list) != NULL) {
		list = io->internal.link;
		bdev_io_do_submit(bch, io);
		if (bch->nomem_head != NULL) {
			/* The module is still out of resources: keep the rest, in order. */
			if (list) {
				bch->nomem_tail->internal.link = list;
				while (list->internal.link) {
					list = list->internal.link;
				}
				bch->nomem_tail = list;
			}
			break;
		}
	}
}

uint32_t
bdev_channel_abort_queued(struct usk_bdev_channel *bch, struct usk_bdev_io **head,
			  struct usk_bdev_io **tail, void *bio_cb_arg, bool sync)
{
	struct usk_bdev_io *list = *head, *io, *keep_head = NULL, *keep_tail = NULL;
	uint32_t count = 0;

	*head = NULL;
	*tail = NULL;
	while ((io = list) != NULL) {
		list = io->internal.link;
		if (bio_cb_arg == NULL || io->internal.caller_ctx == bio_cb_arg) {
			count++;
			if (sync) {
				io->internal.status = USK_BDEV_IO_STATUS_ABORTED;
				bdev_io_complete_final(io);
			} else {
				bdev_io_complete_deferred(io, USK_BDEV_IO_STATUS_ABORTED);
			}
		} else {
			bdev_io_fifo_push(&keep_head, &keep_tail, io);
		}
	}
	*head = keep_head;
	*tail = keep_tail;
	return count;
}

/* The submit path touches the first cache line (bdev, type, u.bdev) and the hot half of
 * internal in the second; keep it that way. */
USK_STATIC_ASSERT(offsetof(struct usk_bdev_io, internal) == USK_CACHE_LINE_SIZE,
		  "bdev_io public part must fill exactly the first cache line");
USK_STATIC_ASSERT(offsetof(struct usk_bdev_io, internal.io_submit_ch) <= 2 * USK_CACHE_LINE_SIZE,
		  "bdev_io hot internal fields must fit the second cache line");
