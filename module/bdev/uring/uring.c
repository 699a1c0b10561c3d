/* SPDX-License-Identifier: BSD-3-Clause */
/* uring bdev module: a bdev on a file or block device driven with io_uring (liburing). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <sched.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include "usk/bdev_module.h"
#include "usk/json.h"
#include "usk/log.h"
#include "usk/thread.h"
#include "usk/util.h"

#include "uring.h"

/* SQ entries per ring, and the most I/O a channel keeps in flight (CQ is twice as large). */
#define URING_QUEUE_DEPTH 512
#define URING_REAP_BATCH 128

struct uring_disk {
	struct usk_bdev bdev;
	char *filename;
	int fd;
	bool direct;
	bool readonly;
	TAILQ_ENTRY(uring_disk) link;
};

/*
 * Per (disk, thread). Invariant: inflight counts SQEs given to the kernel with io_uring_submit
 * plus npending SQEs filled since; inflight + npending <= URING_QUEUE_DEPTH, so the CQ
 * (2 * depth) never overflows.
 */
struct uring_channel {
	struct io_uring ring;
	struct uring_disk *disk;
	uint32_t npending;
	uint32_t inflight;
	bool intr_mode;
	bool fixed_file;
	int efd;
	struct usk_poller *poller;
	struct usk_interrupt *intr;
};

static TAILQ_HEAD(, uring_disk) g_uring_disks = TAILQ_HEAD_INITIALIZER(g_uring_disks);

static int uring_get_ctx_size(void);

static struct usk_bdev_module g_uring_if = {
	.name = "uring",
	.get_ctx_size = uring_get_ctx_size,
};
USK_BDEV_MODULE_REGISTER(uring, &g_uring_if)

static int
uring_get_ctx_size(void)
{
	return 0;
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
		work += uring_reap(ch);
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

static void
uring_rw(struct uring_channel *ch, struct usk_bdev_io *bdev_io, bool write)
{
	struct uring_disk *disk = ch->disk;
	struct io_uring_sqe *sqe;
	uint64_t offset = bdev_io->u.bdev.offset_blocks * disk->bdev.blocklen;
	struct iovec *iov = bdev_io->u.bdev.iovs;
	int fd = ch->fixed_file ? 0 : disk->fd;

	if (usk_unlikely(ch->inflight + ch->npending >= URING_QUEUE_DEPTH)) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_NOMEM);
		return;
	}
	sqe = io_uring_get_sqe(&ch->ring);
	if (usk_unlikely(sqe == NULL)) {
		uring_flush(ch);
		sqe = io_uring_get_sqe(&ch->ring);
		if (sqe == NULL) {
			usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_NOMEM);
			return;
		}
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
	struct uring_disk *disk = ch->disk;

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
		if (!disk->direct || disk->bdev.write_cache) {
			if (fdatasync(disk->fd) != 0) {
				usk_bdev_io_complete_aio_status(bdev_io, -errno);
				return;
			}
		}
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_SUCCESS);
		return;
	case USK_BDEV_IO_TYPE_RESET:
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_SUCCESS);
		return;
	default:
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
}

static bool
uring_io_type_supported(void *ctx, enum usk_bdev_io_type type)
{
	switch (type) {
	case USK_BDEV_IO_TYPE_READ:
	case USK_BDEV_IO_TYPE_WRITE:
	case USK_BDEV_IO_TYPE_FLUSH:
	case USK_BDEV_IO_TYPE_RESET:
		return true;
	default:
		return false;
	}
}

/* ---------------------------------------------------------------- channels */

/*
 * I/O the kernel cannot finish inline (e.g. O_DIRECT on tmpfs) goes to io-wq worker threads,
 * which inherit the reactor's single-core pinning and would then only run when the
 * busy-polling reactor is preempted. Let them run on any online core; the scheduler places
 * them (measured better than excluding the reactor's core when the host is shared).
 */
