/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Block device (bdev) API for users of bdevs: open/close descriptors, get I/O channels,
 * submit I/O, iostat, QoS. Follows SPDK's spdk/bdev.h with a usk_ prefix.
 *
 * Threading: a descriptor is used on the thread that opened it (events are delivered there);
 * an I/O channel (usk_bdev_get_io_channel) is per thread and every I/O on it is submitted and
 * completed on that thread. Registry functions (get_by_name, first/next) run on the app thread.
 *
 * Async contract for every I/O function: 0 means cb runs exactly once later (never from inside
 * the submit call), a negative return means cb never runs. -ENOMEM means no bdev_io was
 * available: use usk_bdev_queue_io_wait() to be called back when one is.
 */
#ifndef USK_BDEV_H
#define USK_BDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <jansson.h>
#include "usk/histogram.h"
#include "usk/thread.h"

#ifdef __cplusplus
extern "C" {
#endif

#define USK_BDEV_SMALL_BUF_MAX_SIZE 8192
#define USK_BDEV_LARGE_BUF_MAX_SIZE (128 * 1024)
/* Buffers handed out by usk_bdev_io_get_buf() are aligned to this. */
#define USK_BDEV_BUF_ALIGN    4096
#define USK_BDEV_MAX_NAME_LEN 256

struct usk_bdev;
struct usk_bdev_desc;
struct usk_bdev_io;
struct usk_bdev_module;

enum usk_bdev_io_type {
	USK_BDEV_IO_TYPE_INVALID = 0,
	USK_BDEV_IO_TYPE_READ,
	USK_BDEV_IO_TYPE_WRITE,
	USK_BDEV_IO_TYPE_UNMAP,
	USK_BDEV_IO_TYPE_FLUSH,
	USK_BDEV_IO_TYPE_RESET,
	USK_BDEV_IO_TYPE_NVME_ADMIN,
	USK_BDEV_IO_TYPE_NVME_IO,
	USK_BDEV_IO_TYPE_NVME_IO_MD,
	USK_BDEV_IO_TYPE_WRITE_ZEROES,
	USK_BDEV_IO_TYPE_ZCOPY,
	USK_BDEV_IO_TYPE_GET_ZONE_INFO,
	USK_BDEV_IO_TYPE_ZONE_MANAGEMENT,
	USK_BDEV_IO_TYPE_ZONE_APPEND,
	USK_BDEV_IO_TYPE_COMPARE,
	USK_BDEV_IO_TYPE_COMPARE_AND_WRITE,
	USK_BDEV_IO_TYPE_ABORT,
	USK_BDEV_IO_TYPE_SEEK_HOLE,
	USK_BDEV_IO_TYPE_SEEK_DATA,
	USK_BDEV_IO_TYPE_COPY,
	USK_BDEV_NUM_IO_TYPES /* keep last */
};

/** Name of an I/O type as bdev_get_bdevs prints it ("read", "write_zeroes", ...), NULL if none. */
const char *usk_bdev_io_type_name(enum usk_bdev_io_type type);

enum usk_bdev_event_type {
	USK_BDEV_EVENT_REMOVE,
	USK_BDEV_EVENT_RESIZE,
	USK_BDEV_EVENT_MEDIA_MANAGEMENT,
};

/**
 * Called on the thread that opened the descriptor. REMOVE: the bdev is being unregistered;
 * the owner must stop I/O, put its channels and call usk_bdev_close(). RESIZE: num_blocks changed.
 */
typedef void (*usk_bdev_event_cb_t)(enum usk_bdev_event_type type, struct usk_bdev *bdev,
				    void *event_ctx);

/** I/O completion: runs on the thread of the channel the I/O was submitted on. Must free bdev_io.
 */
typedef void (*usk_bdev_io_completion_cb)(struct usk_bdev_io *bdev_io, bool success, void *cb_arg);
typedef void (*usk_bdev_init_cb)(void *cb_arg, int rc);
typedef void (*usk_bdev_fini_cb)(void *cb_arg);
typedef void (*usk_bdev_wait_for_examine_cb)(void *arg);
typedef void (*usk_bdev_io_wait_cb)(void *cb_arg);

/* ---- library options, init, fini ---- */

struct usk_bdev_opts {
	/* sizeof(struct usk_bdev_opts) as the caller knows it. */
	size_t opts_size;
	/* bdev_io objects in the shared pool. Default 8191 (SPDK: 65535), raised at init to at
	 * least bdev_io_cache_size * (cores + 1). */
	uint32_t bdev_io_pool_size;
	/* bdev_io objects each thread keeps in its local cache. Default 256. */
	uint32_t bdev_io_cache_size;
	/* Offer new bdevs to modules' examine callbacks automatically. Default true. */
	bool bdev_auto_examine;
	/* Data buffers (usk_bdev_io_get_buf) of USK_BDEV_SMALL_BUF_MAX_SIZE. Default 8191. Both
	 * buffer pools are created by a helper thread on the first usk_bdev_io_get_buf() call
	 * (whose I/O waits meanwhile), unless buf_pools_at_init. */
	uint32_t small_buf_pool_size;
	/* Data buffers of USK_BDEV_LARGE_BUF_MAX_SIZE. Default 1023. */
	uint32_t large_buf_pool_size;
	/* Create the buffer pools in usk_bdev_initialize (start-up), not on first use; init fails
	 * with -ENOMEM if they cannot be. Default false. */
	bool buf_pools_at_init;
};

/** Fill opts with the current options (defaults before any set). */
void usk_bdev_get_opts(struct usk_bdev_opts *opts, size_t opts_size);
/**
 * Set options; only before usk_bdev_initialize(). Returns 0, -EINVAL (a value out of range;
 * bdev_io_pool_size must be >= bdev_io_cache_size * (threads + 1)), -EBUSY (already initialised).
 */
int usk_bdev_set_opts(const struct usk_bdev_opts *opts);

/**
 * Initialise the bdev layer (pools, module init in registration order; async modules may
 * finish later). cb_fn(cb_arg, rc) runs on the calling thread (the app thread).
 */
void usk_bdev_initialize(usk_bdev_init_cb cb_fn, void *cb_arg);
/** Unregister every bdev, finish every module (reverse order), free pools; then cb_fn. */
void usk_bdev_finish(usk_bdev_fini_cb cb_fn, void *cb_arg);
/**
 * Append the bdev subsystem's config: bdev_set_options, each module's config_json, each
 * bdev's write_config_json (QoS as bdev_set_qos_limit), then bdev_wait_for_examine.
 */
void usk_bdev_subsystem_config_json(json_t *config_array);

/* ---- registry ---- */

/** Find a bdev by name or alias. NULL if none. */
struct usk_bdev *usk_bdev_get_by_name(const char *bdev_name);
/**
 * Walk every registered bdev in registration order: first, then next(prev) until NULL.
 * App thread only (the registry changes there), and not across a yield: prev may be
 * unregistered once control returns to the poll loop.
 */
struct usk_bdev *usk_bdev_first(void);
/** The bdev after prev (NULL at the end); see usk_bdev_first for the rules. */
struct usk_bdev *usk_bdev_next(struct usk_bdev *prev);
/** Like usk_bdev_first, only bdevs not claimed by any module. */
struct usk_bdev *usk_bdev_first_leaf(void);
/** The unclaimed bdev after prev (NULL at the end); see usk_bdev_first_leaf. */
struct usk_bdev *usk_bdev_next_leaf(struct usk_bdev *prev);

/**
 * cb_fn(cb_arg) runs on the calling thread (always deferred, never from inside this call)
 * once no bdev is waiting for a module's examine. Returns 0.
 */
int usk_bdev_wait_for_examine(usk_bdev_wait_for_examine_cb cb_fn, void *cb_arg);
/**
 * Examine bdev_name explicitly (when bdev_auto_examine is false). The name is remembered, so
 * a bdev registered later under that name is examined too. Returns 0, -EINVAL (auto examine
 * is on), -EEXIST (already requested).
 */
int usk_bdev_examine(const char *bdev_name);

/* ---- descriptors and channels ---- */

/**
 * Open bdev_name (name or alias). event_cb is required. Must be called on a usk thread; events
 * go to that thread. Returns 0, -EINVAL (no event_cb), -ENODEV (no such bdev or being
 * removed), -EPERM (write requested and a module claimed the bdev), -ENOMEM.
 */
int usk_bdev_open_ext(const char *bdev_name, bool write, usk_bdev_event_cb_t event_cb,
		      void *event_ctx, struct usk_bdev_desc **desc);
/** Close on the thread that opened it. Its I/O channels must have been put. */
void usk_bdev_close(struct usk_bdev_desc *desc);
/** The bdev desc was opened on. Any thread while desc is open. */
struct usk_bdev *usk_bdev_desc_get_bdev(struct usk_bdev_desc *desc);
/** This thread's I/O channel for the bdev of desc (one reference). NULL on failure. */
struct usk_io_channel *usk_bdev_get_io_channel(struct usk_bdev_desc *desc);

/*
 * ---- properties ----
 * Getters read fields fixed at registration (num_blocks changes only by a RESIZE event): any
 * thread that holds a descriptor, or the app thread. None blocks or allocates.
 */

/** The bdev's name (not an alias). */
const char *usk_bdev_get_name(const struct usk_bdev *bdev);
/** The module's product string ("Malloc disk", "AIO disk", ...). */
const char *usk_bdev_get_product_name(const struct usk_bdev *bdev);
/** Name of the module that registered the bdev. */
const char *usk_bdev_get_module_name(const struct usk_bdev *bdev);
/** Logical block size in bytes. */
uint32_t usk_bdev_get_block_size(const struct usk_bdev *bdev);
/** Size in blocks (changes on RESIZE). */
uint64_t usk_bdev_get_num_blocks(const struct usk_bdev *bdev);
/** Data block size (= block size; usk has no separate metadata). */
uint32_t usk_bdev_get_data_block_size(const struct usk_bdev *bdev);
/** Metadata bytes per block: always 0 (no separate metadata). */
uint32_t usk_bdev_get_md_size(const struct usk_bdev *bdev);
/** Blocks I/O should not cross (the bdev layer splits at it), 0 = none. */
uint32_t usk_bdev_get_optimal_io_boundary(const struct usk_bdev *bdev);
/** Writes are multiples of this many blocks (at least 1). */
uint32_t usk_bdev_get_write_unit_size(const struct usk_bdev *bdev);
/** Required buffer alignment in bytes (1 = none). */
size_t usk_bdev_get_buf_align(const struct usk_bdev *bdev);
/** Whether completed writes may sit in a volatile cache until a FLUSH. */
bool usk_bdev_has_write_cache(const struct usk_bdev *bdev);
/** 16-byte UUID of the bdev. */
const uint8_t *usk_bdev_get_uuid(const struct usk_bdev *bdev);
/** Whether the bdev handles type natively or the bdev layer emulates it (write_zeroes). */
bool usk_bdev_io_type_supported(struct usk_bdev *bdev, enum usk_bdev_io_type io_type);
/** Module that holds a claim on bdev, or NULL. */
struct usk_bdev_module *usk_bdev_get_claim_module(const struct usk_bdev *bdev);
/** Visit every alias (not the name). */
void usk_bdev_foreach_alias(const struct usk_bdev *bdev, void (*fn)(const char *alias, void *ctx),
			    void *ctx);
/** Write the module-specific "driver_specific" members of bdev into obj. */
void usk_bdev_dump_info_json(struct usk_bdev *bdev, json_t *obj);

/* ---- I/O ---- */

/*
 * Every function below submits one I/O on ch, the calling thread's channel from
 * usk_bdev_get_io_channel(desc) (call it on that thread). Offsets and lengths: *_blocks
 * variants take blocks; the others bytes, which must be multiples of the block size (-EINVAL
 * otherwise). Out-of-range I/O is -EINVAL. Writes, unmap and write_zeroes on a read-only
 * descriptor are -EBADF. -ENOMEM: no bdev_io free on this thread; wait with
 * usk_bdev_queue_io_wait and resubmit. Return 0: cb(bdev_io, success, cb_arg) runs exactly
 * once, on this thread, never from inside the submit call; it must usk_bdev_free_io(bdev_io).
 * A negative return: cb never runs. Buffers must stay valid until cb.
 */
int usk_bdev_read(struct usk_bdev_desc *desc, struct usk_io_channel *ch, void *buf, uint64_t offset,
		  uint64_t nbytes, usk_bdev_io_completion_cb cb, void *cb_arg);
/** Read num_blocks blocks at offset_blocks into buf. */
int usk_bdev_read_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch, void *buf,
			 uint64_t offset_blocks, uint64_t num_blocks, usk_bdev_io_completion_cb cb,
			 void *cb_arg);
