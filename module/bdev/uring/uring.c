/* SPDX-License-Identifier: BSD-3-Clause */
/* uring bdev module: a bdev on a file or block device driven with io_uring (liburing). */
#include <errno.h>
#include <liburing.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "usk/bdev_module.h"
#include "usk/json.h"
#include "usk/log.h"
#include "usk/thread.h"
#include "usk/util.h"

#include "uring.h"
#include "file_common.h"

/* SQ entries per ring, and the most I/O a channel keeps in flight (CQ is twice as large). */
#define URING_QUEUE_DEPTH 512
#define URING_REAP_BATCH  128

/*
 * Per (disk, thread). Invariant: inflight counts SQEs given to the kernel with io_uring_submit
 * plus npending SQEs filled since; inflight + npending <= URING_QUEUE_DEPTH, so the CQ
 * (2 * depth) never overflows. One of those is kept for the sync in flight (flushq).
 */
struct uring_channel {
	/* First: file_common's part. user_data of the IORING_OP_FSYNC in flight is &fc.flushq. */
	struct usk_file_channel fc;
	struct io_uring ring;
	uint32_t npending;
	uint32_t inflight;
	bool fixed_file;
	/* SQEs filled before the sync's and not submitted yet (while the sync is not started). */
	uint32_t sync_ahead;
	/* The reactor is pinned to one core, which its io-wq workers then share: see uring_poll. */
	bool yield_when_idle;
};

static int uring_get_ctx_size(void);

static struct usk_bdev_module g_uring_if = {
	.name = "uring",
	.get_ctx_size = uring_get_ctx_size,
};
USK_BDEV_MODULE_REGISTER(uring, &g_uring_if)

static int
uring_get_ctx_size(void)
{
	return sizeof(struct usk_file_io);
}

static inline struct uring_channel *
uring_ch(struct usk_file_channel *fc)
{
	return USK_CONTAINEROF(fc, struct uring_channel, fc);
}

/* ---------------------------------------------------------------- completions */

static int
uring_reap(struct uring_channel *ch)
{
	struct io_uring_cqe *cqes[URING_REAP_BATCH];
	unsigned n, total = 0;

	do {
		n = io_uring_peek_batch_cqe(&ch->ring, cqes, URING_REAP_BATCH);
		for (unsigned i = 0; i < n; i++) {
			struct usk_bdev_io *bdev_io = io_uring_cqe_get_data(cqes[i]);
			int res = cqes[i]->res;

			if (usk_unlikely((void *)bdev_io == &ch->fc.flushq)) {
				usk_file_channel_sync_done(&ch->fc, res < 0 ? res : 0);
				continue;
			}
			if (usk_likely(res >= 0 &&
				       (uint64_t)res == bdev_io->u.bdev.num_blocks *
								bdev_io->bdev->blocklen)) {
				usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_SUCCESS);
			} else {
				usk_bdev_io_complete_aio_status(bdev_io, res < 0 ? res : -EIO);
			}
		}
		if (n != 0) {
			/* CQEs are consumed before the completions above could submit more. */
			io_uring_cq_advance(&ch->ring, n);
			ch->inflight -= n;
			total += n;
		}
	} while (n == URING_REAP_BATCH);
	return (int)total;
}

static int
uring_flush(struct uring_channel *ch)
{
	int rc;

	rc = io_uring_submit(&ch->ring);
	if (rc < 0) {
		if (rc != -EAGAIN && rc != -EBUSY && rc != -EINTR) {
			USK_ERRLOG("uring %s: io_uring_submit failed: %s\n", ch->fc.disk->bdev.name,
				   strerror(-rc));
		}
		return 0;
	}
	if (usk_unlikely(ch->fc.flushq.sync_inflight && !ch->fc.flushq.sync_started)) {
		/* SQEs are consumed in the order they were filled. */
		if ((uint32_t)rc > ch->sync_ahead) {
			usk_file_flush_sync_started(&ch->fc.flushq);
		} else {
			ch->sync_ahead -= (uint32_t)rc;
		}
	}
	ch->inflight += (uint32_t)rc;
	ch->npending -= (uint32_t)rc;
	return rc;
}

