/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared pieces of the bdevs on a file or block device (aio, uring): open, size, create,
 * delete, the submit path and channels (the module plugs in through usk_file_channel_ops),
 * flush coalescing and the sync thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "usk/env.h"
#include "usk/log.h"
#include "usk/util.h"

#include "file_common.h"

/* ---------------------------------------------------------------- files */

int
usk_file_get_size(int fd, uint64_t *size)
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

uint32_t
usk_file_detect_block_size(int fd, bool direct)
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

int
usk_file_open(const char *filename, bool readonly, bool *direct)
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

/* ---------------------------------------------------------------- I/O */

static void
file_submit_inline(struct usk_file_disk *disk, struct usk_bdev_io *bdev_io)
{
	switch (bdev_io->type) {
	case USK_BDEV_IO_TYPE_UNMAP:
	case USK_BDEV_IO_TYPE_WRITE_ZEROES: {
		/* Rare and metadata-only for the file system: done inline, like flush. */
		int mode = FALLOC_FL_KEEP_SIZE |
			   (bdev_io->type == USK_BDEV_IO_TYPE_UNMAP ? FALLOC_FL_PUNCH_HOLE :
								      FALLOC_FL_ZERO_RANGE);

		if (!disk->fallocate) {
			usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
			return;
		}
		if (disk->readonly) {
			usk_bdev_io_complete_aio_status(bdev_io, -EBADF);
			return;
		}
		if (fallocate(disk->fd, mode,
			      (off_t)(bdev_io->u.bdev.offset_blocks * disk->bdev.blocklen),
			      (off_t)(bdev_io->u.bdev.num_blocks * disk->bdev.blocklen)) != 0) {
			usk_bdev_io_complete_aio_status(bdev_io, -errno);
			return;
		}
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_SUCCESS);
		return;
	}
	case USK_BDEV_IO_TYPE_RESET:
		/* The bdev layer waited for in-flight I/O already; nothing is cached here. */
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_SUCCESS);
		return;
	default:
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
}

static void
file_get_buf_cb(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io, bool success)
{
	struct usk_file_channel *ch = usk_io_channel_get_ctx(_ch);

	if (!success) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	ch->ops->rw(ch, bdev_io, false);
}

void
usk_file_disk_submit_request(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io)
{
	struct usk_file_channel *ch = usk_io_channel_get_ctx(_ch);
	struct usk_file_disk *disk = ch->disk;

	switch (bdev_io->type) {
	case USK_BDEV_IO_TYPE_READ:
		if (usk_unlikely(bdev_io->u.bdev.iovs == NULL ||
				 bdev_io->u.bdev.iovs[0].iov_base == NULL)) {
			usk_bdev_io_get_buf(bdev_io, file_get_buf_cb,
					    bdev_io->u.bdev.num_blocks * disk->bdev.blocklen);
			return;
		}
		ch->ops->rw(ch, bdev_io, false);
		return;
	case USK_BDEV_IO_TYPE_WRITE:
		if (usk_unlikely(disk->readonly)) {
			usk_bdev_io_complete_aio_status(bdev_io, -EBADF);
			return;
		}
		ch->ops->rw(ch, bdev_io, true);
		return;
	case USK_BDEV_IO_TYPE_FLUSH:
		if (usk_file_flush_enqueue(&ch->flushq,
					   (struct usk_file_io *)bdev_io->driver_ctx)) {
			ch->ops->start_sync(ch);
		}
		return;
	default:
		file_submit_inline(disk, bdev_io);
		return;
	}
}

bool
usk_file_disk_io_type_supported(void *ctx, enum usk_bdev_io_type type)
{
	struct usk_file_disk *disk = ctx;

	switch (type) {
	case USK_BDEV_IO_TYPE_UNMAP:
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
		return disk->fallocate;
	case USK_BDEV_IO_TYPE_READ:
	case USK_BDEV_IO_TYPE_WRITE:
	case USK_BDEV_IO_TYPE_FLUSH:
	case USK_BDEV_IO_TYPE_RESET:
		return true;
	default:
		return false;
	}
}

/* ---------------------------------------------------------------- flush */

static void
flush_list_push(struct usk_file_io **head, struct usk_file_io **tail, struct usk_file_io *io)
{
	io->next = NULL;
	if (*tail != NULL) {
		(*tail)->next = io;
	} else {
		*head = io;
	}
	*tail = io;
}

