/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rbd bdev module, bdevs and I/O: Ceph RBD images through librbd. Blocking calls (open,
 * close, resize) run on the module's worker pthread (rbd_cluster.c); their results come back
 * to the caller's usk thread as messages. I/O is librbd aio: librbd completes it on its own
 * threads, which only store the result and push the task onto the submitting channel's
 * lockless MPSC ring (plus an eventfd kick in interrupt mode); the bdev_io is completed by the
 * channel's poller or interrupt handler on the channel's thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "usk/bdev_module.h"
#include "usk/env.h"
#include "usk/json.h"
#include "usk/log.h"
#include "usk/thread.h"
#include "usk/util.h"

#include "rbd_internal.h"

/* Most I/O a channel has at librbd at once (more completes as NOMEM and is retried). */
#define RBD_CHANNEL_DEPTH 1024
/* Completion ring: room for every in-flight task, so a librbd thread never finds it full. */
#define RBD_RING_SIZE  (2 * RBD_CHANNEL_DEPTH)
#define RBD_REAP_BATCH 64

/* ---------------------------------------------------------------- bdev and channels */

/*
 * Completion queue of one channel: librbd threads push finished tasks (MPSC), the channel's
 * thread pops them. Allocated apart from the channel so that a channel destroyed with I/O
 * still at librbd (which the bdev layer does not do) leaves librbd nothing freed to write to:
 * the queue is then parked on the disk until the image is closed.
 */
struct rbd_cq {
	struct usk_ring *ring;
	int efd; /* -1 in polled mode */
	TAILQ_ENTRY(rbd_cq) link;
};

struct rbd_disk {
	struct usk_bdev bdev;
	char *pool_name;
	char *rbd_name;
	char *user_id;
	json_t *config;
	struct rbd_cluster *cluster; /* shared connection, or NULL: own rados */
	rados_t rados;
	rados_ioctx_t ioctx;
	rbd_image_t image;
	uint64_t size;		       /* bytes, as last read */
	struct usk_thread *app_thread; /* where create ran: lifecycle and watch messages go there */
	uint64_t watch_handle;
	bool watching;
	atomic_bool watch_pending; /* a look at a header update is queued (librbd / worker) */
	/* Create / resize / delete in progress (app thread). */
	void *cb;
	void *cb_arg;
	int rc;
	uint64_t new_size;
	char err[RBD_ERR_LEN];
	pthread_mutex_t orphan_lock;
	TAILQ_HEAD(, rbd_cq) orphans;
	TAILQ_ENTRY(rbd_disk) link;
};

struct rbd_channel {
	struct rbd_disk *disk;
	struct rbd_cq *cq;
	uint32_t inflight;
	bool intr_mode;
	struct usk_poller *poller;
	struct usk_interrupt *intr;
};

/* Per-I/O context in bdev_io->driver_ctx. */
struct rbd_task {
	struct rbd_cq *cq;
	ssize_t rc;	 /* librbd's return value, written by a librbd thread before the push */
	uint64_t expect; /* bytes a read must return (0: any non-negative value) */
};

static TAILQ_HEAD(, rbd_disk) g_disks = TAILQ_HEAD_INITIALIZER(g_disks);
static uint32_t g_disk_seq;

static int rbd_module_init(void);
static int rbd_config_json(json_t *config_array);
static int rbd_get_ctx_size(void);

static struct usk_bdev_module g_rbd_if = {
	.name = "rbd",
	.module_init = rbd_module_init,
	.module_fini = rbd_clusters_fini,
	.config_json = rbd_config_json,
	.get_ctx_size = rbd_get_ctx_size,
	.async_fini = true,
};
USK_BDEV_MODULE_REGISTER(rbd, &g_rbd_if)

static int
rbd_module_init(void)
{
	return 0;
}

static int
rbd_get_ctx_size(void)
{
	return sizeof(struct rbd_task);
}