/** iov may be NULL/iovcnt 0 for a read only with a module that supplies buffers. */
int usk_bdev_readv(struct usk_bdev_desc *desc, struct usk_io_channel *ch, struct iovec *iov,
		   int iovcnt, uint64_t offset, uint64_t nbytes, usk_bdev_io_completion_cb cb,
		   void *cb_arg);
/** Vectored read; iov may be NULL/iovcnt 0 as for usk_bdev_readv. */
int usk_bdev_readv_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch, struct iovec *iov,
			  int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
			  usk_bdev_io_completion_cb cb, void *cb_arg);
/** Write nbytes from buf at byte offset. */
int usk_bdev_write(struct usk_bdev_desc *desc, struct usk_io_channel *ch, void *buf,
		   uint64_t offset, uint64_t nbytes, usk_bdev_io_completion_cb cb, void *cb_arg);
/** Write num_blocks blocks from buf at offset_blocks. */
int usk_bdev_write_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch, void *buf,
			  uint64_t offset_blocks, uint64_t num_blocks, usk_bdev_io_completion_cb cb,
			  void *cb_arg);
/** Vectored write of len bytes (the iovecs' total) at byte offset. */
int usk_bdev_writev(struct usk_bdev_desc *desc, struct usk_io_channel *ch, struct iovec *iov,
		    int iovcnt, uint64_t offset, uint64_t len, usk_bdev_io_completion_cb cb,
		    void *cb_arg);
