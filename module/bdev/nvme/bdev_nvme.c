/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe bdev module. A controller (nvme_bdev_ctrlr) lives on the thread that attached it: its
 * admin poller runs there and drives keep-alive, failure detection and the reset/reconnect state
 * machine. Every thread that opens one of its bdevs gets a channel with its own I/O qpair,
 * polled by the channel's poller. While the controller is resetting or reconnecting, I/O is
 * queued on the channel (and I/O aborted by the lost connection is queued again) instead of
 * failed; only when ctrlr_loss_timeout_sec runs out does queued I/O fail.
 */
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
#include "bdev_nvme.h"

enum nbc_state {
	NBC_CONNECTING = 0, /* attach in progress */
	NBC_ENABLED,
	NBC_RESETTING,	     /* reconnect in progress */
	NBC_RECONNECT_DELAY, /* waiting reconnect_delay_sec before the next attempt */
	NBC_FAILED,	     /* ctrlr_loss_timeout_sec expired: I/O fails */
	NBC_DELETING,
};

struct nvme_bdev;

struct reset_waiter {
	struct usk_bdev_io *bdev_io;
	struct usk_thread *thread;
	TAILQ_ENTRY(reset_waiter) link;
};

/* One attached controller. Fields are owned by the controller's thread unless noted. */
struct nvme_bdev_ctrlr {
	char *name;
	struct bdev_nvme_attach_opts opts;
	struct usk_nvme_ctrlr *ctrlr;
	struct usk_nvme_probe_ctx *probe;
	struct usk_thread *thread;
	struct usk_poller *adminq_poller;
	/* enum nbc_state; read by channel threads (relaxed: a stale value costs one poll) */
	int state;
	/* incremented when a reset finished: channels reconnect their qpair when it changes */
	uint32_t generation;
	uint64_t loss_start_tick;
	uint64_t next_reconnect_tick;
	uint32_t num_bdevs;
	uint32_t num_bdevs_registered;
	struct nvme_bdev **bdevs;
	bdev_nvme_attach_cb attach_cb;
	void *attach_cb_arg;
	void (*detach_cb)(void *cb_arg, int rc);
	void *detach_cb_arg;
	TAILQ_HEAD(, reset_waiter) reset_waiters;
	TAILQ_ENTRY(nvme_bdev_ctrlr) link;
};

struct nvme_bdev {
	struct usk_bdev disk;
	struct nvme_bdev_ctrlr *nbc;
	struct usk_nvme_ns *ns;
	uint32_t nsid;
	bool removing; /* namespace gone, unregister in progress */
};

struct nvme_io_channel {
	struct nvme_bdev_ctrlr *nbc;
	struct usk_nvme_qpair *qpair;
	struct usk_poller *poller;
	uint32_t generation;
	/* bdev_ios waiting for the qpair to be usable again */
	TAILQ_HEAD(, nvme_bdev_io) queued;
	/* interrupt mode: the qpair's socket wakes the thread; poller is a 10 ms timer then */
	bool intr_mode;
	struct usk_interrupt *intr;
	int intr_fd;
};

/* Per-I/O context in bdev_io->driver_ctx. */
struct nvme_bdev_io {
	struct nvme_io_channel *ch;
	struct iovec *iovs;
	int iovcnt;
	int iov_idx;
	uint32_t iov_off;
	uint32_t retries;
	struct usk_nvme_dsm_range range;
	TAILQ_ENTRY(nvme_bdev_io) link;
};

static TAILQ_HEAD(, nvme_bdev_ctrlr) g_ctrlrs = TAILQ_HEAD_INITIALIZER(g_ctrlrs);
static struct bdev_nvme_opts g_opts = {
	.action_on_timeout = "none",
	.keep_alive_timeout_ms = 10000,
	.nvme_adminq_poll_period_us = 10000,
	.nvme_ioq_poll_period_us = 0,
	.bdev_retry_count = 3,
	.ctrlr_loss_timeout_sec = 0,
	.reconnect_delay_sec = 0,
};

static int bdev_nvme_init(void);
static void bdev_nvme_fini(void);
static int bdev_nvme_config_json(json_t *config);
static int bdev_nvme_get_ctx_size(void);

static struct usk_bdev_module g_nvme_module = {
	.name = "nvme",
	.module_init = bdev_nvme_init,
	.module_fini = bdev_nvme_fini,
	.config_json = bdev_nvme_config_json,
	.get_ctx_size = bdev_nvme_get_ctx_size,
	.async_fini = true,
};
USK_BDEV_MODULE_REGISTER(nvme, &g_nvme_module)

static int
bdev_nvme_get_ctx_size(void)
{
	return sizeof(struct nvme_bdev_io);
}

static int
bdev_nvme_init(void)
{
	return 0;
}

static inline int
nbc_state(const struct nvme_bdev_ctrlr *nbc)
{
	return __atomic_load_n(&nbc->state, __ATOMIC_ACQUIRE);
}

static inline void
nbc_set_state(struct nvme_bdev_ctrlr *nbc, enum nbc_state s)
{
	/* Release pairs with the acquire in nbc_state() on the channel threads. */
	__atomic_store_n(&nbc->state, (int)s, __ATOMIC_RELEASE);
}

static uint32_t g_fini_pending;

static void
nbc_free(struct nvme_bdev_ctrlr *nbc)
{
	usk_poller_unregister(&nbc->adminq_poller);
	if (nbc->ctrlr != NULL) {
		usk_nvme_detach(nbc->ctrlr);
	}
	free(nbc->bdevs);
	free(nbc->name);
	free(nbc);
}

static void
fini_unregistered(void *io_device)
{
	nbc_free(io_device);
	if (--g_fini_pending == 0) {
		usk_bdev_module_fini_done();
	}
}

static void
bdev_nvme_fini(void)
{
	/* Controllers still attached at exit: their bdevs are gone, detach once channels are. */
	struct nvme_bdev_ctrlr *nbc;

	g_fini_pending = 1;
	while ((nbc = TAILQ_FIRST(&g_ctrlrs)) != NULL) {
		TAILQ_REMOVE(&g_ctrlrs, nbc, link);
		nbc_set_state(nbc, NBC_DELETING);
		if (nbc->probe != NULL) {
			/* Still attaching: finish that (bounded by its init timeouts) first. */
			while (usk_nvme_probe_poll_async(nbc->probe) == -EAGAIN) {
			}
			usk_poller_unregister(&nbc->adminq_poller);
			if (nbc->ctrlr != NULL) {
				usk_nvme_detach(nbc->ctrlr);
			}
			free(nbc->name);
			free(nbc);
			continue;
		}
		g_fini_pending++;
		usk_io_device_unregister(nbc, fini_unregistered);
	}
	if (--g_fini_pending == 0) {
		usk_bdev_module_fini_done();
	}
}

