/* SPDX-License-Identifier: BSD-3-Clause */
/* passthru virtual bdev: forwards every I/O to the base bdev it claims (a template for vbdevs). */
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

#include "passthru.h"

/* What the user asked for; kept while the base is missing or after it was hot-removed. */
struct pt_config {
	char *name;
	char *base_name;
	struct pt_vbdev *vbdev; /* NULL while the base is absent */
	TAILQ_ENTRY(pt_config) link;
};

struct pt_vbdev {
	struct usk_bdev bdev;
	struct usk_bdev *base;
	struct usk_bdev_desc *base_desc;
	struct usk_thread *desc_thread; /* where base_desc was opened and must be closed */
	struct pt_config *config;
};

struct pt_channel {
	struct usk_io_channel *base_ch;
};

static TAILQ_HEAD(, pt_config) g_pt_configs = TAILQ_HEAD_INITIALIZER(g_pt_configs);

static void pt_examine_config(struct usk_bdev *bdev);
static void pt_module_fini(void);

static struct usk_bdev_module g_pt_if = {
	.name = "passthru",
	.examine_config = pt_examine_config,
	.module_fini = pt_module_fini,
};
USK_BDEV_MODULE_REGISTER(passthru, &g_pt_if)

/* ---------------------------------------------------------------- I/O */

