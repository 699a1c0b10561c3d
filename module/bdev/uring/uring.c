/* SPDX-License-Identifier: BSD-3-Clause */
/* uring bdev module: a bdev on a file or block device driven with io_uring (liburing). */
#include <errno.h>
#include <liburing.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
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
#define URING_REAP_BATCH 128

/*
 * Per (disk, thread). Invariant: inflight counts SQEs given to the kernel with io_uring_submit
 * plus npending SQEs filled since; inflight + npending <= URING_QUEUE_DEPTH, so the CQ
 * (2 * depth) never overflows. One of those is kept for the sync in flight (flushq).
 */
struct uring_channel {
	struct io_uring ring;
	struct usk_file_disk *disk;
	uint32_t npending;
	uint32_t inflight;
	bool intr_mode;
	bool fixed_file;
	/* The reactor is pinned to one core, which its io-wq workers then share: see uring_poll. */
	bool yield_when_idle;
	int efd;
	struct usk_poller *poller;
	struct usk_interrupt *intr;
	/* user_data of the IORING_OP_FSYNC in flight is &flushq. */
	struct usk_file_flush_queue flushq;
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

static void uring_sync_done(struct uring_channel *ch, int rc);

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

			if (usk_unlikely((void *)bdev_io == &ch->flushq)) {
				uring_sync_done(ch, res < 0 ? res : 0);
				continue;
			}
			if (usk_likely(res >= 0 && (uint64_t)res ==
				       bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen)) {
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
			USK_ERRLOG("uring %s: io_uring_submit failed: %s\n", ch->disk->bdev.name,
				   strerror(-rc));
		}
		return 0;
	}
	ch->inflight += (uint32_t)rc;
	ch->npending -= (uint32_t)rc;
	return rc;
}

static int
uring_poll(void *arg)
{
	struct uring_channel *ch = arg;
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
		if (n == 0 && ch->yield_when_idle) {
			sched_yield();
		}
		work += n;
	}
	return work > 0 ? USK_POLLER_BUSY : USK_POLLER_IDLE;
}

