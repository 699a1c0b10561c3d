/* SPDX-License-Identifier: BSD-3-Clause */
/* delay virtual bdev: adds configurable average / p99 latency to reads and writes of its base. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "usk/bdev_module.h"
#include "usk/env.h"
#include "usk/json.h"
#include "usk/log.h"
#include "usk/thread.h"
#include "usk/util.h"

#include "delay.h"

/* What the user asked for; kept while the base is missing or after it was hot-removed. */
struct dl_config {
	char *name;
	char *base_name;
	uint64_t latency_us[USK_DELAY_NUM_LATENCY_TYPES];
	struct dl_vbdev *vbdev; /* NULL while the base is absent */
	TAILQ_ENTRY(dl_config) link;
};

struct dl_vbdev {
	struct usk_bdev bdev;
	struct usk_bdev *base;
	struct usk_bdev_desc *base_desc;
	struct usk_thread *desc_thread; /* where base_desc was opened and must be closed */
	struct dl_config *config;
	/* Read by every channel on each completion; written by update_latency on the app thread. */
	uint64_t latency_ticks[USK_DELAY_NUM_LATENCY_TYPES];
	uint64_t latency_us[USK_DELAY_NUM_LATENCY_TYPES];
};

/* Per-I/O context (driver_ctx): where a delayed completion waits. */
struct dl_io {
	uint64_t completion_tick;
	bool success;
	STAILQ_ENTRY(dl_io) link;
};

/*
 * Each queue holds I/O delayed by one constant latency, so it is ordered by completion_tick
 * and the poller only looks at heads.
 */
struct dl_channel {
	struct usk_io_channel *base_ch;
	struct usk_poller *poller;
	uint64_t rand_state;
	uint32_t queued;
	STAILQ_HEAD(, dl_io) queues[USK_DELAY_NUM_LATENCY_TYPES];
};

/* One hour: keeps latency * tick rate far from overflowing. */
#define MAX_LATENCY_US (3600ULL * USK_SEC_TO_USEC)

static const char *const g_latency_param[USK_DELAY_NUM_LATENCY_TYPES] = {
	"avg_read_latency", "p99_read_latency", "avg_write_latency", "p99_write_latency",
};

static TAILQ_HEAD(, dl_config) g_dl_configs = TAILQ_HEAD_INITIALIZER(g_dl_configs);

static void dl_examine_config(struct usk_bdev *bdev);
static void dl_module_fini(void);

static int
dl_get_ctx_size(void)
{
	return sizeof(struct dl_io);
}

static struct usk_bdev_module g_dl_if = {
	.name = "delay",
	.get_ctx_size = dl_get_ctx_size,
	.examine_config = dl_examine_config,
	.module_fini = dl_module_fini,
};
USK_BDEV_MODULE_REGISTER(delay, &g_dl_if)

/* ---------------------------------------------------------------- I/O */