static void
pt_io_done(struct usk_bdev_io *base_io, bool success, void *cb_arg)
{
	struct usk_bdev_io *bdev_io = cb_arg;

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
pt_submit_rc(struct usk_bdev_io *bdev_io, int rc)
{
	if (usk_likely(rc == 0)) {
		return;
	}
	/* NOMEM: the bdev layer parks the I/O and resubmits it once resources are back. */
	usk_bdev_io_complete(bdev_io, rc == -ENOMEM ? USK_BDEV_IO_STATUS_NOMEM :
			     USK_BDEV_IO_STATUS_FAILED);
}

static void
pt_read_get_buf_cb(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io, bool success)
{
	struct pt_vbdev *pt = bdev_io->bdev->ctxt;
	struct pt_channel *ch = usk_io_channel_get_ctx(_ch);

	if (!success) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	pt_submit_rc(bdev_io, usk_bdev_readv_blocks(pt->base_desc, ch->base_ch, bdev_io->u.bdev.iovs,
			bdev_io->u.bdev.iovcnt, bdev_io->u.bdev.offset_blocks,
			bdev_io->u.bdev.num_blocks, pt_io_done, bdev_io));
}

static void
pt_submit_request(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io)
{
	struct pt_vbdev *pt = bdev_io->bdev->ctxt;
	struct pt_channel *ch = usk_io_channel_get_ctx(_ch);
	struct usk_bdev_desc *d = pt->base_desc;
	int rc;

	switch (bdev_io->type) {
	case USK_BDEV_IO_TYPE_READ:
		if (usk_unlikely(bdev_io->u.bdev.iovs == NULL || bdev_io->u.bdev.iovs[0].iov_base == NULL)) {
			usk_bdev_io_get_buf(bdev_io, pt_read_get_buf_cb,
					    bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen);
			return;
		}
		rc = usk_bdev_readv_blocks(d, ch->base_ch, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt,
					   bdev_io->u.bdev.offset_blocks, bdev_io->u.bdev.num_blocks,
					   pt_io_done, bdev_io);
		break;
	case USK_BDEV_IO_TYPE_WRITE:
		rc = usk_bdev_writev_blocks(d, ch->base_ch, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt,
					    bdev_io->u.bdev.offset_blocks, bdev_io->u.bdev.num_blocks,
					    pt_io_done, bdev_io);
		break;
	case USK_BDEV_IO_TYPE_UNMAP:
		rc = usk_bdev_unmap_blocks(d, ch->base_ch, bdev_io->u.bdev.offset_blocks,
					   bdev_io->u.bdev.num_blocks, pt_io_done, bdev_io);
		break;
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
		rc = usk_bdev_write_zeroes_blocks(d, ch->base_ch, bdev_io->u.bdev.offset_blocks,
						  bdev_io->u.bdev.num_blocks, pt_io_done, bdev_io);
		break;
	case USK_BDEV_IO_TYPE_FLUSH:
		rc = usk_bdev_flush_blocks(d, ch->base_ch, bdev_io->u.bdev.offset_blocks,
					   bdev_io->u.bdev.num_blocks, pt_io_done, bdev_io);
		break;
	case USK_BDEV_IO_TYPE_RESET:
		rc = usk_bdev_reset(d, ch->base_ch, pt_io_done, bdev_io);
		break;
	case USK_BDEV_IO_TYPE_COMPARE:
		rc = usk_bdev_comparev_blocks(d, ch->base_ch, bdev_io->u.bdev.iovs,
					      bdev_io->u.bdev.iovcnt, bdev_io->u.bdev.offset_blocks,
					      bdev_io->u.bdev.num_blocks, pt_io_done, bdev_io);
		break;
	default:
		rc = -ENOTSUP;
		break;
	}
	pt_submit_rc(bdev_io, rc);
}

static bool
pt_io_type_supported(void *ctx, enum usk_bdev_io_type type)
{
	struct pt_vbdev *pt = ctx;

	switch (type) {
	case USK_BDEV_IO_TYPE_READ:
	case USK_BDEV_IO_TYPE_WRITE:
	case USK_BDEV_IO_TYPE_UNMAP:
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
	case USK_BDEV_IO_TYPE_FLUSH:
	case USK_BDEV_IO_TYPE_RESET:
	case USK_BDEV_IO_TYPE_COMPARE:
		return usk_bdev_io_type_supported(pt->base, type);
	default:
		return false;
	}
}

/* ---------------------------------------------------------------- channels */

static int
pt_channel_create(void *io_device, void *ctx_buf)
{
	struct pt_vbdev *pt = io_device;
	struct pt_channel *ch = ctx_buf;

	ch->base_ch = usk_bdev_get_io_channel(pt->base_desc);
	return ch->base_ch != NULL ? 0 : -ENOMEM;
}

static void
pt_channel_destroy(void *io_device, void *ctx_buf)
{
	struct pt_channel *ch = ctx_buf;

	usk_put_io_channel(ch->base_ch);
}

static struct usk_io_channel *
pt_get_io_channel(void *ctx)
{
	return usk_get_io_channel(ctx);
}

/* ---------------------------------------------------------------- lifecycle */

static void
pt_vbdev_free(struct pt_vbdev *pt)
{
	free(pt->bdev.name);
	free(pt);
}

static void
pt_close_base_msg(void *ctx)
{
	usk_bdev_close(ctx);
}

static void
pt_io_device_unregistered(void *io_device)
{
	struct pt_vbdev *pt = io_device;

	usk_bdev_module_release_bdev(pt->base);
	if (usk_get_thread() == pt->desc_thread) {
		usk_bdev_close(pt->base_desc);
	} else {
		usk_thread_send_msg(pt->desc_thread, pt_close_base_msg, pt->base_desc);
	}
	usk_bdev_destruct_done(&pt->bdev, 0);
	pt_vbdev_free(pt);
}

static int
pt_destruct(void *ctx)
{
	struct pt_vbdev *pt = ctx;

	if (pt->config != NULL) {
		pt->config->vbdev = NULL;
	}
	usk_io_device_unregister(pt, pt_io_device_unregistered);
	return 1;
}

static int
pt_dump_info_json(void *ctx, json_t *obj)
{
	struct pt_vbdev *pt = ctx;

	json_object_set_new(obj, "passthru", json_pack("{s:s, s:s}", "name", pt->bdev.name,
			    "base_bdev_name", usk_bdev_get_name(pt->base)));
	return 0;
}

static void
pt_write_config_json(struct usk_bdev *bdev, json_t *config_array)
{
	struct pt_vbdev *pt = bdev->ctxt;

	usk_json_config_add(config_array, "bdev_passthru_create",
			    json_pack("{s:s, s:s}", "base_bdev_name", usk_bdev_get_name(pt->base),
				      "name", bdev->name));
}

static const struct usk_bdev_fn_table g_pt_fn_table = {
	.destruct = pt_destruct,
	.submit_request = pt_submit_request,
	.io_type_supported = pt_io_type_supported,
	.get_io_channel = pt_get_io_channel,
	.dump_info_json = pt_dump_info_json,
	.write_config_json = pt_write_config_json,
};

static void
pt_base_event_cb(enum usk_bdev_event_type type, struct usk_bdev *bdev, void *ctx)
{
	struct pt_vbdev *pt = ctx;

	switch (type) {
	case USK_BDEV_EVENT_REMOVE:
		/* Base hot-removed: go away too (the config stays for when it comes back). */
		usk_bdev_unregister(&pt->bdev, NULL, NULL);
		break;
	case USK_BDEV_EVENT_RESIZE:
		usk_bdev_notify_blockcnt_change(&pt->bdev, usk_bdev_get_num_blocks(bdev));
		break;
	default:
		break;
	}
}

/* Build the vbdev of config on its (present) base. */
static int
pt_vbdev_build(struct pt_config *config, char *err, size_t err_len)
{
	struct pt_vbdev *pt;
	struct usk_bdev *base;
	size_t align;
	int rc;

	pt = calloc(1, sizeof(*pt));
	if (pt == NULL) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	pt->bdev.name = strdup(config->name);
	if (pt->bdev.name == NULL) {
		snprintf(err, err_len, "out of memory");
		free(pt);
		return -ENOMEM;
	}
	rc = usk_bdev_open_ext(config->base_name, true, pt_base_event_cb, pt, &pt->base_desc);
	if (rc != 0) {
		snprintf(err, err_len, "base_bdev_name: cannot open '%s': %s", config->base_name,
			 strerror(-rc));
		goto err_free;
	}
	pt->desc_thread = usk_get_thread();
	base = usk_bdev_desc_get_bdev(pt->base_desc);
	pt->base = base;
	rc = usk_bdev_module_claim_bdev(base, pt->base_desc, &g_pt_if);
	if (rc != 0) {
		snprintf(err, err_len, "base_bdev_name: '%s' is already claimed by module %s",
			 config->base_name, usk_bdev_get_claim_module(base) ?
			 usk_bdev_get_claim_module(base)->name : "?");
		goto err_close;
	}
	pt->config = config;
	pt->bdev.ctxt = pt;
	pt->bdev.product_name = "passthru";
	pt->bdev.module = &g_pt_if;
	pt->bdev.fn_table = &g_pt_fn_table;
	pt->bdev.blocklen = base->blocklen;
	pt->bdev.blockcnt = base->blockcnt;
	pt->bdev.write_cache = base->write_cache;
	align = usk_bdev_get_buf_align(base);
	pt->bdev.required_alignment = align > 1 ? (uint8_t)usk_u32log2((uint32_t)align) : 0;
	pt->bdev.optimal_io_boundary = base->optimal_io_boundary;
	pt->bdev.split_on_optimal_io_boundary = base->split_on_optimal_io_boundary;
	pt->bdev.write_unit_size = base->write_unit_size;

	usk_io_device_register(pt, pt_channel_create, pt_channel_destroy, sizeof(struct pt_channel),
			       pt->bdev.name);
	rc = usk_bdev_register(&pt->bdev);
	if (rc != 0) {
		snprintf(err, err_len, "name: cannot register bdev '%s': %s", config->name,
			 strerror(-rc));
		usk_io_device_unregister(pt, NULL);
		usk_bdev_module_release_bdev(base);
		goto err_close;
	}
	config->vbdev = pt;
	return 0;

err_close:
	usk_bdev_close(pt->base_desc);
err_free:
	pt_vbdev_free(pt);
	return rc;
}

static void
pt_examine_config(struct usk_bdev *bdev)
{
	struct pt_config *config;
	char err[256];

	TAILQ_FOREACH(config, &g_pt_configs, link) {
		if (config->vbdev == NULL && strcmp(config->base_name, usk_bdev_get_name(bdev)) == 0) {
			if (pt_vbdev_build(config, err, sizeof(err)) != 0) {
				USK_ERRLOG("passthru %s: %s\n", config->name, err);
			}
		}
	}
	usk_bdev_module_examine_done(&g_pt_if);
}

static void
pt_config_free(struct pt_config *config)
{
	free(config->name);
	free(config->base_name);
	free(config);
}

static void
pt_module_fini(void)
{
	struct pt_config *config;

	while ((config = TAILQ_FIRST(&g_pt_configs)) != NULL) {
		TAILQ_REMOVE(&g_pt_configs, config, link);
		pt_config_free(config);
	}
}

int
usk_bdev_passthru_create(const char *base_bdev_name, const char *name, char *err, size_t err_len)
{
	struct pt_config *config;
	int rc;

	TAILQ_FOREACH(config, &g_pt_configs, link) {
		if (strcmp(config->name, name) == 0) {
			snprintf(err, err_len, "name: a passthru bdev named '%s' is already configured",
				 name);
			return -EEXIST;
		}
	}
	if (usk_bdev_get_by_name(name) != NULL) {
		snprintf(err, err_len, "name: a bdev named '%s' already exists", name);
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
		pt_config_free(config);
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	if (usk_bdev_get_by_name(base_bdev_name) != NULL) {
		rc = pt_vbdev_build(config, err, err_len);
		if (rc != 0) {
			pt_config_free(config);
			return rc;
		}
	} else {
		USK_NOTICELOG("passthru %s: base bdev %s not present yet, creation deferred\n", name,
			      base_bdev_name);
	}
	TAILQ_INSERT_TAIL(&g_pt_configs, config, link);
	return 0;
}

struct pt_delete_ctx {
	usk_bdev_passthru_delete_cb cb_fn;
	void *cb_arg;
};

static void
pt_delete_done(void *cb_arg, int rc)
{
	struct pt_delete_ctx *ctx = cb_arg;

	if (ctx->cb_fn != NULL) {
		ctx->cb_fn(ctx->cb_arg, rc);
	}
	free(ctx);
}

int
usk_bdev_passthru_delete(const char *name, usk_bdev_passthru_delete_cb cb_fn, void *cb_arg)
{
	struct pt_config *config;
	struct pt_delete_ctx *ctx;
	struct pt_vbdev *pt;

	TAILQ_FOREACH(config, &g_pt_configs, link) {
		if (strcmp(config->name, name) == 0) {
			break;
		}
	}
	if (config == NULL) {
		return -ENODEV;
	}
	TAILQ_REMOVE(&g_pt_configs, config, link);
	pt = config->vbdev;
	pt_config_free(config);
	if (pt == NULL) {
		if (cb_fn != NULL) {
			cb_fn(cb_arg, 0);
		}
		return 0;
	}
	pt->config = NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		usk_bdev_unregister(&pt->bdev, NULL, NULL);
		if (cb_fn != NULL) {
			cb_fn(cb_arg, 0);
		}
		return 0;
	}
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	usk_bdev_unregister(&pt->bdev, pt_delete_done, ctx);
	return 0;
}
