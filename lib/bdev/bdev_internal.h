/* SPDX-License-Identifier: BSD-3-Clause */
/* Private state of the bdev layer shared by lib/bdev's files: bdev internals, channels, pools. */
#ifndef USK_BDEV_INTERNAL_H
#define USK_BDEV_INTERNAL_H

#include <pthread.h>
#include <sys/queue.h>

#include "usk/bdev.h"
#include "usk/bdev_module.h"
#include "usk/env.h"
#include "usk/log.h"
#include "usk/thread.h"
#include "usk/util.h"

/* bdev_io->internal.flags */
#define BDEV_IO_F_CHILD	     0x01 /* child of a split / emulated parent */
#define BDEV_IO_F_HAS_BUF    0x02 /* internal.buf must go back to the buffer pool */
#define BDEV_IO_F_QOS_FWD    0x04 /* submitted on another thread's channel by QoS */
#define BDEV_IO_F_PARENT     0x10 /* split / emulation parent, reset, abort: special completion */
#define BDEV_IO_F_RESET_DONE 0x20 /* a reset whose channels are unfrozen again */
/* A FUA write on a module without native FUA: a flush follows before the user's callback. */
#define BDEV_IO_F_FUA_EMU 0x40

/* bdev channel flags */
#define BDEV_CH_RESET_IN_PROGRESS 0x1
#define BDEV_CH_QOS_ENABLED	  0x2
/* Splitting may be needed: check every read/write. */
#define BDEV_CH_SPLIT 0x4
/* Destroyed by lib/thread while I/O was still in flight: freed when the last one is done. */
#define BDEV_CH_ZOMBIE 0x8
/* Latency histograms off (usk_bdev_histogram_enable(false)); counters and sums still kept. */
#define BDEV_CH_NO_HISTOGRAM 0x10
#define BDEV_CH_SLOW	     (BDEV_CH_RESET_IN_PROGRESS | BDEV_CH_QOS_ENABLED | BDEV_CH_SPLIT)

#define BDEV_ZERO_BUFFER_SIZE (1024 * 1024)
#define BDEV_QOS_TIMESLICE_US 1000
#define BDEV_NOMEM_RETRY_US   100
#define BDEV_BUF_RETRY_US     100

enum bdev_status {
	BDEV_STATUS_READY,
	BDEV_STATUS_UNREGISTERING,
	BDEV_STATUS_REMOVING,
};

struct bdev_alias {
	char *name;
	TAILQ_ENTRY(bdev_alias) link;
};

struct usk_bdev_desc {
	struct usk_bdev *bdev;
	struct usk_thread *thread;
	usk_bdev_event_cb_t event_cb;
	void *event_ctx;
	bool write;
	bool closed;
	/* REMOVE already sent (each descriptor gets it once). */
	bool remove_sent;
	/* Events in flight to this descriptor's thread; the last one out frees a closed desc. */
	uint32_t refs;
	TAILQ_ENTRY(usk_bdev_desc) link;
};

/* Per-thread state shared by every bdev channel on the thread (io_device = &g_bdev_mgr). */
struct bdev_mgmt_channel {
	/* ---- hot ---- */
	struct usk_bdev_io *cache; /* LIFO free list linked by internal.link */
	uint32_t cache_count;
	uint32_t cache_size;
	struct usk_bdev_io_wait_entry *io_wait_head;
	struct usk_bdev_io_wait_entry *io_wait_tail;
	/* Completions that happened inside submit_request, run later (no recursion). */
	struct usk_bdev_io *deferred_head;
	struct usk_bdev_io *deferred_tail;
	bool deferred_msg_sent;
	/* ---- cold ---- */
	struct usk_thread *thread;
	/* bdev_io waiting for a data buffer, FIFO. */
	struct usk_bdev_io *buf_wait_head;
	struct usk_bdev_io *buf_wait_tail;
	uint64_t buf_wait_count;
	struct usk_poller *buf_retry_poller;
	uint64_t small_exhausted;
	uint64_t large_exhausted;
	uint64_t buf_retries;
	TAILQ_ENTRY(bdev_mgmt_channel) link;
};

struct bdev_qos;