bool
usk_file_flush_enqueue(struct usk_file_flush_queue *q, struct usk_file_io *io)
{
	if (q->sync_inflight && q->sync_started) {
		/* The sync in flight may have begun before this flush's writes completed. */
		flush_list_push(&q->waiting_head, &q->waiting_tail, io);
		return false;
	}
	/* Nothing in flight, or a sync the kernel has not seen yet: it covers this flush. */
	flush_list_push(&q->riding_head, &q->riding_tail, io);
	if (q->sync_inflight) {
		return false;
	}
	q->sync_inflight = true;
	q->sync_started = false;
	q->syncs++;
	return true;
}

struct usk_file_io *
usk_file_flush_sync_done(struct usk_file_flush_queue *q, bool *start_next)
{
	struct usk_file_io *done = q->riding_head;

	q->riding_head = q->waiting_head;
	q->riding_tail = q->waiting_tail;
	q->waiting_head = NULL;
	q->waiting_tail = NULL;
	*start_next = q->riding_head != NULL;
	q->sync_inflight = *start_next;
	q->sync_started = false;
	if (*start_next) {
		q->syncs++;
	}
	return done;
}

void
usk_file_flush_complete_list(struct usk_file_io *list, int rc)
{
	struct usk_file_io *io;

	while ((io = list) != NULL) {
		list = io->next;
		usk_bdev_io_complete_aio_status(usk_bdev_io_from_ctx(io), rc);
	}
}

void
usk_file_channel_sync_done(struct usk_file_channel *ch, int rc)
{
	struct usk_file_io *done;
	bool start_next;

	done = usk_file_flush_sync_done(&ch->flushq, &start_next);
	if (start_next) {
		/* Before the completions, whose callbacks may submit more flushes. */
		ch->ops->start_sync(ch);
	}
	usk_file_flush_complete_list(done, rc);
}

static void
sync_helper_send_done(struct usk_file_disk *disk, struct usk_file_sync_req *req)
{
	/*
	 * The message pool may be empty for a moment: this thread may wait, a reactor may not.
	 * Bounded, so that a thread that is gone (it cannot be while its flush is outstanding,
	 * but a bug must not hang the disk's deletion in pthread_join) only costs a log line.
	 */
	for (int i = 0; usk_thread_send_msg(req->thread, req->done_fn, req) != 0; i++) {
		if (i == 10000) {
			USK_ERRLOG(
				"%s: cannot return a sync result to its thread for 1 s; the flush "
				"is lost\n",
				disk->bdev.name);
			return;
		}
		usleep(100);
	}
}

static void *
sync_helper_main(void *arg)
{
	struct usk_file_disk *disk = arg;
	struct usk_file_sync_helper *h = &disk->sync_helper;
	struct usk_file_sync_req *batch, *req;
	int rc;

	pthread_mutex_lock(&h->mutex);
	for (;;) {
		while (h->head == NULL && !h->stop) {
			pthread_cond_wait(&h->cond, &h->mutex);
		}
		if (h->head == NULL) {
			break; /* stop, and nothing left */
		}
		/* Every request taken here was submitted before the sync below starts. */
		batch = h->head;
		h->head = NULL;
		h->tail = NULL;
		pthread_mutex_unlock(&h->mutex);
		rc = fdatasync(disk->fd) == 0 ? 0 : -errno;
		__atomic_fetch_add(&h->syncs, 1, __ATOMIC_RELAXED);
		while ((req = batch) != NULL) {
			batch = req->next;
			req->rc = rc;
			sync_helper_send_done(disk, req);
		}
		pthread_mutex_lock(&h->mutex);
	}
	pthread_mutex_unlock(&h->mutex);
	return NULL;
}

int
usk_file_sync_helper_submit(struct usk_file_disk *disk, struct usk_file_sync_req *req)
{
	struct usk_file_sync_helper *h = &disk->sync_helper;
	int rc = 0;

	req->next = NULL;
	pthread_mutex_lock(&h->mutex);
	if (!h->started) {
		rc = -pthread_create(&h->tid, NULL, sync_helper_main, disk);
		if (rc != 0) {
			pthread_mutex_unlock(&h->mutex);
			USK_ERRLOG("%s: cannot start the sync thread: %s\n", disk->bdev.name,
				   strerror(-rc));
			return rc;
		}
		pthread_setname_np(h->tid, "usk_fsync");
		/* Pinned to the reactor's core, a sync would wake up only when the scheduler
		 * preempts the busy poller (milliseconds): let it run on any online core. */
		if (usk_env_unpin_thread(h->tid) != 0) {
			USK_NOTICELOG("cannot widen the CPU affinity of the sync thread\n");
		}
		h->started = true;
	}
	if (h->tail != NULL) {
		h->tail->next = req;
	} else {
		h->head = req;
	}
	h->tail = req;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->mutex);
	return 0;
}