static const char *
io_type_name(uint8_t type)
{
	switch (type) {
	case USK_BDEV_IO_TYPE_READ:
		return "read";
	case USK_BDEV_IO_TYPE_WRITE:
		return "write";
	case USK_BDEV_IO_TYPE_FLUSH:
		return "flush";
	case USK_BDEV_IO_TYPE_UNMAP:
		return "unmap";
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
		return "write_zeroes";
	case USK_BDEV_IO_TYPE_RESET:
		return "reset";
	default:
		return "io";
	}
}

/* librbd thread: never touches the bdev_io, only the task and the queue. */
static void
rbd_io_done(rbd_completion_t comp, void *arg)
{
	struct rbd_task *task = arg;
	struct rbd_cq *cq = task->cq;
	void *obj = task;
	uint64_t one = 1;

	task->rc = rbd_aio_get_return_value(comp);
	rbd_aio_release(comp);
	/* The enqueue is a release: the consumer's dequeue (acquire) sees task->rc. The ring has
	 * room for every in-flight task (RBD_RING_SIZE > RBD_CHANNEL_DEPTH), so it cannot fail. */
	if (usk_unlikely(usk_ring_enqueue(cq->ring, &obj, 1, NULL) != 1)) {
		abort();
	}
	if (cq->efd >= 0 && write(cq->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, the consumer is awake anyway. */
	}
}

static int
rbd_reap(struct rbd_channel *ch)
{
	void *objs[RBD_REAP_BATCH];
	size_t n, total = 0;

	do {
		n = usk_ring_dequeue(ch->cq->ring, objs, RBD_REAP_BATCH);
		ch->inflight -= (uint32_t)n;
		for (size_t i = 0; i < n; i++) {
			struct rbd_task *task = objs[i];
			struct usk_bdev_io *bdev_io = usk_bdev_io_from_ctx(task);

			if (usk_likely(task->rc >= 0 &&
				       (task->expect == 0 || (uint64_t)task->rc == task->expect))) {
				usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_SUCCESS);
				continue;
			}
			USK_ERRLOG("rbd: %s: %s of %" PRIu64 " blocks at %" PRIu64 " failed: %s\n",
				   bdev_io->bdev->name, io_type_name(bdev_io->type),
				   bdev_io->u.bdev.num_blocks, bdev_io->u.bdev.offset_blocks,
				   task->rc < 0 ? strerror((int)-task->rc) : "short transfer");
			usk_bdev_io_complete_aio_status(bdev_io,
							task->rc < 0 ? (int)task->rc : -EIO);
		}
		total += n;
	} while (n == RBD_REAP_BATCH);
	return (int)total;
}

static int
rbd_poll(void *arg)
{
	struct rbd_channel *ch = arg;
	int n;

	if (ch->inflight == 0) {
		return USK_POLLER_IDLE;
	}
	n = rbd_reap(ch);
	if (n == 0) {
		/*
		 * I/O is at librbd and nothing came back: librbd's messenger and io_context
		 * threads must run for it to finish, possibly on this core. A busy-polling
		 * reactor would leave them the scraps of its time slice (as with uring's io-wq
		 * workers); sched_yield returns at once when nothing else is runnable, and an
		 * RBD I/O (hundreds of microseconds) dwarfs the syscall.
		 */
		sched_yield();
		return USK_POLLER_IDLE;
	}
	return USK_POLLER_BUSY;
}

