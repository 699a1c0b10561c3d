/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bdev I/O slow paths: splitting (optimal_io_boundary, max_segment_size, max_num_segments,
 * max_rw_size), write_zeroes emulation, reset (freeze, drain, module reset, unfreeze), abort,
 * and the completion of children / parents / QoS-forwarded I/O.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"

/* A reset gives up waiting for in-flight I/O after this long and lets the module abort it. */
#define BDEV_RESET_DRAIN_TIMEOUT_SEC 5
#define BDEV_RESET_POLL_US	     100

static void bdev_split_next(struct usk_bdev_io *parent);
static void bdev_wz_next(struct usk_bdev_io *parent);

/* ---- splitting ---- */

bool
bdev_io_should_split(struct usk_bdev_io *io)
{
	struct usk_bdev *bdev = io->bdev;
	uint64_t off = io->u.bdev.offset_blocks, n = io->u.bdev.num_blocks;
	int i;

	if (io->type != USK_BDEV_IO_TYPE_READ && io->type != USK_BDEV_IO_TYPE_WRITE) {
		return false;
	}
	if (io->u.bdev.iovcnt <= 0 || io->u.bdev.iovs[0].iov_base == NULL) {
		/* The module will supply a single buffer: nothing to split along. */
		return false;
	}
	if (bdev->split_on_optimal_io_boundary && bdev->optimal_io_boundary) {
		uint32_t b = bdev->optimal_io_boundary;

		if (off / b != (off + n - 1) / b) {
			return true;
		}
	}
	if (bdev->max_rw_size && n > bdev->max_rw_size) {
		return true;
	}
	if (bdev->max_num_segments && (uint32_t)io->u.bdev.iovcnt > bdev->max_num_segments) {
		return true;
	}
	if (bdev->max_segment_size) {
		for (i = 0; i < io->u.bdev.iovcnt; i++) {
			if (io->u.bdev.iovs[i].iov_len > bdev->max_segment_size) {
				return true;
			}
		}
	}
	return false;
}

static void
split_wait_cb(void *arg)
{
	struct usk_bdev_io *parent = arg;

	if (parent->type == USK_BDEV_IO_TYPE_WRITE_ZEROES) {
		bdev_wz_next(parent);
	} else {
		bdev_split_next(parent);
	}
}

static void
parent_wait_for_io(struct usk_bdev_io *parent)
{
	struct usk_bdev_io_wait_entry *e = &parent->internal.waitq_entry;

	e->bdev = parent->bdev;
	e->cb_fn = split_wait_cb;
	e->cb_arg = parent;
	bdev_mgmt_queue_wait(parent->internal.ch->mgmt, e);
}

static void
parent_finish(struct usk_bdev_io *parent)
{
	bdev_io_complete_deferred(parent, (enum usk_bdev_io_status)parent->internal.split_status);
}

void
bdev_io_split(struct usk_bdev_io *parent)
{
	parent->internal.flags |= BDEV_IO_F_PARENT;
	parent->internal.split_remaining_blocks = parent->u.bdev.num_blocks;
	parent->internal.split_current_offset = parent->u.bdev.offset_blocks;
	parent->internal.split_iov_idx = 0;
	parent->internal.split_iov_off = 0;
	parent->internal.split_outstanding = 0;
	parent->internal.split_status = USK_BDEV_IO_STATUS_SUCCESS;
	bdev_split_next(parent);
}

