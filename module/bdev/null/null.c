/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * null bdev module: no data is moved. Each channel keeps a list of submitted I/O that a poller
 * completes in one batch on the next poll: completing inside submit would recurse into the
 * caller (bdevperf resubmits from its completion callback), and the batch keeps the cost per
 * I/O to a few stores.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <uuid/uuid.h>

#include "null.h"
#include "usk/json.h"
#include "usk/log.h"
#include "usk/util.h"

struct null_bdev {
	struct usk_bdev bdev;
	TAILQ_ENTRY(null_bdev) link;
};

/* Per-I/O context in bdev_io->driver_ctx: the list link. */
struct null_io {
	struct usk_bdev_io *next;
};

struct null_channel {
	struct usk_bdev_io *head;
	struct usk_bdev_io **tailp;
	struct usk_poller *poller;
	bool paused;
};

static TAILQ_HEAD(, null_bdev) g_null_bdevs = TAILQ_HEAD_INITIALIZER(g_null_bdevs);

/*
 * Offset from a usk_io_channel to its context: lib/thread puts the context right after the
 * channel (DESIGN.md), the same for every channel. Learned at channel creation; 0 = unknown or
 * not constant, then usk_io_channel_get_ctx is called. Saves a call per I/O.
 */
static size_t g_null_ctx_offset;
static bool g_null_ctx_offset_varies;

static inline struct null_channel *
null_ch(struct usk_io_channel *ch)
{
	size_t off = __atomic_load_n(&g_null_ctx_offset, __ATOMIC_RELAXED);

	if (usk_likely(off != 0)) {
		return (struct null_channel *)((uint8_t *)ch + off);
	}
	return usk_io_channel_get_ctx(ch);
}

static int null_module_init(void);
static void null_module_fini(void);

static int
null_get_ctx_size(void)
{
	return sizeof(struct null_io);
}

static struct usk_bdev_module g_null_module = {
	.name = "null",
	.module_init = null_module_init,
	.module_fini = null_module_fini,
	.get_ctx_size = null_get_ctx_size,
};

USK_BDEV_MODULE_REGISTER(null, &g_null_module)

static int
null_poll(void *arg)
{
	struct null_channel *ch = arg;
	struct usk_bdev_io *io = ch->head, *next;

	if (io == NULL) {
		/* Idle: stop polling until the next submit (lets interrupt mode sleep). */
		usk_poller_pause(ch->poller);
		ch->paused = true;
		return USK_POLLER_IDLE;
	}
	/* Take the whole batch; I/O submitted by the callbacks goes to the next poll. */
	ch->head = NULL;
	ch->tailp = &ch->head;
	do {
		next = ((struct null_io *)io->driver_ctx)->next;
		usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_SUCCESS);
		io = next;
	} while (io != NULL);
	return USK_POLLER_BUSY;
}

static int
null_ch_create(void *io_device, void *ctx_buf)
{
	struct null_channel *ch = ctx_buf;

	size_t off = (size_t)((uint8_t *)ctx_buf - (uint8_t *)usk_io_channel_from_ctx(ctx_buf));

	if (!g_null_ctx_offset_varies) {
		if (g_null_ctx_offset == 0) {
			__atomic_store_n(&g_null_ctx_offset, off, __ATOMIC_RELAXED);
		} else if (g_null_ctx_offset != off) {
			g_null_ctx_offset_varies = true;
			__atomic_store_n(&g_null_ctx_offset, 0, __ATOMIC_RELAXED);
		}
	}
	ch->head = NULL;
	ch->tailp = &ch->head;
	ch->poller = usk_poller_register_named(null_poll, ch, 0, "bdev_null_poll");
	if (ch->poller == NULL) {
		return -ENOMEM;
	}
	ch->paused = false;
	return 0;
}

static void
null_ch_destroy(void *io_device, void *ctx_buf)
{
	struct null_channel *ch = ctx_buf;
	struct usk_bdev_io *io = ch->head, *next;

	/* Nothing should be queued (channels are put after their I/O completes); fail leftovers. */
	ch->head = NULL;
	while (io) {
		next = ((struct null_io *)io->driver_ctx)->next;
		usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_ABORTED);
		io = next;
	}
	usk_poller_unregister(&ch->poller);
}

static int
null_module_init(void)
{
	return usk_io_device_register(&g_null_bdevs, null_ch_create, null_ch_destroy,
				      sizeof(struct null_channel), "null");
}

static void
null_module_fini(void)
{
	usk_io_device_unregister(&g_null_bdevs, NULL);
}

