/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared pieces of the virtual bdevs that sit on one claimed base bdev (passthru, delay, error,
 * split). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usk/log.h"
#include "usk/util.h"

#include "vbdev_common.h"

/* ---------------------------------------------------------------- base bdev helpers */

int
usk_vbdev_open_claim_base(const char *base_name, const char *base_param,
			  struct usk_bdev_module *module, usk_bdev_event_cb_t event_cb, void *ctx,
			  struct usk_bdev_desc **desc, struct usk_thread **desc_thread, char *err,
			  size_t err_len)
{
	struct usk_bdev *base;
	int rc;

	rc = usk_bdev_open_ext(base_name, true, event_cb, ctx, desc);
	if (rc != 0) {
		snprintf(err, err_len, "%s: cannot open '%s': %s", base_param, base_name,
			 strerror(-rc));
		return rc;
	}
	*desc_thread = usk_get_thread();
	base = usk_bdev_desc_get_bdev(*desc);
	rc = usk_bdev_module_claim_bdev(base, *desc, module);
	if (rc != 0) {
		snprintf(err, err_len, "%s: '%s' is already claimed by module %s", base_param,
			 base_name,
			 usk_bdev_get_claim_module(base) ? usk_bdev_get_claim_module(base)->name :
							   "?");
		usk_bdev_close(*desc);
		*desc = NULL;
		return rc;
	}
	return 0;
}

static void
close_base_msg(void *ctx)
{
	usk_bdev_close(ctx);
}

void
usk_vbdev_release_base(struct usk_bdev *base, struct usk_bdev_desc *desc,
		       struct usk_thread *desc_thread)
{
	usk_bdev_module_release_bdev(base);
	if (usk_get_thread() == desc_thread) {
		usk_bdev_close(desc);
	} else {
		usk_thread_send_msg(desc_thread, close_base_msg, desc);
	}
}

void
usk_vbdev_copy_geometry(struct usk_bdev *bdev, struct usk_bdev *base)
{
	size_t align = usk_bdev_get_buf_align(base);

	bdev->blocklen = base->blocklen;
	bdev->blockcnt = base->blockcnt;
	bdev->write_cache = base->write_cache;
	/* FUA is passed down (usk_vbdev_forward_io); the base honours or emulates it. */
	bdev->fua_supported = true;
	bdev->required_alignment = align > 1 ? (uint8_t)usk_u32log2((uint32_t)align) : 0;
	bdev->optimal_io_boundary = base->optimal_io_boundary;
	bdev->split_on_optimal_io_boundary = base->split_on_optimal_io_boundary;
	bdev->write_unit_size = base->write_unit_size;
}

/* ---------------------------------------------------------------- I/O helpers */

int
usk_vbdev_forward_io(struct usk_bdev_desc *d, struct usk_io_channel *base_ch,
		     struct usk_bdev_io *bdev_io, uint64_t off, usk_bdev_io_completion_cb cb)
{
	uint64_t num = bdev_io->u.bdev.num_blocks;

	switch (bdev_io->type) {
	case USK_BDEV_IO_TYPE_READ:
		return usk_bdev_readv_blocks(d, base_ch, bdev_io->u.bdev.iovs,
					     bdev_io->u.bdev.iovcnt, off, num, cb, bdev_io);
	case USK_BDEV_IO_TYPE_WRITE:
		if (usk_unlikely(bdev_io->u.bdev.fua)) {
			struct usk_bdev_ext_io_opts opts = {
				.size = sizeof(opts),
				.flags = USK_BDEV_IO_FLAG_FUA,
			};

			return usk_bdev_writev_blocks_ext(d, base_ch, bdev_io->u.bdev.iovs,
							  bdev_io->u.bdev.iovcnt, off, num, cb,
							  bdev_io, &opts);
		}
		return usk_bdev_writev_blocks(d, base_ch, bdev_io->u.bdev.iovs,
					      bdev_io->u.bdev.iovcnt, off, num, cb, bdev_io);
	case USK_BDEV_IO_TYPE_UNMAP:
		return usk_bdev_unmap_blocks(d, base_ch, off, num, cb, bdev_io);
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
		return usk_bdev_write_zeroes_blocks(d, base_ch, off, num, cb, bdev_io);
	case USK_BDEV_IO_TYPE_FLUSH:
		return usk_bdev_flush_blocks(d, base_ch, off, num, cb, bdev_io);
	case USK_BDEV_IO_TYPE_RESET:
		return usk_bdev_reset(d, base_ch, cb, bdev_io);
	case USK_BDEV_IO_TYPE_COMPARE:
		return usk_bdev_comparev_blocks(d, base_ch, bdev_io->u.bdev.iovs,
						bdev_io->u.bdev.iovcnt, off, num, cb, bdev_io);
	default:
		return -ENOTSUP;
	}
}

