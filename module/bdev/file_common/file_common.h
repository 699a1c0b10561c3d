/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared pieces of the file bdevs (aio, uring): files, create/delete, submit path, channels, flush.
 */
#ifndef USK_MODULE_BDEV_FILE_COMMON_H
#define USK_MODULE_BDEV_FILE_COMMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "usk/bdev_module.h"
#include "usk/json.h"
#include "usk/rpc.h"
#include "usk/thread.h"

/* ---------------------------------------------------------------- flush */

/* Per-I/O context of the file bdevs: the first member of each module's driver_ctx. */
struct usk_file_io {
	struct usk_file_io *next; /* flush queue link */
};

/*
 * Flush coalescing on one channel (one thread, one file). At most one sync is in flight. A
 * flush may only be completed by a sync that started after the flush was submitted (the sync
 * must cover every write completed before the flush): the flushes "riding" on the sync in
 * flight were all submitted before the kernel got it (sync_started); flushes submitted after
 * that wait and ride on the next sync, which starts when the current one ends. N concurrent
 * flushes cost at most two syncs.
 */
struct usk_file_flush_queue {
	struct usk_file_io *riding_head;
	struct usk_file_io *riding_tail;
	struct usk_file_io *waiting_head;
	struct usk_file_io *waiting_tail;
	bool sync_inflight;
	/* The sync in flight was handed to the kernel (or the sync thread): later flushes wait. */
	bool sync_started;
	/* Syncs started on this queue. */
	uint64_t syncs;
};

/**
 * Add a flush. Returns true when the caller must start a sync now (none in flight); false when
 * it rides on the sync prepared but not yet handed over, or waits for the next one.
 */
bool usk_file_flush_enqueue(struct usk_file_flush_queue *q, struct usk_file_io *io);
/** The sync in flight is now with the kernel (or the sync thread): it may have begun. */
static inline void
usk_file_flush_sync_started(struct usk_file_flush_queue *q)
{
	q->sync_started = true;
}
/**
 * The sync in flight ended: returns the flushes it covers (linked by next), to complete with
 * its result. *start_next: the waiting flushes ride now, the caller must start a sync for them.
 */
struct usk_file_io *usk_file_flush_sync_done(struct usk_file_flush_queue *q, bool *start_next);
/** Complete every bdev_io of list (as returned above) with rc (0 or -errno). */
void usk_file_flush_complete_list(struct usk_file_io *list, int rc);

struct usk_file_disk_type;
struct usk_file_sync_req;

/*
 * The thread that runs fdatasync(2) for a file whose kernel interface has no asynchronous sync
 * (Linux AIO where IOCB_CMD_FDSYNC is refused), so that no reactor ever blocks in it. Started
 * on first use, stopped when the disk is freed.
 */
struct usk_file_sync_helper {
	pthread_mutex_t mutex;
	pthread_cond_t cond;
	/* Requests not yet taken by the thread (mutex). */
	struct usk_file_sync_req *head;
	struct usk_file_sync_req *tail;
	bool started;
	bool stop;
	pthread_t tid;
	/* fdatasync calls made (one serves every request taken before it started). */
	uint64_t syncs;
};

/* A bdev on an open file; the io_device of the module's channels. */
struct usk_file_disk {
	struct usk_bdev bdev;
	char *filename;
	int fd;
	bool direct;
	bool readonly;
	bool fallocate; /* unmap / write_zeroes through fallocate(2) */
	/* The kernel refused an asynchronous sync on this file: syncs go to sync_helper. */
	bool kernel_sync_unsupported;
	struct usk_file_disk_type *type;
	struct usk_file_sync_helper sync_helper;
	TAILQ_ENTRY(usk_file_disk) link;
};

struct usk_file_channel;

/*
 * What a file bdev module (aio, uring) plugs into the shared submit path and channel set-up:
 * file_common decodes the bdev_io (buffers, read-only, flush coalescing, inline types) and
 * owns the poller / interrupt of each channel; the module talks to the kernel.
 */
struct usk_file_channel_ops {
	/* Kernel side of a new channel (io_setup, io_uring_queue_init). 0 or -errno. */
	int (*setup)(struct usk_file_channel *ch);
	/* Interrupt mode: have completions signal ch->efd. 0 or -errno. May be NULL (the module
	 * marks each request instead). */
	int (*set_eventfd)(struct usk_file_channel *ch);
	/* Undo setup. */
	void (*teardown)(struct usk_file_channel *ch);
	/* Queue a read or write whose buffers are there; complete it NOMEM when full. In
	 * interrupt mode submit at once (no poller runs). */
	void (*rw)(struct usk_file_channel *ch, struct usk_bdev_io *bdev_io, bool write);
	/* Start a sync of the file for the flushes riding in ch->flushq; when it ends, call
	 * usk_file_channel_sync_done. */
	void (*start_sync)(struct usk_file_channel *ch);
	/* Submit what is queued and reap completions; returns the work done. The poller's body
	 * and, once the eventfd is drained, the interrupt handler's. */
	int (*poll)(struct usk_file_channel *ch);
	const char *poller_name;
	const char *intr_name;
};

/*
 * The part of every file bdev channel that file_common owns: the first member of the module's
 * channel context (per disk and thread).
 */