/** Vectored write of num_blocks blocks at offset_blocks. */
int usk_bdev_writev_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch, struct iovec *iov,
			   int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
			   usk_bdev_io_completion_cb cb, void *cb_arg);
/* usk_bdev_ext_io_opts.flags */
/*
 * Force Unit Access: the data is on stable storage when the write completes successfully.
 * Modules that honour it themselves (usk_bdev.fua_supported) get it on the bdev_io
 * (u.bdev.fua); for the others the bdev layer follows the write with a flush when the bdev has
 * a volatile write cache, and completes the write when the flush is done.
 */
#define USK_BDEV_IO_FLAG_FUA (1u << 0)

/* Per-I/O options of the *_ext calls. May grow: size says how much the caller filled. */
struct usk_bdev_ext_io_opts {
	/* sizeof(struct usk_bdev_ext_io_opts) as the caller knows it. */
	size_t size;
	/* USK_BDEV_IO_FLAG_*; unknown bits are -EINVAL. */
	uint32_t flags;
};

/**
 * usk_bdev_writev_blocks with per-I/O options (opts may be NULL: none). Same thread and
 * callback rules; -EINVAL also for an opts->size of 0 or unknown flags.
 */
int usk_bdev_writev_blocks_ext(struct usk_bdev_desc *desc, struct usk_io_channel *ch,
			       struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			       uint64_t num_blocks, usk_bdev_io_completion_cb cb, void *cb_arg,
			       const struct usk_bdev_ext_io_opts *opts);