static int
rbd_intr(void *arg)
{
	struct rbd_channel *ch = arg;
	uint64_t cnt;

	/* Reset the counter before reaping: a push after the read kicks the eventfd again. */
	if (read(ch->cq->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN) {
		USK_ERRLOG("rbd: read of eventfd failed: %s\n", strerror(errno));
	}
	return rbd_reap(ch);
}

static void
rbd_submit(struct rbd_channel *ch, struct usk_bdev_io *bdev_io)
{
	struct rbd_disk *disk = ch->disk;
	struct rbd_task *task = (struct rbd_task *)bdev_io->driver_ctx;
	uint64_t off = bdev_io->u.bdev.offset_blocks * disk->bdev.blocklen;
	uint64_t len = bdev_io->u.bdev.num_blocks * disk->bdev.blocklen;
	rbd_completion_t comp;
	int rc;

	if (usk_unlikely(ch->inflight >= RBD_CHANNEL_DEPTH)) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_NOMEM);
		return;
	}
	task->cq = ch->cq;
	task->rc = 0;
	task->expect = 0;
	rc = rbd_aio_create_completion(task, rbd_io_done, &comp);
	if (usk_unlikely(rc < 0)) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_NOMEM);
		return;
	}
	switch (bdev_io->type) {
	case USK_BDEV_IO_TYPE_READ:
		task->expect = len;
		rc = rbd_aio_readv(disk->image, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, off,
				   comp);
		break;
	case USK_BDEV_IO_TYPE_WRITE:
		/* A write's return value is 0 or its length depending on the librbd version. */
		rc = rbd_aio_writev(disk->image, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, off,
				    comp);
		break;
	case USK_BDEV_IO_TYPE_UNMAP:
		rc = rbd_aio_discard(disk->image, off, len, comp);
		break;
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
		rc = rbd_aio_write_zeroes(disk->image, off, len, comp, 0, 0);
		break;
	case USK_BDEV_IO_TYPE_FLUSH:
	case USK_BDEV_IO_TYPE_RESET:
		/*
		 * librbd cannot abort I/O it has; a flush completes once every write issued
		 * before it is durable, which is what a reset of a network disk can promise.
		 */
		rc = rbd_aio_flush(disk->image, comp);
		break;
	default:
		rc = -ENOTSUP;
		break;
	}
	if (usk_unlikely(rc < 0)) {
		rbd_aio_release(comp);
		usk_bdev_io_complete_aio_status(bdev_io, rc);
		return;
	}
	ch->inflight++;
}

static void
rbd_get_buf_cb(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io, bool success)
{
	if (!success) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	rbd_submit(usk_io_channel_get_ctx(_ch), bdev_io);
}

static void
rbd_submit_request(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io)
{
	struct rbd_channel *ch = usk_io_channel_get_ctx(_ch);

	if (bdev_io->type == USK_BDEV_IO_TYPE_READ &&
	    usk_unlikely(bdev_io->u.bdev.iovs == NULL ||
			 bdev_io->u.bdev.iovs[0].iov_base == NULL)) {
		usk_bdev_io_get_buf(bdev_io, rbd_get_buf_cb,
				    bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen);
		return;
	}
	rbd_submit(ch, bdev_io);
}

static bool
rbd_io_type_supported(void *ctx, enum usk_bdev_io_type type)
{
	(void)ctx;
	switch (type) {
	case USK_BDEV_IO_TYPE_READ:
	case USK_BDEV_IO_TYPE_WRITE:
	case USK_BDEV_IO_TYPE_FLUSH:
	case USK_BDEV_IO_TYPE_UNMAP:
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
	case USK_BDEV_IO_TYPE_RESET:
		return true;
	default:
		return false;
	}
}

static void
cq_free(struct rbd_cq *cq)
{
	if (cq->efd >= 0) {
		close(cq->efd);
	}
	usk_ring_free(cq->ring);
	free(cq);
}

