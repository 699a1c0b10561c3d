/* SPDX-License-Identifier: BSD-3-Clause */
/* error virtual bdev (EE_<base>): forwards I/O to its base and injects failures on request. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "usk/bdev_module.h"
#include "usk/json.h"
#include "usk/log.h"
#include "usk/thread.h"
#include "usk/util.h"

#include "error.h"

/* What the user asked for; kept while the base is missing or after it was hot-removed. */
struct ee_config {
	char *name;
	char *base_name;
	struct ee_vbdev *vbdev; /* NULL while the base is absent */
	TAILQ_ENTRY(ee_config) link;
};

struct ee_vbdev {
	struct usk_bdev bdev;
	struct usk_bdev *base;
	struct usk_bdev_desc *base_desc;
	struct usk_thread *desc_thread; /* where base_desc was opened and must be closed */
	struct ee_config *config;
	/* Armed injections per I/O type; set on the app thread, consumed by the channels. */
	struct usk_error_inject_opts inject[USK_BDEV_NUM_IO_TYPES];
};

/* Per-I/O context: link of an I/O held back by a "pending" injection. */
struct ee_io {
	TAILQ_ENTRY(ee_io) link;
	bool corrupt_read; /* remembered across usk_bdev_io_get_buf */
};

struct ee_channel {
	struct usk_io_channel *base_ch;
	uint32_t outstanding;
	TAILQ_HEAD(, ee_io) pending;
};

static TAILQ_HEAD(, ee_config) g_ee_configs = TAILQ_HEAD_INITIALIZER(g_ee_configs);

static void ee_examine_config(struct usk_bdev *bdev);
static void ee_module_fini(void);

static int
ee_get_ctx_size(void)
{
	return sizeof(struct ee_io);
}

static struct usk_bdev_module g_ee_if = {
	.name = "error",
	.get_ctx_size = ee_get_ctx_size,
	.examine_config = ee_examine_config,
	.module_fini = ee_module_fini,
};
USK_BDEV_MODULE_REGISTER(error, &g_ee_if)

/* ---------------------------------------------------------------- I/O */

static void
corrupt_data(struct usk_bdev_io *bdev_io, const struct usk_error_inject_opts *inj)
{
	uint64_t off = inj->corrupt_offset;

	for (int i = 0; i < bdev_io->u.bdev.iovcnt; i++) {
		struct iovec *iov = &bdev_io->u.bdev.iovs[i];

		if (off < iov->iov_len) {
			((uint8_t *)iov->iov_base)[off] ^= inj->corrupt_value;
			return;
		}
		off -= iov->iov_len;
	}
}

static void
ee_io_done(struct usk_bdev_io *base_io, bool success, void *cb_arg)
{
	struct usk_bdev_io *bdev_io = cb_arg;
	struct ee_channel *ch = usk_io_channel_get_ctx(usk_bdev_io_get_io_channel(bdev_io));

	ch->outstanding--;
	if (usk_likely(success)) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_SUCCESS);
	} else {
		uint32_t cdw0;
		int sct, sc;

		/* Keep the base's NVMe status so initiators see the real error. */
		usk_bdev_io_get_nvme_status(base_io, &cdw0, &sct, &sc);
		if (sct != 0 || sc != 0) {
			usk_bdev_io_complete_nvme_status(bdev_io, cdw0, sct, sc);
		} else {
			usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
		}
	}
	usk_bdev_free_io(base_io);
}

static void
ee_submit_rc(struct usk_bdev_io *bdev_io, int rc)
{
	if (usk_likely(rc == 0)) {
		return;
	}
	/* NOMEM: the bdev layer parks the I/O and resubmits it once resources are back. */
	usk_bdev_io_complete(bdev_io, rc == -ENOMEM ? USK_BDEV_IO_STATUS_NOMEM :
			     USK_BDEV_IO_STATUS_FAILED);
}

/* Injections for reads that corrupt data apply once the data is there. */
static void
ee_read_done(struct usk_bdev_io *base_io, bool success, void *cb_arg)
{
	struct usk_bdev_io *bdev_io = cb_arg;
	struct ee_vbdev *ee = bdev_io->bdev->ctxt;

	if (success) {
		corrupt_data(bdev_io, &ee->inject[USK_BDEV_IO_TYPE_READ]);
	}
	ee_io_done(base_io, success, cb_arg);
}