/* Issue as many children as the child iovec array allows. */
static void
bdev_split_next(struct usk_bdev_io *parent)
{
	struct usk_bdev *bdev = parent->bdev;
	struct usk_bdev_io_internal *pi = &parent->internal;
	const struct iovec *iovs = parent->u.bdev.iovs;
	int iovcnt = parent->u.bdev.iovcnt;
	uint32_t bs = bdev->blocklen;
	uint32_t used = 0;

	while (pi->split_remaining_blocks > 0 && used < USK_BDEV_IO_NUM_CHILD_IOV &&
	       pi->split_status == USK_BDEV_IO_STATUS_SUCCESS) {
		uint64_t max_blocks = pi->split_remaining_blocks, want, got = 0, trim;
		uint32_t max_segs = USK_BDEV_IO_NUM_CHILD_IOV - used, n = 0;
		struct iovec *civ = &pi->child_iov[used];
		struct usk_bdev_io *child;
		int idx = pi->split_iov_idx;
		uint64_t off = pi->split_iov_off;

		if (bdev->split_on_optimal_io_boundary && bdev->optimal_io_boundary) {
			uint64_t b = bdev->optimal_io_boundary;

			max_blocks = USK_MIN(max_blocks, b - (pi->split_current_offset % b));
		}
		if (bdev->max_rw_size) {
			max_blocks = USK_MIN(max_blocks, (uint64_t)bdev->max_rw_size);
		}
		if (bdev->max_num_segments) {
			max_segs = USK_MIN(max_segs, bdev->max_num_segments);
		}
		want = max_blocks * bs;
		while (got < want && n < max_segs && idx < iovcnt) {
			uint64_t len = USK_MIN(iovs[idx].iov_len - off, want - got);

			if (bdev->max_segment_size) {
				len = USK_MIN(len, (uint64_t)bdev->max_segment_size);
			}
			civ[n].iov_base = (uint8_t *)iovs[idx].iov_base + off;
			civ[n].iov_len = len;
			n++;
			got += len;
			off += len;
			if (off == iovs[idx].iov_len) {
				idx++;
				off = 0;
			}
		}
		if (got < want) {
			/* Out of segments: the child must still be whole blocks. */
			trim = got % bs;
			got -= trim;
			while (trim > 0) {
				struct iovec *last = &civ[n - 1];

				if (last->iov_len <= trim) {
					trim -= last->iov_len;
					n--;
				} else {
					last->iov_len -= trim;
					trim = 0;
				}
			}
			if (got == 0) {
				if (used > 0 && idx < iovcnt) {
					break; /* continue once this round's children are done */
				}
				USK_ERRLOG("bdev %s: cannot split I/O into whole blocks within the "
					   "segment limits (or iovecs shorter than the I/O)\n",
					   bdev->name);
				pi->split_status = USK_BDEV_IO_STATUS_FAILED;
				break;
			}
			/* Recompute the position after exactly got bytes. */
			idx = pi->split_iov_idx;
			off = pi->split_iov_off + got;
			while (idx < iovcnt && off >= iovs[idx].iov_len) {
				off -= iovs[idx].iov_len;
				idx++;
			}
		}
		child = bdev_io_alloc_internal(pi->ch, bdev, parent->type, NULL, parent);
		if (child == NULL) {
			if (pi->split_outstanding == 0) {
				parent_wait_for_io(parent);
			}
			return;
		}
		child->internal.flags = BDEV_IO_F_CHILD;
		child->internal.parent = parent;
		/* Each piece of a native FUA write is FUA itself. */
		child->u.bdev.fua = parent->u.bdev.fua;
		child->u.bdev.iovs = civ;
		child->u.bdev.iovcnt = (int)n;
		child->u.bdev.offset_blocks = pi->split_current_offset;
		child->u.bdev.num_blocks = got / bs;
		pi->split_iov_idx = idx;
		pi->split_iov_off = off;
		pi->split_current_offset += got / bs;
		pi->split_remaining_blocks -= got / bs;
		used += n;
		pi->split_outstanding++;
		bdev_io_submit(child);
	}
	if (pi->split_outstanding == 0) {
		parent_finish(parent);
	}
}

/* ---- write_zeroes emulation: writes of the shared zero buffer, one at a time ---- */

void
bdev_write_zeroes_emulate(struct usk_bdev_io *parent)
{
	parent->internal.flags |= BDEV_IO_F_PARENT;
	parent->internal.split_remaining_blocks = parent->u.bdev.num_blocks;
	parent->internal.split_current_offset = parent->u.bdev.offset_blocks;
	parent->internal.split_outstanding = 0;
	parent->internal.split_status = USK_BDEV_IO_STATUS_SUCCESS;
	bdev_wz_next(parent);
}