/* One per (bdev, thread): the context of the bdev's io_channel. */
struct usk_bdev_channel {
	/* ---- hot ---- */
	struct usk_bdev *bdev;
	void (*submit_request)(struct usk_io_channel *ch, struct usk_bdev_io *bdev_io);
	struct usk_io_channel *module_ch;
	struct bdev_mgmt_channel *mgmt;
	struct usk_thread *thread;
	uint32_t flags;
	uint32_t in_submit;
	uint64_t io_outstanding;
	/* I/O submitted through the public API whose callback has not run yet. */
	uint64_t user_inflight;
	/*
	 * The thread's poll timestamp while a completion callback of this channel runs (0
	 * otherwise): I/O submitted from the callback (the usual resubmit loop) takes its
	 * submit_tsc from here instead of another call. Same value either way: the timestamp only
	 * moves between polls.
	 */
	uint64_t cb_now;
	/* I/O the module completed with NOMEM, resubmitted later (FIFO). */
	struct usk_bdev_io *nomem_head;
	struct usk_bdev_io *nomem_tail;
	struct usk_bdev_io_stat stat;
	/* ---- cold ---- */
	struct usk_io_channel *mgmt_ch;
	struct usk_io_channel *self;
	struct usk_poller *nomem_poller;
	/* I/O queued by QoS on this (the QoS) channel. */
	struct bdev_qos *qos;
	TAILQ_ENTRY(usk_bdev_channel) link;
	bool free_scheduled;
};

struct usk_bdev_internal {
	struct usk_bdev *bdev;
	enum bdev_status status;
	TAILQ_HEAD(, bdev_alias) aliases;
	TAILQ_ENTRY(usk_bdev_internal) link;
	/* Protects descs, open counts, claim, stat_closed, channels (may be touched from any
	 * thread). */
	pthread_mutex_t mutex;
	TAILQ_HEAD(, usk_bdev_desc) descs;
	uint32_t open_descs;
	struct usk_bdev_module *claim_module;
	struct usk_bdev_desc *claim_desc;
	/* Latency histograms off: new channels start with BDEV_CH_NO_HISTOGRAM (__atomic). */
	bool histogram_off;
	/* Accumulated stats of channels already destroyed. */
	struct usk_bdev_io_stat stat_closed;
	TAILQ_HEAD(, usk_bdev_channel) channels;
	usk_bdev_unregister_cb unregister_cb;
	void *unregister_ctx;
	struct usk_thread *unregister_thread;
	/* QoS (NULL when never set). */
	struct bdev_qos *qos;
	/* Reset in progress (one at a time) and those waiting. */
	struct usk_bdev_io *reset_in_progress;
	struct usk_bdev_io *queued_resets_head;
	struct usk_bdev_io *queued_resets_tail;
	bool examine_pending;
	/* Zombie channels (see BDEV_CH_ZOMBIE) still alive; destruct waits for them (mutex). */
	uint32_t zombies;
	bool destruct_waiting;
	bool io_device_registered;
	uint64_t reset_start_tsc;
	struct usk_poller *reset_poller;
	/* The reset walk to start again when reset_poller fires after usk_for_each_channel
	 * could not start (-ENOMEM): a reset must always finish. */
	usk_channel_msg reset_walk_fn;
	usk_channel_for_each_cpl reset_walk_done;
};

struct bdev_mgr {
	struct usk_mempool *bdev_io_pool;
	struct usk_mempool *small_buf_pool;
	struct usk_mempool *large_buf_pool;
	void *zero_buffer;
	size_t bdev_io_size;
	TAILQ_HEAD(usk_bdev_internal_list, usk_bdev_internal) bdevs;
	pthread_mutex_t mgmt_mutex;
	TAILQ_HEAD(, bdev_mgmt_channel) mgmt_channels;
	bool init_done;
	bool finishing;
};

extern struct bdev_mgr g_bdev_mgr;
extern struct usk_bdev_opts g_bdev_opts;

/* bdev.c */
struct usk_bdev_module *bdev_module_first(void);
struct usk_bdev_module *bdev_module_next(struct usk_bdev_module *m);

/* bdev_io.c */
int bdev_channel_create(void *io_device, void *ctx_buf);
void bdev_channel_destroy(void *io_device, void *ctx_buf);
int bdev_mgmt_channel_create(void *io_device, void *ctx_buf);
void bdev_mgmt_channel_destroy(void *io_device, void *ctx_buf);
void bdev_io_submit(struct usk_bdev_io *bdev_io);
/* Submit to the module now (after QoS / split decisions). */
void bdev_io_do_submit(struct usk_bdev_channel *bch, struct usk_bdev_io *bdev_io);
void bdev_io_complete_final(struct usk_bdev_io *bdev_io);
uint32_t bdev_channel_abort_queued(struct usk_bdev_channel *bch, struct usk_bdev_io **head,
				   struct usk_bdev_io **tail, void *bio_cb_arg, bool sync);