/** usk_bdev_write_zeroes_blocks with per-I/O options (FUA: always a write + flush). */
int usk_bdev_write_zeroes_blocks_ext(struct usk_bdev_desc *desc, struct usk_io_channel *ch,
				     uint64_t offset_blocks, uint64_t num_blocks,
				     usk_bdev_io_completion_cb cb, void *cb_arg,
				     const struct usk_bdev_ext_io_opts *opts);
/**
 * Compare data with the medium; a mismatch fails with NVMe status Compare Failure (SCT 2,
 * SC 0x85). -ENOTSUP when the module lacks COMPARE (no emulation).
 */
int usk_bdev_compare_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch, void *buf,
			    uint64_t offset_blocks, uint64_t num_blocks,
			    usk_bdev_io_completion_cb cb, void *cb_arg);
/** Vectored usk_bdev_compare_blocks. */
int usk_bdev_comparev_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch,
			     struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			     uint64_t num_blocks, usk_bdev_io_completion_cb cb, void *cb_arg);
/** Emulated with writes of a zero buffer when the module lacks WRITE_ZEROES. */
int usk_bdev_write_zeroes(struct usk_bdev_desc *desc, struct usk_io_channel *ch, uint64_t offset,
			  uint64_t len, usk_bdev_io_completion_cb cb, void *cb_arg);
/** Block-unit usk_bdev_write_zeroes. */
int usk_bdev_write_zeroes_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch,
				 uint64_t offset_blocks, uint64_t num_blocks,
				 usk_bdev_io_completion_cb cb, void *cb_arg);
/** -ENOTSUP when the module lacks UNMAP. */
int usk_bdev_unmap(struct usk_bdev_desc *desc, struct usk_io_channel *ch, uint64_t offset,
		   uint64_t nbytes, usk_bdev_io_completion_cb cb, void *cb_arg);
/** Block-unit usk_bdev_unmap. */
int usk_bdev_unmap_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch,
			  uint64_t offset_blocks, uint64_t num_blocks, usk_bdev_io_completion_cb cb,
			  void *cb_arg);