static void
bdev_wz_next(struct usk_bdev_io *parent)
{
	struct usk_bdev *bdev = parent->bdev;
	struct usk_bdev_io_internal *pi = &parent->internal;
	uint32_t bs = bdev->blocklen;
	uint64_t max_bytes = BDEV_ZERO_BUFFER_SIZE, blocks;
	struct usk_bdev_io *child;

	if (pi->split_remaining_blocks == 0 || pi->split_status != USK_BDEV_IO_STATUS_SUCCESS) {
		parent_finish(parent);
		return;
	}
	if (bdev->max_segment_size) {
		max_bytes = USK_MIN(max_bytes, (uint64_t)bdev->max_segment_size);
	}
	blocks = USK_MIN(max_bytes / bs, pi->split_remaining_blocks);
	if (bdev->split_on_optimal_io_boundary && bdev->optimal_io_boundary) {
		uint64_t b = bdev->optimal_io_boundary;

		blocks = USK_MIN(blocks, b - (pi->split_current_offset % b));
	}
	if (bdev->max_rw_size) {
		blocks = USK_MIN(blocks, (uint64_t)bdev->max_rw_size);
	}
	if (blocks == 0) {
		USK_ERRLOG("bdev %s: block size %u too large for write_zeroes emulation\n",
			   bdev->name, bs);
		pi->split_status = USK_BDEV_IO_STATUS_FAILED;
		parent_finish(parent);
		return;
	}
	child = bdev_io_alloc_internal(pi->ch, bdev, USK_BDEV_IO_TYPE_WRITE, NULL, parent);
	if (child == NULL) {
		parent_wait_for_io(parent);
		return;
	}
	child->internal.flags = BDEV_IO_F_CHILD;
	child->internal.parent = parent;
	child->u.bdev.iov.iov_base = g_bdev_mgr.zero_buffer;
	child->u.bdev.iov.iov_len = blocks * bs;
	child->u.bdev.iovs = &child->u.bdev.iov;
	child->u.bdev.iovcnt = 1;
	child->u.bdev.offset_blocks = pi->split_current_offset;
	child->u.bdev.num_blocks = blocks;
	pi->split_current_offset += blocks;
	pi->split_remaining_blocks -= blocks;
	pi->split_outstanding++;
	bdev_io_submit(child);
}

/* A child finished: record its status, continue or finish the parent. */
static void
bdev_child_done(struct usk_bdev_io *child)
{
	struct usk_bdev_io *parent = child->internal.parent;
	struct usk_bdev_io_internal *pi = &parent->internal;

	if (child->internal.status != USK_BDEV_IO_STATUS_SUCCESS &&
	    pi->split_status == USK_BDEV_IO_STATUS_SUCCESS) {
		pi->split_status = child->internal.status;
		pi->nvme_cdw0 = child->internal.nvme_cdw0;
		pi->nvme_sct = child->internal.nvme_sct;
		pi->nvme_sc = child->internal.nvme_sc;
		pi->aio_errno = child->internal.aio_errno;
	}
	usk_bdev_free_io(child);
	if (--pi->split_outstanding > 0) {
		return;
	}
	if (parent->type == USK_BDEV_IO_TYPE_WRITE_ZEROES) {
		bdev_wz_next(parent);
	} else if (pi->split_remaining_blocks > 0 &&
		   pi->split_status == USK_BDEV_IO_STATUS_SUCCESS) {
		bdev_split_next(parent);
	} else {
		parent->internal.status = pi->split_status;
		bdev_io_complete_final(parent);
	}
}

/* ---- reset ---- */

static void bdev_reset_start(struct usk_bdev_io *reset);
static void reset_walk(struct usk_bdev_io *reset, usk_channel_msg fn,
		       usk_channel_for_each_cpl done);

static struct usk_bdev_channel *
iter_bch(struct usk_io_channel_iter *i)
{
	return bdev_ch_from_io_channel(usk_io_channel_iter_get_channel(i));
}

