/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Interface between the bdev layer and bdev modules (malloc, null, aio, ...): struct usk_bdev,
 * the ops table, struct usk_bdev_io, registration, examine, claims, I/O completion.
 * Follows SPDK's spdk/bdev_module.h with a usk_ prefix.
 */
#ifndef USK_BDEV_MODULE_H
#define USK_BDEV_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <jansson.h>
#include "usk/bdev.h"
#include "usk/thread.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- modules ---- */

struct usk_bdev_module {
	/* Called at usk_bdev_initialize, in registration order. 0 or -errno (fails init). With
	 * async_init, the module must call usk_bdev_module_init_done() later. May be NULL. */
	int (*module_init)(void);
	/* Called once every module finished init. May be NULL. */
	void (*init_complete)(void);
	/* Called at the start of usk_bdev_finish, before bdevs are unregistered. May be NULL. */
	void (*fini_start)(void);
	/* Called after every bdev is unregistered, in reverse order. With async_fini, the module
	 * must call usk_bdev_module_fini_done() later. May be NULL. */
	void (*module_fini)(void);
	/* Append the module's own config (not per bdev) as {"method","params"}. May be NULL. */
	int (*config_json)(json_t *config_array);
	const char *name;
	/* Bytes of per-I/O context the module needs in bdev_io->driver_ctx. May be NULL (0). */
	int (*get_ctx_size)(void);
	/* Synchronous look at a new bdev (from config only); must call
	 * usk_bdev_module_examine_done(module) before returning. May be NULL. */
	void (*examine_config)(struct usk_bdev *bdev);
	/* Asynchronous look (may do I/O); must call usk_bdev_module_examine_done(module) exactly
	 * once per call, later or at once. Only called when the bdev is not claimed by another
	 * module after examine_config. May be NULL. */
	void (*examine_disk)(struct usk_bdev *bdev);
	bool async_init;
	bool async_fini;

	/* Private to the bdev layer. */
	struct {
		/* Examines and async init not yet done. */
		uint32_t action_in_progress;
		struct usk_bdev_module *next;
	} internal;
};

/** Add module to the list (USK_BDEV_MODULE_REGISTER does it from a constructor). */
void usk_bdev_module_list_add(struct usk_bdev_module *bdev_module);
/** Registered module by name, or NULL. */
struct usk_bdev_module *usk_bdev_module_list_find(const char *name);

#define USK_BDEV_MODULE_REGISTER(name, module) \
	__attribute__((constructor)) static void usk_bdev_module_register_##name(void) \
	{ \
		usk_bdev_module_list_add(module); \
	}

/** An async_init module's init is over (rc is ignored beyond logging: 0 or -errno). */
void usk_bdev_module_init_done(struct usk_bdev_module *module);
/** An async_fini module's fini is over. */
void usk_bdev_module_fini_done(void);
/** One examine_config / examine_disk call of module is over. Any thread (forwarded). */
void usk_bdev_module_examine_done(struct usk_bdev_module *module);

/**
 * Exclusive write claim of bdev by module (e.g. a passthru on top of it). desc (may be NULL)
 * is the module's own descriptor, which may then write. After this, others' open for write is
 * -EPERM. Returns 0 or -EPERM (claimed already by another module).
 */
int usk_bdev_module_claim_bdev(struct usk_bdev *bdev, struct usk_bdev_desc *desc,
			       struct usk_bdev_module *module);
/** Drop the claim on bdev (any module's): others may open it for write again. Any thread. */
void usk_bdev_module_release_bdev(struct usk_bdev *bdev);

/* ---- bdevs ---- */

enum usk_bdev_io_status {
	USK_BDEV_IO_STATUS_AIO_ERROR = -8,
	USK_BDEV_IO_STATUS_ABORTED = -7,
	USK_BDEV_IO_STATUS_FIRST_FUSED_FAILED = -6,
	USK_BDEV_IO_STATUS_MISCOMPARE = -5,
	/* The module had no resources: the bdev layer queues the I/O and resubmits it later. */
	USK_BDEV_IO_STATUS_NOMEM = -4,
	USK_BDEV_IO_STATUS_SCSI_ERROR = -3,
	USK_BDEV_IO_STATUS_NVME_ERROR = -2,
	USK_BDEV_IO_STATUS_FAILED = -1,
	USK_BDEV_IO_STATUS_PENDING = 0,
	USK_BDEV_IO_STATUS_SUCCESS = 1,
};