static inline uint64_t
dl_rand(struct dl_channel *ch)
{
	uint64_t x = ch->rand_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	ch->rand_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void
dl_io_done(struct usk_bdev_io *base_io, bool success, void *cb_arg)
{
	struct usk_bdev_io *bdev_io = cb_arg;
	struct dl_vbdev *dl = bdev_io->bdev->ctxt;
	struct dl_io *io = (struct dl_io *)bdev_io->driver_ctx;
	struct dl_channel *ch;
	int q;

	usk_bdev_free_io(base_io);
	if (bdev_io->type == USK_BDEV_IO_TYPE_READ) {
		q = USK_DELAY_AVG_READ;
	} else if (bdev_io->type == USK_BDEV_IO_TYPE_WRITE) {
		q = USK_DELAY_AVG_WRITE;
	} else {
		usk_bdev_io_complete(bdev_io, success ? USK_BDEV_IO_STATUS_SUCCESS :
				     USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	ch = usk_io_channel_get_ctx(usk_bdev_io_get_io_channel(bdev_io));
	/* One I/O in a hundred gets the p99 latency. */
	if (dl_rand(ch) % 100 == 0) {
		q++;
	}
	if (dl->latency_ticks[q] == 0) {
		usk_bdev_io_complete(bdev_io, success ? USK_BDEV_IO_STATUS_SUCCESS :
				     USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	io->success = success;
	io->completion_tick = usk_get_ticks() + dl->latency_ticks[q];
	STAILQ_INSERT_TAIL(&ch->queues[q], io, link);
	ch->queued++;
}

static int
dl_poll(void *arg)
{
	struct dl_channel *ch = arg;
	struct dl_io *io;
	uint64_t now;
	int done = 0;

	if (ch->queued == 0) {
		return USK_POLLER_IDLE;
	}
	now = usk_get_ticks();
	for (int q = 0; q < USK_DELAY_NUM_LATENCY_TYPES; q++) {
		while ((io = STAILQ_FIRST(&ch->queues[q])) != NULL && io->completion_tick <= now) {
			STAILQ_REMOVE_HEAD(&ch->queues[q], link);
			ch->queued--;
			done++;
			usk_bdev_io_complete(usk_bdev_io_from_ctx(io), io->success ?
					     USK_BDEV_IO_STATUS_SUCCESS : USK_BDEV_IO_STATUS_FAILED);
		}
	}
	return done > 0 ? USK_POLLER_BUSY : USK_POLLER_IDLE;
}

static void
dl_submit_rc(struct usk_bdev_io *bdev_io, int rc)
{
	if (usk_likely(rc == 0)) {
		return;
	}
	/* NOMEM: the bdev layer parks the I/O and resubmits it once resources are back. */
	usk_bdev_io_complete(bdev_io, rc == -ENOMEM ? USK_BDEV_IO_STATUS_NOMEM :
			     USK_BDEV_IO_STATUS_FAILED);
}

static void
dl_read_get_buf_cb(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io, bool success)
{
	struct dl_vbdev *dl = bdev_io->bdev->ctxt;
	struct dl_channel *ch = usk_io_channel_get_ctx(_ch);

	if (!success) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	dl_submit_rc(bdev_io, usk_bdev_readv_blocks(dl->base_desc, ch->base_ch, bdev_io->u.bdev.iovs,
			bdev_io->u.bdev.iovcnt, bdev_io->u.bdev.offset_blocks,
			bdev_io->u.bdev.num_blocks, dl_io_done, bdev_io));
}

static void
dl_submit_request(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io)
{
	struct dl_vbdev *dl = bdev_io->bdev->ctxt;
	struct dl_channel *ch = usk_io_channel_get_ctx(_ch);
	struct usk_bdev_desc *d = dl->base_desc;
	int rc;

	switch (bdev_io->type) {
	case USK_BDEV_IO_TYPE_READ:
		if (usk_unlikely(bdev_io->u.bdev.iovs == NULL || bdev_io->u.bdev.iovs[0].iov_base == NULL)) {
			usk_bdev_io_get_buf(bdev_io, dl_read_get_buf_cb,
					    bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen);
			return;
		}
		rc = usk_bdev_readv_blocks(d, ch->base_ch, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt,
					   bdev_io->u.bdev.offset_blocks, bdev_io->u.bdev.num_blocks,
					   dl_io_done, bdev_io);
		break;
	case USK_BDEV_IO_TYPE_WRITE:
		rc = usk_bdev_writev_blocks(d, ch->base_ch, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt,
					    bdev_io->u.bdev.offset_blocks, bdev_io->u.bdev.num_blocks,
					    dl_io_done, bdev_io);
		break;
	case USK_BDEV_IO_TYPE_UNMAP:
		rc = usk_bdev_unmap_blocks(d, ch->base_ch, bdev_io->u.bdev.offset_blocks,
					   bdev_io->u.bdev.num_blocks, dl_io_done, bdev_io);
		break;
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
		rc = usk_bdev_write_zeroes_blocks(d, ch->base_ch, bdev_io->u.bdev.offset_blocks,
						  bdev_io->u.bdev.num_blocks, dl_io_done, bdev_io);
		break;
	case USK_BDEV_IO_TYPE_FLUSH:
		rc = usk_bdev_flush_blocks(d, ch->base_ch, bdev_io->u.bdev.offset_blocks,
					   bdev_io->u.bdev.num_blocks, dl_io_done, bdev_io);
		break;
	case USK_BDEV_IO_TYPE_RESET:
		rc = usk_bdev_reset(d, ch->base_ch, dl_io_done, bdev_io);
		break;
	case USK_BDEV_IO_TYPE_COMPARE:
		rc = usk_bdev_comparev_blocks(d, ch->base_ch, bdev_io->u.bdev.iovs,
					      bdev_io->u.bdev.iovcnt, bdev_io->u.bdev.offset_blocks,
					      bdev_io->u.bdev.num_blocks, dl_io_done, bdev_io);
		break;
	default:
		rc = -ENOTSUP;
		break;
	}
	dl_submit_rc(bdev_io, rc);
}

static bool
dl_io_type_supported(void *ctx, enum usk_bdev_io_type type)
{
	struct dl_vbdev *dl = ctx;

	switch (type) {
	case USK_BDEV_IO_TYPE_READ:
	case USK_BDEV_IO_TYPE_WRITE:
	case USK_BDEV_IO_TYPE_UNMAP:
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
	case USK_BDEV_IO_TYPE_FLUSH:
	case USK_BDEV_IO_TYPE_RESET:
	case USK_BDEV_IO_TYPE_COMPARE:
		return usk_bdev_io_type_supported(dl->base, type);
	default:
		return false;
	}
}

/* ---------------------------------------------------------------- channels */

static int
dl_channel_create(void *io_device, void *ctx_buf)
{
	struct dl_vbdev *dl = io_device;
	struct dl_channel *ch = ctx_buf;

	for (int q = 0; q < USK_DELAY_NUM_LATENCY_TYPES; q++) {
		STAILQ_INIT(&ch->queues[q]);
	}
	ch->rand_state = (usk_get_ticks() ^ (uintptr_t)ch) | 1;
	ch->base_ch = usk_bdev_get_io_channel(dl->base_desc);
	if (ch->base_ch == NULL) {
		return -ENOMEM;
	}
	/* In interrupt mode an active poller never runs: poll on a short timer instead. */
	ch->poller = usk_poller_register_named(dl_poll, ch,
					       usk_interrupt_mode_is_enabled() ? 10 : 0, "delay_poll");
	if (ch->poller == NULL) {
		usk_put_io_channel(ch->base_ch);
		return -ENOMEM;
	}
	return 0;
}

static void
dl_channel_destroy(void *io_device, void *ctx_buf)
{
	struct dl_channel *ch = ctx_buf;
	struct dl_io *io;

	usk_poller_unregister(&ch->poller);
	/* Channels are only destroyed idle; anything still delayed completes now. */
	for (int q = 0; q < USK_DELAY_NUM_LATENCY_TYPES; q++) {
		while ((io = STAILQ_FIRST(&ch->queues[q])) != NULL) {
			STAILQ_REMOVE_HEAD(&ch->queues[q], link);
			usk_bdev_io_complete(usk_bdev_io_from_ctx(io), io->success ?
					     USK_BDEV_IO_STATUS_SUCCESS : USK_BDEV_IO_STATUS_FAILED);
		}
	}
	usk_put_io_channel(ch->base_ch);
}

static struct usk_io_channel *
dl_get_io_channel(void *ctx)
{
	return usk_get_io_channel(ctx);
}

/* ---------------------------------------------------------------- lifecycle */

static void
dl_vbdev_free(struct dl_vbdev *dl)
{
	free(dl->bdev.name);
	free(dl);
}

static void
dl_close_base_msg(void *ctx)
{
	usk_bdev_close(ctx);
}

static void
dl_io_device_unregistered(void *io_device)
{
	struct dl_vbdev *dl = io_device;

	usk_bdev_module_release_bdev(dl->base);
	if (usk_get_thread() == dl->desc_thread) {
		usk_bdev_close(dl->base_desc);
	} else {
		usk_thread_send_msg(dl->desc_thread, dl_close_base_msg, dl->base_desc);
	}
	usk_bdev_destruct_done(&dl->bdev, 0);
	dl_vbdev_free(dl);
}

static int
dl_destruct(void *ctx)
{
	struct dl_vbdev *dl = ctx;

	if (dl->config != NULL) {
		dl->config->vbdev = NULL;
	}
	usk_io_device_unregister(dl, dl_io_device_unregistered);
	return 1;
}

static int
dl_dump_info_json(void *ctx, json_t *obj)
{
	struct dl_vbdev *dl = ctx;

	json_object_set_new(obj, "delay", json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}",
			    "name", dl->bdev.name, "base_bdev_name", usk_bdev_get_name(dl->base),
			    "avg_read_latency", (json_int_t)dl->latency_us[USK_DELAY_AVG_READ],
			    "p99_read_latency", (json_int_t)dl->latency_us[USK_DELAY_P99_READ],
			    "avg_write_latency", (json_int_t)dl->latency_us[USK_DELAY_AVG_WRITE],
			    "p99_write_latency", (json_int_t)dl->latency_us[USK_DELAY_P99_WRITE]));
	return 0;
}

static void
dl_write_config_json(struct usk_bdev *bdev, json_t *config_array)
{
	struct dl_vbdev *dl = bdev->ctxt;

	usk_json_config_add(config_array, "bdev_delay_create",
			    json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}",
				      "base_bdev_name", usk_bdev_get_name(dl->base), "name", bdev->name,
				      "avg_read_latency", (json_int_t)dl->latency_us[USK_DELAY_AVG_READ],
				      "p99_read_latency", (json_int_t)dl->latency_us[USK_DELAY_P99_READ],
				      "avg_write_latency", (json_int_t)dl->latency_us[USK_DELAY_AVG_WRITE],
				      "p99_write_latency", (json_int_t)dl->latency_us[USK_DELAY_P99_WRITE]));
}

static const struct usk_bdev_fn_table g_dl_fn_table = {
	.destruct = dl_destruct,
	.submit_request = dl_submit_request,
	.io_type_supported = dl_io_type_supported,
	.get_io_channel = dl_get_io_channel,
	.dump_info_json = dl_dump_info_json,
	.write_config_json = dl_write_config_json,
};

static void
dl_base_event_cb(enum usk_bdev_event_type type, struct usk_bdev *bdev, void *ctx)
{
	struct dl_vbdev *dl = ctx;

	switch (type) {
	case USK_BDEV_EVENT_REMOVE:
		/* Base hot-removed: go away too (the config stays for when it comes back). */
		usk_bdev_unregister(&dl->bdev, NULL, NULL);
		break;
	case USK_BDEV_EVENT_RESIZE:
		usk_bdev_notify_blockcnt_change(&dl->bdev, usk_bdev_get_num_blocks(bdev));
		break;
	default:
		break;
	}
}

/* Build the vbdev of config on its (present) base. */
static int
dl_vbdev_build(struct dl_config *config, char *err, size_t err_len)
{
	struct dl_vbdev *dl;
	struct usk_bdev *base;
	size_t align;
	int rc;

	dl = calloc(1, sizeof(*dl));
	if (dl == NULL) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	dl->bdev.name = strdup(config->name);
	if (dl->bdev.name == NULL) {
		snprintf(err, err_len, "out of memory");
		free(dl);
		return -ENOMEM;
	}
	rc = usk_bdev_open_ext(config->base_name, true, dl_base_event_cb, dl, &dl->base_desc);
	if (rc != 0) {
		snprintf(err, err_len, "base_bdev_name: cannot open '%s': %s", config->base_name,
			 strerror(-rc));
		goto err_free;
	}
	dl->desc_thread = usk_get_thread();
	base = usk_bdev_desc_get_bdev(dl->base_desc);
	dl->base = base;
	rc = usk_bdev_module_claim_bdev(base, dl->base_desc, &g_dl_if);
	if (rc != 0) {
		snprintf(err, err_len, "base_bdev_name: '%s' is already claimed by module %s",
			 config->base_name, usk_bdev_get_claim_module(base) ?
			 usk_bdev_get_claim_module(base)->name : "?");
		goto err_close;
	}
	dl->config = config;
	for (int q = 0; q < USK_DELAY_NUM_LATENCY_TYPES; q++) {
		dl->latency_us[q] = config->latency_us[q];
		dl->latency_ticks[q] = config->latency_us[q] * usk_get_ticks_hz() / USK_SEC_TO_USEC;
	}
	dl->bdev.ctxt = dl;
	dl->bdev.product_name = "delay";
	dl->bdev.module = &g_dl_if;
	dl->bdev.fn_table = &g_dl_fn_table;
	dl->bdev.blocklen = base->blocklen;
	dl->bdev.blockcnt = base->blockcnt;
	dl->bdev.write_cache = base->write_cache;
	align = usk_bdev_get_buf_align(base);
	dl->bdev.required_alignment = align > 1 ? (uint8_t)usk_u32log2((uint32_t)align) : 0;
	dl->bdev.optimal_io_boundary = base->optimal_io_boundary;
	dl->bdev.split_on_optimal_io_boundary = base->split_on_optimal_io_boundary;
	dl->bdev.write_unit_size = base->write_unit_size;

	usk_io_device_register(dl, dl_channel_create, dl_channel_destroy, sizeof(struct dl_channel),
			       dl->bdev.name);
	rc = usk_bdev_register(&dl->bdev);
	if (rc != 0) {
		snprintf(err, err_len, "name: cannot register bdev '%s': %s", config->name,
			 strerror(-rc));
		usk_io_device_unregister(dl, NULL);
		usk_bdev_module_release_bdev(base);
		goto err_close;
	}
	config->vbdev = dl;
	return 0;

err_close:
	usk_bdev_close(dl->base_desc);
err_free:
	dl_vbdev_free(dl);
	return rc;
}

static void
dl_examine_config(struct usk_bdev *bdev)
{
	struct dl_config *config;
	char err[256];

	TAILQ_FOREACH(config, &g_dl_configs, link) {
		if (config->vbdev == NULL && strcmp(config->base_name, usk_bdev_get_name(bdev)) == 0) {
			if (dl_vbdev_build(config, err, sizeof(err)) != 0) {
				USK_ERRLOG("delay %s: %s\n", config->name, err);
			}
		}
	}
	usk_bdev_module_examine_done(&g_dl_if);
}

static void
dl_config_free(struct dl_config *config)
{
	free(config->name);
	free(config->base_name);
	free(config);
}

static void
dl_module_fini(void)
{
	struct dl_config *config;

	while ((config = TAILQ_FIRST(&g_dl_configs)) != NULL) {
		TAILQ_REMOVE(&g_dl_configs, config, link);
		dl_config_free(config);
	}
}

int
usk_bdev_delay_create(const char *base_bdev_name, const char *name,
		      const uint64_t latency_us[USK_DELAY_NUM_LATENCY_TYPES], char *err, size_t err_len)
{
	struct dl_config *config;
	int rc;

	if (latency_us[USK_DELAY_P99_READ] < latency_us[USK_DELAY_AVG_READ]) {
		snprintf(err, err_len, "p99_read_latency: %" PRIu64 " is below avg_read_latency %" PRIu64,
			 latency_us[USK_DELAY_P99_READ], latency_us[USK_DELAY_AVG_READ]);
		return -EINVAL;
	}
	if (latency_us[USK_DELAY_P99_WRITE] < latency_us[USK_DELAY_AVG_WRITE]) {
		snprintf(err, err_len, "p99_write_latency: %" PRIu64 " is below avg_write_latency %" PRIu64,
			 latency_us[USK_DELAY_P99_WRITE], latency_us[USK_DELAY_AVG_WRITE]);
		return -EINVAL;
	}
	for (int q = 0; q < USK_DELAY_NUM_LATENCY_TYPES; q++) {
		if (latency_us[q] > MAX_LATENCY_US) {
			snprintf(err, err_len, "%s: %" PRIu64 " us is above the limit of %" PRIu64 " us",
				 g_latency_param[q], latency_us[q], (uint64_t)MAX_LATENCY_US);
			return -EINVAL;
		}
	}

	TAILQ_FOREACH(config, &g_dl_configs, link) {
		if (strcmp(config->name, name) == 0) {
			snprintf(err, err_len, "name: a delay bdev named '%s' is already configured",
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
	memcpy(config->latency_us, latency_us, sizeof(config->latency_us));
	if (config->name == NULL || config->base_name == NULL) {
		dl_config_free(config);
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	if (usk_bdev_get_by_name(base_bdev_name) != NULL) {
		rc = dl_vbdev_build(config, err, err_len);
		if (rc != 0) {
			dl_config_free(config);
			return rc;
		}
	} else {
		USK_NOTICELOG("delay %s: base bdev %s not present yet, creation deferred\n", name,
			      base_bdev_name);
	}
	TAILQ_INSERT_TAIL(&g_dl_configs, config, link);
	return 0;
}

struct dl_delete_ctx {
	usk_bdev_delay_delete_cb cb_fn;
	void *cb_arg;
};

static void
dl_delete_done(void *cb_arg, int rc)
{
	struct dl_delete_ctx *ctx = cb_arg;

	if (ctx->cb_fn != NULL) {
		ctx->cb_fn(ctx->cb_arg, rc);
	}
	free(ctx);
}

int
usk_bdev_delay_delete(const char *name, usk_bdev_delay_delete_cb cb_fn, void *cb_arg)
{
	struct dl_config *config;
	struct dl_delete_ctx *ctx;
	struct dl_vbdev *dl;

	TAILQ_FOREACH(config, &g_dl_configs, link) {
		if (strcmp(config->name, name) == 0) {
			break;
		}
	}
	if (config == NULL) {
		return -ENODEV;
	}
	TAILQ_REMOVE(&g_dl_configs, config, link);
	dl = config->vbdev;
	dl_config_free(config);
	if (dl == NULL) {
		if (cb_fn != NULL) {
			cb_fn(cb_arg, 0);
		}
		return 0;
	}
	dl->config = NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		usk_bdev_unregister(&dl->bdev, NULL, NULL);
		if (cb_fn != NULL) {
			cb_fn(cb_arg, 0);
		}
		return 0;
	}
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	usk_bdev_unregister(&dl->bdev, dl_delete_done, ctx);
	return 0;
}

int
usk_bdev_delay_update_latency(const char *name, enum usk_delay_latency_type type,
			      uint64_t latency_us, char *err, size_t err_len)
{
	struct dl_config *config;

	TAILQ_FOREACH(config, &g_dl_configs, link) {
		if (strcmp(config->name, name) == 0) {
			break;
		}
	}
	if (config == NULL || config->vbdev == NULL) {
		snprintf(err, err_len, "delay_bdev_name: no delay bdev named '%s'", name);
		return -ENODEV;
	}
	if ((unsigned)type >= USK_DELAY_NUM_LATENCY_TYPES) {
		snprintf(err, err_len, "latency_type: invalid");
		return -EINVAL;
	}
	if (latency_us > MAX_LATENCY_US) {
		snprintf(err, err_len, "latency_us: %" PRIu64 " us is above the limit of %" PRIu64 " us",
			 latency_us, (uint64_t)MAX_LATENCY_US);
		return -EINVAL;
	}
	config->latency_us[type] = latency_us;
	config->vbdev->latency_us[type] = latency_us;
	config->vbdev->latency_ticks[type] = latency_us * usk_get_ticks_hz() / USK_SEC_TO_USEC;
	return 0;
}