static int
rbd_channel_create(void *io_device, void *ctx_buf)
{
	struct rbd_channel *ch = ctx_buf;
	int rc;

	ch->disk = io_device;
	ch->cq = calloc(1, sizeof(*ch->cq));
	if (ch->cq == NULL) {
		return -ENOMEM;
	}
	ch->cq->efd = -1;
	ch->cq->ring = usk_ring_create(USK_RING_TYPE_MP_SC, RBD_RING_SIZE, -1);
	if (ch->cq->ring == NULL) {
		rc = -ENOMEM;
		goto err_free_cq;
	}
	if (usk_interrupt_mode_is_enabled()) {
		ch->cq->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (ch->cq->efd < 0) {
			rc = -errno;
			goto err_free_cq;
		}
		ch->intr = usk_interrupt_register(ch->cq->efd, rbd_intr, ch, "rbd_intr");
		if (ch->intr == NULL) {
			rc = -ENOMEM;
			goto err_free_cq;
		}
		ch->intr_mode = true;
		return 0;
	}
	ch->poller = usk_poller_register_named(rbd_poll, ch, 0, "rbd_poll");
	if (ch->poller == NULL) {
		rc = -ENOMEM;
		goto err_free_cq;
	}
	return 0;

err_free_cq:
	if (ch->cq->ring != NULL) {
		usk_ring_free(ch->cq->ring);
	}
	if (ch->cq->efd >= 0) {
		close(ch->cq->efd);
	}
	free(ch->cq);
	return rc;
}

static void
rbd_channel_destroy(void *io_device, void *ctx_buf)
{
	struct rbd_channel *ch = ctx_buf;
	struct rbd_disk *disk = io_device;

	usk_poller_unregister(&ch->poller);
	if (ch->intr != NULL) {
		usk_interrupt_unregister(&ch->intr);
	}
	if (ch->inflight != 0) {
		USK_WARNLOG("rbd: %s: channel destroyed with %u I/O at librbd; freed at close\n",
			    disk->bdev.name, ch->inflight);
		pthread_mutex_lock(&disk->orphan_lock);
		TAILQ_INSERT_TAIL(&disk->orphans, ch->cq, link);
		pthread_mutex_unlock(&disk->orphan_lock);
		return;
	}
	cq_free(ch->cq);
}

static struct usk_io_channel *
rbd_get_io_channel(void *ctx)
{
	return usk_get_io_channel(ctx);
}

static void
disk_free(struct rbd_disk *disk)
{
	struct rbd_cq *cq;

	while ((cq = TAILQ_FIRST(&disk->orphans)) != NULL) {
		TAILQ_REMOVE(&disk->orphans, cq, link);
		cq_free(cq);
	}
	pthread_mutex_destroy(&disk->orphan_lock);
	free(disk->bdev.name);
	free(disk->pool_name);
	free(disk->rbd_name);
	free(disk->user_id);
	json_decref(disk->config);
	free(disk);
}

/* Worker: close whatever the open got to. rbd_close waits for librbd's in-flight I/O. */
static void
disk_close_work(void *ctx)
{
	struct rbd_disk *disk = ctx;

	if (disk->watching) {
		/* Returns once no watch callback runs any more. */
		rbd_update_unwatch(disk->image, disk->watch_handle);
		disk->watching = false;
	}
	if (disk->image != NULL) {
		rbd_close(disk->image);
		disk->image = NULL;
	}
	if (disk->ioctx != NULL) {
		rados_ioctx_destroy(disk->ioctx);
		disk->ioctx = NULL;
	}
	if (disk->cluster == NULL && disk->rados != NULL) {
		rados_shutdown(disk->rados);
		disk->rados = NULL;
	}
}

static void
disk_destruct_done(void *ctx)
{
	struct rbd_disk *disk = ctx;

	if (disk->cluster != NULL) {
		disk->cluster->refcnt--;
	}
	usk_bdev_destruct_done(&disk->bdev, 0);
	disk_free(disk);
}

static void
disk_io_device_unregistered(void *io_device)
{
	struct rbd_disk *disk = io_device;

	if (rbd_worker_submit(disk_close_work, disk_destruct_done, disk) != 0) {
		/* No worker: close here rather than leak the image's lock and watch. */
		disk_close_work(disk);
		disk_destruct_done(disk);
	}
}

static int
rbd_destruct(void *ctx)
{
	struct rbd_disk *disk = ctx;

	TAILQ_REMOVE(&g_disks, disk, link);
	usk_io_device_unregister(disk, disk_io_device_unregistered);
	return 1;
}