/* Complete later from a message on the channel's thread (never inside a submit call). */
void bdev_io_complete_deferred(struct usk_bdev_io *bdev_io, enum usk_bdev_io_status status);
struct usk_bdev_io *bdev_io_alloc_internal(struct usk_bdev_channel *bch, struct usk_bdev *bdev,
					   uint8_t type, usk_bdev_io_completion_cb cb,
					   void *cb_arg);
bool bdev_io_should_split(struct usk_bdev_io *bdev_io);
void bdev_io_split(struct usk_bdev_io *bdev_io);
void bdev_write_zeroes_emulate(struct usk_bdev_io *parent);
/* Mark a user write (or write_zeroes) FUA: native, emulated with a flush, or nothing to do. */
void bdev_io_set_fua(struct usk_bdev_io *io);
/* Children, parents, QoS-forwarded I/O and resets; true when it took over the completion. */
bool bdev_io_complete_special(struct usk_bdev_io *bdev_io);
void bdev_stat_add(struct usk_bdev_io_stat *total, const struct usk_bdev_io_stat *add);
void bdev_stat_reset(struct usk_bdev_io_stat *stat, enum usk_bdev_reset_stat_mode mode);

/* bdev_qos.c */
/* Called on a channel's thread when the I/O must pass through QoS. */
void bdev_qos_submit(struct usk_bdev_channel *bch, struct usk_bdev_io *bdev_io);
/* Channel create/destroy hooks: enable QoS on the channel when the bdev has limits. */
void bdev_qos_channel_init(struct usk_bdev_channel *bch);
void bdev_qos_channel_destroy(struct usk_bdev_channel *bch);
void bdev_qos_destroy(struct usk_bdev *bdev);
void bdev_qos_write_config(struct usk_bdev *bdev, json_t *config_array);
/* Abort I/O queued by QoS on bch (the QoS channel) matching bio_cb_arg (NULL: all). Returns count.
 */
uint32_t bdev_qos_abort_queued(struct usk_bdev_channel *bch, void *bio_cb_arg);
/* Let a parent wait for a free bdev_io on its thread. */
void bdev_mgmt_queue_wait(struct bdev_mgmt_channel *mgmt, struct usk_bdev_io_wait_entry *entry);

/*
 * Byte offset from a usk_io_channel to its context. lib/thread places the context right after
 * the channel struct (DESIGN.md), so the offset is the same for every channel; it is learned
 * at the first channel creation and checked at every later one (0 = not constant: call
 * usk_io_channel_get_ctx). Saves a cross-library call per I/O.
 */
extern size_t g_bdev_ch_ctx_offset;

static inline struct usk_bdev_channel *
bdev_ch_from_io_channel(struct usk_io_channel *ch)
{
	size_t off = __atomic_load_n(&g_bdev_ch_ctx_offset, __ATOMIC_RELAXED);

	/* The io_channel context holds a pointer: the channel itself is heap allocated so that it
	 * can outlive the io_channel while I/O is in flight (BDEV_CH_ZOMBIE). */
	if (usk_likely(off != 0)) {
		return *(struct usk_bdev_channel **)((uint8_t *)ch + off);
	}
	return *(struct usk_bdev_channel **)usk_io_channel_get_ctx(ch);
}

/* A zombie channel's counts may have dropped to zero: free it from a message. */
void bdev_channel_zombie_check(struct usk_bdev_channel *bch);
/* lib/bdev/bdev.c: the bdev's last zombie channel is gone; continue its destruction. */
void bdev_zombies_gone(struct usk_bdev_internal *bi);

static inline void *
bdev_io_device(struct usk_bdev *bdev)
{
	return bdev->internal;
}

/* Singly linked FIFO helpers over internal.link. */
static inline void
bdev_io_fifo_push(struct usk_bdev_io **head, struct usk_bdev_io **tail, struct usk_bdev_io *io)
{
	io->internal.link = NULL;
	if (*tail) {
		(*tail)->internal.link = io;
	} else {
		*head = io;
	}
	*tail = io;
}

static inline struct usk_bdev_io *
bdev_io_fifo_pop(struct usk_bdev_io **head, struct usk_bdev_io **tail)
{
	struct usk_bdev_io *io = *head;

	if (io) {
		*head = io->internal.link;
		if (*head == NULL) {
			*tail = NULL;
		}
	}
	return io;
}

/* bdev_io.c: create the data buffer pools now (buf_pools_at_init, or the helper thread that
 * usk_bdev_io_get_buf starts); 0 or -ENOMEM. Free them (joins that thread) at fini. */
int bdev_buf_pools_create(void);
void bdev_buf_pools_free(void);

#endif