void
bdev_nvme_get_opts(struct bdev_nvme_opts *opts)
{
	*opts = g_opts;
}

int
bdev_nvme_set_opts(const struct bdev_nvme_opts *opts, char *err, size_t err_len)
{
	if (strcmp(opts->action_on_timeout, "none") != 0 &&
	    strcmp(opts->action_on_timeout, "reset") != 0 &&
	    strcmp(opts->action_on_timeout, "abort") != 0) {
		snprintf(err, err_len, "action_on_timeout: must be none, reset or abort");
		return -EINVAL;
	}
	if (opts->ctrlr_loss_timeout_sec < -1) {
		snprintf(err, err_len, "ctrlr_loss_timeout_sec: must be -1 (forever) or >= 0");
		return -EINVAL;
	}
	if (opts->ctrlr_loss_timeout_sec != 0 && opts->reconnect_delay_sec == 0) {
		snprintf(err, err_len,
			 "reconnect_delay_sec: must be non-zero when ctrlr_loss_timeout_sec is");
		return -EINVAL;
	}
	if (opts->ctrlr_loss_timeout_sec > 0 &&
	    opts->reconnect_delay_sec > (uint32_t)opts->ctrlr_loss_timeout_sec) {
		snprintf(err, err_len,
			 "reconnect_delay_sec: must not exceed ctrlr_loss_timeout_sec");
		return -EINVAL;
	}
	g_opts = *opts;
	return 0;
}

static struct nvme_bdev_ctrlr *
nbc_find(const char *name)
{
	struct nvme_bdev_ctrlr *nbc;

	TAILQ_FOREACH(nbc, &g_ctrlrs, link) {
		if (strcmp(nbc->name, name) == 0) {
			return nbc;
		}
	}
	return NULL;
}

/* ---- I/O ---- */

static void
sgl_reset(void *arg, uint32_t offset)
{
	struct nvme_bdev_io *bio = arg;

	bio->iov_idx = 0;
	bio->iov_off = offset;
	while (bio->iov_idx < bio->iovcnt && bio->iov_off >= bio->iovs[bio->iov_idx].iov_len) {
		bio->iov_off -= (uint32_t)bio->iovs[bio->iov_idx].iov_len;
		bio->iov_idx++;
	}
}

static int
sgl_next(void *arg, void **address, uint32_t *length)
{
	struct nvme_bdev_io *bio = arg;
	struct iovec *v;

	if (bio->iov_idx >= bio->iovcnt) {
		return -EINVAL;
	}
	v = &bio->iovs[bio->iov_idx];
	*address = (uint8_t *)v->iov_base + bio->iov_off;
	*length = (uint32_t)(v->iov_len - bio->iov_off);
	bio->iov_idx++;
	bio->iov_off = 0;
	return 0;
}

static void io_submit(struct nvme_io_channel *ch, struct usk_bdev_io *bdev_io);

static void
io_queue(struct nvme_io_channel *ch, struct usk_bdev_io *bdev_io)
{
	struct nvme_bdev_io *bio = (struct nvme_bdev_io *)bdev_io->driver_ctx;

	TAILQ_INSERT_TAIL(&ch->queued, bio, link);
}

static void
io_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct nvme_bdev_io *bio = arg;
	struct usk_bdev_io *bdev_io = usk_bdev_io_from_ctx(bio);
	struct nvme_io_channel *ch = bio->ch;

	if (usk_unlikely(usk_nvme_cpl_is_aborted_sq_deletion(cpl)) &&
	    nbc_state(ch->nbc) != NBC_FAILED && nbc_state(ch->nbc) != NBC_DELETING) {
		/* The connection went away under it: retry once the controller is back. */
		io_queue(ch, bdev_io);
		return;
	}
	usk_bdev_io_complete_nvme_status(bdev_io, cpl->cdw0, cpl->status.sct, cpl->status.sc);
}

static int
io_start(struct nvme_io_channel *ch, struct usk_bdev_io *bdev_io)
{
	struct nvme_bdev *nb = bdev_io->bdev->ctxt;
	struct nvme_bdev_io *bio = (struct nvme_bdev_io *)bdev_io->driver_ctx;
	uint64_t lba = bdev_io->u.bdev.offset_blocks;
	uint32_t n = (uint32_t)bdev_io->u.bdev.num_blocks;

	bio->ch = ch;
	switch (bdev_io->type) {
	case USK_BDEV_IO_TYPE_READ:
	case USK_BDEV_IO_TYPE_WRITE:
		bio->iovs = bdev_io->u.bdev.iovs;
		bio->iovcnt = bdev_io->u.bdev.iovcnt;
		if (bio->iovcnt == 1) {
			return bdev_io->type == USK_BDEV_IO_TYPE_READ ?
				       usk_nvme_ns_cmd_read(nb->ns, ch->qpair,
							    bio->iovs[0].iov_base, lba, n, io_done,
							    bio, 0) :
				       usk_nvme_ns_cmd_write(nb->ns, ch->qpair,
							     bio->iovs[0].iov_base, lba, n, io_done,
							     bio, 0);
		}
		return bdev_io->type == USK_BDEV_IO_TYPE_READ ?
			       usk_nvme_ns_cmd_readv(nb->ns, ch->qpair, lba, n, io_done, bio, 0,
						     sgl_reset, sgl_next) :
			       usk_nvme_ns_cmd_writev(nb->ns, ch->qpair, lba, n, io_done, bio, 0,
						      sgl_reset, sgl_next);
	case USK_BDEV_IO_TYPE_FLUSH:
		return usk_nvme_ns_cmd_flush(nb->ns, ch->qpair, io_done, bio);
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
		return usk_nvme_ns_cmd_write_zeroes(nb->ns, ch->qpair, lba, n, io_done, bio, 0);
	case USK_BDEV_IO_TYPE_UNMAP:
		if (bdev_io->u.bdev.num_blocks > UINT32_MAX) {
			return -EINVAL;
		}
		bio->range.attributes = 0;
		bio->range.length = n;
		bio->range.starting_lba = lba;
		return usk_nvme_ns_cmd_dataset_management(nb->ns, ch->qpair,
							  USK_NVME_DSM_ATTR_DEALLOCATE, &bio->range,
							  1, io_done, bio);
	default:
		return -ENOTSUP;
	}
}