static int
rbd_dump_info_json(void *ctx, json_t *obj)
{
	struct rbd_disk *disk = ctx;
	json_t *o =
		json_pack("{s:s, s:s}", "pool_name", disk->pool_name, "rbd_name", disk->rbd_name);

	if (disk->cluster != NULL) {
		usk_json_set(o, "cluster_name", json_string(disk->cluster->name));
	} else {
		if (disk->user_id) {
			usk_json_set(o, "user_id", json_string(disk->user_id));
		}
		if (disk->config) {
			json_object_set(o, "config", disk->config);
		}
	}
	usk_json_set(obj, "rbd", o);
	return 0;
}

static void
rbd_write_config_json(struct usk_bdev *bdev, json_t *config_array)
{
	struct rbd_disk *disk = bdev->ctxt;
	char uuid[37];
	json_t *p = json_pack("{s:s, s:s, s:s, s:I}", "name", bdev->name, "pool_name",
			      disk->pool_name, "rbd_name", disk->rbd_name, "block_size",
			      (json_int_t)bdev->blocklen);

	uuid_unparse_lower(bdev->uuid, uuid);
	usk_json_set(p, "uuid", json_string(uuid));
	if (disk->cluster != NULL) {
		usk_json_set(p, "cluster_name", json_string(disk->cluster->name));
	} else {
		if (disk->user_id) {
			usk_json_set(p, "user_id", json_string(disk->user_id));
		}
		if (disk->config) {
			json_object_set(p, "config", disk->config);
		}
	}
	usk_json_config_add(config_array, "bdev_rbd_create", p);
}

static const struct usk_bdev_fn_table g_rbd_fn_table = {
	.destruct = rbd_destruct,
	.submit_request = rbd_submit_request,
	.io_type_supported = rbd_io_type_supported,
	.get_io_channel = rbd_get_io_channel,
	.dump_info_json = rbd_dump_info_json,
	.write_config_json = rbd_write_config_json,
};

static int
rbd_config_json(json_t *config_array)
{
	/* Clusters first: the bdevs' entries (written after the modules') name them. */
	rbd_clusters_config_json(config_array);
	return 0;
}

/* ---------------------------------------------------------------- create */

static struct rbd_disk *
disk_find(const char *name)
{
	struct rbd_disk *d;

	TAILQ_FOREACH(d, &g_disks, link) {
		if (strcmp(d->bdev.name, name) == 0) {
			return d;
		}
	}
	return NULL;
}

/*
 * Header updates (a resize by another client, snapshots, features). The callback runs on a
 * librbd thread: it only posts a message to the app thread. Lifetime: rbd_update_unwatch (in
 * the close job) waits for running callbacks, and the close job's completion message is
 * enqueued after theirs, so the disk outlives every watch message; a watch message that finds
 * the disk no longer listed (being deleted) drops the update. The size is read on the worker,
 * FIFO before any close job queued later.
 */
static bool
disk_listed(const struct rbd_disk *disk)
{
	const struct rbd_disk *d;

	TAILQ_FOREACH(d, &g_disks, link) {
		if (d == disk) {
			return true;
		}
	}
	return false;
}

struct rbd_watch_look {
	struct rbd_disk *disk;
	uint64_t size;
};

static void
watch_size_work(void *ctx)
{
	struct rbd_watch_look *look = ctx;
	struct rbd_disk *disk = look->disk;

	/* Cleared before the read: an update after this point posts a look of its own. */
	atomic_store(&disk->watch_pending, false);
	if (rbd_get_size(disk->image, &look->size) < 0) {
		look->size = 0;
	}
}