void
usk_vbdev_io_done(struct usk_bdev_io *base_io, bool success, void *cb_arg)
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

void
usk_vbdev_submit_rc(struct usk_bdev_io *bdev_io, int rc)
{
	if (usk_likely(rc == 0)) {
		return;
	}
	/* NOMEM: the bdev layer parks the I/O and resubmits it once resources are back. */
	usk_bdev_io_complete(bdev_io,
			     rc == -ENOMEM ? USK_BDEV_IO_STATUS_NOMEM : USK_BDEV_IO_STATUS_FAILED);
}

bool
usk_vbdev_base_io_type_supported(struct usk_bdev *base, enum usk_bdev_io_type type)
{
	switch (type) {
	case USK_BDEV_IO_TYPE_READ:
	case USK_BDEV_IO_TYPE_WRITE:
	case USK_BDEV_IO_TYPE_UNMAP:
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
	case USK_BDEV_IO_TYPE_FLUSH:
	case USK_BDEV_IO_TYPE_RESET:
	case USK_BDEV_IO_TYPE_COMPARE:
		return usk_bdev_io_type_supported(base, type);
	default:
		return false;
	}
}

/* ---------------------------------------------------------------- fn_table members */

static void
vbdev_forward(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io)
{
	struct usk_vbdev *vb = bdev_io->bdev->ctxt;
	struct usk_vbdev_channel *ch = usk_io_channel_get_ctx(_ch);
	usk_bdev_io_completion_cb cb = vb->type->io_done != NULL ? vb->type->io_done :
								   usk_vbdev_io_done;

	usk_vbdev_submit_rc(bdev_io, usk_vbdev_forward_io(vb->base_desc, ch->base_ch, bdev_io,
							  bdev_io->u.bdev.offset_blocks, cb));
}

static void
vbdev_read_get_buf_cb(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io, bool success)
{
	if (!success) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	vbdev_forward(_ch, bdev_io);
}

void
usk_vbdev_submit_request(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io)
{
	if (usk_unlikely(usk_vbdev_read_needs_buf(bdev_io))) {
		usk_bdev_io_get_buf(bdev_io, vbdev_read_get_buf_cb,
				    bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen);
		return;
	}
	vbdev_forward(_ch, bdev_io);
}

bool
usk_vbdev_io_type_supported(void *ctx, enum usk_bdev_io_type type)
{
	struct usk_vbdev *vb = ctx;

	return usk_vbdev_base_io_type_supported(vb->base, type);
}

struct usk_io_channel *
usk_vbdev_get_io_channel(void *ctx)
{
	return usk_get_io_channel(ctx);
}

int
usk_vbdev_channel_create(void *io_device, void *ctx_buf)
{
	struct usk_vbdev *vb = io_device;
	struct usk_vbdev_channel *ch = ctx_buf;

	ch->base_ch = usk_bdev_get_io_channel(vb->base_desc);
	return ch->base_ch != NULL ? 0 : -ENOMEM;
}

void
usk_vbdev_channel_destroy(void *io_device, void *ctx_buf)
{
	struct usk_vbdev_channel *ch = ctx_buf;

	usk_put_io_channel(ch->base_ch);
}

static void
vbdev_free(struct usk_vbdev *vb)
{
	free(vb->bdev.name);
	free(vb);
}

static void
vbdev_io_device_unregistered(void *io_device)
{
	struct usk_vbdev *vb = io_device;

	usk_vbdev_release_base(vb->base, vb->base_desc, vb->desc_thread);
	usk_bdev_destruct_done(&vb->bdev, 0);
	vbdev_free(vb);
}

int
usk_vbdev_destruct(void *ctx)
{
	struct usk_vbdev *vb = ctx;

	if (vb->config != NULL) {
		vb->config->vbdev = NULL;
	}
	usk_io_device_unregister(vb, vbdev_io_device_unregistered);
	return 1;
}

/* ---------------------------------------------------------------- lifecycle */