static void
uring_set_worker_affinity(struct uring_channel *ch)
{
	cpu_set_t self, all;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (ncpu <= 1 || sched_getaffinity(0, sizeof(self), &self) != 0 || CPU_COUNT(&self) != 1) {
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
	struct uring_disk *disk = io_device;
	struct io_uring_params p;
	int rc;

	ch->disk = disk;
	ch->efd = -1;
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

static struct usk_io_channel *
uring_get_io_channel(void *ctx)
{
	return usk_get_io_channel(ctx);
}

/* ---------------------------------------------------------------- bdev lifecycle */

static void
uring_disk_free(struct uring_disk *disk)
{
	if (disk->fd >= 0) {
		close(disk->fd);
	}
	free(disk->filename);
	free(disk->bdev.name);
	free(disk);
}

static void
uring_io_device_unregistered(void *io_device)
{
	struct uring_disk *disk = io_device;

	usk_bdev_destruct_done(&disk->bdev, 0);
	uring_disk_free(disk);
}

static int
uring_destruct(void *ctx)
{
	struct uring_disk *disk = ctx;

	TAILQ_REMOVE(&g_uring_disks, disk, link);
	usk_io_device_unregister(disk, uring_io_device_unregistered);
	return 1;
}

static int
uring_dump_info_json(void *ctx, json_t *obj)
{
	struct uring_disk *disk = ctx;

	json_object_set_new(obj, "uring", json_pack("{s:s, s:b}", "filename", disk->filename,
			    "direct", disk->direct));
	return 0;
}

static void
uring_write_config_json(struct usk_bdev *bdev, json_t *config_array)
{
	struct uring_disk *disk = bdev->ctxt;

	usk_json_config_add(config_array, "bdev_uring_create",
			    json_pack("{s:s, s:s, s:I}", "name", bdev->name, "filename",
				      disk->filename, "block_size", (json_int_t)bdev->blocklen));
}

static const struct usk_bdev_fn_table g_uring_fn_table = {
	.destruct = uring_destruct,
	.submit_request = uring_submit_request,
	.io_type_supported = uring_io_type_supported,
	.get_io_channel = uring_get_io_channel,
	.dump_info_json = uring_dump_info_json,
	.write_config_json = uring_write_config_json,
};

static int
fd_get_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		return -errno;
	}
	if (S_ISBLK(st.st_mode)) {
		return ioctl(fd, BLKGETSIZE64, size) != 0 ? -errno : 0;
	}
	if (!S_ISREG(st.st_mode)) {
		return -ENOTSUP;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

static uint32_t
fd_detect_block_size(int fd, bool direct)
{
	struct stat st;
	int ssz = 0;

	if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode)) {
		return ioctl(fd, BLKSSZGET, &ssz) == 0 && ssz > 0 ? (uint32_t)ssz : 512;
	}
#ifdef STATX_DIOALIGN
	if (direct) {
		struct statx stx;

		if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
		    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align >= 512) {
			return stx.stx_dio_offset_align;
		}
	}
#endif
	return 512;
}

static int
file_open(const char *filename, bool readonly, bool *direct)
{
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	int fd;

	fd = open(filename, flags | O_DIRECT);
	if (fd >= 0) {
		*direct = true;
		return fd;
	}
	if (errno != EINVAL) {
		return -errno;
	}
	fd = open(filename, flags);
	if (fd < 0) {
		return -errno;
	}
	USK_NOTICELOG("%s: the file system does not support O_DIRECT, using buffered I/O\n",
		      filename);
	*direct = false;
	return fd;
}