static void
watch_size_done(void *ctx)
{
	struct rbd_watch_look *look = ctx;
	struct rbd_disk *disk = look->disk;
	uint64_t blocks;
	int rc;

	if (look->size == 0 || !disk_listed(disk) || look->size == disk->size) {
		goto out;
	}
	blocks = look->size / disk->bdev.blocklen;
	rc = usk_bdev_notify_blockcnt_change(&disk->bdev, blocks);
	if (rc != 0) {
		USK_ERRLOG("rbd: %s: image resized to %" PRIu64 " bytes by another client, but the "
			   "bdev cannot follow: %s\n",
			   disk->bdev.name, look->size, strerror(-rc));
		goto out;
	}
	USK_NOTICELOG("rbd: %s: image resized by another client: %" PRIu64 " blocks\n",
		      disk->bdev.name, blocks);
	disk->size = look->size;
out:
	free(look);
}

static void
watch_msg(void *ctx)
{
	struct rbd_disk *disk = ctx;
	struct rbd_watch_look *look;

	if (!disk_listed(disk) || (look = calloc(1, sizeof(*look))) == NULL) {
		atomic_store(&disk->watch_pending, false);
		return;
	}
	look->disk = disk;
	if (rbd_worker_submit(watch_size_work, watch_size_done, look) != 0) {
		free(look);
		atomic_store(&disk->watch_pending, false);
	}
}

/* librbd thread. */
static void
disk_update_cb(void *arg)
{
	struct rbd_disk *disk = arg;

	/* One look queued at a time: updates before it starts are covered by its read. */
	if (atomic_exchange(&disk->watch_pending, true)) {
		return;
	}
	if (usk_thread_send_msg(disk->app_thread, watch_msg, disk) != 0) {
		atomic_store(&disk->watch_pending, false);
	}
}

static void
disk_open_work(void *ctx)
{
	struct rbd_disk *disk = ctx;
	char who[300];
	int rc;

	if (disk->cluster == NULL) {
		snprintf(who, sizeof(who), "bdev '%s'", disk->bdev.name);
		rc = rbd_rados_connect(&disk->rados, who, disk->user_id, disk->config, NULL, NULL,
				       NULL, disk->err, sizeof(disk->err));
		if (rc != 0) {
			disk->rados = NULL;
			goto out;
		}
	} else {
		snprintf(who, sizeof(who), "cluster '%s'", disk->cluster->name);
	}
	rc = rados_ioctx_create(disk->cluster ? disk->cluster->rados : disk->rados, disk->pool_name,
				&disk->ioctx);
	if (rc < 0) {
		disk->ioctx = NULL;
		snprintf(disk->err, sizeof(disk->err), "%s: pool_name '%s': %s", who,
			 disk->pool_name, strerror(-rc));
		goto out;
	}
	rc = rbd_open(disk->ioctx, disk->rbd_name, &disk->image, NULL);
	if (rc < 0) {
		disk->image = NULL;
		snprintf(disk->err, sizeof(disk->err), "%s: rbd_name '%s/%s': %s", who,
			 disk->pool_name, disk->rbd_name, strerror(-rc));
		goto out;
	}
	{
		char cache[16] = "";

		/* librbd's writeback cache acknowledges writes before the OSDs have them: tell
		 * the initiators so that they send flushes (which rbd_aio_flush honours). */
		rados_conf_get(disk->cluster ? disk->cluster->rados : disk->rados, "rbd_cache",
			       cache, sizeof(cache));
		disk->bdev.write_cache = strcmp(cache, "true") == 0;
	}
	rc = rbd_get_size(disk->image, &disk->size);
	if (rc < 0) {
		snprintf(disk->err, sizeof(disk->err), "%s: size of '%s/%s': %s", who,
			 disk->pool_name, disk->rbd_name, strerror(-rc));
		goto out;
	}
	/* Resizes by other clients (rbd resize) reach us as header updates. */
	if (rbd_update_watch(disk->image, &disk->watch_handle, disk_update_cb, disk) == 0) {
		disk->watching = true;
	} else {
		USK_WARNLOG("rbd: %s: cannot watch '%s/%s' for resizes by others\n",
			    disk->bdev.name, disk->pool_name, disk->rbd_name);
	}
	if (disk->size < disk->bdev.blocklen) {
		rc = -EINVAL;
		snprintf(disk->err, sizeof(disk->err),
			 "%s: image '%s/%s' of %" PRIu64 " bytes is smaller than one block", who,
			 disk->pool_name, disk->rbd_name, disk->size);
		goto out;
	}
out:
	disk->rc = rc;
	if (rc != 0) {
		disk_close_work(disk);
	}
}