static void
vbdev_base_event_cb(enum usk_bdev_event_type type, struct usk_bdev *bdev, void *ctx)
{
	struct usk_vbdev *vb = ctx;

	switch (type) {
	case USK_BDEV_EVENT_REMOVE:
		/* Base hot-removed: go away too (the config stays for when it comes back). */
		usk_bdev_unregister(&vb->bdev, NULL, NULL);
		break;
	case USK_BDEV_EVENT_RESIZE:
		usk_bdev_notify_blockcnt_change(&vb->bdev, usk_bdev_get_num_blocks(bdev));
		break;
	default:
		break;
	}
}

/* Build the vbdev of config on its (present) base. */
static int
vbdev_build(struct usk_vbdev_type *type, struct usk_vbdev_config *config, char *err, size_t err_len)
{
	struct usk_vbdev *vb;
	int rc;

	vb = calloc(1, type->vbdev_size);
	if (vb == NULL) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	vb->bdev.name = strdup(config->name);
	if (vb->bdev.name == NULL) {
		snprintf(err, err_len, "out of memory");
		free(vb);
		return -ENOMEM;
	}
	rc = usk_vbdev_open_claim_base(config->base_name, type->base_param, type->module,
				       vbdev_base_event_cb, vb, &vb->base_desc, &vb->desc_thread,
				       err, err_len);
	if (rc != 0) {
		goto err_free;
	}
	vb->base = usk_bdev_desc_get_bdev(vb->base_desc);
	vb->config = config;
	vb->type = type;
	if (type->init != NULL) {
		type->init(vb);
	}
	vb->bdev.ctxt = vb;
	vb->bdev.product_name = (char *)type->product_name;
	vb->bdev.module = type->module;
	vb->bdev.fn_table = type->fn_table;
	usk_vbdev_copy_geometry(&vb->bdev, vb->base);

	rc = usk_io_device_register(
		vb, type->channel_create ? type->channel_create : usk_vbdev_channel_create,
		type->channel_destroy ? type->channel_destroy : usk_vbdev_channel_destroy,
		type->channel_size ? type->channel_size : sizeof(struct usk_vbdev_channel),
		vb->bdev.name);
	if (rc != 0) {
		snprintf(err, err_len, "name: cannot register io_device '%s': %s", config->name,
			 strerror(-rc));
		usk_bdev_module_release_bdev(vb->base);
		usk_bdev_close(vb->base_desc);
		goto err_free;
	}
	rc = usk_bdev_register(&vb->bdev);
	if (rc != 0) {
		snprintf(err, err_len, "name: cannot register bdev '%s': %s", config->name,
			 strerror(-rc));
		usk_io_device_unregister(vb, NULL);
		usk_bdev_module_release_bdev(vb->base);
		usk_bdev_close(vb->base_desc);
		goto err_free;
	}
	config->vbdev = vb;
	return 0;

err_free:
	vbdev_free(vb);
	return rc;
}

void
usk_vbdev_examine(struct usk_vbdev_type *type, struct usk_bdev *bdev)
{
	struct usk_vbdev_config *config;
	char err[256];

	TAILQ_FOREACH(config, &type->configs, link) {
		if (config->vbdev == NULL &&
		    strcmp(config->base_name, usk_bdev_get_name(bdev)) == 0) {
			if (vbdev_build(type, config, err, sizeof(err)) != 0) {
				USK_ERRLOG("%s %s: %s\n", type->module->name, config->name, err);
			}
		}
	}
	usk_bdev_module_examine_done(type->module);
}

/* ---------------------------------------------------------------- configs */

struct usk_vbdev_config *
usk_vbdev_config_find(struct usk_vbdev_type *type, const char *name)
{
	struct usk_vbdev_config *config;

	TAILQ_FOREACH(config, &type->configs, link) {
		if (strcmp(config->name, name) == 0) {
			return config;
		}
	}
	return NULL;
}

void
usk_vbdev_config_free(struct usk_vbdev_config *config)
{
	free(config->name);
	free(config->base_name);
	free(config);
}