static void
io_submit(struct nvme_io_channel *ch, struct usk_bdev_io *bdev_io)
{
	int state = nbc_state(ch->nbc);
	int rc;

	if (usk_unlikely(state == NBC_FAILED || state == NBC_DELETING)) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	if (usk_unlikely(ch->qpair == NULL || state != NBC_ENABLED || !TAILQ_EMPTY(&ch->queued) ||
			 usk_nvme_qpair_is_failed(ch->qpair))) {
		io_queue(ch, bdev_io);
		return;
	}
	rc = io_start(ch, bdev_io);
	if (usk_likely(rc == 0)) {
		return;
	}
	if (rc == -ENOMEM) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_NOMEM);
	} else if (rc == -ENXIO) {
		io_queue(ch, bdev_io);
	} else {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
	}
}

static void
get_buf_cb(struct usk_io_channel *ioch, struct usk_bdev_io *bdev_io, bool success)
{
	if (!success) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	io_submit(usk_io_channel_get_ctx(ioch), bdev_io);
}

static void reset_request(struct usk_bdev_io *bdev_io);

static void
bdev_nvme_submit_request(struct usk_io_channel *ioch, struct usk_bdev_io *bdev_io)
{
	struct nvme_io_channel *ch = usk_io_channel_get_ctx(ioch);

	((struct nvme_bdev_io *)bdev_io->driver_ctx)->retries = 0;
	if (bdev_io->type == USK_BDEV_IO_TYPE_READ && bdev_io->u.bdev.iovs[0].iov_base == NULL) {
		usk_bdev_io_get_buf(bdev_io, get_buf_cb,
				    bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen);
		return;
	}
	if (bdev_io->type == USK_BDEV_IO_TYPE_RESET) {
		reset_request(bdev_io);
		return;
	}
	io_submit(ch, bdev_io);
}

static bool
bdev_nvme_io_type_supported(void *ctx, enum usk_bdev_io_type type)
{
	struct nvme_bdev *nb = ctx;

	switch (type) {
	case USK_BDEV_IO_TYPE_READ:
	case USK_BDEV_IO_TYPE_WRITE:
	case USK_BDEV_IO_TYPE_FLUSH:
	case USK_BDEV_IO_TYPE_RESET:
		return true;
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
		return usk_nvme_ns_supports_write_zeroes(nb->ns);
	case USK_BDEV_IO_TYPE_UNMAP:
		return usk_nvme_ns_supports_dsm(nb->ns);
	default:
		return false;
	}
}

/* ---- channels ---- */

static void
ch_resubmit_queued(struct nvme_io_channel *ch)
{
	TAILQ_HEAD(, nvme_bdev_io) tmp = TAILQ_HEAD_INITIALIZER(tmp);
	struct nvme_bdev_io *bio;

	TAILQ_CONCAT(&tmp, &ch->queued, link);
	while ((bio = TAILQ_FIRST(&tmp)) != NULL) {
		TAILQ_REMOVE(&tmp, bio, link);
		io_submit(ch, usk_bdev_io_from_ctx(bio));
	}
}

static void
ch_fail_queued(struct nvme_io_channel *ch)
{
	struct nvme_bdev_io *bio;

	while ((bio = TAILQ_FIRST(&ch->queued)) != NULL) {
		TAILQ_REMOVE(&ch->queued, bio, link);
		usk_bdev_io_complete(usk_bdev_io_from_ctx(bio), USK_BDEV_IO_STATUS_FAILED);
	}
}

static int ch_intr(void *arg);

/* Interrupt mode: keep the fd handler on the qpair's current connection. */
static void
ch_sync_intr(struct nvme_io_channel *ch, bool force)
{
	int fd;

	if (!ch->intr_mode) {
		return;
	}
	fd = ch->qpair != NULL && !usk_nvme_qpair_is_failed(ch->qpair) ?
		     usk_nvme_qpair_get_fd(ch->qpair) :
		     -1;
	if (!force && ch->intr != NULL && fd == ch->intr_fd) {
		return;
	}
	usk_interrupt_unregister(&ch->intr);
	ch->intr_fd = -1;
	if (fd >= 0) {
		ch->intr = usk_interrupt_register(fd, ch_intr, ch, "bdev_nvme_qpair");
		if (ch->intr != NULL) {
			ch->intr_fd = fd;
		}
	}
}

static int
ch_poll_once(struct nvme_io_channel *ch)
{
	struct nvme_bdev_ctrlr *nbc = ch->nbc;
	int state = nbc_state(nbc);
	int32_t rc;

	if (usk_unlikely(state != NBC_ENABLED)) {
		if (state == NBC_FAILED || state == NBC_DELETING) {
			if (ch->qpair != NULL && !usk_nvme_qpair_is_failed(ch->qpair)) {
				usk_nvme_ctrlr_disconnect_io_qpair(ch->qpair);
			}
			ch_fail_queued(ch);
			return USK_POLLER_IDLE;
		}
		/* Resetting: the qpair is disconnected by the core; I/O waits in ch->queued. */
		if (ch->qpair != NULL) {
			usk_nvme_qpair_process_completions(ch->qpair, 0);
		}
		return USK_POLLER_IDLE;
	}
	if (usk_unlikely(ch->qpair == NULL)) {
		return USK_POLLER_IDLE;
	}
	if (usk_unlikely(ch->generation != __atomic_load_n(&nbc->generation, __ATOMIC_ACQUIRE) ||
			 usk_nvme_qpair_is_failed(ch->qpair))) {
		/* The controller came back (or this qpair alone died): connect a new connection. */
		if (usk_nvme_qpair_is_failed(ch->qpair) || ch->generation != nbc->generation) {
			if (!usk_nvme_qpair_is_failed(ch->qpair)) {
				usk_nvme_ctrlr_disconnect_io_qpair(ch->qpair);
			}
			/* The old socket is closed: its fd number may come back for the new one. */
			ch_sync_intr(ch, true);
			if (usk_nvme_ctrlr_reconnect_io_qpair(ch->qpair) != 0) {
				return USK_POLLER_IDLE;
			}
			ch->generation = __atomic_load_n(&nbc->generation, __ATOMIC_ACQUIRE);
		}
	}
	rc = usk_nvme_qpair_process_completions(ch->qpair, 0);
	if (rc == -EAGAIN) {
		return USK_POLLER_BUSY;
	}
	if (rc < 0) {
		/* Connection lost: let the admin side notice and reset; I/O stays queued. */
		return USK_POLLER_BUSY;
	}
	if (usk_unlikely(!TAILQ_EMPTY(&ch->queued))) {
		ch_resubmit_queued(ch);
	}
	return rc > 0 ? USK_POLLER_BUSY : USK_POLLER_IDLE;
}