static void ee_forward(struct ee_channel *ch, struct usk_bdev_io *bdev_io, bool corrupt_read);

static void
ee_fail_pending(struct ee_channel *ch)
{
	struct ee_io *io;

	while ((io = TAILQ_FIRST(&ch->pending)) != NULL) {
		TAILQ_REMOVE(&ch->pending, io, link);
		usk_bdev_io_complete(usk_bdev_io_from_ctx(io), USK_BDEV_IO_STATUS_FAILED);
	}
}

/* Apply an armed injection. Returns true when it consumed the I/O. */
static bool
ee_inject(struct ee_vbdev *ee, struct ee_channel *ch, struct usk_bdev_io *bdev_io,
	  bool *corrupt_read)
{
	struct usk_error_inject_opts *inj = &ee->inject[bdev_io->type];

	if (usk_likely(inj->count == 0 || inj->error_type == USK_ERROR_TYPE_NONE)) {
		return false;
	}
	if (inj->queue_depth != 0 && ch->outstanding + 1 < inj->queue_depth) {
		return false;
	}
	inj->count--;
	switch (inj->error_type) {
	case USK_ERROR_TYPE_FAILURE:
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
		return true;
	case USK_ERROR_TYPE_NOMEM:
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_NOMEM);
		return true;
	case USK_ERROR_TYPE_PENDING:
		TAILQ_INSERT_TAIL(&ch->pending, (struct ee_io *)bdev_io->driver_ctx, link);
		return true;
	case USK_ERROR_TYPE_CORRUPT_DATA:
		if (bdev_io->type == USK_BDEV_IO_TYPE_WRITE) {
			corrupt_data(bdev_io, inj);
		} else if (bdev_io->type == USK_BDEV_IO_TYPE_READ) {
			*corrupt_read = true;
		}
		return false;
	default:
		return false;
	}
}

static void
ee_read_get_buf_cb(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io, bool success)
{
	struct ee_channel *ch = usk_io_channel_get_ctx(_ch);
	struct ee_io *io = (struct ee_io *)bdev_io->driver_ctx;

	if (!success) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	ee_forward(ch, bdev_io, io->corrupt_read);
}

static void
ee_forward(struct ee_channel *ch, struct usk_bdev_io *bdev_io, bool corrupt_read)
{
	struct ee_vbdev *ee = bdev_io->bdev->ctxt;
	struct usk_bdev_desc *d = ee->base_desc;
	int rc;

	switch (bdev_io->type) {
	case USK_BDEV_IO_TYPE_READ:
		rc = usk_bdev_readv_blocks(d, ch->base_ch, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt,
					   bdev_io->u.bdev.offset_blocks, bdev_io->u.bdev.num_blocks,
					   corrupt_read ? ee_read_done : ee_io_done, bdev_io);
		break;
	case USK_BDEV_IO_TYPE_WRITE:
		rc = usk_bdev_writev_blocks(d, ch->base_ch, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt,
					    bdev_io->u.bdev.offset_blocks, bdev_io->u.bdev.num_blocks,
					    ee_io_done, bdev_io);
		break;
	case USK_BDEV_IO_TYPE_UNMAP:
		rc = usk_bdev_unmap_blocks(d, ch->base_ch, bdev_io->u.bdev.offset_blocks,
					   bdev_io->u.bdev.num_blocks, ee_io_done, bdev_io);
		break;
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
		rc = usk_bdev_write_zeroes_blocks(d, ch->base_ch, bdev_io->u.bdev.offset_blocks,
						  bdev_io->u.bdev.num_blocks, ee_io_done, bdev_io);
		break;
	case USK_BDEV_IO_TYPE_FLUSH:
		rc = usk_bdev_flush_blocks(d, ch->base_ch, bdev_io->u.bdev.offset_blocks,
					   bdev_io->u.bdev.num_blocks, ee_io_done, bdev_io);
		break;
	case USK_BDEV_IO_TYPE_RESET:
		/* I/O held by a "pending" injection is given up by a reset, as in SPDK. */
		ee_fail_pending(ch);
		rc = usk_bdev_reset(d, ch->base_ch, ee_io_done, bdev_io);
		break;
	default:
		rc = -ENOTSUP;
		break;
	}
	if (rc == 0) {
		ch->outstanding++;
	}
	ee_submit_rc(bdev_io, rc);
}