static void
reset_freeze_ch(struct usk_io_channel_iter *i)
{
	struct usk_bdev_channel *bch = iter_bch(i);

	bch->flags |= BDEV_CH_RESET_IN_PROGRESS;
	bdev_channel_abort_queued(bch, &bch->nomem_head, &bch->nomem_tail, NULL, false);
	bdev_qos_abort_queued(bch, NULL);
	usk_for_each_channel_continue(i, 0);
}

static void
reset_unfreeze_ch(struct usk_io_channel_iter *i)
{
	iter_bch(i)->flags &= ~BDEV_CH_RESET_IN_PROGRESS;
	usk_for_each_channel_continue(i, 0);
}

static void
reset_next_msg(void *ctx)
{
	bdev_reset_start(ctx);
}

static void
reset_unfreeze_done(struct usk_io_channel_iter *i, int status)
{
	struct usk_bdev_io *reset = usk_io_channel_iter_get_ctx(i);
	struct usk_bdev_internal *bi = reset->bdev->internal;
	struct usk_bdev_io *next;

	pthread_mutex_lock(&bi->mutex);
	next = bdev_io_fifo_pop(&bi->queued_resets_head, &bi->queued_resets_tail);
	bi->reset_in_progress = next;
	pthread_mutex_unlock(&bi->mutex);
	reset->internal.flags |= BDEV_IO_F_RESET_DONE;
	bdev_io_complete_final(reset);
	if (next) {
		if (usk_thread_send_msg(next->internal.ch->thread, reset_next_msg, next) != 0) {
			USK_ERRLOG("could not start a queued reset\n");
		}
	}
}

static void
bdev_reset_unfreeze(struct usk_bdev_io *reset)
{
	reset_walk(reset, reset_unfreeze_ch, reset_unfreeze_done);
}

static void reset_check_drain(struct usk_bdev_io *reset);

static int
reset_retry_poll(void *ctx)
{
	struct usk_bdev_io *reset = ctx;

	usk_poller_unregister(&reset->bdev->internal->reset_poller);
	reset_check_drain(reset);
	return USK_POLLER_BUSY;
}

static void
reset_check_ch(struct usk_io_channel_iter *i)
{
	usk_for_each_channel_continue(i, iter_bch(i)->io_outstanding ? -EBUSY : 0);
}

static void
reset_check_done(struct usk_io_channel_iter *i, int status)
{
	struct usk_bdev_io *reset = usk_io_channel_iter_get_ctx(i);
	struct usk_bdev *bdev = reset->bdev;
	struct usk_bdev_internal *bi = bdev->internal;

	if (status == -EBUSY && usk_get_ticks() - bi->reset_start_tsc <
					BDEV_RESET_DRAIN_TIMEOUT_SEC * usk_get_ticks_hz()) {
		bi->reset_poller = usk_poller_register_named(
			reset_retry_poll, reset, BDEV_RESET_POLL_US, "bdev_reset_drain");
		if (bi->reset_poller) {
			return;
		}
	}
	if (bdev->fn_table->io_type_supported(bdev->ctxt, USK_BDEV_IO_TYPE_RESET)) {
		/* The module aborts whatever is still in flight (after a timeout). */
		bdev_io_do_submit(reset->internal.ch, reset);
		return;
	}
	reset->internal.status = USK_BDEV_IO_STATUS_SUCCESS;
	bdev_reset_unfreeze(reset);
}

static void
reset_check_drain(struct usk_bdev_io *reset)
{
	reset_walk(reset, reset_check_ch, reset_check_done);
}

static void
reset_freeze_done(struct usk_io_channel_iter *i, int status)
{
	struct usk_bdev_io *reset = usk_io_channel_iter_get_ctx(i);

	reset->bdev->internal->reset_start_tsc = usk_get_ticks();
	reset_check_drain(reset);
}

static int
reset_walk_retry_poll(void *ctx)
{
	struct usk_bdev_io *reset = ctx;
	struct usk_bdev_internal *bi = reset->bdev->internal;

	usk_poller_unregister(&bi->reset_poller);
	reset_walk(reset, bi->reset_walk_fn, bi->reset_walk_done);
	return USK_POLLER_BUSY;
}