struct usk_bdev_fn_table {
	/*
	 * Free the module's bdev (ctx = bdev->ctxt). Return 0 when done, > 0 when it finishes
	 * later with usk_bdev_destruct_done(bdev, rc), < 0 on error.
	 */
	int (*destruct)(void *ctx);
	/*
	 * Process bdev_io on ch (the module's channel from get_io_channel) and complete it with
	 * usk_bdev_io_complete*() — from this call or later, on the same thread.
	 */
	void (*submit_request)(struct usk_io_channel *ch, struct usk_bdev_io *bdev_io);
	bool (*io_type_supported)(void *ctx, enum usk_bdev_io_type type);
	/* The module's channel for the calling thread (one reference; the bdev layer puts it). */
	struct usk_io_channel *(*get_io_channel)(void *ctx);
	/* Add members (usually one object named after the module) to the bdev's
	 * "driver_specific" object in bdev_get_bdevs. Return 0. May be NULL. */
	int (*dump_info_json)(void *ctx, json_t *driver_specific_obj);
	/* Append {"method","params"} that recreates bdev (e.g. bdev_malloc_create). May be NULL. */
	void (*write_config_json)(struct usk_bdev *bdev, json_t *config_array);
};

struct usk_bdev_internal; /* private to lib/bdev */

struct usk_bdev {
	/* Module's context, passed to fn_table calls. */
	void *ctxt;
	/* Unique name (also unique against aliases). Owned by the module. */
	char *name;
	char *product_name;
	/* Generated at register when all zero. */
	uint8_t uuid[16];
	/* Bytes per block: power of two, >= 512 for data bdevs (any > 0 accepted). */
	uint32_t blocklen;
	uint64_t blockcnt;
	/*
	 * Completed writes may sit in a volatile cache until a FLUSH (a drive cache, the page
	 * cache, file system metadata): FUA writes then need a flush after them.
	 */
	bool write_cache;
	/* The module honours bdev_io->u.bdev.fua on writes itself (see USK_BDEV_IO_FLAG_FUA). */
	bool fua_supported;
	/* log2 of the buffer alignment the module needs (0 = any). */
	uint8_t required_alignment;
	/* Blocks; with split_on_optimal_io_boundary, I/O crossing a multiple is split. 0 = none. */
	uint32_t optimal_io_boundary;
	bool split_on_optimal_io_boundary;
	uint32_t write_unit_size; /* blocks, 0 = 1 */
	/* Per-iovec byte limit; longer segments are split. 0 = unlimited. */
	uint32_t max_segment_size;
	/* Max iovecs per I/O; more are split. 0 = unlimited. */
	uint32_t max_num_segments;
	/* Max blocks per read/write; larger I/O is split. 0 = unlimited. */
	uint32_t max_rw_size;
	struct usk_bdev_module *module;
	const struct usk_bdev_fn_table *fn_table;
	/* Allocated by usk_bdev_register, freed after destruct. */
	struct usk_bdev_internal *internal;
};

typedef void (*usk_bdev_unregister_cb)(void *cb_arg, int rc);

/**
 * Register bdev (app thread). Generates a UUID when it is all zero, creates the bdev's
 * io_device, then runs examine. Returns 0, -EEXIST (name, alias or UUID taken), -EINVAL
 * (no name, blocklen 0, missing fn_table entries), -ENOMEM.
 */
int usk_bdev_register(struct usk_bdev *bdev);
/**
 * Unregister: REMOVE is delivered to every open descriptor; once all are closed the module's
 * destruct runs, then cb_fn(cb_arg, rc) on the calling thread. cb_fn may be NULL.
 */
void usk_bdev_unregister(struct usk_bdev *bdev, usk_bdev_unregister_cb cb_fn, void *cb_arg);
/** Same by name; returns -ENODEV (no such bdev, or it belongs to another module) or 0. */
int usk_bdev_unregister_by_name(const char *bdev_name, struct usk_bdev_module *module,
				usk_bdev_unregister_cb cb_fn, void *cb_arg);
/** Finish a destruct that returned > 0. */
void usk_bdev_destruct_done(struct usk_bdev *bdev, int bdeverrno);

/** Returns 0, -EEXIST (a bdev has that name or alias), -EINVAL, -ENOMEM. */
int usk_bdev_alias_add(struct usk_bdev *bdev, const char *alias);
/** Returns 0 or -ENOENT. */
int usk_bdev_alias_del(struct usk_bdev *bdev, const char *alias);
/** Remove every alias of bdev (its name stays). Any thread. */
void usk_bdev_alias_del_all(struct usk_bdev *bdev);

/**
 * The size changed to size blocks (module calls on the app thread). RESIZE goes to every open
 * descriptor. Returns 0, -EBUSY (shrinking while descriptors are open).
 */
int usk_bdev_notify_blockcnt_change(struct usk_bdev *bdev, uint64_t size);

/* ---- bdev_io ---- */

#define USK_BDEV_IO_NUM_CHILD_IOV 32

struct usk_bdev_channel; /* private to lib/bdev */

typedef void (*usk_bdev_io_get_buf_cb)(struct usk_io_channel *ch, struct usk_bdev_io *bdev_io,
				       bool success);