static void
ee_submit_request(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io)
{
	struct ee_vbdev *ee = bdev_io->bdev->ctxt;
	struct ee_channel *ch = usk_io_channel_get_ctx(_ch);
	bool corrupt_read = false;

	if (usk_unlikely(ee_inject(ee, ch, bdev_io, &corrupt_read))) {
		return;
	}
	if (bdev_io->type == USK_BDEV_IO_TYPE_READ &&
	    usk_unlikely(bdev_io->u.bdev.iovs == NULL || bdev_io->u.bdev.iovs[0].iov_base == NULL)) {
		struct ee_io *io = (struct ee_io *)bdev_io->driver_ctx;

		io->corrupt_read = corrupt_read;
		usk_bdev_io_get_buf(bdev_io, ee_read_get_buf_cb,
				    bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen);
		return;
	}
	ee_forward(ch, bdev_io, corrupt_read);
}

static bool
ee_io_type_supported(void *ctx, enum usk_bdev_io_type type)
{
	struct ee_vbdev *ee = ctx;

	switch (type) {
	case USK_BDEV_IO_TYPE_READ:
	case USK_BDEV_IO_TYPE_WRITE:
	case USK_BDEV_IO_TYPE_UNMAP:
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
	case USK_BDEV_IO_TYPE_FLUSH:
	case USK_BDEV_IO_TYPE_RESET:
		return usk_bdev_io_type_supported(ee->base, type);
	default:
		return false;
	}
}

/* ---------------------------------------------------------------- channels */

static int
ee_channel_create(void *io_device, void *ctx_buf)
{
	struct ee_vbdev *ee = io_device;
	struct ee_channel *ch = ctx_buf;

	TAILQ_INIT(&ch->pending);
	ch->base_ch = usk_bdev_get_io_channel(ee->base_desc);
	return ch->base_ch != NULL ? 0 : -ENOMEM;
}

static void
ee_channel_destroy(void *io_device, void *ctx_buf)
{
	struct ee_channel *ch = ctx_buf;

	ee_fail_pending(ch);
	usk_put_io_channel(ch->base_ch);
}

static struct usk_io_channel *
ee_get_io_channel(void *ctx)
{
	return usk_get_io_channel(ctx);
}

/* ---------------------------------------------------------------- lifecycle */

static void
ee_vbdev_free(struct ee_vbdev *ee)
{
	free(ee->bdev.name);
	free(ee);
}

static void
ee_close_base_msg(void *ctx)
{
	usk_bdev_close(ctx);
}

static void
ee_io_device_unregistered(void *io_device)
{
	struct ee_vbdev *ee = io_device;

	usk_bdev_module_release_bdev(ee->base);
	if (usk_get_thread() == ee->desc_thread) {
		usk_bdev_close(ee->base_desc);
	} else {
		usk_thread_send_msg(ee->desc_thread, ee_close_base_msg, ee->base_desc);
	}
	usk_bdev_destruct_done(&ee->bdev, 0);
	ee_vbdev_free(ee);
}

static int
ee_destruct(void *ctx)
{
	struct ee_vbdev *ee = ctx;

	if (ee->config != NULL) {
		ee->config->vbdev = NULL;
	}
	usk_io_device_unregister(ee, ee_io_device_unregistered);
	return 1;
}

static int
ee_dump_info_json(void *ctx, json_t *obj)
{
	struct ee_vbdev *ee = ctx;

	json_object_set_new(obj, "error_disk", json_pack("{s:s}", "base_bdev",
			    usk_bdev_get_name(ee->base)));
	return 0;
}

static void
ee_write_config_json(struct usk_bdev *bdev, json_t *config_array)
{
	struct ee_vbdev *ee = bdev->ctxt;

	usk_json_config_add(config_array, "bdev_error_create",
			    json_pack("{s:s}", "base_name", usk_bdev_get_name(ee->base)));
}

static const struct usk_bdev_fn_table g_ee_fn_table = {
	.destruct = ee_destruct,
	.submit_request = ee_submit_request,
	.io_type_supported = ee_io_type_supported,
	.get_io_channel = ee_get_io_channel,
	.dump_info_json = ee_dump_info_json,
	.write_config_json = ee_write_config_json,
};