/* One step of the reset over every channel; retried later if the walk cannot start. */
static void
reset_walk(struct usk_bdev_io *reset, usk_channel_msg fn, usk_channel_for_each_cpl done)
{
	struct usk_bdev_internal *bi = reset->bdev->internal;
	int rc;

	rc = usk_for_each_channel(bdev_io_device(reset->bdev), fn, reset, done);
	if (rc == 0) {
		return;
	}
	if (rc == -ENOMEM) {
		bi->reset_walk_fn = fn;
		bi->reset_walk_done = done;
		bi->reset_poller = usk_poller_register_named(
			reset_walk_retry_poll, reset, BDEV_RESET_POLL_US, "bdev_reset_retry");
		if (bi->reset_poller != NULL) {
			return;
		}
	}
	USK_ERRLOG("reset of bdev %s cannot go on: %s\n", reset->bdev->name, strerror(-rc));
}

static void
bdev_reset_start(struct usk_bdev_io *reset)
{
	reset_walk(reset, reset_freeze_ch, reset_freeze_done);
}

int
usk_bdev_reset(struct usk_bdev_desc *desc, struct usk_io_channel *ch, usk_bdev_io_completion_cb cb,
	       void *cb_arg)
{
	struct usk_bdev *bdev = desc->bdev;
	struct usk_bdev_internal *bi = bdev->internal;
	struct usk_bdev_channel *bch = bdev_ch_from_io_channel(ch);
	struct usk_bdev_io *reset;
	bool queued = false;

	reset = bdev_io_alloc_internal(bch, bdev, USK_BDEV_IO_TYPE_RESET, cb, cb_arg);
	if (reset == NULL) {
		return -ENOMEM;
	}
	reset->internal.flags = BDEV_IO_F_PARENT;
	reset->internal.submit_tsc = usk_thread_get_last_tsc(bch->thread);
	reset->u.bdev.iovs = NULL;
	reset->u.bdev.iovcnt = 0;
	reset->u.bdev.offset_blocks = 0;
	reset->u.bdev.num_blocks = 0;
	bch->user_inflight++;
	pthread_mutex_lock(&bi->mutex);
	if (bi->reset_in_progress) {
		bdev_io_fifo_push(&bi->queued_resets_head, &bi->queued_resets_tail, reset);
		queued = true;
	} else {
		bi->reset_in_progress = reset;
	}
	pthread_mutex_unlock(&bi->mutex);
	if (!queued) {
		bdev_reset_start(reset);
	}
	return 0;
}

/* ---- abort ---- */

int
usk_bdev_abort(struct usk_bdev_desc *desc, struct usk_io_channel *ch, void *bio_cb_arg,
	       usk_bdev_io_completion_cb cb, void *cb_arg)
{
	struct usk_bdev_channel *bch = bdev_ch_from_io_channel(ch);
	struct usk_bdev_io *io;
	uint32_t count;

	if (bio_cb_arg == NULL) {
		return -EINVAL;
	}
	io = bdev_io_alloc_internal(bch, desc->bdev, USK_BDEV_IO_TYPE_ABORT, cb, cb_arg);
	if (io == NULL) {
		return -ENOMEM;
	}
	io->internal.flags = BDEV_IO_F_PARENT;
	io->internal.submit_tsc = usk_thread_get_last_tsc(bch->thread);
	io->u.abort.bio_to_abort = NULL;
	bch->user_inflight++;
	/* I/O not yet in the module (NOMEM retry queue, QoS queue) is aborted here; I/O the
	 * module holds completes on its own. */
	count = bdev_channel_abort_queued(bch, &bch->nomem_head, &bch->nomem_tail, bio_cb_arg,
					  false);
	count += bdev_qos_abort_queued(bch, bio_cb_arg);
	bdev_io_complete_deferred(io, count > 0 ? USK_BDEV_IO_STATUS_SUCCESS :
						  USK_BDEV_IO_STATUS_FAILED);
	return 0;
}

/* ---- FUA emulation: the write is done, a flush makes it durable ---- */