/* Private to lib/bdev; modules must not touch it. */
struct usk_bdev_io_internal {
	/* ---- hot: written at submit, read at completion ---- */
	struct usk_bdev_channel *ch;
	usk_bdev_io_completion_cb cb;
	void *caller_ctx;
	uint64_t submit_tsc;
	/* Free list / queue link. */
	struct usk_bdev_io *link;
	int8_t status; /* enum usk_bdev_io_status */
	uint8_t flags; /* BDEV_IO_F_* in bdev_internal.h */
	uint16_t rsvd;
	uint32_t rsvd2;
	/* ---- cold: only split, buffers, QoS, errors, reset ---- */
	/* Channel the I/O was submitted on when QoS forwarded it to the QoS thread. */
	struct usk_bdev_channel *io_submit_ch;
	struct usk_bdev_io *parent;
	uint32_t nvme_cdw0;
	int16_t nvme_sct;
	int16_t nvme_sc;
	int aio_errno;
	/* Buffer from usk_bdev_io_get_buf. */
	void *buf;
	uint64_t buf_len;
	usk_bdev_io_get_buf_cb get_buf_cb;
	struct iovec *orig_iovs;
	int orig_iovcnt;
	/* Split / emulation state of a parent. */
	uint32_t split_outstanding;
	uint64_t split_remaining_blocks;
	uint64_t split_current_offset;
	/* Index in the parent's iovecs where the next child starts, and bytes into it. */
	int split_iov_idx;
	uint64_t split_iov_off;
	int8_t split_status;
	/* A parent waiting for a free bdev_io to issue its next child. */
	struct usk_bdev_io_wait_entry waitq_entry;
	struct iovec child_iov[USK_BDEV_IO_NUM_CHILD_IOV];
};

struct usk_bdev_io {
	struct usk_bdev *bdev;
	/* enum usk_bdev_io_type */
	uint8_t type;
	uint8_t rsvd[7];
	union {
		struct {
			/* Data; for a read with no buffer, iovs[0].iov_base is NULL until
			 * usk_bdev_io_get_buf supplies one. */
			struct iovec *iovs;
			int iovcnt;
			/* WRITE on a bdev with fua_supported: make the data durable before
			 * completing (pass it down, as the vbdevs do; an NVMe FUA bit). Always
			 * false otherwise: the bdev layer then emulates FUA with a flush. */
			bool fua;
			uint64_t num_blocks;
			uint64_t offset_blocks;
			/* Storage for single-buffer I/O (iovs == &iov). */
			struct iovec iov;
		} bdev;
		struct {
			/* ABORT: the I/O to abort (submitted to the same module). */
			struct usk_bdev_io *bio_to_abort;
		} abort;
	} u;
	/*
	 * First cache line ends here on the submit path (bdev, type, u.bdev); the hot half of
	 * internal (ch..flags) is the second. Everything from internal.io_submit_ch on is cold:
	 * it must not be touched on the normal read/write path.
	 */
	struct usk_bdev_io_internal internal;
	/* Module's per-I/O context, get_ctx_size() bytes. */
	uint8_t driver_ctx[] __attribute__((aligned(8)));
};

/**
 * Complete bdev_io with status (on the thread it was submitted to the module on).
 * NOMEM makes the bdev layer queue it and resubmit later.
 */
void usk_bdev_io_complete(struct usk_bdev_io *bdev_io, enum usk_bdev_io_status status);
/** Complete with an NVMe status (sct 0 sc 0 = success); it reaches usk_bdev_io_get_nvme_status. */
void usk_bdev_io_complete_nvme_status(struct usk_bdev_io *bdev_io, uint32_t cdw0, int sct, int sc);
/** Complete with an aio/uring result: 0 success, else -errno (AIO_ERROR status). */
void usk_bdev_io_complete_aio_status(struct usk_bdev_io *bdev_io, int aio_result);

/**
 * Make sure the I/O has a data buffer of len bytes (a read submitted without one gets one
 * from the per-thread buffer cache). cb runs once the buffer is there: at once, or later when
 * the pool was exhausted (queued, retried). success=false when len is larger than
 * USK_BDEV_LARGE_BUF_MAX_SIZE.
 */
void usk_bdev_io_get_buf(struct usk_bdev_io *bdev_io, usk_bdev_io_get_buf_cb cb, uint64_t len);
/** The module's channel the I/O was submitted on. */
struct usk_io_channel *usk_bdev_io_get_io_channel(struct usk_bdev_io *bdev_io);
/** The thread the I/O was submitted on, where it must be completed (or is forwarded to). */
struct usk_thread *usk_bdev_io_get_thread(struct usk_bdev_io *bdev_io);
/** bdev_io whose driver_ctx is ctx. */
struct usk_bdev_io *usk_bdev_io_from_ctx(void *ctx);
/** Tick (usk_get_ticks) the I/O was submitted at: for the module's own timeouts and latency. */
uint64_t usk_bdev_io_get_submit_tsc(struct usk_bdev_io *bdev_io);

#ifdef __cplusplus
}
#endif
#endif