static void
ee_base_event_cb(enum usk_bdev_event_type type, struct usk_bdev *bdev, void *ctx)
{
	struct ee_vbdev *ee = ctx;

	switch (type) {
	case USK_BDEV_EVENT_REMOVE:
		/* Base hot-removed: go away too (the config stays for when it comes back). */
		usk_bdev_unregister(&ee->bdev, NULL, NULL);
		break;
	case USK_BDEV_EVENT_RESIZE:
		usk_bdev_notify_blockcnt_change(&ee->bdev, usk_bdev_get_num_blocks(bdev));
		break;
	default:
		break;
	}
}

/* Build the vbdev of config on its (present) base. */
static int
ee_vbdev_build(struct ee_config *config, char *err, size_t err_len)
{
	struct ee_vbdev *ee;
	struct usk_bdev *base;
	size_t align;
	int rc;

	ee = calloc(1, sizeof(*ee));
	if (ee == NULL) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	ee->bdev.name = strdup(config->name);
	if (ee->bdev.name == NULL) {
		snprintf(err, err_len, "out of memory");
		free(ee);
		return -ENOMEM;
	}
	rc = usk_bdev_open_ext(config->base_name, true, ee_base_event_cb, ee, &ee->base_desc);
	if (rc != 0) {
		snprintf(err, err_len, "base_name: cannot open '%s': %s", config->base_name,
			 strerror(-rc));
		goto err_free;
	}
	ee->desc_thread = usk_get_thread();
	base = usk_bdev_desc_get_bdev(ee->base_desc);
	ee->base = base;
	rc = usk_bdev_module_claim_bdev(base, ee->base_desc, &g_ee_if);
	if (rc != 0) {
		snprintf(err, err_len, "base_name: '%s' is already claimed by module %s",
			 config->base_name, usk_bdev_get_claim_module(base) ?
			 usk_bdev_get_claim_module(base)->name : "?");
		goto err_close;
	}
	ee->config = config;
	ee->bdev.ctxt = ee;
	ee->bdev.product_name = "Error Injection Disk";
	ee->bdev.module = &g_ee_if;
	ee->bdev.fn_table = &g_ee_fn_table;
	ee->bdev.blocklen = base->blocklen;
	ee->bdev.blockcnt = base->blockcnt;
	ee->bdev.write_cache = base->write_cache;
	align = usk_bdev_get_buf_align(base);
	ee->bdev.required_alignment = align > 1 ? (uint8_t)usk_u32log2((uint32_t)align) : 0;
	ee->bdev.optimal_io_boundary = base->optimal_io_boundary;
	ee->bdev.split_on_optimal_io_boundary = base->split_on_optimal_io_boundary;
	ee->bdev.write_unit_size = base->write_unit_size;

	usk_io_device_register(ee, ee_channel_create, ee_channel_destroy, sizeof(struct ee_channel),
			       ee->bdev.name);
	rc = usk_bdev_register(&ee->bdev);
	if (rc != 0) {
		snprintf(err, err_len, "name: cannot register bdev '%s': %s", config->name,
			 strerror(-rc));
		usk_io_device_unregister(ee, NULL);
		usk_bdev_module_release_bdev(base);
		goto err_close;
	}
	config->vbdev = ee;
	return 0;

err_close:
	usk_bdev_close(ee->base_desc);
err_free:
	ee_vbdev_free(ee);
	return rc;
}

static void
ee_examine_config(struct usk_bdev *bdev)
{
	struct ee_config *config;
	char err[256];

	TAILQ_FOREACH(config, &g_ee_configs, link) {
		if (config->vbdev == NULL && strcmp(config->base_name, usk_bdev_get_name(bdev)) == 0) {
			if (ee_vbdev_build(config, err, sizeof(err)) != 0) {
				USK_ERRLOG("error %s: %s\n", config->name, err);
			}
		}
	}
	usk_bdev_module_examine_done(&g_ee_if);
}

static void
ee_config_free(struct ee_config *config)
{
	free(config->name);
	free(config->base_name);
	free(config);
}

static void
ee_module_fini(void)
{
	struct ee_config *config;

	while ((config = TAILQ_FIRST(&g_ee_configs)) != NULL) {
		TAILQ_REMOVE(&g_ee_configs, config, link);
		ee_config_free(config);
	}
}

