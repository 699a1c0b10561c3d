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
#include "vbdev_common.h"

struct ee_vbdev {
	struct usk_vbdev common;
	/* Armed injections per I/O type; set on the app thread, consumed by the channels. */
	struct usk_error_inject_opts inject[USK_BDEV_NUM_IO_TYPES];
};

/* Per-I/O context: link of an I/O held back by a "pending" injection. */
struct ee_io {
	TAILQ_ENTRY(ee_io) link;
	bool corrupt_read; /* remembered across usk_bdev_io_get_buf */
};

struct ee_channel {
	struct usk_vbdev_channel common;
	uint32_t outstanding;
	TAILQ_HEAD(, ee_io) pending;
};

static void ee_examine_config(struct usk_bdev *bdev);
static void ee_module_fini(void);

static int
ee_get_ctx_size(void)
{
	return sizeof(struct ee_io);
}

static struct usk_bdev_module g_error_module = {
	.name = "error",
	.get_ctx_size = ee_get_ctx_size,
	.examine_config = ee_examine_config,
	.module_fini = ee_module_fini,
};
USK_BDEV_MODULE_REGISTER(error, &g_error_module)

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
	usk_vbdev_io_done(base_io, success, cb_arg);
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
	int rc;

	if (bdev_io->type == USK_BDEV_IO_TYPE_COMPARE) {
		rc = -ENOTSUP;
	} else {
		if (bdev_io->type == USK_BDEV_IO_TYPE_RESET) {
			/* I/O held by a "pending" injection is given up by a reset, as in SPDK. */
			ee_fail_pending(ch);
		}
		rc = usk_vbdev_forward_io(ee->common.base_desc, ch->common.base_ch, bdev_io,
					  bdev_io->u.bdev.offset_blocks,
					  corrupt_read ? ee_read_done : ee_io_done);
	}
	if (rc == 0) {
		ch->outstanding++;
	}
	usk_vbdev_submit_rc(bdev_io, rc);
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
	if (usk_unlikely(usk_vbdev_read_needs_buf(bdev_io))) {
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

	return type != USK_BDEV_IO_TYPE_COMPARE &&
	       usk_vbdev_base_io_type_supported(ee->common.base, type);
}

/* ---------------------------------------------------------------- channels */

static int
ee_channel_create(void *io_device, void *ctx_buf)
{
	struct ee_channel *ch = ctx_buf;

	TAILQ_INIT(&ch->pending);
	return usk_vbdev_channel_create(io_device, ctx_buf);
}

static void
ee_channel_destroy(void *io_device, void *ctx_buf)
{
	struct ee_channel *ch = ctx_buf;

	ee_fail_pending(ch);
	usk_vbdev_channel_destroy(io_device, ctx_buf);
}

/* ---------------------------------------------------------------- lifecycle */

static int
ee_dump_info_json(void *ctx, json_t *obj)
{
	struct ee_vbdev *ee = ctx;

	usk_json_set(obj, "error_disk",
		     json_pack("{s:s}", "base_bdev", usk_bdev_get_name(ee->common.base)));
	return 0;
}

static void
ee_write_config_json(struct usk_bdev *bdev, json_t *config_array)
{
	struct ee_vbdev *ee = bdev->ctxt;

	usk_json_config_add(config_array, "bdev_error_create",
			    json_pack("{s:s}", "base_name", usk_bdev_get_name(ee->common.base)));
}

static const struct usk_bdev_fn_table g_ee_fn_table = {
	.destruct = usk_vbdev_destruct,
	.submit_request = ee_submit_request,
	.io_type_supported = ee_io_type_supported,
	.get_io_channel = usk_vbdev_get_io_channel,
	.dump_info_json = ee_dump_info_json,
	.write_config_json = ee_write_config_json,
};

static struct usk_vbdev_type g_ee_type = {
	.module = &g_error_module,
	.fn_table = &g_ee_fn_table,
	.product_name = "Error Injection Disk",
	.name_param = "base_name",
	.base_param = "base_name",
	.vbdev_size = sizeof(struct ee_vbdev),
	.channel_create = ee_channel_create,
	.channel_destroy = ee_channel_destroy,
	.channel_size = sizeof(struct ee_channel),
	.configs = TAILQ_HEAD_INITIALIZER(g_ee_type.configs),
};

static void
ee_examine_config(struct usk_bdev *bdev)
{
	usk_vbdev_examine(&g_ee_type, bdev);
}

static void
ee_module_fini(void)
{
	usk_vbdev_fini(&g_ee_type);
}

int
usk_bdev_error_create(const char *base_bdev_name, char *err, size_t err_len)
{
	struct usk_vbdev_config *config;
	char name[USK_BDEV_MAX_NAME_LEN];
	int rc;

	if ((size_t)snprintf(name, sizeof(name), "EE_%s", base_bdev_name) >= sizeof(name)) {
		snprintf(err, err_len, "base_name: too long");
		return -EINVAL;
	}

	if (usk_vbdev_config_find(&g_ee_type, name) != NULL) {
		snprintf(err, err_len,
			 "base_name: an error bdev on it ('%s') is already configured", name);
		return -EEXIST;
	}
	rc = usk_vbdev_config_new(&g_ee_type, sizeof(*config), name, base_bdev_name, &config, err,
				  err_len);
	if (rc != 0) {
		return rc;
	}
	return usk_vbdev_config_add(&g_ee_type, config, err, err_len);
}

int
usk_bdev_error_delete(const char *name, usk_bdev_error_delete_cb cb_fn, void *cb_arg)
{
	return usk_vbdev_delete(&g_ee_type, name, cb_fn, cb_arg);
}

int
usk_bdev_error_inject(const char *name, const struct usk_error_inject_opts *opts, char *err,
		      size_t err_len)
{
	struct usk_vbdev_config *config = usk_vbdev_config_find(&g_ee_type, name);
	struct ee_vbdev *ee;

	if (config == NULL || config->vbdev == NULL) {
		snprintf(err, err_len, "name: no error bdev named '%s'", name);
		return -ENODEV;
	}
	ee = (struct ee_vbdev *)config->vbdev;
	if (opts->io_type == USK_ERROR_IO_TYPE_CLEAR) {
		memset(ee->inject, 0, sizeof(ee->inject));
		return 0;
	}
	if (opts->error_type == USK_ERROR_TYPE_CORRUPT_DATA && opts->corrupt_value == 0) {
		snprintf(err, err_len,
			 "corrupt_value: must be non-zero for error_type corrupt_data");
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
