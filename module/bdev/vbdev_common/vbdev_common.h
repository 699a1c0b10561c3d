/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared pieces of the virtual bdevs that sit on one claimed base bdev (passthru, delay, error,
 * split). */
#ifndef USK_MODULE_BDEV_VBDEV_COMMON_H
#define USK_MODULE_BDEV_VBDEV_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "usk/bdev_module.h"
#include "usk/json.h"
#include "usk/rpc.h"
#include "usk/thread.h"

struct usk_vbdev;

/* What the user asked for; kept while the base is missing or after it was hot-removed. */
struct usk_vbdev_config {
	char *name;
	char *base_name;
	struct usk_vbdev *vbdev; /* NULL while the base is absent */
	TAILQ_ENTRY(usk_vbdev_config) link;
};

/*
 * One kind of single-base vbdev (one per module, static). The module's vbdev struct embeds
 * struct usk_vbdev as its first member, its config struct embeds struct usk_vbdev_config first
 * and its channel struct embeds struct usk_vbdev_channel first.
 */
struct usk_vbdev_type {
	struct usk_bdev_module *module;
	const struct usk_bdev_fn_table *fn_table;
	const char *product_name;
	const char *name_param; /* RPC parameter naming the vbdev, for error messages */
	const char *base_param; /* RPC parameter naming the base, for error messages */
	size_t vbdev_size;	/* size of the module's vbdev struct */
	usk_io_channel_create_cb channel_create;   /* may be NULL: usk_vbdev_channel_create */
	usk_io_channel_destroy_cb channel_destroy; /* may be NULL: usk_vbdev_channel_destroy */
	uint32_t channel_size;			   /* 0: sizeof(struct usk_vbdev_channel) */
	/* Completion of forwarded I/O used by usk_vbdev_submit_request; may be NULL:
	 * usk_vbdev_io_done. */
	usk_bdev_io_completion_cb io_done;
	/* Called once the base is claimed, before registration; may be NULL. */
	void (*init)(struct usk_vbdev *vbdev);
	TAILQ_HEAD(, usk_vbdev_config) configs; /* initialize with TAILQ_HEAD_INITIALIZER */
};

struct usk_vbdev {
	struct usk_bdev bdev;
	struct usk_bdev *base;
	struct usk_bdev_desc *base_desc;
	struct usk_thread *desc_thread;	 /* where base_desc was opened and must be closed */
	struct usk_vbdev_config *config; /* NULL once deleted */
	struct usk_vbdev_type *type;
};

struct usk_vbdev_channel {
	struct usk_io_channel *base_ch;
};

typedef void (*usk_vbdev_delete_cb)(void *cb_arg, int rc);

/* ---------------------------------------------------------------- base bdev helpers */

/**
 * Open base_name for writing and claim it for module. On failure err gets a message starting
 * with base_param and nothing stays open. *desc_thread is where *desc must be closed.
 */
int usk_vbdev_open_claim_base(const char *base_name, const char *base_param,
			      struct usk_bdev_module *module, usk_bdev_event_cb_t event_cb,
			      void *ctx, struct usk_bdev_desc **desc,
			      struct usk_thread **desc_thread, char *err, size_t err_len);

/** Release the claim of base and close desc on desc_thread (now when already there). */
void usk_vbdev_release_base(struct usk_bdev *base, struct usk_bdev_desc *desc,
			    struct usk_thread *desc_thread);

/** Copy block size/count, write cache, alignment and I/O boundaries of base into bdev. */
void usk_vbdev_copy_geometry(struct usk_bdev *bdev, struct usk_bdev *base);

/* ---------------------------------------------------------------- I/O helpers */

/** True when a read has no data buffer yet (usk_bdev_io_get_buf must be called first). */
static inline bool
usk_vbdev_read_needs_buf(const struct usk_bdev_io *bdev_io)
{
	return bdev_io->type == USK_BDEV_IO_TYPE_READ &&
	       (bdev_io->u.bdev.iovs == NULL || bdev_io->u.bdev.iovs[0].iov_base == NULL);
}

/**
 * Submit bdev_io to the base at offset_blocks (read, write, unmap, write zeroes, flush, reset,
 * compare). Returns the base's submit status (-ENOTSUP for other types); 0 means cb runs.
 */