static void bdev_fua_flush(struct usk_bdev_io *parent);

static void
fua_flush_wait_cb(void *arg)
{
	bdev_fua_flush(arg);
}

/*
 * Issue the flush that follows a successful FUA write (BDEV_IO_F_FUA_EMU). It runs as the
 * parent's only child, so bdev_child_done completes the write with the flush's status. The
 * write completed before the flush was submitted, so the sync that serves the flush covers it.
 */
static void
bdev_fua_flush(struct usk_bdev_io *parent)
{
	struct usk_bdev_io_internal *pi = &parent->internal;
	struct usk_bdev_io *child;

	child = bdev_io_alloc_internal(pi->ch, parent->bdev, USK_BDEV_IO_TYPE_FLUSH, NULL, parent);
	if (child == NULL) {
		struct usk_bdev_io_wait_entry *e = &pi->waitq_entry;

		e->bdev = parent->bdev;
		e->cb_fn = fua_flush_wait_cb;
		e->cb_arg = parent;
		bdev_mgmt_queue_wait(pi->ch->mgmt, e);
		return;
	}
	child->internal.flags = BDEV_IO_F_CHILD;
	child->internal.parent = parent;
	child->u.bdev.iovs = NULL;
	child->u.bdev.iovcnt = 0;
	child->u.bdev.offset_blocks = parent->u.bdev.offset_blocks;
	child->u.bdev.num_blocks = parent->u.bdev.num_blocks;
	pi->split_outstanding = 1;
	pi->split_remaining_blocks = 0;
	pi->split_status = USK_BDEV_IO_STATUS_SUCCESS;
	bdev_io_submit(child);
}

/* ---- special completions ---- */

static void
qos_fwd_done_msg(void *ctx)
{
	bdev_io_complete_final(ctx);
}

bool
bdev_io_complete_special(struct usk_bdev_io *io)
{
	uint8_t flags = io->internal.flags;

	if (flags & BDEV_IO_F_QOS_FWD) {
		/* Completed on the QoS thread: finish on the thread it was submitted on. */
		io->internal.flags &= ~BDEV_IO_F_QOS_FWD;
		io->internal.ch = io->internal.io_submit_ch;
		if (usk_thread_send_msg(io->internal.ch->thread, qos_fwd_done_msg, io) != 0) {
			USK_ERRLOG("no message to return a QoS I/O to its thread\n");
			return false;
		}
		return true;
	}
	if (flags & BDEV_IO_F_CHILD) {
		bdev_child_done(io);
		return true;
	}
	if (flags & BDEV_IO_F_FUA_EMU) {
		/* On the submitting thread now (QoS forwarding is undone above). */
		io->internal.flags &= ~BDEV_IO_F_FUA_EMU;
		if (io->internal.status == USK_BDEV_IO_STATUS_SUCCESS) {
			bdev_fua_flush(io);
			return true;
		}
		return false; /* the write failed: nothing to make durable */
	}
	if (io->type == USK_BDEV_IO_TYPE_RESET && !(flags & BDEV_IO_F_RESET_DONE)) {
		bdev_reset_unfreeze(io);
		return true;
	}
	return false;
}

/* ---- statistics ---- */

void
bdev_stat_reset(struct usk_bdev_io_stat *stat, enum usk_bdev_reset_stat_mode mode)
{
	if (mode == USK_BDEV_RESET_STAT_ALL) {
		memset(stat, 0, sizeof(*stat));
	}
	stat->max_read_latency_ticks = 0;
	stat->max_write_latency_ticks = 0;
	stat->max_unmap_latency_ticks = 0;
	stat->max_copy_latency_ticks = 0;
	stat->min_read_latency_ticks = UINT64_MAX;
	stat->min_write_latency_ticks = UINT64_MAX;
	stat->min_unmap_latency_ticks = UINT64_MAX;
	stat->min_copy_latency_ticks = UINT64_MAX;
}

