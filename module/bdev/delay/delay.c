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
#include "vbdev_common.h"

/* What the user asked for; kept while the base is missing or after it was hot-removed. */
struct dl_config {
	struct usk_vbdev_config common;
	uint64_t latency_us[USK_DELAY_NUM_LATENCY_TYPES];
};

struct dl_vbdev {
	struct usk_vbdev common;
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
	struct usk_vbdev_channel common;
	struct usk_poller *poller;
	uint64_t rand_state;
	uint32_t queued;
	STAILQ_HEAD(, dl_io) queues[USK_DELAY_NUM_LATENCY_TYPES];
};

/* One hour: keeps latency * tick rate far from overflowing. */
#define MAX_LATENCY_US (3600ULL * USK_SEC_TO_USEC)

static const char *const g_latency_param[USK_DELAY_NUM_LATENCY_TYPES] = {
	"avg_read_latency",
	"p99_read_latency",
	"avg_write_latency",
	"p99_write_latency",
};

static void dl_examine_config(struct usk_bdev *bdev);
static void dl_module_fini(void);

static int
dl_get_ctx_size(void)
{
	return sizeof(struct dl_io);
}

static struct usk_bdev_module g_delay_module = {
	.name = "delay",
	.get_ctx_size = dl_get_ctx_size,
	.examine_config = dl_examine_config,
	.module_fini = dl_module_fini,
};
USK_BDEV_MODULE_REGISTER(delay, &g_delay_module)

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
			usk_bdev_io_complete(usk_bdev_io_from_ctx(io),
					     io->success ? USK_BDEV_IO_STATUS_SUCCESS :
							   USK_BDEV_IO_STATUS_FAILED);
		}
	}
	return done > 0 ? USK_POLLER_BUSY : USK_POLLER_IDLE;
}

/* ---------------------------------------------------------------- channels */

static int
dl_channel_create(void *io_device, void *ctx_buf)
{
	struct dl_channel *ch = ctx_buf;

	for (int q = 0; q < USK_DELAY_NUM_LATENCY_TYPES; q++) {
		STAILQ_INIT(&ch->queues[q]);
	}
	ch->rand_state = (usk_get_ticks() ^ (uintptr_t)ch) | 1;
	if (usk_vbdev_channel_create(io_device, ctx_buf) != 0) {
		return -ENOMEM;
	}
	/* In interrupt mode an active poller never runs: poll on a short timer instead. */
	ch->poller = usk_poller_register_named(
		dl_poll, ch, usk_interrupt_mode_is_enabled() ? 10 : 0, "delay_poll");
	if (ch->poller == NULL) {
		usk_vbdev_channel_destroy(io_device, ctx_buf);
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
			usk_bdev_io_complete(usk_bdev_io_from_ctx(io),
					     io->success ? USK_BDEV_IO_STATUS_SUCCESS :
							   USK_BDEV_IO_STATUS_FAILED);
		}
	}
	usk_vbdev_channel_destroy(io_device, ctx_buf);
}

/* ---------------------------------------------------------------- lifecycle */

static int
dl_dump_info_json(void *ctx, json_t *obj)
{
	struct dl_vbdev *dl = ctx;

	usk_json_set(obj, "delay",
		     json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "name", dl->common.bdev.name,
			       "base_bdev_name", usk_bdev_get_name(dl->common.base),
			       "avg_read_latency", (json_int_t)dl->latency_us[USK_DELAY_AVG_READ],
			       "p99_read_latency", (json_int_t)dl->latency_us[USK_DELAY_P99_READ],
			       "avg_write_latency", (json_int_t)dl->latency_us[USK_DELAY_AVG_WRITE],
			       "p99_write_latency",
			       (json_int_t)dl->latency_us[USK_DELAY_P99_WRITE]));
	return 0;
}

static void
dl_write_config_json(struct usk_bdev *bdev, json_t *config_array)
{
	struct dl_vbdev *dl = bdev->ctxt;

	usk_json_config_add(
		config_array, "bdev_delay_create",
		json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "base_bdev_name",
			  usk_bdev_get_name(dl->common.base), "name", bdev->name,
			  "avg_read_latency", (json_int_t)dl->latency_us[USK_DELAY_AVG_READ],
			  "p99_read_latency", (json_int_t)dl->latency_us[USK_DELAY_P99_READ],
			  "avg_write_latency", (json_int_t)dl->latency_us[USK_DELAY_AVG_WRITE],
			  "p99_write_latency", (json_int_t)dl->latency_us[USK_DELAY_P99_WRITE]));
}

static const struct usk_bdev_fn_table g_dl_fn_table = {
	.destruct = usk_vbdev_destruct,
	.submit_request = usk_vbdev_submit_request,
	.io_type_supported = usk_vbdev_io_type_supported,
	.get_io_channel = usk_vbdev_get_io_channel,
	.dump_info_json = dl_dump_info_json,
	.write_config_json = dl_write_config_json,
};