static void
sync_helper_stop(struct usk_file_sync_helper *h)
{
	bool started;

	pthread_mutex_lock(&h->mutex);
	h->stop = true;
	started = h->started;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->mutex);
	if (started) {
		pthread_join(h->tid, NULL);
	}
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->mutex);
}

/* ---------------------------------------------------------------- channels */

static int
file_channel_poll(void *arg)
{
	struct usk_file_channel *ch = arg;

	return ch->ops->poll(ch) > 0 ? USK_POLLER_BUSY : USK_POLLER_IDLE;
}

static int
file_channel_intr(void *arg)
{
	struct usk_file_channel *ch = arg;
	uint64_t cnt;

	/* Reset the eventfd counter before reaping so that no completion is missed. */
	if (read(ch->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN) {
		USK_ERRLOG("%s: read of eventfd failed: %s\n", ch->disk->bdev.name,
			   strerror(errno));
	}
	return ch->ops->poll(ch);
}

static int
file_channel_create(void *io_device, void *ctx_buf)
{
	struct usk_file_disk *disk = io_device;
	struct usk_file_channel *ch = ctx_buf;
	int rc;

	memset(ch, 0, sizeof(*ch));
	ch->disk = disk;
	ch->ops = disk->type->ops;
	ch->efd = -1;
	rc = ch->ops->setup(ch);
	if (rc != 0) {
		return rc;
	}
	if (usk_interrupt_mode_is_enabled()) {
		ch->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (ch->efd < 0) {
			rc = -errno;
			goto err_teardown;
		}
		if (ch->ops->set_eventfd != NULL) {
			rc = ch->ops->set_eventfd(ch);
			if (rc != 0) {
				goto err_close_efd;
			}
		}
		ch->intr =
			usk_interrupt_register(ch->efd, file_channel_intr, ch, ch->ops->intr_name);
		if (ch->intr == NULL) {
			rc = -ENOMEM;
			goto err_close_efd;
		}
		ch->intr_mode = true;
		return 0;
	}
	ch->poller = usk_poller_register_named(file_channel_poll, ch, 0, ch->ops->poller_name);
	if (ch->poller == NULL) {
		rc = -ENOMEM;
		goto err_teardown;
	}
	return 0;

err_close_efd:
	close(ch->efd);
	ch->efd = -1;
err_teardown:
	ch->ops->teardown(ch);
	return rc;
}

static void
file_channel_destroy(void *io_device, void *ctx_buf)
{
	struct usk_file_channel *ch = ctx_buf;

	usk_poller_unregister(&ch->poller);
	if (ch->intr != NULL) {
		usk_interrupt_unregister(&ch->intr);
	}
	if (ch->efd >= 0) {
		close(ch->efd);
	}
	ch->ops->teardown(ch);
}

/* ---------------------------------------------------------------- bdev lifecycle */

struct usk_io_channel *
usk_file_disk_get_io_channel(void *ctx)
{
	return usk_get_io_channel(ctx);
}

static void
file_disk_free(struct usk_file_disk *disk)
{
	/* No channel is left, so no sync request is pending: the thread exits at once. */
	sync_helper_stop(&disk->sync_helper);
	if (disk->fd >= 0) {
		close(disk->fd);
	}
	free(disk->filename);
	free(disk->bdev.name);
	free(disk);
}

static void
file_disk_io_device_unregistered(void *io_device)
{
	struct usk_file_disk *disk = io_device;

	usk_bdev_destruct_done(&disk->bdev, 0);
	file_disk_free(disk);
}

int
usk_file_disk_destruct(void *ctx)
{
	struct usk_file_disk *disk = ctx;

	TAILQ_REMOVE(&disk->type->disks, disk, link);
	usk_io_device_unregister(disk, file_disk_io_device_unregistered);
	return 1;
}

int
usk_file_disk_create(struct usk_file_disk_type *type, const char *name, const char *filename,
		     uint32_t block_size, bool readonly, bool fallocate, char *err, size_t err_len)
{
	struct usk_file_disk *disk;
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
	disk->type = type;
	pthread_mutex_init(&disk->sync_helper.mutex, NULL);
	pthread_cond_init(&disk->sync_helper.cond, NULL);
	disk->readonly = readonly;
	disk->fallocate = fallocate;
	disk->filename = strdup(filename);
	disk->bdev.name = strdup(name);
	if (disk->filename == NULL || disk->bdev.name == NULL) {
		snprintf(err, err_len, "out of memory");
		rc = -ENOMEM;
		goto err_free_disk;
	}
	disk->fd = usk_file_open(filename, readonly, &disk->direct);
	if (disk->fd < 0) {
		rc = disk->fd;
		snprintf(err, err_len, "filename: cannot open '%s': %s", filename, strerror(-rc));
		goto err_free_disk;
	}
	rc = usk_file_get_size(disk->fd, &size);
	if (rc != 0) {
		snprintf(err, err_len, "filename: '%s' is not a regular file or block device (%s)",
			 filename, strerror(-rc));
		goto err_free_disk;
	}
	detected = usk_file_detect_block_size(disk->fd, disk->direct);
	if (block_size == 0) {
		block_size = detected;
	} else if (disk->direct && block_size < detected) {
		snprintf(err, err_len,
			 "block_size: %u is smaller than the device's %u required for"
			 " direct I/O",
			 block_size, detected);
		rc = -EINVAL;
		goto err_free_disk;
	}
	if (size < block_size) {
		snprintf(err, err_len, "filename: '%s' is smaller than one block (%u bytes)",
			 filename, block_size);
		rc = -EINVAL;
		goto err_free_disk;
	}
	disk->bdev.ctxt = disk;
	disk->bdev.product_name = (char *)type->product_name;
	disk->bdev.module = type->module;
	disk->bdev.fn_table = type->fn_table;
	disk->bdev.blocklen = block_size;
	disk->bdev.blockcnt = size / block_size;
	/*
	 * Even with O_DIRECT a completed write is not durable: the drive may cache it and the
	 * file system may not have committed the metadata of blocks the write allocated. Flush
	 * and FUA do the syncs.
	 *
	 * FUA is not native (no RWF_DSYNC): when a direct write finishes before the submitting
	 * syscall returns, the kernel runs the write's sync in the submitter's context (iomap
	 * __iomap_dio_rw, "last reference"): the reactor. Measured with ext4_sync_file_enter on
	 * this kernel (6.18): aio 6 of 1292 and 13 of 64181 RWF_DSYNC writes synced on the
	 * reactor thread, uring 2 of 13003. The bdev layer's write + flush instead never syncs
	 * there (IOCB_CMD_FDSYNC runs on a kworker, IORING_OP_FSYNC on io-wq), and concurrent
	 * FUA writes share syncs (usk_file_flush_queue).
	 */
	disk->bdev.write_cache = true;
	disk->bdev.fua_supported = false;
	disk->bdev.required_alignment = disk->direct ? (uint8_t)usk_u32log2(block_size) : 0;

	rc = usk_io_device_register(disk, file_channel_create, file_channel_destroy,
				    type->channel_size, disk->bdev.name);
	if (rc != 0) {
		snprintf(err, err_len, "name: cannot register io_device '%s': %s", name,
			 strerror(-rc));
		goto err_free_disk;
	}
	rc = usk_bdev_register(&disk->bdev);
	if (rc != 0) {
		snprintf(err, err_len, "name: cannot register bdev '%s': %s", name, strerror(-rc));
		usk_io_device_unregister(disk, NULL);
		goto err_free_disk;
	}
	TAILQ_INSERT_TAIL(&type->disks, disk, link);
	return 0;

err_free_disk:
	file_disk_free(disk);
	return rc;
}

struct file_delete_ctx {
	usk_file_disk_delete_cb cb_fn;
	void *cb_arg;
};

static void
file_delete_done(void *cb_arg, int rc)
{
	struct file_delete_ctx *ctx = cb_arg;

	if (ctx->cb_fn != NULL) {
		ctx->cb_fn(ctx->cb_arg, rc);
	}
	free(ctx);
}

int
usk_file_disk_delete(struct usk_file_disk_type *type, const char *name,
		     usk_file_disk_delete_cb cb_fn, void *cb_arg)
{
	struct file_delete_ctx *ctx;
	int rc;

	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		return -ENOMEM;
	}
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	rc = usk_bdev_unregister_by_name(name, type->module, file_delete_done, ctx);
	if (rc != 0) {
		free(ctx);
	}
	return rc;
}