int
usk_bdev_error_create(const char *base_bdev_name, char *err, size_t err_len)
{
	struct ee_config *config;
	char name[USK_BDEV_MAX_NAME_LEN];
	int rc;

	if ((size_t)snprintf(name, sizeof(name), "EE_%s", base_bdev_name) >= sizeof(name)) {
		snprintf(err, err_len, "base_name: too long");
		return -EINVAL;
	}

	TAILQ_FOREACH(config, &g_ee_configs, link) {
		if (strcmp(config->name, name) == 0) {
			snprintf(err, err_len, "base_name: an error bdev on it ('%s') is already configured",
				 name);
			return -EEXIST;
		}
	}
	if (usk_bdev_get_by_name(name) != NULL) {
		snprintf(err, err_len, "base_name: a bdev named '%s' already exists", name);
		return -EEXIST;
	}
	config = calloc(1, sizeof(*config));
	if (config == NULL) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	config->name = strdup(name);
	config->base_name = strdup(base_bdev_name);
	if (config->name == NULL || config->base_name == NULL) {
		ee_config_free(config);
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	if (usk_bdev_get_by_name(base_bdev_name) != NULL) {
		rc = ee_vbdev_build(config, err, err_len);
		if (rc != 0) {
			ee_config_free(config);
			return rc;
		}
	} else {
		USK_NOTICELOG("error %s: base bdev %s not present yet, creation deferred\n", name,
			      base_bdev_name);
	}
	TAILQ_INSERT_TAIL(&g_ee_configs, config, link);
	return 0;
}

struct ee_delete_ctx {
	usk_bdev_error_delete_cb cb_fn;
	void *cb_arg;
};

static void
ee_delete_done(void *cb_arg, int rc)
{
	struct ee_delete_ctx *ctx = cb_arg;

	if (ctx->cb_fn != NULL) {
		ctx->cb_fn(ctx->cb_arg, rc);
	}
	free(ctx);
}

int
usk_bdev_error_delete(const char *name, usk_bdev_error_delete_cb cb_fn, void *cb_arg)
{
	struct ee_config *config;
	struct ee_delete_ctx *ctx;
	struct ee_vbdev *ee;

	TAILQ_FOREACH(config, &g_ee_configs, link) {
		if (strcmp(config->name, name) == 0) {
			break;
		}
	}
	if (config == NULL) {
		return -ENODEV;
	}
	TAILQ_REMOVE(&g_ee_configs, config, link);
	ee = config->vbdev;
	ee_config_free(config);
	if (ee == NULL) {
		if (cb_fn != NULL) {
			cb_fn(cb_arg, 0);
		}
		return 0;
	}
	ee->config = NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		usk_bdev_unregister(&ee->bdev, NULL, NULL);
		if (cb_fn != NULL) {
			cb_fn(cb_arg, 0);
		}
		return 0;
	}
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	usk_bdev_unregister(&ee->bdev, ee_delete_done, ctx);
	return 0;
}

int
usk_bdev_error_inject(const char *name, const struct usk_error_inject_opts *opts, char *err,
		      size_t err_len)
{
	struct ee_config *config;
	struct ee_vbdev *ee;

	TAILQ_FOREACH(config, &g_ee_configs, link) {
		if (strcmp(config->name, name) == 0) {
			break;
		}
	}
	if (config == NULL || config->vbdev == NULL) {
		snprintf(err, err_len, "name: no error bdev named '%s'", name);
		return -ENODEV;
	}
	ee = config->vbdev;
	if (opts->io_type == USK_ERROR_IO_TYPE_CLEAR) {
		memset(ee->inject, 0, sizeof(ee->inject));
		return 0;
	}
	if (opts->error_type == USK_ERROR_TYPE_CORRUPT_DATA && opts->corrupt_value == 0) {
		snprintf(err, err_len, "corrupt_value: must be non-zero for error_type corrupt_data");
		return -EINVAL;
	}
	if (opts->io_type == USK_ERROR_IO_TYPE_ALL) {
		for (int t = 0; t < USK_BDEV_NUM_IO_TYPES; t++) {
			ee->inject[t] = *opts;
			ee->inject[t].io_type = t;
		}
		return 0;
	}
	if (opts->io_type <= USK_BDEV_IO_TYPE_INVALID || opts->io_type >= USK_BDEV_NUM_IO_TYPES) {
		snprintf(err, err_len, "io_type: invalid");
		return -EINVAL;
	}
	ee->inject[opts->io_type] = *opts;
	return 0;
}