/** Completes successfully without reaching the module when the module lacks FLUSH. */
int usk_bdev_flush(struct usk_bdev_desc *desc, struct usk_io_channel *ch, uint64_t offset,
		   uint64_t length, usk_bdev_io_completion_cb cb, void *cb_arg);
/** Block-unit usk_bdev_flush. */
int usk_bdev_flush_blocks(struct usk_bdev_desc *desc, struct usk_io_channel *ch,
			  uint64_t offset_blocks, uint64_t num_blocks, usk_bdev_io_completion_cb cb,
			  void *cb_arg);
/**
 * Reset: new I/O on every channel fails with ABORTED while it runs; waits until the I/O in
 * flight on all channels has completed (or the module's reset aborted it), then completes.
 */
int usk_bdev_reset(struct usk_bdev_desc *desc, struct usk_io_channel *ch,
		   usk_bdev_io_completion_cb cb, void *cb_arg);
/**
 * Abort every I/O on ch submitted with cb_arg == bio_cb_arg that has not completed yet.
 * Aborted I/O completes with success=false (status ABORTED). cb gets success when at least one
 * I/O was aborted. Returns 0, -ENOMEM, -ENOTSUP.
 */
int usk_bdev_abort(struct usk_bdev_desc *desc, struct usk_io_channel *ch, void *bio_cb_arg,
		   usk_bdev_io_completion_cb cb, void *cb_arg);

/** Return a completed bdev_io; call from its completion callback (or later, same thread). */
void usk_bdev_free_io(struct usk_bdev_io *bdev_io);

struct usk_bdev_io_wait_entry {
	struct usk_bdev *bdev;
	usk_bdev_io_wait_cb cb_fn;
	void *cb_arg;
	struct usk_bdev_io_wait_entry *next; /* internal */
};

/**
 * After an I/O call returned -ENOMEM: queue entry (bdev, cb_fn, cb_arg filled by the caller;
 * it must stay valid) on this thread; cb_fn runs once a bdev_io is free on this thread.
 * Returns 0, -EINVAL (bdev_io available right now: just retry).
 */
int usk_bdev_queue_io_wait(struct usk_bdev *bdev, struct usk_io_channel *ch,
			   struct usk_bdev_io_wait_entry *entry);

/* ---- completed I/O introspection ---- */

/**
 * NVMe status of a completed I/O: a module's usk_bdev_io_complete_nvme_status passes through;
 * success is (0, 0), other failures map to generic codes (Internal Error, Aborted...).
 */
void usk_bdev_io_get_nvme_status(const struct usk_bdev_io *bdev_io, uint32_t *cdw0, int *sct,
				 int *sc);
/** iovecs of the I/O (for reads whose buffer the module supplied). */
void usk_bdev_io_get_iovec(struct usk_bdev_io *bdev_io, struct iovec **iovp, int *iovcntp);
/** Type of the I/O (READ, WRITE, ...); in its completion callback. */
enum usk_bdev_io_type usk_bdev_io_get_type(const struct usk_bdev_io *bdev_io);

/* ---- I/O statistics ---- */

struct usk_bdev_io_stat {
	uint64_t bytes_read;
	uint64_t num_read_ops;
	uint64_t bytes_written;
	uint64_t num_write_ops;
	uint64_t bytes_unmapped;
	uint64_t num_unmap_ops;
	uint64_t bytes_copied;
	uint64_t num_copy_ops;
	uint64_t read_latency_ticks;
	uint64_t max_read_latency_ticks;
	uint64_t min_read_latency_ticks;
	uint64_t write_latency_ticks;
	uint64_t max_write_latency_ticks;
	uint64_t min_write_latency_ticks;
	uint64_t unmap_latency_ticks;
	uint64_t max_unmap_latency_ticks;
	uint64_t min_unmap_latency_ticks;
	uint64_t copy_latency_ticks;
	uint64_t max_copy_latency_ticks;
	uint64_t min_copy_latency_ticks;
	uint64_t ticks_rate;
	/* Failed I/O per type (index enum usk_bdev_io_type). */
	uint64_t io_error[USK_BDEV_NUM_IO_TYPES];
	/* Submit-to-completion latency (ticks) of each successful read / write; kept last so the
	 * counters above share the hot cache lines. Reset by ALL, not by MAXMIN. */
	struct usk_histogram read_latency_hist;
	struct usk_histogram write_latency_hist;
};