static inline void
null_queue(struct null_channel *ch, struct usk_bdev_io *io)
{
	((struct null_io *)io->driver_ctx)->next = NULL;
	*ch->tailp = io;
	ch->tailp = &((struct null_io *)io->driver_ctx)->next;
	if (usk_unlikely(ch->paused)) {
		ch->paused = false;
		usk_poller_resume(ch->poller);
	}
}

static void
null_read_get_buf_cb(struct usk_io_channel *_ch, struct usk_bdev_io *io, bool success)
{
	if (!success) {
		usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	null_queue(null_ch(_ch), io);
}

static void
null_submit_request(struct usk_io_channel *_ch, struct usk_bdev_io *io)
{
	struct null_channel *ch = null_ch(_ch);

	switch (io->type) {
	case USK_BDEV_IO_TYPE_READ:
		if (usk_unlikely(io->u.bdev.iovs[0].iov_base == NULL)) {
			usk_bdev_io_get_buf(io, null_read_get_buf_cb,
					    io->u.bdev.num_blocks * io->bdev->blocklen);
			return;
		}
	/* fallthrough */
	case USK_BDEV_IO_TYPE_WRITE:
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
	case USK_BDEV_IO_TYPE_UNMAP:
	case USK_BDEV_IO_TYPE_FLUSH:
	case USK_BDEV_IO_TYPE_RESET:
		null_queue(ch, io);
		return;
	default:
		usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
}

static bool
null_io_type_supported(void *ctx, enum usk_bdev_io_type type)
{
	switch (type) {
	case USK_BDEV_IO_TYPE_READ:
	case USK_BDEV_IO_TYPE_WRITE:
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
	case USK_BDEV_IO_TYPE_UNMAP:
	case USK_BDEV_IO_TYPE_FLUSH:
	case USK_BDEV_IO_TYPE_RESET:
		return true;
	default:
		return false;
	}
}

static struct usk_io_channel *
null_get_io_channel(void *ctx)
{
	return usk_get_io_channel(&g_null_bdevs);
}

static int
null_destruct(void *ctx)
{
	struct null_bdev *nb = ctx;

	TAILQ_REMOVE(&g_null_bdevs, nb, link);
	free(nb->bdev.name);
	free(nb);
	return 0;
}

const struct usk_mem_bdev_rules usk_bdev_null_rules = {
	.module_name = "null",
	.create_method = "bdev_null_create",
	.block_size_pow2 = false,
	.name_required = true,
	.optimal_io_boundary = false,
};

static void
null_write_config_json(struct usk_bdev *bdev, json_t *config_array)
{
	usk_mem_bdev_write_config_json(&usk_bdev_null_rules, bdev, config_array);
}

static const struct usk_bdev_fn_table g_null_fn_table = {
	.destruct = null_destruct,
	.submit_request = null_submit_request,
	.io_type_supported = null_io_type_supported,
	.get_io_channel = null_get_io_channel,
	.write_config_json = null_write_config_json,
};

int
usk_bdev_null_create(struct usk_bdev **bdev, const struct usk_mem_bdev_opts *opts)
{
	struct null_bdev *nb;
	char err[160];
	int rc;

	if (usk_mem_bdev_check(&usk_bdev_null_rules, opts, err, sizeof(err)) != 0) {
		USK_ERRLOG("null bdev: %s\n", err);
		return -EINVAL;
	}
	nb = calloc(1, sizeof(*nb));
	if (nb == NULL) {
		return -ENOMEM;
	}
	if (usk_mem_bdev_init(&nb->bdev, opts, opts->name) != 0) {
		free(nb);
		return -ENOMEM;
	}
	nb->bdev.product_name = "Null disk";
	nb->bdev.ctxt = nb;
	nb->bdev.fn_table = &g_null_fn_table;
	nb->bdev.module = &g_null_module;
	rc = usk_bdev_register(&nb->bdev);
	if (rc != 0) {
		free(nb->bdev.name);
		free(nb);
		return rc;
	}
	TAILQ_INSERT_TAIL(&g_null_bdevs, nb, link);
	*bdev = &nb->bdev;
	return 0;
}

int
usk_bdev_null_delete(const char *name, usk_bdev_unregister_cb cb_fn, void *cb_arg)
{
	return usk_bdev_unregister_by_name(name, &g_null_module, cb_fn, cb_arg);
}

int
usk_bdev_null_resize(const char *name, uint64_t new_num_blocks)
{
	struct usk_bdev *bdev = usk_bdev_get_by_name(name);

	if (bdev == NULL || bdev->module != &g_null_module) {
		return -ENODEV;
	}
	if (new_num_blocks == 0) {
		return -EINVAL;
	}
	return usk_bdev_notify_blockcnt_change(bdev, new_num_blocks);
}