static void
dl_init(struct usk_vbdev *vbdev)
{
	struct dl_vbdev *dl = (struct dl_vbdev *)vbdev;
	struct dl_config *config = (struct dl_config *)vbdev->config;

	for (int q = 0; q < USK_DELAY_NUM_LATENCY_TYPES; q++) {
		dl->latency_us[q] = config->latency_us[q];
		dl->latency_ticks[q] = config->latency_us[q] * usk_get_ticks_hz() / USK_SEC_TO_USEC;
	}
}

static struct usk_vbdev_type g_dl_type = {
	.module = &g_delay_module,
	.fn_table = &g_dl_fn_table,
	.product_name = "delay",
	.name_param = "name",
	.base_param = "base_bdev_name",
	.vbdev_size = sizeof(struct dl_vbdev),
	.channel_create = dl_channel_create,
	.channel_destroy = dl_channel_destroy,
	.channel_size = sizeof(struct dl_channel),
	.io_done = dl_io_done,
	.init = dl_init,
	.configs = TAILQ_HEAD_INITIALIZER(g_dl_type.configs),
};

static void
dl_examine_config(struct usk_bdev *bdev)
{
	usk_vbdev_examine(&g_dl_type, bdev);
}

static void
dl_module_fini(void)
{
	usk_vbdev_fini(&g_dl_type);
}

int
usk_bdev_delay_create(const char *base_bdev_name, const char *name,
		      const uint64_t latency_us[USK_DELAY_NUM_LATENCY_TYPES], char *err,
		      size_t err_len)
{
	struct usk_vbdev_config *common;
	struct dl_config *config;
	int rc;

	if (latency_us[USK_DELAY_P99_READ] < latency_us[USK_DELAY_AVG_READ]) {
		snprintf(err, err_len,
			 "p99_read_latency: %" PRIu64 " is below avg_read_latency %" PRIu64,
			 latency_us[USK_DELAY_P99_READ], latency_us[USK_DELAY_AVG_READ]);
		return -EINVAL;
	}
	if (latency_us[USK_DELAY_P99_WRITE] < latency_us[USK_DELAY_AVG_WRITE]) {
		snprintf(err, err_len,
			 "p99_write_latency: %" PRIu64 " is below avg_write_latency %" PRIu64,
			 latency_us[USK_DELAY_P99_WRITE], latency_us[USK_DELAY_AVG_WRITE]);
		return -EINVAL;
	}
	for (int q = 0; q < USK_DELAY_NUM_LATENCY_TYPES; q++) {
		if (latency_us[q] > MAX_LATENCY_US) {
			snprintf(err, err_len,
				 "%s: %" PRIu64 " us is above the limit of %" PRIu64 " us",
				 g_latency_param[q], latency_us[q], (uint64_t)MAX_LATENCY_US);
			return -EINVAL;
		}
	}

	if (usk_vbdev_config_find(&g_dl_type, name) != NULL) {
		snprintf(err, err_len, "name: a delay bdev named '%s' is already configured", name);
		return -EEXIST;
	}
	rc = usk_vbdev_config_new(&g_dl_type, sizeof(*config), name, base_bdev_name, &common, err,
				  err_len);
	if (rc != 0) {
		return rc;
	}
	config = (struct dl_config *)common;
	memcpy(config->latency_us, latency_us, sizeof(config->latency_us));
	return usk_vbdev_config_add(&g_dl_type, common, err, err_len);
}

int
usk_bdev_delay_delete(const char *name, usk_bdev_delay_delete_cb cb_fn, void *cb_arg)
{
	return usk_vbdev_delete(&g_dl_type, name, cb_fn, cb_arg);
}

int
usk_bdev_delay_update_latency(const char *name, enum usk_delay_latency_type type,
			      uint64_t latency_us, char *err, size_t err_len)
{
	struct dl_config *config = (struct dl_config *)usk_vbdev_config_find(&g_dl_type, name);
	struct dl_vbdev *dl;

	if (config == NULL || config->common.vbdev == NULL) {
		snprintf(err, err_len, "delay_bdev_name: no delay bdev named '%s'", name);
		return -ENODEV;
	}
	if ((unsigned)type >= USK_DELAY_NUM_LATENCY_TYPES) {
		snprintf(err, err_len, "latency_type: invalid");
		return -EINVAL;
	}
	if (latency_us > MAX_LATENCY_US) {
		snprintf(err, err_len,
			 "latency_us: %" PRIu64 " us is above the limit of %" PRIu64 " us",
			 latency_us, (uint64_t)MAX_LATENCY_US);
		return -EINVAL;
	}
	dl = (struct dl_vbdev *)config->common.vbdev;
	config->latency_us[type] = latency_us;
	dl->latency_us[type] = latency_us;
	dl->latency_ticks[type] = latency_us * usk_get_ticks_hz() / USK_SEC_TO_USEC;
	return 0;
}