enum usk_bdev_reset_stat_mode {
	USK_BDEV_RESET_STAT_ALL,
	USK_BDEV_RESET_STAT_MAXMIN,
};

/** Stats of one channel (call on the channel's thread). */
void usk_bdev_get_io_stat(struct usk_bdev *bdev, struct usk_io_channel *ch,
			  struct usk_bdev_io_stat *stat);
typedef void (*usk_bdev_get_device_stat_cb)(struct usk_bdev *bdev, struct usk_bdev_io_stat *stat,
					    void *cb_arg, int rc);
/**
 * Sum of every channel (each read on its own thread) plus the channels already closed; stat is
 * filled and cb_fn(bdev, stat, cb_arg, 0) runs on the calling thread (rc -ENOMEM, stat
 * incomplete, when the walk could not start). Reset with
 * usk_bdev_reset_device_stat.
 */
void usk_bdev_get_device_stat(struct usk_bdev *bdev, struct usk_bdev_io_stat *stat,
			      usk_bdev_get_device_stat_cb cb_fn, void *cb_arg);
typedef void (*usk_bdev_reset_device_stat_cb)(struct usk_bdev *bdev, void *cb_arg, int rc);
/**
 * Reset the counters (ALL) or only the min/max latencies (MAXMIN) of every channel, each on its
 * own thread, and of the closed-channel totals. cb_fn (may be NULL) runs once on the calling
 * thread (a usk thread) with rc 0, or -ENOMEM when the walk could not start.
 */
void usk_bdev_reset_device_stat(struct usk_bdev *bdev, enum usk_bdev_reset_stat_mode mode,
				usk_bdev_reset_device_stat_cb cb_fn, void *cb_arg);

/**
 * Turn the latency histograms of the iostat (read_latency_hist, write_latency_hist) on or off
 * for bdev (on by default; off saves one increment per I/O). Counts already taken stay. Every
 * channel switches on its own thread; cb_fn (may be NULL) then runs on the calling thread (a
 * usk thread) with 0, or -ENOMEM when the walk could not start.
 */
void usk_bdev_histogram_enable(struct usk_bdev *bdev, bool enable,
			       void (*cb_fn)(void *cb_arg, int status), void *cb_arg);
/** Whether the latency histograms of bdev are on (any thread). */
bool usk_bdev_histogram_is_enabled(struct usk_bdev *bdev);

/** Data buffer pool statistics (usk_bdev_io_get_buf). */
struct usk_bdev_buf_stats {
	uint64_t small_pool_size;
	uint64_t small_available;
	uint64_t small_exhausted; /* times a request found no small buffer and was queued */
	uint64_t large_pool_size;
	uint64_t large_available;
	uint64_t large_exhausted;
	uint64_t retries;    /* queued requests served later */
	uint64_t queued_now; /* requests waiting on the calling thread */
};
/** Totals over all threads (the counters are kept per thread and summed). */
void usk_bdev_get_buf_stats(struct usk_bdev_buf_stats *stats);

/* ---- QoS ---- */

enum usk_bdev_qos_rate_limit_type {
	USK_BDEV_QOS_RW_IOPS_RATE_LIMIT = 0,
	USK_BDEV_QOS_RW_BPS_RATE_LIMIT,
	USK_BDEV_QOS_R_BPS_RATE_LIMIT,
	USK_BDEV_QOS_W_BPS_RATE_LIMIT,
	USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES
};
/* rw_ios_per_sec must be a multiple of this (as in SPDK). */
#define USK_BDEV_QOS_MIN_IOS_PER_SEC   1000
#define USK_BDEV_QOS_MIN_BYTES_PER_SEC (1024 * 1024)

/** The RPC parameter name of each limit ("rw_ios_per_sec", "rw_mbytes_per_sec", ...). */
const char *usk_bdev_get_qos_rpc_type(enum usk_bdev_qos_rate_limit_type type);
/** limits[type]: IOPS or bytes/s; 0 = unlimited. */
void usk_bdev_get_qos_rate_limits(struct usk_bdev *bdev, uint64_t *limits);
/**
 * Set limits (IOPS / bytes per second; 0 = unlimited, UINT64_MAX = leave unchanged).
 * cb_fn(cb_arg, status) runs on the calling thread once every channel uses them.
 */
void usk_bdev_set_qos_rate_limits(struct usk_bdev *bdev, uint64_t *limits,
				  void (*cb_fn)(void *cb_arg, int status), void *cb_arg);

#ifdef __cplusplus
}
#endif
#endif