int
usk_bdev_uring_create(const char *name, const char *filename, uint32_t block_size,
		      bool readonly, char *err, size_t err_len)
{
	struct uring_disk *disk;
	uint64_t size;
	uint32_t detected;
	int rc;

	if (usk_bdev_get_by_name(name) != NULL) {
		snprintf(err, err_len, "name: a bdev named '%s' already exists", name);
		return -EEXIST;
	}
	if (block_size != 0 && (block_size < 512 || !USK_IS_POW2(block_size))) {
		snprintf(err, err_len, "block_size: %u is not a power of two >= 512", block_size);
		return -EINVAL;
	}
	disk = calloc(1, sizeof(*disk));
	if (disk == NULL) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	disk->fd = -1;
	disk->readonly = readonly;
	disk->filename = strdup(filename);
	disk->bdev.name = strdup(name);
	if (disk->filename == NULL || disk->bdev.name == NULL) {
		snprintf(err, err_len, "out of memory");
		rc = -ENOMEM;
		goto err_free_disk;
	}
	disk->fd = file_open(filename, readonly, &disk->direct);
	if (disk->fd < 0) {
		rc = disk->fd;
		snprintf(err, err_len, "filename: cannot open '%s': %s", filename, strerror(-rc));
		goto err_free_disk;
	}
	rc = fd_get_size(disk->fd, &size);
	if (rc != 0) {
		snprintf(err, err_len, "filename: '%s' is not a regular file or block device (%s)",
			 filename, strerror(-rc));
		goto err_free_disk;
	}
	detected = fd_detect_block_size(disk->fd, disk->direct);
	if (block_size == 0) {
		block_size = detected;
	} else if (disk->direct && block_size < detected) {
		snprintf(err, err_len, "block_size: %u is smaller than the device's %u required for"
			 " direct I/O", block_size, detected);
		rc = -EINVAL;
		goto err_free_disk;
	}
	if (size < block_size) {
		snprintf(err, err_len, "filename: '%s' is smaller than one block (%u bytes)", filename,
			 block_size);
		rc = -EINVAL;
		goto err_free_disk;
	}
	disk->bdev.ctxt = disk;
	disk->bdev.product_name = "URING bdev";
	disk->bdev.module = &g_uring_if;
	disk->bdev.fn_table = &g_uring_fn_table;
	disk->bdev.blocklen = block_size;
	disk->bdev.blockcnt = size / block_size;
	disk->bdev.write_cache = !disk->direct;
	disk->bdev.required_alignment = disk->direct ? (uint8_t)usk_u32log2(block_size) : 0;

	usk_io_device_register(disk, uring_channel_create, uring_channel_destroy,
			       sizeof(struct uring_channel), disk->bdev.name);
	rc = usk_bdev_register(&disk->bdev);
	if (rc != 0) {
		snprintf(err, err_len, "name: cannot register bdev '%s': %s", name, strerror(-rc));
		usk_io_device_unregister(disk, NULL);
		goto err_free_disk;
	}
	TAILQ_INSERT_TAIL(&g_uring_disks, disk, link);
	return 0;

err_free_disk:
	uring_disk_free(disk);
	return rc;
}

struct uring_delete_ctx {
	usk_bdev_uring_delete_cb cb_fn;
	void *cb_arg;
};

static void
uring_delete_done(void *cb_arg, int rc)
{
	struct uring_delete_ctx *ctx = cb_arg;

	if (ctx->cb_fn != NULL) {
		ctx->cb_fn(ctx->cb_arg, rc);
	}
	free(ctx);
}

int
usk_bdev_uring_delete(const char *name, usk_bdev_uring_delete_cb cb_fn, void *cb_arg)
{
	struct uring_delete_ctx *ctx;
	int rc;

	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		return -ENOMEM;
	}
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	rc = usk_bdev_unregister_by_name(name, &g_uring_if, uring_delete_done, ctx);
	if (rc != 0) {
		free(ctx);
	}
	return rc;
}

int
usk_bdev_uring_rescan(const char *name)
{
	struct uring_disk *disk;
	uint64_t size;
	int rc;

	TAILQ_FOREACH(disk, &g_uring_disks, link) {
		if (strcmp(disk->bdev.name, name) == 0) {
			break;
		}
	}
	if (disk == NULL) {
		return -ENODEV;
	}
	rc = fd_get_size(disk->fd, &size);
	if (rc != 0) {
		return rc;
	}
	if (size / disk->bdev.blocklen == disk->bdev.blockcnt) {
		return 0;
	}
	return usk_bdev_notify_blockcnt_change(&disk->bdev, size / disk->bdev.blocklen);
}