static void
disk_open_done(void *ctx)
{
	struct rbd_disk *disk = ctx;
	usk_rbd_create_cb cb = (usk_rbd_create_cb)disk->cb;
	void *cb_arg = disk->cb_arg;
	char err[RBD_ERR_LEN];
	int rc = disk->rc;

	if (rc == 0) {
		disk->bdev.blockcnt = disk->size / disk->bdev.blocklen;
		rc = usk_io_device_register(disk, rbd_channel_create, rbd_channel_destroy,
					    sizeof(struct rbd_channel), disk->bdev.name);
		if (rc != 0) {
			snprintf(disk->err, sizeof(disk->err),
				 "name: cannot register io_device '%s': %s", disk->bdev.name,
				 strerror(-rc));
			/* Closing blocks, but only briefly and only on this failure path. */
			disk_close_work(disk);
			goto fail;
		}
		rc = usk_bdev_register(&disk->bdev);
		if (rc == 0) {
			TAILQ_INSERT_TAIL(&g_disks, disk, link);
			USK_NOTICELOG("rbd: bdev %s on %s/%s: %" PRIu64 " blocks of %u\n",
				      disk->bdev.name, disk->pool_name, disk->rbd_name,
				      disk->bdev.blockcnt, disk->bdev.blocklen);
			cb(cb_arg, &disk->bdev, 0, "");
			return;
		}
		snprintf(disk->err, sizeof(disk->err), "name: cannot register bdev '%s': %s",
			 disk->bdev.name, strerror(-rc));
		usk_io_device_unregister(disk, NULL);
		/* Closing blocks, but only briefly and only on this failure path. */
		disk_close_work(disk);
	}
fail:
	snprintf(err, sizeof(err), "%s", disk->err);
	USK_ERRLOG("rbd: %s\n", err);
	if (disk->cluster != NULL) {
		disk->cluster->refcnt--;
	}
	disk_free(disk);
	cb(cb_arg, NULL, rc, err);
}

int
usk_rbd_bdev_create(const struct usk_rbd_bdev_opts *opts, usk_rbd_create_cb cb, void *cb_arg)
{
	struct rbd_cluster *cluster = NULL;
	struct rbd_disk *disk;
	bool fail = false;
	int rc;

	if (opts->pool_name == NULL || opts->rbd_name == NULL || opts->block_size < 512 ||
	    !USK_IS_POW2(opts->block_size)) {
		return -EINVAL;
	}
	if (opts->cluster_name != NULL) {
		cluster = rbd_cluster_find(opts->cluster_name);
		if (cluster == NULL || cluster->state != RBD_CLUSTER_READY) {
			return -ENODEV;
		}
	}
	if (opts->name != NULL &&
	    (usk_bdev_get_by_name(opts->name) != NULL || disk_find(opts->name) != NULL)) {
		return -EEXIST;
	}
	disk = calloc(1, sizeof(*disk));
	if (disk == NULL) {
		return -ENOMEM;
	}
	pthread_mutex_init(&disk->orphan_lock, NULL);
	TAILQ_INIT(&disk->orphans);
	if (opts->name != NULL) {
		disk->bdev.name = strdup(opts->name);
	} else if (asprintf(&disk->bdev.name, "Ceph%u", g_disk_seq++) < 0) {
		disk->bdev.name = NULL;
	}
	fail = disk->bdev.name == NULL;
	disk->pool_name = rbd_strdup_opt(opts->pool_name, &fail);
	disk->rbd_name = rbd_strdup_opt(opts->rbd_name, &fail);
	disk->user_id = rbd_strdup_opt(opts->user_id, &fail);
	disk->config = opts->config ? json_deep_copy(opts->config) : NULL;
	if (fail || (opts->config && disk->config == NULL)) {
		disk_free(disk);
		return -ENOMEM;
	}
	disk->bdev.product_name = "Ceph Rbd Disk";
	disk->bdev.blocklen = opts->block_size;
	disk->bdev.ctxt = disk;
	disk->bdev.module = &g_rbd_if;
	disk->bdev.fn_table = &g_rbd_fn_table;
	if (opts->uuid != NULL) {
		memcpy(disk->bdev.uuid, opts->uuid, sizeof(disk->bdev.uuid));
	}
	disk->cluster = cluster;
	disk->app_thread = usk_get_thread();
	disk->cb = (void *)cb;
	disk->cb_arg = cb_arg;
	rc = rbd_worker_submit(disk_open_work, disk_open_done, disk);
	if (rc != 0) {
		disk_free(disk);
		return rc;
	}
	if (cluster != NULL) {
		cluster->refcnt++; /* until the close: the cluster cannot go away under the open */
	}
	return 0;
}