static int
ch_poll(void *arg)
{
	struct nvme_io_channel *ch = arg;
	int rc = ch_poll_once(ch);

	ch_sync_intr(ch, false);
	return rc;
}

static int
ch_intr(void *arg)
{
	return ch_poll(arg);
}

static int
ch_create(void *io_device, void *ctx_buf)
{
	struct nvme_bdev_ctrlr *nbc = io_device;
	struct nvme_io_channel *ch = ctx_buf;
	struct usk_nvme_io_qpair_opts qopts;

	ch->nbc = nbc;
	TAILQ_INIT(&ch->queued);
	usk_nvme_ctrlr_get_default_io_qpair_opts(nbc->ctrlr, &qopts, sizeof(qopts));
	qopts.create_only = true;
	ch->qpair = usk_nvme_ctrlr_alloc_io_qpair(nbc->ctrlr, &qopts, sizeof(qopts));
	if (ch->qpair == NULL) {
		return -ENOMEM;
	}
	ch->generation = __atomic_load_n(&nbc->generation, __ATOMIC_ACQUIRE);
	/* Connect without blocking: I/O submitted meanwhile waits in the core's queue. */
	if (usk_nvme_ctrlr_reconnect_io_qpair(ch->qpair) != 0) {
		USK_NOTICELOG(
			"bdev_nvme %s: I/O qpair not connected yet; retrying from the poller\n",
			nbc->name);
	}
	ch->intr_fd = -1;
	ch->intr_mode = usk_interrupt_mode_is_enabled();
	/*
	 * Interrupt mode: completions wake the thread through the socket; a 10 ms timer still runs
	 * the reconnect logic and flushes a send that the socket buffer cut short.
	 */
	ch->poller = usk_poller_register_named(
		ch_poll, ch, ch->intr_mode ? 10000 : g_opts.nvme_ioq_poll_period_us,
		"bdev_nvme_poll");
	ch_sync_intr(ch, true);
	if (ch->poller == NULL) {
		usk_nvme_ctrlr_free_io_qpair(ch->qpair);
		return -ENOMEM;
	}
	return 0;
}

static void
ch_destroy(void *io_device, void *ctx_buf)
{
	struct nvme_io_channel *ch = ctx_buf;

	usk_interrupt_unregister(&ch->intr);
	usk_poller_unregister(&ch->poller);
	if (ch->qpair != NULL) {
		usk_nvme_ctrlr_free_io_qpair(ch->qpair);
		ch->qpair = NULL;
	}
	ch_fail_queued(ch);
}

/* ---- reset / reconnect (controller thread) ---- */

static void
reset_waiter_complete_msg(void *arg)
{
	struct reset_waiter *w = arg;

	usk_bdev_io_complete(w->bdev_io, (intptr_t)w->thread == 0 ? USK_BDEV_IO_STATUS_FAILED :
								    USK_BDEV_IO_STATUS_SUCCESS);
	free(w);
}

static void
reset_finish(struct nvme_bdev_ctrlr *nbc, bool ok)
{
	struct reset_waiter *w;

	while ((w = TAILQ_FIRST(&nbc->reset_waiters)) != NULL) {
		struct usk_thread *t = w->thread;

		TAILQ_REMOVE(&nbc->reset_waiters, w, link);
		if (!ok) {
			w->thread = NULL;
		}
		usk_thread_send_msg(t, reset_waiter_complete_msg, w);
	}
}

static void
start_reset(struct nvme_bdev_ctrlr *nbc)
{
	int rc;

	if (nbc_state(nbc) == NBC_ENABLED) {
		nbc->loss_start_tick = usk_get_ticks();
	}
	rc = usk_nvme_ctrlr_disconnect(nbc->ctrlr);
	if (rc != 0 && rc != -EBUSY) {
		USK_ERRLOG("bdev_nvme %s: cannot reset: %s\n", nbc->name, strerror(-rc));
		nbc_set_state(nbc, NBC_FAILED);
		reset_finish(nbc, false);
		return;
	}
	usk_nvme_ctrlr_reconnect_async(nbc->ctrlr);
	nbc_set_state(nbc, NBC_RESETTING);
}

static void
reset_request_msg(void *arg)
{
	struct reset_waiter *w = arg;
	struct nvme_bdev_ctrlr *nbc = ((struct nvme_bdev *)w->bdev_io->bdev->ctxt)->nbc;
	int state = nbc_state(nbc);

	if (state == NBC_FAILED || state == NBC_DELETING) {
		w->thread = NULL;
		reset_waiter_complete_msg(w);
		return;
	}
	TAILQ_INSERT_TAIL(&nbc->reset_waiters, w, link);
	if (state == NBC_ENABLED) {
		start_reset(nbc);
	}
}

static void
reset_request(struct usk_bdev_io *bdev_io)
{
	struct nvme_bdev_ctrlr *nbc = ((struct nvme_bdev *)bdev_io->bdev->ctxt)->nbc;
	struct reset_waiter *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_NOMEM);
		return;
	}
	w->bdev_io = bdev_io;
	w->thread = usk_get_thread();
	if (usk_thread_send_msg(nbc->thread, reset_request_msg, w) != 0) {
		free(w);
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
	}
}