struct usk_file_channel {
	struct usk_file_disk *disk;
	const struct usk_file_channel_ops *ops;
	bool intr_mode;
	int efd; /* interrupt mode: completions signal it; else -1 */
	struct usk_poller *poller;
	struct usk_interrupt *intr;
	struct usk_file_flush_queue flushq;
};

/* One file bdev module (static, one per module). */
struct usk_file_disk_type {
	struct usk_bdev_module *module;
	const struct usk_bdev_fn_table *fn_table;
	const char *product_name;
	const struct usk_file_channel_ops *ops;
	/* sizeof the module's channel, which starts with struct usk_file_channel */
	uint32_t channel_size;
	TAILQ_HEAD(, usk_file_disk) disks; /* initialize with TAILQ_HEAD_INITIALIZER */
};

typedef void (*usk_file_disk_delete_cb)(void *cb_arg, int rc);

/** Size in bytes of a regular file or block device. Returns 0, -ENOTSUP or -errno of fstat/ioctl.
 */
int usk_file_get_size(int fd, uint64_t *size);

/**
 * Block size to use on fd: the logical block size of a block device, the direct-I/O offset
 * alignment of a file opened with O_DIRECT (statx), else 512.
 */
uint32_t usk_file_detect_block_size(int fd, bool direct);

/**
 * Open filename read-only or read-write, with O_DIRECT when the file system allows it
 * (*direct tells; a notice is logged otherwise). Returns the fd or -errno.
 */
int usk_file_open(const char *filename, bool readonly, bool *direct);

/**
 * Create a bdev of type named name on filename (app thread); see usk_bdev_aio_create for the
 * meaning of block_size and the error returns. err names the offending parameter.
 */
int usk_file_disk_create(struct usk_file_disk_type *type, const char *name, const char *filename,
			 uint32_t block_size, bool readonly, bool fallocate, char *err,
			 size_t err_len);

/** Unregister bdev name of type; cb_fn(cb_arg, rc) when gone. Returns 0, -ENODEV, -ENOMEM. */
int usk_file_disk_delete(struct usk_file_disk_type *type, const char *name,
			 usk_file_disk_delete_cb cb_fn, void *cb_arg);

/** Re-read the size of bdev name of type and resize it. Returns 0, -ENODEV, -errno. */
int usk_file_disk_rescan(struct usk_file_disk_type *type, const char *name);

/**
 * fn_table submit_request of a file disk: reads (a buffer from usk_bdev_io_get_buf when there
 * is none) and writes go to ops->rw, flushes are coalesced onto ops->start_sync; reset, and
 * unmap / write_zeroes through fallocate(2) when enabled, are done inline; others fail.
 */
void usk_file_disk_submit_request(struct usk_io_channel *ch, struct usk_bdev_io *bdev_io);

/**
 * The sync started by ops->start_sync ended with rc (0 or -errno): complete the flushes it
 * covers and start the next sync for those that came meanwhile. On the channel's thread.
 */
void usk_file_channel_sync_done(struct usk_file_channel *ch, int rc);

/* One fdatasync asked of the sync helper thread; owned by the caller until done_fn runs. */
struct usk_file_sync_req {
	struct usk_thread *thread; /* where done_fn runs */
	usk_msg_fn done_fn;	   /* done_fn(req) with rc set */
	int rc;			   /* 0 or -errno of fdatasync */
	struct usk_file_sync_req *next;
};

/**
 * Have the disk's sync helper thread run fdatasync on the file (starting the thread on first
 * use); req->done_fn(req) then runs on req->thread by message. Any thread. Returns 0 or
 * -errno (the thread could not be started: done_fn never runs).
 */
int usk_file_sync_helper_submit(struct usk_file_disk *disk, struct usk_file_sync_req *req);

/** io_type_supported of a file disk: read, write, flush, reset (+ unmap, write_zeroes). */
bool usk_file_disk_io_type_supported(void *ctx, enum usk_bdev_io_type type);

/** fn_table members (ctx: the disk). */
int usk_file_disk_destruct(void *ctx);
struct usk_io_channel *usk_file_disk_get_io_channel(void *ctx);

/* ---------------------------------------------------------------- RPC helpers */

/** Decoded parameters of bdev_<x>_create; free with usk_file_rpc_create_free. */
struct usk_file_rpc_create {
	char *name;
	char *filename;
	uint32_t block_size;
	bool readonly;
	bool fallocate;
	char *uuid;
};

/**
 * Decode params of a create RPC (name, filename, optional block_size, plus readonly/fallocate
 * when with_flags, or uuid when not, refused) into req and check name is not empty. On false
 * the error answer was sent; free req in both cases.
 */
bool usk_file_rpc_create_decode(struct usk_jsonrpc_request *request, const json_t *params,
				const char *module_name, bool with_flags,
				struct usk_file_rpc_create *req);
/** Free the strings of req (decoded or not). */
void usk_file_rpc_create_free(struct usk_file_rpc_create *req);

/** Answer a create RPC: the name, or the error (-EEXIST as is, else invalid params). */
void usk_file_rpc_create_reply(struct usk_jsonrpc_request *request, int rc, const char *name,
			       const char *err);

/** Body of bdev_<x>_rescan: decode name, call rescan_fn, answer. */
void usk_file_rpc_rescan(struct usk_jsonrpc_request *request, const json_t *params,
			 const char *module_name, int (*rescan_fn)(const char *name));

#endif