static int
uring_poll(struct usk_file_channel *fc)
{
	struct uring_channel *ch = uring_ch(fc);
	int work = 0;

	if (ch->npending != 0) {
		work += uring_flush(ch);
	}
	if (ch->inflight != 0) {
		int n = uring_reap(ch);

		/*
		 * I/O the kernel cannot finish inline (e.g. any read on tmpfs, which has no
		 * FMODE_NOWAIT) is done by io-wq workers, which the kernel keeps on the reactor's
		 * core. A busy-polling reactor would leave them only the scraps of its time slice
		 * (one worker at ~45 %, 4519 io_uring_enter/3 s, 2x fewer IOPS than fio). With
		 * nothing to reap, give the core to them; with nothing else runnable,
		 * sched_yield returns at once.
		 */
		if (n == 0 && ch->yield_when_idle && !fc->intr_mode) {
			sched_yield();
		}
		work += n;
	}
	return work;
}

/* ---------------------------------------------------------------- submission */

static struct io_uring_sqe *
uring_get_sqe(struct uring_channel *ch)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ch->ring);

	if (usk_unlikely(sqe == NULL)) {
		uring_flush(ch);
		sqe = io_uring_get_sqe(&ch->ring);
	}
	return sqe;
}

/*
 * IORING_OP_FSYNC with IORING_FSYNC_DATASYNC: an io-wq worker runs the sync, the reactor only
 * reaps its CQE. The slot is reserved (uring_rw keeps one free), so an SQE is always there.
 */
static void
uring_start_sync(struct usk_file_channel *fc)
{
	struct uring_channel *ch = uring_ch(fc);
	struct io_uring_sqe *sqe = uring_get_sqe(ch);

	if (usk_unlikely(sqe == NULL)) {
		usk_file_channel_sync_done(fc, -EAGAIN);
		return;
	}
	io_uring_prep_fsync(sqe, ch->fixed_file ? 0 : fc->disk->fd, IORING_FSYNC_DATASYNC);
	if (ch->fixed_file) {
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	io_uring_sqe_set_data(sqe, &fc->flushq);
	ch->sync_ahead = ch->npending;
	ch->npending++;
	if (fc->intr_mode) {
		uring_flush(ch);
	}
}

static void
uring_rw(struct usk_file_channel *fc, struct usk_bdev_io *bdev_io, bool write)
{
	struct uring_channel *ch = uring_ch(fc);
	struct usk_file_disk *disk = fc->disk;
	struct io_uring_sqe *sqe;
	uint64_t offset = bdev_io->u.bdev.offset_blocks * disk->bdev.blocklen;
	struct iovec *iov = bdev_io->u.bdev.iovs;
	int fd = ch->fixed_file ? 0 : disk->fd;

	if (usk_unlikely(ch->inflight + ch->npending >= URING_QUEUE_DEPTH - 1)) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_NOMEM);
		return;
	}
	sqe = uring_get_sqe(ch);
	if (usk_unlikely(sqe == NULL)) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_NOMEM);
		return;
	}
	if (bdev_io->u.bdev.iovcnt == 1) {
		if (write) {
			io_uring_prep_write(sqe, fd, iov->iov_base, (unsigned)iov->iov_len, offset);
		} else {
			io_uring_prep_read(sqe, fd, iov->iov_base, (unsigned)iov->iov_len, offset);
		}
	} else if (write) {
		io_uring_prep_writev(sqe, fd, iov, (unsigned)bdev_io->u.bdev.iovcnt, offset);
	} else {
		io_uring_prep_readv(sqe, fd, iov, (unsigned)bdev_io->u.bdev.iovcnt, offset);
	}
	if (ch->fixed_file) {
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	io_uring_sqe_set_data(sqe, bdev_io);
	ch->npending++;
	if (fc->intr_mode) {
		/* No poller runs in interrupt mode: submit now; completions signal the eventfd. */
		uring_flush(ch);
	}
}

/* ---------------------------------------------------------------- channels */

/*
 * I/O the kernel cannot finish inline (e.g. O_DIRECT on tmpfs) goes to io-wq worker threads,
 * which inherit the reactor's single-core pinning. Ask for any online core; the kernel (6.18
 * measured) still keeps them within the reactor's own affinity, so a reactor pinned to one
 * core yields it when idle (uring_poll). Excluding the reactor's core instead would put the
 * workers on other reactors' busy-polling cores.
 */