static bool
loss_timeout_expired(struct nvme_bdev_ctrlr *nbc)
{
	int32_t t = nbc->opts.ctrlr_loss_timeout_sec;

	if (t == -1) {
		return false;
	}
	return usk_get_ticks() - nbc->loss_start_tick >= (uint64_t)t * usk_get_ticks_hz();
}

/* ctrlr_loss_timeout_sec expired: give up on the controller and fail the waiting I/O. */
static bool
fail_if_loss_timeout(struct nvme_bdev_ctrlr *nbc)
{
	if (!loss_timeout_expired(nbc)) {
		return false;
	}
	USK_ERRLOG("bdev_nvme %s: ctrlr_loss_timeout_sec (%d) expired; failing I/O\n", nbc->name,
		   nbc->opts.ctrlr_loss_timeout_sec);
	nbc_set_state(nbc, NBC_FAILED);
	reset_finish(nbc, false);
	return true;
}

static int
adminq_poll(void *arg)
{
	struct nvme_bdev_ctrlr *nbc = arg;
	int rc;

	switch (nbc_state(nbc)) {
	case NBC_ENABLED:
		rc = usk_nvme_ctrlr_process_admin_completions(nbc->ctrlr);
		if (rc < 0) {
			USK_NOTICELOG(
				"bdev_nvme %s: controller lost; reconnecting (ctrlr_loss_timeout_sec %d, "
				"reconnect_delay_sec %u)\n",
				nbc->name, nbc->opts.ctrlr_loss_timeout_sec,
				nbc->opts.reconnect_delay_sec);
			start_reset(nbc);
		}
		return rc > 0 ? USK_POLLER_BUSY : USK_POLLER_IDLE;
	case NBC_RESETTING:
		rc = usk_nvme_ctrlr_reconnect_poll_async(nbc->ctrlr);
		if (rc == -EAGAIN) {
			return USK_POLLER_BUSY;
		}
		if (rc == 0) {
			USK_NOTICELOG("bdev_nvme %s: controller reconnected\n", nbc->name);
			__atomic_add_fetch(&nbc->generation, 1, __ATOMIC_RELEASE);
			nbc_set_state(nbc, NBC_ENABLED);
			reset_finish(nbc, true);
			return USK_POLLER_BUSY;
		}
		if (fail_if_loss_timeout(nbc)) {
			return USK_POLLER_BUSY;
		}
		nbc->next_reconnect_tick =
			usk_get_ticks() +
			(uint64_t)nbc->opts.reconnect_delay_sec * usk_get_ticks_hz();
		nbc_set_state(nbc, NBC_RECONNECT_DELAY);
		return USK_POLLER_BUSY;
	case NBC_RECONNECT_DELAY:
		if (!fail_if_loss_timeout(nbc) && usk_get_ticks() >= nbc->next_reconnect_tick) {
			start_reset(nbc);
		}
		return USK_POLLER_IDLE;
	default:
		return USK_POLLER_IDLE;
	}
}

static void
timeout_cb(void *cb_arg, struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair, uint16_t cid)
{
	struct nvme_bdev_ctrlr *nbc = cb_arg;

	USK_WARNLOG("bdev_nvme %s: command cid %u on %s queue timed out (action %s)\n", nbc->name,
		    cid, qpair ? "an I/O" : "the admin", g_opts.action_on_timeout);
	if (strcmp(g_opts.action_on_timeout, "abort") == 0) {
		usk_nvme_ctrlr_cmd_abort(ctrlr, qpair, cid, NULL, NULL);
	} else if (strcmp(g_opts.action_on_timeout, "reset") == 0 && qpair == NULL &&
		   nbc_state(nbc) == NBC_ENABLED) {
		start_reset(nbc);
	} else if (strcmp(g_opts.action_on_timeout, "reset") == 0 && qpair != NULL) {
		/* I/O thread: the controller thread does the reset. */
		usk_nvme_ctrlr_fail(ctrlr);
	}
}

/* ---- bdevs ---- */

static void nbc_try_free(struct nvme_bdev_ctrlr *nbc);

static int
bdev_nvme_destruct(void *ctx)
{
	struct nvme_bdev *nb = ctx;
	struct nvme_bdev_ctrlr *nbc = nb->nbc;

	for (uint32_t i = 0; i < nbc->num_bdevs; i++) {
		if (nbc->bdevs[i] == nb) {
			nbc->bdevs[i] = NULL;
		}
	}
	nbc->num_bdevs_registered--;
	free(nb->disk.name);
	free(nb);
	nbc_try_free(nbc);
	return 0;
}

static struct usk_io_channel *
bdev_nvme_get_io_channel(void *ctx)
{
	struct nvme_bdev *nb = ctx;

	return usk_get_io_channel(nb->nbc);
}

static json_t *
trid_json(const struct usk_nvme_transport_id *trid)
{
	json_t *o = json_object();
	const char *af = usk_nvme_transport_id_adrfam_str(trid->adrfam);

	usk_json_set(o, "trtype", json_string(trid->trstring));
	if (trid->trtype != USK_NVME_TRANSPORT_PCIE && af != NULL) {
		usk_json_set(o, "adrfam", json_string(af));
	}
	usk_json_set(o, "traddr", json_string(trid->traddr));
	if (trid->trsvcid[0] != '\0') {
		usk_json_set(o, "trsvcid", json_string(trid->trsvcid));
	}
	if (trid->subnqn[0] != '\0') {
		usk_json_set(o, "subnqn", json_string(trid->subnqn));
	}
	return o;
}

static int
bdev_nvme_dump_info_json(void *ctx, json_t *driver)
{
	struct nvme_bdev *nb = ctx;
	json_t *arr = json_array(), *o = json_object(), *ns = json_object();
	const struct usk_nvme_ctrlr_data *cd = usk_nvme_ctrlr_get_data(nb->nbc->ctrlr);

	usk_json_set(o, "trid", trid_json(&nb->nbc->opts.trid));
	usk_json_set(o, "ctrlr_data",
		     json_pack("{s:i,s:s%,s:s%}", "cntlid", cd->cntlid, "model_number",
			       (const char *)cd->mn, usk_strlen_pad(cd->mn, sizeof(cd->mn), ' '),
			       "serial_number", (const char *)cd->sn,
			       usk_strlen_pad(cd->sn, sizeof(cd->sn), ' ')));
	usk_json_set(ns, "id", json_integer(nb->nsid));
	usk_json_set(o, "ns_data", ns);
	json_array_append_new(arr, o);
	usk_json_set(driver, "nvme", arr);
	return 0;
}