int
usk_vbdev_config_new(struct usk_vbdev_type *type, size_t size, const char *name,
		     const char *base_name, struct usk_vbdev_config **out, char *err,
		     size_t err_len)
{
	struct usk_vbdev_config *config;

	if (usk_bdev_get_by_name(name) != NULL) {
		snprintf(err, err_len, "%s: a bdev named '%s' already exists", type->name_param,
			 name);
		return -EEXIST;
	}
	config = calloc(1, size);
	if (config == NULL) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	config->name = strdup(name);
	config->base_name = strdup(base_name);
	if (config->name == NULL || config->base_name == NULL) {
		usk_vbdev_config_free(config);
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	*out = config;
	return 0;
}

int
usk_vbdev_config_add(struct usk_vbdev_type *type, struct usk_vbdev_config *config, char *err,
		     size_t err_len)
{
	int rc;

	if (usk_bdev_get_by_name(config->base_name) != NULL) {
		rc = vbdev_build(type, config, err, err_len);
		if (rc != 0) {
			usk_vbdev_config_free(config);
			return rc;
		}
	} else {
		USK_NOTICELOG("%s %s: base bdev %s not present yet, creation deferred\n",
			      type->module->name, config->name, config->base_name);
	}
	TAILQ_INSERT_TAIL(&type->configs, config, link);
	return 0;
}

void
usk_vbdev_fini(struct usk_vbdev_type *type)
{
	struct usk_vbdev_config *config;

	while ((config = TAILQ_FIRST(&type->configs)) != NULL) {
		TAILQ_REMOVE(&type->configs, config, link);
		usk_vbdev_config_free(config);
	}
}

struct vbdev_delete_ctx {
	usk_vbdev_delete_cb cb_fn;
	void *cb_arg;
};

static void
vbdev_delete_done(void *cb_arg, int rc)
{
	struct vbdev_delete_ctx *ctx = cb_arg;

	if (ctx->cb_fn != NULL) {
		ctx->cb_fn(ctx->cb_arg, rc);
	}
	free(ctx);
}

int
usk_vbdev_delete(struct usk_vbdev_type *type, const char *name, usk_vbdev_delete_cb cb_fn,
		 void *cb_arg)
{
	struct usk_vbdev_config *config;
	struct vbdev_delete_ctx *ctx;
	struct usk_vbdev *vb;

	config = usk_vbdev_config_find(type, name);
	if (config == NULL) {
		return -ENODEV;
	}
	TAILQ_REMOVE(&type->configs, config, link);
	vb = config->vbdev;
	usk_vbdev_config_free(config);
	if (vb == NULL) {
		if (cb_fn != NULL) {
			cb_fn(cb_arg, 0);
		}
		return 0;
	}
	vb->config = NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		usk_bdev_unregister(&vb->bdev, NULL, NULL);
		if (cb_fn != NULL) {
			cb_fn(cb_arg, 0);
		}
		return 0;
	}
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	usk_bdev_unregister(&vb->bdev, vbdev_delete_done, ctx);
	return 0;
}

/* ---------------------------------------------------------------- RPC helpers */

struct rpc_vbdev_delete {
	char *name;
};

static void
rpc_vbdev_delete_done(void *cb_arg, int rc)
{
	struct usk_jsonrpc_request *request = cb_arg;

	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "delete failed: %s", strerror(-rc));
		return;
	}
	usk_jsonrpc_send_bool_response(request, true);
}

void
usk_vbdev_rpc_delete(struct usk_jsonrpc_request *request, const json_t *params, const char *param,
		     int (*delete_fn)(const char *name, usk_vbdev_delete_cb cb_fn, void *cb_arg),
		     const char *not_found_fmt)
{
	const struct usk_json_object_decoder decoders[] = {
		{param, offsetof(struct rpc_vbdev_delete, name), usk_json_decode_string, false},
	};
	struct rpc_vbdev_delete req = {};

	if (!usk_rpc_decode_params(request, params, decoders, USK_COUNTOF(decoders), &req)) {
		goto cleanup;
	}
	if (delete_fn(req.name, rpc_vbdev_delete_done, request) != 0) {
		usk_jsonrpc_send_error_response_fmt(request, -ENODEV, not_found_fmt, req.name);
	}
cleanup:
	free(req.name);
}

void
usk_vbdev_rpc_create_error(struct usk_jsonrpc_request *request, int rc, const char *err)
{
	usk_jsonrpc_send_error_response(
		request, rc == -EEXIST ? -EEXIST : USK_JSONRPC_ERROR_INVALID_PARAMS, err);
}

bool
usk_vbdev_rpc_check_create(struct usk_jsonrpc_request *request, const char *name,
			   const char *base_param, const char *base_name, const char *uuid,
			   const char *what)
{
	if (name != NULL && name[0] == '\0') {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"name: must not be empty");
		return false;
	}
	if (base_name[0] == '\0') {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "%s: must not be empty", base_param);
		return false;
	}
	if (uuid != NULL) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "uuid: setting the UUID of %s is not supported",
						    what);
		return false;
	}
	return true;
}