void
bdev_stat_add(struct usk_bdev_io_stat *t, const struct usk_bdev_io_stat *a)
{
	int i;

	t->bytes_read += a->bytes_read;
	t->num_read_ops += a->num_read_ops;
	t->bytes_written += a->bytes_written;
	t->num_write_ops += a->num_write_ops;
	t->bytes_unmapped += a->bytes_unmapped;
	t->num_unmap_ops += a->num_unmap_ops;
	t->bytes_copied += a->bytes_copied;
	t->num_copy_ops += a->num_copy_ops;
	t->read_latency_ticks += a->read_latency_ticks;
	t->write_latency_ticks += a->write_latency_ticks;
	t->unmap_latency_ticks += a->unmap_latency_ticks;
	t->copy_latency_ticks += a->copy_latency_ticks;
	t->max_read_latency_ticks = USK_MAX(t->max_read_latency_ticks, a->max_read_latency_ticks);
	t->max_write_latency_ticks =
		USK_MAX(t->max_write_latency_ticks, a->max_write_latency_ticks);
	t->max_unmap_latency_ticks =
		USK_MAX(t->max_unmap_latency_ticks, a->max_unmap_latency_ticks);
	t->max_copy_latency_ticks = USK_MAX(t->max_copy_latency_ticks, a->max_copy_latency_ticks);
	t->min_read_latency_ticks = USK_MIN(t->min_read_latency_ticks, a->min_read_latency_ticks);
	t->min_write_latency_ticks =
		USK_MIN(t->min_write_latency_ticks, a->min_write_latency_ticks);
	t->min_unmap_latency_ticks =
		USK_MIN(t->min_unmap_latency_ticks, a->min_unmap_latency_ticks);
	t->min_copy_latency_ticks = USK_MIN(t->min_copy_latency_ticks, a->min_copy_latency_ticks);
	for (i = 0; i < USK_BDEV_NUM_IO_TYPES; i++) {
		t->io_error[i] += a->io_error[i];
	}
	usk_histogram_merge(&t->read_latency_hist, &a->read_latency_hist);
	usk_histogram_merge(&t->write_latency_hist, &a->write_latency_hist);
}

void
usk_bdev_get_io_stat(struct usk_bdev *bdev, struct usk_io_channel *ch,
		     struct usk_bdev_io_stat *stat)
{
	struct usk_bdev_channel *bch = bdev_ch_from_io_channel(ch);

	*stat = bch->stat;
	stat->ticks_rate = usk_get_ticks_hz();
}

struct device_stat_ctx {
	struct usk_bdev *bdev;
	struct usk_bdev_io_stat *stat;
	usk_bdev_get_device_stat_cb cb_fn;
	usk_bdev_reset_device_stat_cb reset_cb;
	enum usk_bdev_reset_stat_mode mode;
	void *cb_arg;
};

static void
device_stat_ch(struct usk_io_channel_iter *i)
{
	struct device_stat_ctx *ctx = usk_io_channel_iter_get_ctx(i);

	bdev_stat_add(ctx->stat, &iter_bch(i)->stat);
	usk_for_each_channel_continue(i, 0);
}

static void
device_stat_done(struct usk_io_channel_iter *i, int status)
{
	struct device_stat_ctx *ctx = usk_io_channel_iter_get_ctx(i);

	ctx->stat->ticks_rate = usk_get_ticks_hz();
	ctx->cb_fn(ctx->bdev, ctx->stat, ctx->cb_arg, status);
	free(ctx);
}

void
usk_bdev_get_device_stat(struct usk_bdev *bdev, struct usk_bdev_io_stat *stat,
			 usk_bdev_get_device_stat_cb cb_fn, void *cb_arg)
{
	struct usk_bdev_internal *bi = bdev->internal;
	struct device_stat_ctx *ctx = calloc(1, sizeof(*ctx));
	int rc;

	if (ctx == NULL) {
		cb_fn(bdev, stat, cb_arg, -ENOMEM);
		return;
	}
	ctx->bdev = bdev;
	ctx->stat = stat;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	pthread_mutex_lock(&bi->mutex);
	*stat = bi->stat_closed;
	pthread_mutex_unlock(&bi->mutex);
	rc = usk_for_each_channel(bdev_io_device(bdev), device_stat_ch, ctx, device_stat_done);
	if (rc != 0) {
		free(ctx);
		cb_fn(bdev, stat, cb_arg, rc);
	}
}

