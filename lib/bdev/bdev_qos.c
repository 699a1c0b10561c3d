/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bdev QoS: rate limits (IOPS, bytes/s total, read, write) enforced on one thread per bdev (the
 * first channel's), with a 1 ms timeslice poller, as SPDK does. I/O from other channels is
 * forwarded to the QoS thread by message and its completion sent back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "usk/json.h"

struct bdev_qos {
	/* Configured limits per second (0 = unlimited); written on the app thread before the
	 * channels are told (by message) to use them. */
	uint64_t limits[USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	/* Below: owned by the QoS thread. thread is read by other threads (atomic load). */
	struct usk_thread *thread;
	struct usk_bdev_channel *ch;
	struct usk_bdev_io *head;
	struct usk_bdev_io *tail;
	int64_t remaining[USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	int64_t max_per_slice[USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	struct usk_poller *poller;
};

static const char *const g_qos_rpc_names[USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES] = {
	"rw_ios_per_sec",
	"rw_mbytes_per_sec",
	"r_mbytes_per_sec",
	"w_mbytes_per_sec",
};

const char *
usk_bdev_get_qos_rpc_type(enum usk_bdev_qos_rate_limit_type type)
{
	return (unsigned)type < USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES ? g_qos_rpc_names[type] : NULL;
}

static bool
qos_any(const struct bdev_qos *qos)
{
	int i;

	for (i = 0; i < USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		if (qos->limits[i]) {
			return true;
		}
	}
	return false;
}

static void
qos_compute_slices(struct bdev_qos *qos)
{
	uint64_t per_slice;
	int i;

	for (i = 0; i < USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		if (qos->limits[i] == 0) {
			qos->max_per_slice[i] = 0;
			qos->remaining[i] = 0;
			continue;
		}
		per_slice = qos->limits[i] * BDEV_QOS_TIMESLICE_US / USK_SEC_TO_USEC;
		if (i == USK_BDEV_QOS_RW_IOPS_RATE_LIMIT) {
			per_slice = USK_MAX(per_slice, 1u);
		} else {
			per_slice = USK_MAX(per_slice, 512u);
		}
		qos->max_per_slice[i] = (int64_t)per_slice;
		qos->remaining[i] = (int64_t)per_slice;
	}
}

static bool
qos_allows(const struct bdev_qos *qos, const struct usk_bdev_io *io)
{
	bool is_read = io->type == USK_BDEV_IO_TYPE_READ;
	bool is_write = io->type == USK_BDEV_IO_TYPE_WRITE;

	if (qos->max_per_slice[USK_BDEV_QOS_RW_IOPS_RATE_LIMIT] &&
	    qos->remaining[USK_BDEV_QOS_RW_IOPS_RATE_LIMIT] <= 0) {
		return false;
	}
	if (qos->max_per_slice[USK_BDEV_QOS_RW_BPS_RATE_LIMIT] && (is_read || is_write) &&
	    qos->remaining[USK_BDEV_QOS_RW_BPS_RATE_LIMIT] <= 0) {
		return false;
	}
	if (qos->max_per_slice[USK_BDEV_QOS_R_BPS_RATE_LIMIT] && is_read &&
	    qos->remaining[USK_BDEV_QOS_R_BPS_RATE_LIMIT] <= 0) {
		return false;
	}
	if (qos->max_per_slice[USK_BDEV_QOS_W_BPS_RATE_LIMIT] && is_write &&
	    qos->remaining[USK_BDEV_QOS_W_BPS_RATE_LIMIT] <= 0) {
		return false;
	}
	return true;
}

static void
qos_account(struct bdev_qos *qos, const struct usk_bdev_io *io)
{
	int64_t bytes = 0;

	if (io->type == USK_BDEV_IO_TYPE_READ || io->type == USK_BDEV_IO_TYPE_WRITE) {
		bytes = (int64_t)(io->u.bdev.num_blocks * io->bdev->blocklen);
	}
	qos->remaining[USK_BDEV_QOS_RW_IOPS_RATE_LIMIT]--;
	qos->remaining[USK_BDEV_QOS_RW_BPS_RATE_LIMIT] -= bytes;
	if (io->type == USK_BDEV_IO_TYPE_READ) {
		qos->remaining[USK_BDEV_QOS_R_BPS_RATE_LIMIT] -= bytes;
	} else if (io->type == USK_BDEV_IO_TYPE_WRITE) {
		qos->remaining[USK_BDEV_QOS_W_BPS_RATE_LIMIT] -= bytes;
	}
}

static int
qos_dispatch(struct bdev_qos *qos)
{
	struct usk_bdev_io *io;
	int n = 0;

	while ((io = qos->head) != NULL && qos_allows(qos, io)) {
		bdev_io_fifo_pop(&qos->head, &qos->tail);
		qos_account(qos, io);
		bdev_io_do_submit(qos->ch, io);
		n++;
	}
	return n;
}

static int
qos_timeslice_poll(void *ctx)
{
	struct bdev_qos *qos = ctx;
	int i;

	for (i = 0; i < USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		if (qos->max_per_slice[i] == 0) {
			continue;
		}
		/* Unused quota does not carry over; overdraft (a large I/O) does. */
		if (qos->remaining[i] > 0) {
			qos->remaining[i] = 0;
		}
		qos->remaining[i] += qos->max_per_slice[i];
	}
	return qos_dispatch(qos) > 0 ? USK_POLLER_BUSY : USK_POLLER_IDLE;
}

/* On bch's thread, bdev mutex held: make bch the QoS channel. */
static void
qos_claim(struct bdev_qos *qos, struct usk_bdev_channel *bch)
{
	qos->ch = bch;
	qos_compute_slices(qos);
	qos->poller = usk_poller_register_named(qos_timeslice_poll, qos, BDEV_QOS_TIMESLICE_US,
						"bdev_qos_timeslice");
	__atomic_store_n(&qos->thread, bch->thread, __ATOMIC_RELEASE);
}

static void qos_enqueue(struct bdev_qos *qos, struct usk_bdev_io *io);

static void
qos_resubmit_msg(void *ctx)
{
	struct usk_bdev_io *io = ctx;
	struct usk_bdev_channel *bch = io->internal.ch;

	if (bch->flags & BDEV_CH_QOS_ENABLED) {
		bdev_qos_submit(bch, io);
	} else {
		bdev_io_do_submit(bch, io);
	}
}

/* Send a forwarded I/O back to the thread it came from, to be submitted again there. */
static void
qos_bounce(struct usk_bdev_io *io)
{
	io->internal.flags &= ~BDEV_IO_F_QOS_FWD;
	io->internal.ch = io->internal.io_submit_ch;
	if (usk_thread_send_msg(io->internal.ch->thread, qos_resubmit_msg, io) != 0) {
		USK_ERRLOG("no message to return an I/O from the QoS thread\n");
	}
}

static void
qos_fwd_submit_msg(void *ctx)
{
	struct usk_bdev_io *io = ctx;
	struct bdev_qos *qos = io->bdev->internal->qos;

	if (qos == NULL || qos->ch == NULL || qos->thread != usk_get_thread()) {
		qos_bounce(io); /* QoS moved or was disabled meanwhile */
		return;
	}
	io->internal.ch = qos->ch;
	qos_enqueue(qos, io);
}

static void
qos_enqueue(struct bdev_qos *qos, struct usk_bdev_io *io)
{
	bdev_io_fifo_push(&qos->head, &qos->tail, io);
	qos_dispatch(qos);
}

void
bdev_qos_submit(struct usk_bdev_channel *bch, struct usk_bdev_io *io)
{
	struct usk_bdev_internal *bi = bch->bdev->internal;
	struct bdev_qos *qos = bi->qos;
	struct usk_thread *thread = __atomic_load_n(&qos->thread, __ATOMIC_ACQUIRE);

	if (thread == NULL) {
		pthread_mutex_lock(&bi->mutex);
		if (qos->thread == NULL) {
			qos_claim(qos, bch);
		}
		thread = qos->thread;
		pthread_mutex_unlock(&bi->mutex);
	}
	if (thread == bch->thread) {
		qos_enqueue(qos, io);
		return;
	}
	io->internal.io_submit_ch = bch;
	io->internal.flags |= BDEV_IO_F_QOS_FWD;
	if (usk_thread_send_msg(thread, qos_fwd_submit_msg, io) != 0) {
		/* No message object: submit locally rather than lose the I/O. */
		io->internal.flags &= ~BDEV_IO_F_QOS_FWD;
		bdev_io_do_submit(bch, io);
	}
}

void
bdev_qos_channel_init(struct usk_bdev_channel *bch)
{
	struct usk_bdev_internal *bi = bch->bdev->internal;
	struct bdev_qos *qos = bi->qos;

	if (qos == NULL || !qos_any(qos)) {
		return;
	}
	bch->flags |= BDEV_CH_QOS_ENABLED;
	pthread_mutex_lock(&bi->mutex);
	if (qos->thread == NULL) {
		qos_claim(qos, bch);
	}
	pthread_mutex_unlock(&bi->mutex);
}

/* On the QoS thread: stop being the QoS channel; queued I/O is submitted or sent back. */
static void
qos_release(struct bdev_qos *qos, bool destroying)
{
	struct usk_bdev_channel *ch = qos->ch;
	struct usk_bdev_io *io;

	usk_poller_unregister(&qos->poller);
	__atomic_store_n(&qos->thread, NULL, __ATOMIC_RELEASE);
	qos->ch = NULL;
	while ((io = bdev_io_fifo_pop(&qos->head, &qos->tail)) != NULL) {
		if (io->internal.flags & BDEV_IO_F_QOS_FWD) {
			qos_bounce(io);
		} else if (destroying) {
			io->internal.status = USK_BDEV_IO_STATUS_ABORTED;
			bdev_io_complete_final(io);
		} else {
			bdev_io_do_submit(ch, io);
		}
	}
}

void
bdev_qos_channel_destroy(struct usk_bdev_channel *bch)
{
	struct usk_bdev_internal *bi = bch->bdev->internal;
	struct bdev_qos *qos = bi->qos;

	if (qos == NULL) {
		return;
	}
	pthread_mutex_lock(&bi->mutex);
	if (qos->ch == bch) {
		qos_release(qos, true);
	}
	pthread_mutex_unlock(&bi->mutex);
}

uint32_t
bdev_qos_abort_queued(struct usk_bdev_channel *bch, void *bio_cb_arg)
{
	struct bdev_qos *qos = bch->bdev->internal->qos;
	struct usk_bdev_io *list, *io, *keep_head = NULL, *keep_tail = NULL;
	uint32_t count = 0;

	if (qos == NULL || qos->ch != bch) {
		return 0;
	}
	list = qos->head;
	qos->head = NULL;
	qos->tail = NULL;
	while ((io = list) != NULL) {
		struct usk_bdev_channel *orig = (io->internal.flags & BDEV_IO_F_QOS_FWD) ?
							io->internal.io_submit_ch :
							io->internal.ch;

		list = io->internal.link;
		if (bio_cb_arg == NULL || (io->internal.caller_ctx == bio_cb_arg && orig == bch)) {
			count++;
			bdev_io_complete_deferred(io, USK_BDEV_IO_STATUS_ABORTED);
		} else {
			bdev_io_fifo_push(&keep_head, &keep_tail, io);
		}
	}
	qos->head = keep_head;
	qos->tail = keep_tail;
	return count;
}

void
bdev_qos_destroy(struct usk_bdev *bdev)
{
	free(bdev->internal->qos);
	bdev->internal->qos = NULL;
}

void
usk_bdev_get_qos_rate_limits(struct usk_bdev *bdev, uint64_t *limits)
{
	struct bdev_qos *qos = bdev->internal->qos;
	int i;

	for (i = 0; i < USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		limits[i] = qos ? qos->limits[i] : 0;
	}
}

struct qos_update_ctx {
	struct usk_bdev *bdev;
	bool enabled;
	void (*cb_fn)(void *cb_arg, int status);
	void *cb_arg;
};

static void
qos_update_ch(struct usk_io_channel_iter *i)
{
	struct qos_update_ctx *ctx = usk_io_channel_iter_get_ctx(i);
	struct usk_bdev_channel *bch = bdev_ch_from_io_channel(usk_io_channel_iter_get_channel(i));
	struct usk_bdev_internal *bi = bch->bdev->internal;
	struct bdev_qos *qos = bi->qos;

	pthread_mutex_lock(&bi->mutex);
	if (ctx->enabled) {
		bch->flags |= BDEV_CH_QOS_ENABLED;
		if (qos->thread == NULL) {
			qos_claim(qos, bch);
		} else if (qos->ch == bch) {
			qos_compute_slices(qos);
			qos_dispatch(qos);
		}
	} else {
		bch->flags &= ~BDEV_CH_QOS_ENABLED;
		if (qos->ch == bch) {
			qos_release(qos, false);
		}
	}
	pthread_mutex_unlock(&bi->mutex);
	usk_for_each_channel_continue(i, 0);
}

static void
qos_update_done(struct usk_io_channel_iter *i, int status)
{
	struct qos_update_ctx *ctx = usk_io_channel_iter_get_ctx(i);

	if (ctx->cb_fn) {
		ctx->cb_fn(ctx->cb_arg, status);
	}
	free(ctx);
}

void
usk_bdev_set_qos_rate_limits(struct usk_bdev *bdev, uint64_t *limits,
			     void (*cb_fn)(void *cb_arg, int status), void *cb_arg)
{
	struct usk_bdev_internal *bi = bdev->internal;
	struct qos_update_ctx *ctx = calloc(1, sizeof(*ctx));
	int i, rc;

	if (ctx == NULL) {
		if (cb_fn) {
			cb_fn(cb_arg, -ENOMEM);
		}
		return;
	}
	pthread_mutex_lock(&bi->mutex);
	if (bi->qos == NULL) {
		bi->qos = calloc(1, sizeof(*bi->qos));
		if (bi->qos == NULL) {
			pthread_mutex_unlock(&bi->mutex);
			free(ctx);
			if (cb_fn) {
				cb_fn(cb_arg, -ENOMEM);
			}
			return;
		}
	}
	for (i = 0; i < USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		if (limits[i] != UINT64_MAX) {
			bi->qos->limits[i] = limits[i];
		}
	}
	ctx->enabled = qos_any(bi->qos);
	pthread_mutex_unlock(&bi->mutex);
	ctx->bdev = bdev;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	rc = usk_for_each_channel(bdev_io_device(bdev), qos_update_ch, ctx, qos_update_done);
	if (rc != 0) {
		/* The new limits are stored; channels pick them up with the next successful call.
		 */
		free(ctx);
		if (cb_fn) {
			cb_fn(cb_arg, rc);
		}
	}
}

void
bdev_qos_write_config(struct usk_bdev *bdev, json_t *config_array)
{
	struct bdev_qos *qos = bdev->internal->qos;
	json_t *params;
	int i;

	if (qos == NULL || !qos_any(qos)) {
		return;
	}
	params = json_object();
	usk_json_set(params, "name", json_string(bdev->name));
	for (i = 0; i < USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		uint64_t v = qos->limits[i];

		if (v == 0) {
			continue;
		}
		if (i != USK_BDEV_QOS_RW_IOPS_RATE_LIMIT) {
			v /= 1024 * 1024;
		}
		usk_json_set(params, g_qos_rpc_names[i], json_integer((json_int_t)v));
	}
	usk_json_config_add(config_array, "bdev_set_qos_limit", params);
}