int
usk_file_disk_rescan(struct usk_file_disk_type *type, const char *name)
{
	struct usk_file_disk *disk;
	uint64_t size;
	int rc;

	TAILQ_FOREACH(disk, &type->disks, link) {
		if (strcmp(disk->bdev.name, name) == 0) {
			break;
		}
	}
	if (disk == NULL) {
		return -ENODEV;
	}
	rc = usk_file_get_size(disk->fd, &size);
	if (rc != 0) {
		return rc;
	}
	if (size / disk->bdev.blocklen == disk->bdev.blockcnt) {
		return 0;
	}
	return usk_bdev_notify_blockcnt_change(&disk->bdev, size / disk->bdev.blocklen);
}

/* ---------------------------------------------------------------- RPC helpers */

static const struct usk_json_object_decoder g_rpc_create_flags_decoders[] = {
	{"name", offsetof(struct usk_file_rpc_create, name), usk_json_decode_string, false},
	{"filename", offsetof(struct usk_file_rpc_create, filename), usk_json_decode_string, false},
	{"block_size", offsetof(struct usk_file_rpc_create, block_size), usk_json_decode_uint32,
	 true},
	{"readonly", offsetof(struct usk_file_rpc_create, readonly), usk_json_decode_bool, true},
	{"fallocate", offsetof(struct usk_file_rpc_create, fallocate), usk_json_decode_bool, true},
};