static const struct usk_bdev_fn_table g_nvme_fn_table = {
	.destruct = bdev_nvme_destruct,
	.submit_request = bdev_nvme_submit_request,
	.io_type_supported = bdev_nvme_io_type_supported,
	.get_io_channel = bdev_nvme_get_io_channel,
	.dump_info_json = bdev_nvme_dump_info_json,
};

/* Create and register the bdev of namespace nsid. Returns it or NULL (logged). */
static struct nvme_bdev *
create_ns_bdev(struct nvme_bdev_ctrlr *nbc, uint32_t nsid)
{
	struct usk_nvme_ns *ns = usk_nvme_ctrlr_get_ns(nbc->ctrlr, nsid);
	struct nvme_bdev *nb = calloc(1, sizeof(*nb));
	const uint8_t *uuid;
	int rc;

	if (nb == NULL || ns == NULL) {
		free(nb);
		return NULL;
	}
	uuid = usk_nvme_ns_get_uuid(ns);
	nb->nbc = nbc;
	nb->ns = ns;
	nb->nsid = nsid;
	nb->disk.name = usk_sprintf_alloc("%sn%u", nbc->name, nsid);
	nb->disk.product_name = "NVMe disk";
	nb->disk.blocklen = usk_nvme_ns_get_sector_size(ns);
	nb->disk.blockcnt = usk_nvme_ns_get_num_sectors(ns);
	nb->disk.write_cache = usk_nvme_ns_has_volatile_write_cache(ns);
	nb->disk.optimal_io_boundary = usk_nvme_ns_get_optimal_io_boundary(ns);
	nb->disk.split_on_optimal_io_boundary = nb->disk.optimal_io_boundary != 0;
	nb->disk.max_num_segments = 32;
	nb->disk.required_alignment = 2;
	if (uuid != NULL) {
		memcpy(nb->disk.uuid, uuid, sizeof(nb->disk.uuid));
	}
	nb->disk.ctxt = nb;
	nb->disk.module = &g_nvme_module;
	nb->disk.fn_table = &g_nvme_fn_table;
	if (nb->disk.name == NULL) {
		free(nb);
		return NULL;
	}
	rc = usk_bdev_register(&nb->disk);
	if (rc != 0) {
		USK_ERRLOG("bdev_nvme %s: registering %s failed: %s\n", nbc->name, nb->disk.name,
			   strerror(-rc));
		free(nb->disk.name);
		free(nb);
		return NULL;
	}
	nbc->num_bdevs_registered++;
	return nb;
}

static int
create_bdevs(struct nvme_bdev_ctrlr *nbc, json_t *names)
{
	uint32_t n = 0, nsid;

	for (nsid = usk_nvme_ctrlr_get_first_active_ns(nbc->ctrlr); nsid != 0;
	     nsid = usk_nvme_ctrlr_get_next_active_ns(nbc->ctrlr, nsid)) {
		n++;
	}
	nbc->bdevs = calloc(n ? n : 1, sizeof(*nbc->bdevs));
	if (nbc->bdevs == NULL) {
		return -ENOMEM;
	}
	nbc->num_bdevs = n;
	n = 0;
	for (nsid = usk_nvme_ctrlr_get_first_active_ns(nbc->ctrlr); nsid != 0;
	     nsid = usk_nvme_ctrlr_get_next_active_ns(nbc->ctrlr, nsid)) {
		struct nvme_bdev *nb = create_ns_bdev(nbc, nsid);

		if (nb == NULL) {
			return -ENOMEM;
		}
		nbc->bdevs[n++] = nb;
		json_array_append_new(names, json_string(nb->disk.name));
	}
	return 0;
}

static struct nvme_bdev *
find_ns_bdev(struct nvme_bdev_ctrlr *nbc, uint32_t nsid)
{
	for (uint32_t i = 0; i < nbc->num_bdevs; i++) {
		if (nbc->bdevs[i] != NULL && nbc->bdevs[i]->nsid == nsid &&
		    !nbc->bdevs[i]->removing) {
			return nbc->bdevs[i];
		}
	}
	return NULL;
}

/*
 * The controller rescanned its namespaces (Namespace Attribute Changed AEN): unregister the
 * bdevs of removed namespaces, resize those whose namespace changed size, create bdevs for new
 * ones. Runs on the admin poller's thread (the one that registered the bdevs).
 */
static void
ns_changed(struct nvme_bdev_ctrlr *nbc)
{
	uint32_t nsid;

	for (uint32_t i = 0; i < nbc->num_bdevs; i++) {
		struct nvme_bdev *nb = nbc->bdevs[i];
		uint64_t blocks;

		if (nb == NULL || nb->removing) {
			continue;
		}
		if (!usk_nvme_ctrlr_is_active_ns(nbc->ctrlr, nb->nsid)) {
			USK_NOTICELOG("bdev_nvme %s: namespace %u removed: unregistering %s\n",
				      nbc->name, nb->nsid, nb->disk.name);
			nb->removing = true;
			usk_bdev_unregister(&nb->disk, NULL, NULL);
			continue;
		}
		blocks = usk_nvme_ns_get_num_sectors(nb->ns);
		if (blocks != nb->disk.blockcnt) {
			USK_NOTICELOG("bdev_nvme %s: namespace %u resized: %s %" PRIu64
				      " -> %" PRIu64 " blocks\n",
				      nbc->name, nb->nsid, nb->disk.name, nb->disk.blockcnt,
				      blocks);
			if (usk_bdev_notify_blockcnt_change(&nb->disk, blocks) != 0) {
				USK_ERRLOG("bdev_nvme %s: resizing %s refused\n", nbc->name,
					   nb->disk.name);
			}
		}
	}
	for (nsid = usk_nvme_ctrlr_get_first_active_ns(nbc->ctrlr); nsid != 0;
	     nsid = usk_nvme_ctrlr_get_next_active_ns(nbc->ctrlr, nsid)) {
		struct nvme_bdev **nbs, *nb;
		uint32_t slot;

		if (find_ns_bdev(nbc, nsid) != NULL) {
			continue;
		}
		for (slot = 0; slot < nbc->num_bdevs && nbc->bdevs[slot] != NULL; slot++) {
		}
		if (slot == nbc->num_bdevs) {
			nbs = realloc(nbc->bdevs, (nbc->num_bdevs + 1) * sizeof(*nbs));
			if (nbs == NULL) {
				USK_ERRLOG("bdev_nvme %s: no memory for namespace %u\n", nbc->name,
					   nsid);
				return;
			}
			nbc->bdevs = nbs;
			nbc->bdevs[nbc->num_bdevs++] = NULL;
		}
		nb = create_ns_bdev(nbc, nsid);
		if (nb == NULL) {
			continue;
		}
		nbc->bdevs[slot] = nb;
		USK_NOTICELOG("bdev_nvme %s: namespace %u added: %s\n", nbc->name, nsid,
			      nb->disk.name);
	}
}