int usk_vbdev_forward_io(struct usk_bdev_desc *desc, struct usk_io_channel *base_ch,
			 struct usk_bdev_io *bdev_io, uint64_t offset_blocks,
			 usk_bdev_io_completion_cb cb);

/** Complete bdev_io (cb_arg) from base_io keeping the base's NVMe status; frees base_io. */
void usk_vbdev_io_done(struct usk_bdev_io *base_io, bool success, void *cb_arg);

/** Complete bdev_io with NOMEM (retried by the bdev layer) or FAILED when rc != 0. */
void usk_vbdev_submit_rc(struct usk_bdev_io *bdev_io, int rc);

/** io_type_supported of a vbdev that forwards the types of usk_vbdev_forward_io to base. */
bool usk_vbdev_base_io_type_supported(struct usk_bdev *base, enum usk_bdev_io_type type);

/* ---------------------------------------------------------------- fn_table members (ctx: vbdev) */

/** submit_request forwarding every I/O to the base, completing with type->io_done. */
void usk_vbdev_submit_request(struct usk_io_channel *ch, struct usk_bdev_io *bdev_io);
/** io_type_supported: what the base supports of usk_vbdev_forward_io's types. */
bool usk_vbdev_io_type_supported(void *ctx, enum usk_bdev_io_type type);
/** get_io_channel of the vbdev io_device. */
struct usk_io_channel *usk_vbdev_get_io_channel(void *ctx);
/** destruct: unregisters the io_device, then releases and closes the base and frees the vbdev. */
int usk_vbdev_destruct(void *ctx);

/** Channel create/destroy taking/putting the base channel (usable from a module's own). */
int usk_vbdev_channel_create(void *io_device, void *ctx_buf);
void usk_vbdev_channel_destroy(void *io_device, void *ctx_buf);

/* ---------------------------------------------------------------- configs */

/** The config named name, or NULL. */
struct usk_vbdev_config *usk_vbdev_config_find(struct usk_vbdev_type *type, const char *name);

/**
 * Allocate a config of size bytes (>= sizeof(struct usk_vbdev_config), zeroed) for name on
 * base_name. Fails with -EEXIST when a bdev named name exists or -ENOMEM; err explains.
 */
int usk_vbdev_config_new(struct usk_vbdev_type *type, size_t size, const char *name,
			 const char *base_name, struct usk_vbdev_config **out, char *err,
			 size_t err_len);

/** Free a config that was never added. */
void usk_vbdev_config_free(struct usk_vbdev_config *config);

/**
 * Build the vbdev of config now when its base exists (else defer to examine) and keep config.
 * On failure config is freed and err explains.
 */
int usk_vbdev_config_add(struct usk_vbdev_type *type, struct usk_vbdev_config *config, char *err,
			 size_t err_len);

/** examine_config body: build the pending vbdevs whose base is bdev, then examine_done. */
void usk_vbdev_examine(struct usk_vbdev_type *type, struct usk_bdev *bdev);

/** module_fini body: free every config. */
void usk_vbdev_fini(struct usk_vbdev_type *type);

/**
 * Delete config name and unregister its vbdev; cb_fn (may be NULL) runs once it is gone.
 * Returns 0 or -ENODEV (cb_fn then never runs).
 */
int usk_vbdev_delete(struct usk_vbdev_type *type, const char *name, usk_vbdev_delete_cb cb_fn,
		     void *cb_arg);

/* ---------------------------------------------------------------- RPC helpers */

/**
 * Body of a bdev_<x>_delete RPC: decode the one string parameter param, call delete_fn and
 * answer true, or -ENODEV with not_found_fmt (one %s: the name) when delete_fn fails.
 */
void
usk_vbdev_rpc_delete(struct usk_jsonrpc_request *request, const json_t *params, const char *param,
		     int (*delete_fn)(const char *name, usk_vbdev_delete_cb cb_fn, void *cb_arg),
		     const char *not_found_fmt);

/**
 * Checks of a create RPC: name (NULL when the module derives it) and base_name not empty, uuid
 * not given (what: "a passthru bdev"). On false the error answer was sent.
 */
bool usk_vbdev_rpc_check_create(struct usk_jsonrpc_request *request, const char *name,
				const char *base_param, const char *base_name, const char *uuid,
				const char *what);

/** Send the answer of a create RPC that failed with rc: -EEXIST as is, else invalid params. */
void usk_vbdev_rpc_create_error(struct usk_jsonrpc_request *request, int rc, const char *err);

#endif