int
usk_rbd_bdev_delete(const char *name, usk_rbd_delete_cb cb_fn, void *cb_arg)
{
	struct rbd_disk *disk = disk_find(name);

	if (disk == NULL) {
		return -ENODEV;
	}
	usk_bdev_unregister(&disk->bdev, cb_fn, cb_arg);
	return 0;
}

/* ---------------------------------------------------------------- resize */

struct rbd_resize_ctx {
	struct rbd_disk *disk;
	uint64_t new_size;
	int rc;
	char err[RBD_ERR_LEN];
	usk_rbd_cb cb;
	void *cb_arg;
};

static void
resize_work(void *ctx)
{
	struct rbd_resize_ctx *r = ctx;

	r->rc = rbd_resize(r->disk->image, r->new_size);
	if (r->rc < 0) {
		snprintf(r->err, sizeof(r->err), "bdev '%s': rbd_resize of '%s/%s': %s",
			 r->disk->bdev.name, r->disk->pool_name, r->disk->rbd_name,
			 strerror(-r->rc));
	}
}

static void
resize_done(void *ctx)
{
	struct rbd_resize_ctx *r = ctx;
	struct rbd_disk *disk;
	int rc = r->rc;

	/* The bdev may have been deleted meanwhile: look it up again. */
	TAILQ_FOREACH(disk, &g_disks, link) {
		if (disk == r->disk) {
			break;
		}
	}
	if (rc == 0 && disk != NULL) {
		disk->size = r->new_size;
		rc = usk_bdev_notify_blockcnt_change(&disk->bdev,
						     r->new_size / disk->bdev.blocklen);
		if (rc != 0) {
			snprintf(r->err, sizeof(r->err),
				 "bdev '%s': cannot report the new size: %s", disk->bdev.name,
				 strerror(-rc));
		}
	}
	if (rc != 0) {
		USK_ERRLOG("rbd: %s\n", r->err);
	}
	r->cb(r->cb_arg, rc, r->err);
	free(r);
}

int
usk_rbd_bdev_resize(const char *name, uint64_t new_size_mib, usk_rbd_cb cb, void *cb_arg)
{
	struct rbd_disk *disk = disk_find(name);
	struct rbd_resize_ctx *r;
	int rc;

	if (disk == NULL) {
		return -ENODEV;
	}
	if (new_size_mib > UINT64_MAX / (1024 * 1024) || new_size_mib * 1024 * 1024 <= disk->size) {
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return -ENOMEM;
	}
	r->disk = disk;
	r->new_size = new_size_mib * 1024 * 1024;
	r->cb = cb;
	r->cb_arg = cb_arg;
	/* The worker runs jobs in order: a delete's close, queued later, runs after this. */
	rc = rbd_worker_submit(resize_work, resize_done, r);
	if (rc != 0) {
		free(r);
	}
	return rc;
}