static void
aer_cb(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct nvme_bdev_ctrlr *nbc = arg;
	union usk_nvme_async_event_completion ev = {.raw = cpl->cdw0};

	if (ev.bits.async_event_type == USK_NVME_ASYNC_EVENT_TYPE_NOTICE &&
	    ev.bits.async_event_info == USK_NVME_ASYNC_EVENT_NS_ATTR_CHANGED &&
	    nbc_state(nbc) == NBC_ENABLED) {
		ns_changed(nbc);
	}
}

static void
io_device_unregistered(void *io_device)
{
	struct nvme_bdev_ctrlr *nbc = io_device;
	void (*cb)(void *, int) = nbc->detach_cb;
	void *arg = nbc->detach_cb_arg;

	nbc_free(nbc);
	if (cb != NULL) {
		cb(arg, 0);
	}
}

static void
nbc_try_free(struct nvme_bdev_ctrlr *nbc)
{
	if (nbc_state(nbc) != NBC_DELETING || nbc->num_bdevs_registered > 0) {
		return;
	}
	TAILQ_REMOVE(&g_ctrlrs, nbc, link);
	usk_io_device_unregister(nbc, io_device_unregistered);
}

static int
attach_poll(void *arg)
{
	struct nvme_bdev_ctrlr *nbc = arg;
	json_t *names;
	int rc;

	rc = usk_nvme_probe_poll_async(nbc->probe);
	if (rc == -EAGAIN) {
		return USK_POLLER_BUSY;
	}
	nbc->probe = NULL;
	usk_poller_unregister(&nbc->adminq_poller);
	if (nbc->ctrlr == NULL) {
		bdev_nvme_attach_cb cb = nbc->attach_cb;
		void *cb_arg = nbc->attach_cb_arg;

		TAILQ_REMOVE(&g_ctrlrs, nbc, link);
		free(nbc->name);
		free(nbc);
		cb(cb_arg, -ECONNREFUSED, NULL);
		return USK_POLLER_BUSY;
	}
	if (g_opts.timeout_us != 0 || g_opts.timeout_admin_us != 0) {
		usk_nvme_ctrlr_register_timeout_callback(nbc->ctrlr, g_opts.timeout_us,
							 g_opts.timeout_admin_us, timeout_cb, nbc);
	}
	rc = usk_io_device_register(nbc, ch_create, ch_destroy, sizeof(struct nvme_io_channel),
				    nbc->name);
	if (rc != 0) {
		bdev_nvme_attach_cb cb = nbc->attach_cb;
		void *cb_arg = nbc->attach_cb_arg;

		USK_ERRLOG("bdev_nvme %s: cannot register io_device: %s\n", nbc->name,
			   strerror(-rc));
		TAILQ_REMOVE(&g_ctrlrs, nbc, link);
		usk_nvme_detach(nbc->ctrlr);
		free(nbc->name);
		free(nbc);
		cb(cb_arg, rc, NULL);
		return USK_POLLER_BUSY;
	}
	nbc_set_state(nbc, NBC_ENABLED);
	nbc->adminq_poller = usk_poller_register_named(
		adminq_poll, nbc, g_opts.nvme_adminq_poll_period_us, "bdev_nvme_adminq");
	names = json_array();
	rc = create_bdevs(nbc, names);
	if (rc != 0) {
		json_decref(names);
		nbc->attach_cb(nbc->attach_cb_arg, rc, NULL);
		nbc_set_state(nbc, NBC_DELETING);
		for (uint32_t i = 0; i < nbc->num_bdevs; i++) {
			if (nbc->bdevs[i] != NULL) {
				usk_bdev_unregister(&nbc->bdevs[i]->disk, NULL, NULL);
			}
		}
		nbc_try_free(nbc);
		return USK_POLLER_BUSY;
	}
	usk_nvme_ctrlr_register_aer_callback(nbc->ctrlr, aer_cb, nbc);
	nbc->attach_cb(nbc->attach_cb_arg, 0, names);
	return USK_POLLER_BUSY;
}

static void
attach_done(void *cb_ctx, const struct usk_nvme_transport_id *trid, struct usk_nvme_ctrlr *ctrlr,
	    const struct usk_nvme_ctrlr_opts *opts)
{
	((struct nvme_bdev_ctrlr *)cb_ctx)->ctrlr = ctrlr;
}

int
bdev_nvme_attach_controller(const struct bdev_nvme_attach_opts *opts, bdev_nvme_attach_cb cb,
			    void *cb_arg)
{
	struct usk_nvme_ctrlr_opts copts;
	struct nvme_bdev_ctrlr *nbc;

	if (nbc_find(opts->name) != NULL) {
		return -EEXIST;
	}
	nbc = calloc(1, sizeof(*nbc));
	if (nbc == NULL) {
		return -ENOMEM;
	}
	nbc->name = strdup(opts->name);
	nbc->opts = *opts;
	nbc->opts.name = nbc->name;
	nbc->thread = usk_get_thread();
	nbc->attach_cb = cb;
	nbc->attach_cb_arg = cb_arg;
	TAILQ_INIT(&nbc->reset_waiters);
	nbc_set_state(nbc, NBC_CONNECTING);
	usk_nvme_ctrlr_get_default_ctrlr_opts(&copts, sizeof(copts));
	copts.header_digest = opts->hdgst;
	copts.data_digest = opts->ddgst;
	copts.keep_alive_timeout_ms = g_opts.keep_alive_timeout_ms;
	if (opts->hostnqn[0] != '\0') {
		snprintf(copts.hostnqn, sizeof(copts.hostnqn), "%s", opts->hostnqn);
	}
	nbc->probe = usk_nvme_connect_async(&opts->trid, &copts, sizeof(copts), attach_done, nbc);
	if (nbc->probe == NULL) {
		free(nbc->name);
		free(nbc);
		return -ECONNREFUSED;
	}
	/* Poll the attach; afterwards the same slot holds the admin poller. */
	nbc->adminq_poller = usk_poller_register_named(attach_poll, nbc, 0, "bdev_nvme_attach");
	if (nbc->adminq_poller == NULL) {
		while (usk_nvme_probe_poll_async(nbc->probe) == -EAGAIN) {
		}
		if (nbc->ctrlr != NULL) {
			usk_nvme_detach(nbc->ctrlr);
		}
		free(nbc->name);
		free(nbc);
		return -ENOMEM;
	}
	TAILQ_INSERT_TAIL(&g_ctrlrs, nbc, link);
	return 0;
}