static const struct usk_json_object_decoder g_rpc_create_uuid_decoders[] = {
	{"name", offsetof(struct usk_file_rpc_create, name), usk_json_decode_string, false},
	{"filename", offsetof(struct usk_file_rpc_create, filename), usk_json_decode_string, false},
	{"block_size", offsetof(struct usk_file_rpc_create, block_size), usk_json_decode_uint32,
	 true},
	{"uuid", offsetof(struct usk_file_rpc_create, uuid), usk_json_decode_string, true},
};

bool
usk_file_rpc_create_decode(struct usk_jsonrpc_request *request, const json_t *params,
			   const char *module_name, bool with_flags,
			   struct usk_file_rpc_create *req)
{
	bool ok;

	memset(req, 0, sizeof(*req));
	ok = with_flags ? usk_rpc_decode_params(request, params, g_rpc_create_flags_decoders,
						USK_COUNTOF(g_rpc_create_flags_decoders), req) :
			  usk_rpc_decode_params(request, params, g_rpc_create_uuid_decoders,
						USK_COUNTOF(g_rpc_create_uuid_decoders), req);
	if (!ok) {
		return false;
	}
	if (req->name[0] == '\0') {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"name: must not be empty");
		return false;
	}
	if (req->uuid != NULL) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"uuid: setting the UUID of a %s bdev is not supported", module_name);
		return false;
	}
	return true;
}

void
usk_file_rpc_create_free(struct usk_file_rpc_create *req)
{
	free(req->name);
	free(req->filename);
	free(req->uuid);
}

void
usk_file_rpc_create_reply(struct usk_jsonrpc_request *request, int rc, const char *name,
			  const char *err)
{
	if (rc != 0) {
		usk_jsonrpc_send_error_response(
			request, rc == -EEXIST ? -EEXIST : USK_JSONRPC_ERROR_INVALID_PARAMS, err);
		return;
	}
	usk_jsonrpc_send_result(request, json_string(name));
}

struct rpc_file_name {
	char *name;
};

static const struct usk_json_object_decoder g_rpc_file_name_decoders[] = {
	{"name", offsetof(struct rpc_file_name, name), usk_json_decode_string, false},
};

void
usk_file_rpc_rescan(struct usk_jsonrpc_request *request, const json_t *params,
		    const char *module_name, int (*rescan_fn)(const char *name))
{
	struct rpc_file_name req = {};
	int rc;

	if (!usk_rpc_decode_params(request, params, g_rpc_file_name_decoders,
				   USK_COUNTOF(g_rpc_file_name_decoders), &req)) {
		goto cleanup;
	}
	rc = rescan_fn(req.name);
	if (rc == -ENODEV) {
		usk_jsonrpc_send_error_response_fmt(request, -ENODEV, "name: no %s bdev named '%s'",
						    module_name, req.name);
	} else if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "rescan of '%s' failed: %s", req.name,
						    strerror(-rc));
	} else {
		usk_jsonrpc_send_bool_response(request, true);
	}
cleanup:
	free(req.name);
}