static int
uring_intr(void *arg)
{
	struct uring_channel *ch = arg;
	uint64_t cnt;
	int work;

	if (read(ch->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN) {
		USK_ERRLOG("uring: read of eventfd failed: %s\n", strerror(errno));
	}
	work = uring_reap(ch);
	if (ch->npending != 0) {
		work += uring_flush(ch);
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
uring_start_sync(struct uring_channel *ch)
{
	struct io_uring_sqe *sqe = uring_get_sqe(ch);

	if (usk_unlikely(sqe == NULL)) {
		uring_sync_done(ch, -EAGAIN);
		return;
	}
	io_uring_prep_fsync(sqe, ch->fixed_file ? 0 : ch->disk->fd, IORING_FSYNC_DATASYNC);
	if (ch->fixed_file) {
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	io_uring_sqe_set_data(sqe, &ch->flushq);
	ch->npending++;
	if (ch->intr_mode) {
		uring_flush(ch);
	}
}

/* The sync in flight ended with rc: complete the flushes it covers, start the next one. */
static void
uring_sync_done(struct uring_channel *ch, int rc)
{
	struct usk_file_io *done;
	bool start_next;

	done = usk_file_flush_sync_done(&ch->flushq, &start_next);
	if (start_next) {
		uring_start_sync(ch);
	}
	usk_file_flush_complete_list(done, rc);
}

static void
uring_rw(struct uring_channel *ch, struct usk_bdev_io *bdev_io, bool write)
{
	struct usk_file_disk *disk = ch->disk;
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
	if (ch->intr_mode) {
		/* No poller runs in interrupt mode: submit now; completions signal the eventfd. */
		uring_flush(ch);
	}
}

static void
uring_get_buf_cb(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io, bool success)
{
	if (!success) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	uring_rw(usk_io_channel_get_ctx(_ch), bdev_io, false);
}

static void
uring_submit_request(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io)
{
	struct uring_channel *ch = usk_io_channel_get_ctx(_ch);
	struct usk_file_disk *disk = ch->disk;

	switch (bdev_io->type) {
	case USK_BDEV_IO_TYPE_READ:
		if (usk_unlikely(bdev_io->u.bdev.iovs == NULL || bdev_io->u.bdev.iovs[0].iov_base == NULL)) {
			usk_bdev_io_get_buf(bdev_io, uring_get_buf_cb,
					    bdev_io->u.bdev.num_blocks * disk->bdev.blocklen);
			return;
		}
		uring_rw(ch, bdev_io, false);
		return;
	case USK_BDEV_IO_TYPE_WRITE:
		if (usk_unlikely(disk->readonly)) {
			usk_bdev_io_complete_aio_status(bdev_io, -EBADF);
			return;
		}
		uring_rw(ch, bdev_io, true);
		return;
	case USK_BDEV_IO_TYPE_FLUSH:
		if (usk_file_flush_enqueue(&ch->flushq, (struct usk_file_io *)bdev_io->driver_ctx)) {
			uring_start_sync(ch);
		}
		return;
	default:
		usk_file_disk_submit_inline(disk, bdev_io);
		return;
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
		USK_NOTICELOG("uring %s: cannot set the io-wq worker affinity\n", ch->disk->bdev.name);
	}
}

static int
uring_channel_create(void *io_device, void *ctx_buf)
{
	struct uring_channel *ch = ctx_buf;
	struct usk_file_disk *disk = io_device;
	struct io_uring_params p;
	int rc;

	ch->disk = disk;
	ch->efd = -1;
	memset(&ch->flushq, 0, sizeof(ch->flushq));
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
		USK_ERRLOG("uring %s: io_uring_queue_init failed: %s\n", disk->bdev.name, strerror(-rc));
		return rc;
	}
	/* A registered file saves the kernel an fget/fput per I/O. */
	ch->fixed_file = io_uring_register_files(&ch->ring, &disk->fd, 1) == 0;
	uring_set_worker_affinity(ch);

	if (usk_interrupt_mode_is_enabled()) {
		ch->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (ch->efd < 0) {
			rc = -errno;
			goto err_exit_ring;
		}
		rc = io_uring_register_eventfd(&ch->ring, ch->efd);
		if (rc != 0) {
			goto err_close_efd;
		}
		ch->intr = usk_interrupt_register(ch->efd, uring_intr, ch, "uring_intr");
		if (ch->intr == NULL) {
			rc = -ENOMEM;
			goto err_close_efd;
		}
		ch->intr_mode = true;
		return 0;
	}
	ch->poller = usk_poller_register_named(uring_poll, ch, 0, "uring_poll");
	if (ch->poller == NULL) {
		rc = -ENOMEM;
		goto err_exit_ring;
	}
	return 0;

err_close_efd:
	close(ch->efd);
err_exit_ring:
	io_uring_queue_exit(&ch->ring);
	return rc;
}

static void
uring_channel_destroy(void *io_device, void *ctx_buf)
{
	struct uring_channel *ch = ctx_buf;

	usk_poller_unregister(&ch->poller);
	if (ch->intr != NULL) {
		usk_interrupt_unregister(&ch->intr);
	}
	if (ch->efd >= 0) {
		close(ch->efd);
	}
	io_uring_queue_exit(&ch->ring);
}

/* ---------------------------------------------------------------- bdev lifecycle */

static int
uring_dump_info_json(void *ctx, json_t *obj)
{
	struct usk_file_disk *disk = ctx;

	json_object_set_new(obj, "uring", json_pack("{s:s, s:b}", "filename", disk->filename,
			    "direct", disk->direct));
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
	.submit_request = uring_submit_request,
	.io_type_supported = usk_file_disk_io_type_supported,
	.get_io_channel = usk_file_disk_get_io_channel,
	.dump_info_json = uring_dump_info_json,
	.write_config_json = uring_write_config_json,
};

static struct usk_file_disk_type g_uring_type = {
	.module = &g_uring_if,
	.fn_table = &g_uring_fn_table,
	.product_name = "URING bdev",
	.channel_create = uring_channel_create,
	.channel_destroy = uring_channel_destroy,
	.channel_size = sizeof(struct uring_channel),
	.disks = TAILQ_HEAD_INITIALIZER(g_uring_type.disks),
};

int
usk_bdev_uring_create(const char *name, const char *filename, uint32_t block_size,
		      bool readonly, char *err, size_t err_len)
{
	return usk_file_disk_create(&g_uring_type, name, filename, block_size, readonly, false,
				    err, err_len);
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