int
bdev_nvme_detach_controller(const char *name, void (*cb)(void *cb_arg, int rc), void *cb_arg)
{
	struct nvme_bdev_ctrlr *nbc = nbc_find(name);

	if (nbc == NULL || nbc_state(nbc) == NBC_CONNECTING) {
		return -ENODEV;
	}
	if (nbc_state(nbc) == NBC_DELETING) {
		return -EBUSY;
	}
	nbc->detach_cb = cb;
	nbc->detach_cb_arg = cb_arg;
	reset_finish(nbc, false);
	nbc_set_state(nbc, NBC_DELETING);
	for (uint32_t i = 0; i < nbc->num_bdevs; i++) {
		if (nbc->bdevs[i] != NULL) {
			usk_bdev_unregister(&nbc->bdevs[i]->disk, NULL, NULL);
		}
	}
	nbc_try_free(nbc);
	return 0;
}

static const char *
state_name(int s)
{
	switch (s) {
	case NBC_CONNECTING:
		return "connecting";
	case NBC_ENABLED:
		return "enabled";
	case NBC_RESETTING:
		return "resetting";
	case NBC_RECONNECT_DELAY:
		return "reconnect_is_delayed";
	case NBC_FAILED:
		return "failed";
	case NBC_DELETING:
		return "deleting";
	default:
		return "unknown";
	}
}

int
bdev_nvme_get_controllers(const char *name, json_t *array)
{
	struct nvme_bdev_ctrlr *nbc;
	int found = 0;

	TAILQ_FOREACH(nbc, &g_ctrlrs, link) {
		json_t *o, *c, *ctrlrs;

		if (name != NULL && strcmp(name, nbc->name) != 0) {
			continue;
		}
		found++;
		o = json_object();
		ctrlrs = json_array();
		c = json_object();
		usk_json_set(o, "name", json_string(nbc->name));
		usk_json_set(c, "state", json_string(state_name(nbc_state(nbc))));
		usk_json_set(c, "trid", trid_json(&nbc->opts.trid));
		if (nbc->ctrlr != NULL) {
			usk_json_set(c, "cntlid", json_integer(usk_nvme_ctrlr_get_id(nbc->ctrlr)));
		}
		usk_json_set(c, "host",
			     json_pack("{s:s}", "nqn",
				       nbc->ctrlr ? usk_nvme_ctrlr_get_opts(nbc->ctrlr)->hostnqn :
						    nbc->opts.hostnqn));
		json_array_append_new(ctrlrs, c);
		usk_json_set(o, "ctrlrs", ctrlrs);
		json_array_append_new(array, o);
	}
	return name != NULL && found == 0 ? -ENODEV : 0;
}

static int
bdev_nvme_config_json(json_t *config)
{
	struct nvme_bdev_ctrlr *nbc;
	json_t *p;

	p = json_pack("{s:s,s:I,s:I,s:i,s:I,s:I,s:i,s:i,s:i,s:i}", "action_on_timeout",
		      g_opts.action_on_timeout, "timeout_us", (json_int_t)g_opts.timeout_us,
		      "timeout_admin_us", (json_int_t)g_opts.timeout_admin_us,
		      "keep_alive_timeout_ms", (int)g_opts.keep_alive_timeout_ms,
		      "nvme_adminq_poll_period_us", (json_int_t)g_opts.nvme_adminq_poll_period_us,
		      "nvme_ioq_poll_period_us", (json_int_t)g_opts.nvme_ioq_poll_period_us,
		      "bdev_retry_count", g_opts.bdev_retry_count, "ctrlr_loss_timeout_sec",
		      g_opts.ctrlr_loss_timeout_sec, "reconnect_delay_sec",
		      (int)g_opts.reconnect_delay_sec, "fast_io_fail_timeout_sec",
		      (int)g_opts.fast_io_fail_timeout_sec);
	json_array_append_new(config, json_pack("{s:s,s:o}", "method", "bdev_nvme_set_options",
						"params", p));
	TAILQ_FOREACH(nbc, &g_ctrlrs, link) {
		const struct usk_nvme_transport_id *t = &nbc->opts.trid;

		if (nbc_state(nbc) == NBC_CONNECTING || nbc_state(nbc) == NBC_DELETING) {
			continue;
		}
		p = trid_json(t);
		usk_json_set(p, "name", json_string(nbc->name));
		if (nbc->opts.hostnqn[0] != '\0') {
			usk_json_set(p, "hostnqn", json_string(nbc->opts.hostnqn));
		}
		if (t->trtype != USK_NVME_TRANSPORT_PCIE) {
			usk_json_set(p, "hdgst", json_boolean(nbc->opts.hdgst));
			usk_json_set(p, "ddgst", json_boolean(nbc->opts.ddgst));
		}
		usk_json_set(p, "ctrlr_loss_timeout_sec",
			     json_integer(nbc->opts.ctrlr_loss_timeout_sec));
		usk_json_set(p, "reconnect_delay_sec", json_integer(nbc->opts.reconnect_delay_sec));
		usk_json_set(p, "fast_io_fail_timeout_sec",
			     json_integer(nbc->opts.fast_io_fail_timeout_sec));
		json_array_append_new(config,
				      json_pack("{s:s,s:o}", "method",
						"bdev_nvme_attach_controller", "params", p));
	}
	return 0;
}