static void
uring_set_worker_affinity(struct uring_channel *ch)
{
	cpu_set_t self, all;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (sched_getaffinity(0, sizeof(self), &self) != 0 || CPU_COUNT(&self) != 1) {
		return;
	}
	ch->yield_when_idle = true;
	if (ncpu <= 1) {
		return;
	}
	CPU_ZERO(&all);
	for (long c = 0; c < ncpu && c < CPU_SETSIZE; c++) {
		CPU_SET(c, &all);
	}
	if (io_uring_register_iowq_aff(&ch->ring, sizeof(all), &all) != 0) {
		USK_NOTICELOG("uring %s: cannot set the io-wq worker affinity\n",
			      ch->fc.disk->bdev.name);
	}
}

static int
uring_setup(struct usk_file_channel *fc)
{
	struct uring_channel *ch = uring_ch(fc);
	struct usk_file_disk *disk = fc->disk;
	struct io_uring_params p;
	int rc;

	ch->npending = 0;
	ch->inflight = 0;
	ch->yield_when_idle = false;
	/* One thread submits and reaps: let the kernel skip cross-thread task work IPIs. */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
	rc = io_uring_queue_init_params(URING_QUEUE_DEPTH, &ch->ring, &p);
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof(p));
		rc = io_uring_queue_init_params(URING_QUEUE_DEPTH, &ch->ring, &p);
	}
	if (rc != 0) {
		USK_ERRLOG("uring %s: io_uring_queue_init failed: %s\n", disk->bdev.name,
			   strerror(-rc));
		return rc;
	}
	/* A registered file saves the kernel an fget/fput per I/O. */
	ch->fixed_file = io_uring_register_files(&ch->ring, &disk->fd, 1) == 0;
	uring_set_worker_affinity(ch);
	return 0;
}

static int
uring_set_eventfd(struct usk_file_channel *fc)
{
	return io_uring_register_eventfd(&uring_ch(fc)->ring, fc->efd);
}

static void
uring_teardown(struct usk_file_channel *fc)
{
	io_uring_queue_exit(&uring_ch(fc)->ring);
}

static const struct usk_file_channel_ops g_uring_channel_ops = {
	.setup = uring_setup,
	.set_eventfd = uring_set_eventfd,
	.teardown = uring_teardown,
	.rw = uring_rw,
	.start_sync = uring_start_sync,
	.poll = uring_poll,
	.poller_name = "uring_poll",
	.intr_name = "uring_intr",
};

/* ---------------------------------------------------------------- bdev lifecycle */

static int
uring_dump_info_json(void *ctx, json_t *obj)
{
	struct usk_file_disk *disk = ctx;

	usk_json_set(obj, "uring",
		     json_pack("{s:s, s:b}", "filename", disk->filename, "direct", disk->direct));
	return 0;
}

static void
uring_write_config_json(struct usk_bdev *bdev, json_t *config_array)
{
	struct usk_file_disk *disk = bdev->ctxt;

	usk_json_config_add(config_array, "bdev_uring_create",
			    json_pack("{s:s, s:s, s:I}", "name", bdev->name, "filename",
				      disk->filename, "block_size", (json_int_t)bdev->blocklen));
}

static const struct usk_bdev_fn_table g_uring_fn_table = {
	.destruct = usk_file_disk_destruct,
	.submit_request = usk_file_disk_submit_request,
	.io_type_supported = usk_file_disk_io_type_supported,
	.get_io_channel = usk_file_disk_get_io_channel,
	.dump_info_json = uring_dump_info_json,
	.write_config_json = uring_write_config_json,
};

static struct usk_file_disk_type g_uring_type = {
	.module = &g_uring_if,
	.fn_table = &g_uring_fn_table,
	.product_name = "URING bdev",
	.ops = &g_uring_channel_ops,
	.channel_size = sizeof(struct uring_channel),
	.disks = TAILQ_HEAD_INITIALIZER(g_uring_type.disks),
};

int
usk_bdev_uring_create(const char *name, const char *filename, uint32_t block_size, bool readonly,
		      char *err, size_t err_len)
{
	return usk_file_disk_create(&g_uring_type, name, filename, block_size, readonly, false, err,
				    err_len);
}

int
usk_bdev_uring_delete(const char *name, usk_bdev_uring_delete_cb cb_fn, void *cb_arg)
{
	return usk_file_disk_delete(&g_uring_type, name, cb_fn, cb_arg);
}

int
usk_bdev_uring_rescan(const char *name)
{
	return usk_file_disk_rescan(&g_uring_type, name);
}