static void
reset_stat_ch(struct usk_io_channel_iter *i)
{
	struct device_stat_ctx *ctx = usk_io_channel_iter_get_ctx(i);

	bdev_stat_reset(&iter_bch(i)->stat, ctx->mode);
	usk_for_each_channel_continue(i, 0);
}

static void
reset_stat_done(struct usk_io_channel_iter *i, int status)
{
	struct device_stat_ctx *ctx = usk_io_channel_iter_get_ctx(i);

	if (ctx->reset_cb) {
		ctx->reset_cb(ctx->bdev, ctx->cb_arg, status);
	}
	free(ctx);
}

void
usk_bdev_reset_device_stat(struct usk_bdev *bdev, enum usk_bdev_reset_stat_mode mode,
			   usk_bdev_reset_device_stat_cb cb_fn, void *cb_arg)
{
	struct usk_bdev_internal *bi = bdev->internal;
	struct device_stat_ctx *ctx = calloc(1, sizeof(*ctx));
	int rc;

	if (ctx == NULL) {
		if (cb_fn) {
			cb_fn(bdev, cb_arg, -ENOMEM);
		}
		return;
	}
	ctx->bdev = bdev;
	ctx->mode = mode;
	ctx->reset_cb = cb_fn;
	ctx->cb_arg = cb_arg;
	pthread_mutex_lock(&bi->mutex);
	bdev_stat_reset(&bi->stat_closed, mode);
	pthread_mutex_unlock(&bi->mutex);
	rc = usk_for_each_channel(bdev_io_device(bdev), reset_stat_ch, ctx, reset_stat_done);
	if (rc != 0) {
		free(ctx);
		if (cb_fn) {
			cb_fn(bdev, cb_arg, rc);
		}
	}
}

/* ---- latency histograms on / off ---- */

struct histogram_enable_ctx {
	bool enable;
	void (*cb_fn)(void *cb_arg, int status);
	void *cb_arg;
};

static void
histogram_enable_ch(struct usk_io_channel_iter *i)
{
	struct histogram_enable_ctx *ctx = usk_io_channel_iter_get_ctx(i);
	struct usk_bdev_channel *bch = iter_bch(i);

	if (ctx->enable) {
		bch->flags &= ~BDEV_CH_NO_HISTOGRAM;
	} else {
		bch->flags |= BDEV_CH_NO_HISTOGRAM;
	}
	usk_for_each_channel_continue(i, 0);
}

static void
histogram_enable_done(struct usk_io_channel_iter *i, int status)
{
	struct histogram_enable_ctx *ctx = usk_io_channel_iter_get_ctx(i);

	if (ctx->cb_fn) {
		ctx->cb_fn(ctx->cb_arg, status);
	}
	free(ctx);
}

void
usk_bdev_histogram_enable(struct usk_bdev *bdev, bool enable,
			  void (*cb_fn)(void *cb_arg, int status), void *cb_arg)
{
	struct usk_bdev_internal *bi = bdev->internal;
	struct histogram_enable_ctx *ctx = calloc(1, sizeof(*ctx));
	int rc;

	if (ctx == NULL) {
		if (cb_fn) {
			cb_fn(cb_arg, -ENOMEM);
		}
		return;
	}
	ctx->enable = enable;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	__atomic_store_n(&bi->histogram_off, !enable, __ATOMIC_RELAXED);
	rc = usk_for_each_channel(bdev_io_device(bdev), histogram_enable_ch, ctx,
				  histogram_enable_done);
	if (rc != 0) {
		free(ctx);
		if (cb_fn) {
			cb_fn(cb_arg, rc);
		}
	}
}

bool
usk_bdev_histogram_is_enabled(struct usk_bdev *bdev)
{
	struct usk_bdev_internal *bi = bdev->internal;

	return !__atomic_load_n(&bi->histogram_off, __ATOMIC_RELAXED);
}
