/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-blk bdev over vhost-user. Attach (app thread, synchronous): connect, GET_FEATURES,
 * protocol features (MQ, REPLY_ACK, CONFIG), SET_OWNER, GET_CONFIG (only the bytes usk knows),
 * SET_FEATURES, SET_MEM_TABLE with lib/env's memfd region(s), then per queue SET_VRING_NUM/
 * ADDR/BASE, SET_VRING_CALL, SET_VRING_KICK and SET_VRING_ENABLE. Guest "physical" addresses are
 * our virtual addresses (region gpa = uaddr), so descriptors carry pointers as they are.
 *
 * Data path: each channel owns one queue (a queue is never shared between threads). A request
 * is one indirect descriptor (header, data segments, status) when the back-end offers
 * INDIRECT_DESC, so a queue of N entries holds N requests whatever their segment count; else a
 * direct chain; a full ring queues I/O in a per-channel FIFO. Submissions made from the
 * completion loop are published and kicked once at its end (and only when the back-end wants a
 * kick: no NO_NOTIFY, or past its avail_event with EVENT_IDX). Polled mode asks the back-end not
 * to signal; interrupt mode puts the queue's call eventfd into the thread's fd group.
 *
 * Back-end failure: an app-thread poller watches the socket (EOF, error, or an unsolicited
 * message) and the queues mark themselves broken on an impossible used ring; either way the
 * in-flight I/O fails and new I/O fails at once. Detach stops the rings (GET_VRING_BASE).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/queue.h>

#include "bdev_virtio.h"
#include "vhost_user_client.h"
#include "virtio_blk_cfg.h"
#include "virtio_vq.h"
#include "usk/env.h"
#include "usk/json.h"
#include "usk/log.h"
#include "usk/thread.h"
#include "usk/util.h"

#define VBLK_TIMEOUT_MS	 5000
#define VBLK_POLL_BATCH	 64
#define VBLK_MONITOR_US	 100000
#define VBLK_MAX_REGIONS USK_VHOST_USER_MEMORY_MAX_NREGIONS

/* Per-head DMA area: the request header, a discard/write-zeroes range, the status byte. */
struct vblk_req {
	struct usk_virtio_blk_outhdr hdr;
	struct usk_virtio_blk_discard_write_zeroes range;
	uint8_t status;
};

/* Per-I/O context in bdev_io->driver_ctx (unmap / write-zeroes may take several requests). */
struct vblk_io {
	struct usk_bdev_io *next; /* in the channel's pending FIFO (ring full) */
	uint64_t next_sector;
	uint64_t sectors_left;
	uint32_t outstanding;
	bool failed;
};

struct vblk_queue {
	struct virtio_vq vq;
	int kickfd;
	int callfd;
	atomic_bool taken; /* claimed by a channel; channels are created on many threads at once */
};

struct vblk_dev {
	struct usk_bdev bdev;
	char *path;
	struct vhu_client client;
	uint64_t features;
	struct vblk_params params;
	uint32_t vq_count;
	uint32_t vq_size;
	uint32_t max_bufs;
	struct vblk_queue *queues;
	struct usk_dma_fd_region regions[VBLK_MAX_REGIONS];
	int nregions;
	struct usk_mem_map *mem_map;
	bool mem_table_sent;
	struct usk_poller *monitor;	    /* polled mode: looks at the socket every 100 ms */
	struct usk_interrupt *monitor_intr; /* interrupt mode: the socket in the fd group */
	atomic_bool failed;
	TAILQ_ENTRY(vblk_dev) link;
};

struct vblk_channel {
	struct vblk_dev *dev;
	struct vblk_queue *q;
	struct usk_poller *poller;
	struct usk_interrupt *intr;
	/*
	 * I/O waiting for ring space, oldest first. While it is not empty new I/O queues behind it,
	 * so that a completion's freed head is not taken by the I/O its callback submits (which
	 * would starve the queued ones); the FIFO is drained after each batch of completions.
	 */
	struct usk_bdev_io *pend_head;
	struct usk_bdev_io **pend_tailp;
	bool in_poll;
	bool failed;
};

static TAILQ_HEAD(, vblk_dev) g_vblk_devs = TAILQ_HEAD_INITIALIZER(g_vblk_devs);

static int vblk_module_init(void);
static void vblk_module_fini(void);

static int
vblk_get_ctx_size(void)
{
	return sizeof(struct vblk_io);
}

static struct usk_bdev_module g_vblk_module = {
	.name = "virtio_blk",
	.module_init = vblk_module_init,
	.module_fini = vblk_module_fini,
	.get_ctx_size = vblk_get_ctx_size,
};

USK_BDEV_MODULE_REGISTER(virtio_blk, &g_vblk_module)

static int
vblk_module_init(void)
{
	return 0;
}

static void
vblk_module_fini(void)
{
}

/* ---------------------------------------------------------------- data path */

static inline bool
vblk_buf_shared(const struct vblk_dev *dev, const void *base, size_t len)
{
	uintptr_t a = (uintptr_t)base;
	int i;

	for (i = 0; i < dev->nregions; i++) {
		uintptr_t r = (uintptr_t)dev->regions[i].vaddr;

		if (a >= r && a - r <= dev->regions[i].size &&
		    len <= dev->regions[i].size - (a - r)) {
			return true;
		}
	}
	return false;
}

static void
vblk_kick(struct vblk_channel *ch)
{
	uint64_t one = 1;

	if (virtio_vq_publish(&ch->q->vq)) {
		if (write(ch->q->kickfd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
			USK_ERRLOG("virtio_blk %s: kick failed: %s\n", ch->dev->bdev.name,
				   strerror(errno));
		}
	}
}

static inline void
vblk_io_done(struct usk_bdev_io *io)
{
	struct vblk_io *vio = (struct vblk_io *)io->driver_ctx;

	usk_bdev_io_complete(io,
			     vio->failed ? USK_BDEV_IO_STATUS_FAILED : USK_BDEV_IO_STATUS_SUCCESS);
}

static int vblk_submit_ranges(struct vblk_channel *ch, struct usk_bdev_io *io);

static void
vblk_complete_req(struct vblk_channel *ch, const struct virtio_vq_done *d)
{
	struct usk_bdev_io *io = d->cookie;
	struct vblk_io *vio = (struct vblk_io *)io->driver_ctx;
	struct vblk_req *req = virtio_vq_slot_priv(&ch->q->vq, d->head);

	if (usk_unlikely(!d->len_ok)) {
		USK_ERRLOG("virtio_blk %s: the back-end reports %u bytes written, more than the "
			   "request had room for\n",
			   ch->dev->bdev.name, d->len);
		vio->failed = true;
	} else if (usk_unlikely(req->status != USK_VIRTIO_BLK_S_OK)) {
		vio->failed = true;
	}
	/* Status read: the head may be reused by whatever the completion submits. */
	virtio_vq_release(&ch->q->vq, d->head);
	if (usk_likely(io->type == USK_BDEV_IO_TYPE_READ || io->type == USK_BDEV_IO_TYPE_WRITE ||
		       io->type == USK_BDEV_IO_TYPE_FLUSH)) {
		vblk_io_done(io);
		return;
	}
	vio->outstanding--;
	if (vio->sectors_left > 0 && !vio->failed) {
		vblk_submit_ranges(ch, io);
		return;
	}
	if (vio->outstanding == 0) {
		vblk_io_done(io);
	}
}

static void
vblk_fail_inflight(struct vblk_channel *ch)
{
	void *cookies[VBLK_POLL_BATCH];
	struct usk_bdev_io *io;
	int n, i;

	ch->failed = true;
	while ((io = ch->pend_head) != NULL) {
		ch->pend_head = ((struct vblk_io *)io->driver_ctx)->next;
		usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_FAILED);
	}
	ch->pend_tailp = &ch->pend_head;
	do {
		n = virtio_vq_drain_inflight(&ch->q->vq, cookies, VBLK_POLL_BATCH);
		for (i = 0; i < n; i++) {
			struct usk_bdev_io *io = cookies[i];
			struct vblk_io *vio = (struct vblk_io *)io->driver_ctx;

			vio->failed = true;
			if (io->type == USK_BDEV_IO_TYPE_UNMAP ||
			    io->type == USK_BDEV_IO_TYPE_WRITE_ZEROES) {
				vio->sectors_left = 0;
				if (--vio->outstanding > 0) {
					continue;
				}
			}
			vblk_io_done(io);
		}
	} while (n == VBLK_POLL_BATCH);
}

/* Reap the used ring; returns how many requests completed. */
static void vblk_run_pending(struct vblk_channel *ch);

static int
vblk_process(struct vblk_channel *ch)
{
	struct virtio_vq_done done[VBLK_POLL_BATCH];
	struct virtio_vq *vq = &ch->q->vq;
	int n, i, total = 0;

	if (usk_unlikely(ch->failed ||
			 atomic_load_explicit(&ch->dev->failed, memory_order_relaxed))) {
		if (!ch->failed || vq->inflight > 0) {
			vblk_fail_inflight(ch);
		}
		return 0;
	}
again:
	ch->in_poll = true;
	do {
		n = virtio_vq_poll(vq, done, VBLK_POLL_BATCH);
		if (usk_unlikely(n < 0)) {
			break;
		}
		for (i = 0; i < n; i++) {
			vblk_complete_req(ch, &done[i]);
		}
		total += n;
	} while (n == VBLK_POLL_BATCH);
	if (usk_unlikely(ch->pend_head != NULL) && n >= 0 && !vq->broken) {
		vblk_run_pending(ch);
	}
	ch->in_poll = false;
	vblk_kick(ch);
	/* Interrupt mode with EVENT_IDX: re-arm, and reap what came before the re-arm. */
	if (ch->intr != NULL && n >= 0 && !vq->broken && virtio_vq_arm_interrupt(vq)) {
		goto again;
	}
	if (usk_unlikely(vq->broken)) {
		USK_ERRLOG("virtio_blk %s: the back-end broke the used ring; failing its I/O\n",
			   ch->dev->bdev.name);
		atomic_store(&ch->dev->failed, true);
		vblk_fail_inflight(ch);
	}
	return total;
}

static int
vblk_poll(void *arg)
{
	return vblk_process(arg) > 0 ? USK_POLLER_BUSY : USK_POLLER_IDLE;
}

static int
vblk_intr(void *arg)
{
	struct vblk_channel *ch = arg;
	uint64_t v;

	/* Clear first: a completion after the reap below signals again. */
	if (read(ch->q->callfd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
		USK_ERRLOG("virtio_blk %s: read of call eventfd: %s\n", ch->dev->bdev.name,
			   strerror(errno));
	}
	return vblk_process(ch);
}

static int
vblk_submit_rw(struct vblk_channel *ch, struct usk_bdev_io *io)
{
	struct virtio_vq_buf bufs[VIRTIO_VQ_MAX_BUFS];
	struct vblk_dev *dev = ch->dev;
	uint32_t type, nseg = 0, i;
	struct vblk_req *req;
	bool in = false;
	int head;

	switch (io->type) {
	case USK_BDEV_IO_TYPE_READ:
		type = USK_VIRTIO_BLK_T_IN;
		in = true;
		nseg = (uint32_t)io->u.bdev.iovcnt;
		break;
	case USK_BDEV_IO_TYPE_WRITE:
		type = USK_VIRTIO_BLK_T_OUT;
		nseg = (uint32_t)io->u.bdev.iovcnt;
		break;
	default:
		type = USK_VIRTIO_BLK_T_FLUSH;
		break;
	}
	head = virtio_vq_alloc_head(&ch->q->vq, nseg + 2);
	if (usk_unlikely(head < 0)) {
		return head;
	}
	req = virtio_vq_slot_priv(&ch->q->vq, (uint16_t)head);
	req->hdr.type = type;
	req->hdr.ioprio = 0;
	req->hdr.sector = type == USK_VIRTIO_BLK_T_FLUSH ?
				  0 :
				  io->u.bdev.offset_blocks *
					  (dev->bdev.blocklen / USK_VIRTIO_BLK_SECTOR_SIZE);
	req->status = 0xff;
	bufs[0].addr = (uint64_t)(uintptr_t)&req->hdr;
	bufs[0].len = sizeof(req->hdr);
	for (i = 0; i < nseg; i++) {
		bufs[1 + i].addr = (uint64_t)(uintptr_t)io->u.bdev.iovs[i].iov_base;
		bufs[1 + i].len = (uint32_t)io->u.bdev.iovs[i].iov_len;
	}
	bufs[1 + nseg].addr = (uint64_t)(uintptr_t)&req->status;
	bufs[1 + nseg].len = 1;
	/* Reads: data and status writable; writes and flush: only the status. */
	virtio_vq_submit(&ch->q->vq, (uint16_t)head, bufs, in ? 1 : nseg + 1, in ? nseg + 1 : 1,
			 io);
	return 0;
}

/* Submit as many range requests of an unmap / write-zeroes as fit; 0 or -ENOMEM (none fit). */
static int
vblk_submit_ranges(struct vblk_channel *ch, struct usk_bdev_io *io)
{
	struct vblk_io *vio = (struct vblk_io *)io->driver_ctx;
	bool wz = io->type == USK_BDEV_IO_TYPE_WRITE_ZEROES;
	uint32_t max = wz ? ch->dev->params.max_write_zeroes_sectors :
			    ch->dev->params.max_discard_sectors;
	struct virtio_vq_buf bufs[3];
	struct vblk_req *req;
	uint64_t n;
	int head, submitted = 0;

	while (vio->sectors_left > 0) {
		head = virtio_vq_alloc_head(&ch->q->vq, 3);
		if (head < 0) {
			break;
		}
		n = USK_MIN(vio->sectors_left, (uint64_t)max);
		req = virtio_vq_slot_priv(&ch->q->vq, (uint16_t)head);
		req->hdr.type = wz ? USK_VIRTIO_BLK_T_WRITE_ZEROES : USK_VIRTIO_BLK_T_DISCARD;
		req->hdr.ioprio = 0;
		req->hdr.sector = 0;
		req->range.sector = vio->next_sector;
		req->range.num_sectors = (uint32_t)n;
		req->range.flags = 0;
		req->status = 0xff;
		bufs[0] = (struct virtio_vq_buf){(uint64_t)(uintptr_t)&req->hdr, sizeof(req->hdr)};
		bufs[1] = (struct virtio_vq_buf){(uint64_t)(uintptr_t)&req->range,
						 sizeof(req->range)};
		bufs[2] = (struct virtio_vq_buf){(uint64_t)(uintptr_t)&req->status, 1};
		virtio_vq_submit(&ch->q->vq, (uint16_t)head, bufs, 2, 1, io);
		vio->next_sector += n;
		vio->sectors_left -= n;
		vio->outstanding++;
		submitted++;
	}
	if (!ch->in_poll && submitted > 0) {
		vblk_kick(ch);
	}
	return submitted > 0 || vio->outstanding > 0 ? 0 : -ENOMEM;
}

/* Put io's requests in the ring: 0, or -ENOMEM when none fit (nothing of it submitted). */
static int
vblk_start(struct vblk_channel *ch, struct usk_bdev_io *io)
{
	struct vblk_io *vio = (struct vblk_io *)io->driver_ctx;
	uint32_t spb = ch->dev->bdev.blocklen / USK_VIRTIO_BLK_SECTOR_SIZE;

	vio->failed = false;
	if (io->type == USK_BDEV_IO_TYPE_UNMAP || io->type == USK_BDEV_IO_TYPE_WRITE_ZEROES) {
		vio->next_sector = io->u.bdev.offset_blocks * spb;
		vio->sectors_left = io->u.bdev.num_blocks * spb;
		vio->outstanding = 0;
		return vblk_submit_ranges(ch, io);
	}
	return vblk_submit_rw(ch, io);
}

static void
vblk_pend(struct vblk_channel *ch, struct usk_bdev_io *io)
{
	struct vblk_io *vio = (struct vblk_io *)io->driver_ctx;

	vio->next = NULL;
	*ch->pend_tailp = io;
	ch->pend_tailp = &vio->next;
}

static void
vblk_run_pending(struct vblk_channel *ch)
{
	struct usk_bdev_io *io;

	while ((io = ch->pend_head) != NULL && vblk_start(ch, io) == 0) {
		ch->pend_head = ((struct vblk_io *)io->driver_ctx)->next;
	}
	if (ch->pend_head == NULL) {
		ch->pend_tailp = &ch->pend_head;
	}
}

static void vblk_submit_request(struct usk_io_channel *_ch, struct usk_bdev_io *io);

static void
vblk_read_get_buf_cb(struct usk_io_channel *ch, struct usk_bdev_io *io, bool success)
{
	if (!success) {
		usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	vblk_submit_request(ch, io);
}

static void
vblk_submit_request(struct usk_io_channel *_ch, struct usk_bdev_io *io)
{
	struct vblk_channel *ch = usk_io_channel_get_ctx(_ch);
	struct vblk_dev *dev = ch->dev;
	int i;

	if (usk_unlikely(ch->failed || atomic_load_explicit(&dev->failed, memory_order_relaxed))) {
		usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	switch (io->type) {
	case USK_BDEV_IO_TYPE_READ:
	case USK_BDEV_IO_TYPE_WRITE:
		if (io->type == USK_BDEV_IO_TYPE_READ && io->u.bdev.iovcnt >= 1 &&
		    io->u.bdev.iovs[0].iov_base == NULL) {
			/* A read without a buffer: one from the bdev layer's pool (DMA memory). */
			usk_bdev_io_get_buf(io, vblk_read_get_buf_cb,
					    io->u.bdev.num_blocks * dev->bdev.blocklen);
			return;
		}
		if (usk_unlikely(io->u.bdev.iovcnt < 1 ||
				 (uint32_t)io->u.bdev.iovcnt + 2 > dev->max_bufs ||
				 io->u.bdev.iovs[0].iov_base == NULL)) {
			USK_ERRLOG("virtio_blk %s: %d segments (at most %u)\n", dev->bdev.name,
				   io->u.bdev.iovcnt, dev->max_bufs - 2);
			usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_FAILED);
			return;
		}
		for (i = 0; i < io->u.bdev.iovcnt; i++) {
			if (usk_unlikely(!vblk_buf_shared(dev, io->u.bdev.iovs[i].iov_base,
							  io->u.bdev.iovs[i].iov_len))) {
				USK_ERRLOG(
					"virtio_blk %s: buffer %p is not DMA memory the back-end "
					"can see\n",
					dev->bdev.name, io->u.bdev.iovs[i].iov_base);
				usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_FAILED);
				return;
			}
		}
		break;
	case USK_BDEV_IO_TYPE_FLUSH:
	case USK_BDEV_IO_TYPE_UNMAP:
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
		break;
	default:
		usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	/* Ring full, or older I/O waiting for it: queue behind (drained on completions). */
	if (usk_unlikely(ch->pend_head != NULL) || usk_unlikely(vblk_start(ch, io) != 0)) {
		vblk_pend(ch, io);
		return;
	}
	if (!ch->in_poll) {
		vblk_kick(ch);
	}
}

static bool
vblk_io_type_supported(void *ctx, enum usk_bdev_io_type type)
{
	struct vblk_dev *dev = ctx;

	switch (type) {
	case USK_BDEV_IO_TYPE_READ:
		return true;
	case USK_BDEV_IO_TYPE_WRITE:
		return !dev->params.read_only;
	case USK_BDEV_IO_TYPE_FLUSH:
		return dev->params.flush;
	case USK_BDEV_IO_TYPE_UNMAP:
		return dev->params.max_discard_sectors > 0 && !dev->params.read_only;
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
		return dev->params.max_write_zeroes_sectors > 0 && !dev->params.read_only;
	default:
		return false;
	}
}

/* ---------------------------------------------------------------- channels */

static int
vblk_ch_create(void *io_device, void *ctx_buf)
{
	struct vblk_dev *dev = io_device;
	struct vblk_channel *ch = ctx_buf;
	uint32_t i;

	ch->dev = dev;
	ch->pend_head = NULL;
	ch->pend_tailp = &ch->pend_head;
	for (i = 0; i < dev->vq_count; i++) {
		bool expected = false;

		if (atomic_compare_exchange_strong(&dev->queues[i].taken, &expected, true)) {
			break;
		}
	}
	if (i == dev->vq_count) {
		USK_ERRLOG("virtio_blk %s: all %u queues are in use by other threads (attach with "
			   "a larger vq_count)\n",
			   dev->bdev.name, dev->vq_count);
		return -EBUSY;
	}
	ch->q = &dev->queues[i];
	if (usk_interrupt_mode_is_enabled()) {
		ch->intr = usk_interrupt_register(ch->q->callfd, vblk_intr, ch, "virtio_blk_intr");
		if (ch->intr == NULL) {
			atomic_store(&ch->q->taken, false);
			return -ENOMEM;
		}
		virtio_vq_set_interrupts(&ch->q->vq, true);
	} else {
		ch->poller = usk_poller_register_named(vblk_poll, ch, 0, "virtio_blk_poll");
		if (ch->poller == NULL) {
			atomic_store(&ch->q->taken, false);
			return -ENOMEM;
		}
		/* Polled: no eventfd writes from the back-end. */
		virtio_vq_set_interrupts(&ch->q->vq, false);
	}
	return 0;
}

static void
vblk_ch_destroy(void *io_device, void *ctx_buf)
{
	struct vblk_channel *ch = ctx_buf;

	if (ch->q->vq.inflight > 0 || ch->pend_head != NULL) {
		vblk_fail_inflight(ch);
	}
	usk_poller_unregister(&ch->poller);
	if (ch->intr != NULL) {
		usk_interrupt_unregister(&ch->intr);
	}
	atomic_store(&ch->q->taken, false);
}

static struct usk_io_channel *
vblk_get_io_channel(void *ctx)
{
	return usk_get_io_channel(ctx);
}

/* ---------------------------------------------------------------- control path */

/*
 * App thread: the socket must stay silent; EOF, an error or any data means the back-end is gone.
 * A timed poller in polled mode; in interrupt mode the socket itself is in the app thread's fd
 * group (so an idle device wakes nothing) and the handler leaves the group once it fired.
 */
static int
vblk_monitor(void *arg)
{
	struct vblk_dev *dev = arg;
	struct pollfd pfd = {.fd = dev->client.fd, .events = POLLIN};
	int rc;

	if (atomic_load(&dev->failed)) {
		if (dev->monitor_intr != NULL) {
			usk_interrupt_unregister(&dev->monitor_intr);
		}
		return USK_POLLER_IDLE;
	}
	if (pthread_mutex_trylock(&dev->client.lock) != 0) {
		return USK_POLLER_IDLE;
	}
	rc = poll(&pfd, 1, 0);
	pthread_mutex_unlock(&dev->client.lock);
	if (rc > 0) {
		USK_ERRLOG("virtio_blk %s: vhost-user socket %s %s; failing I/O\n", dev->bdev.name,
			   dev->path,
			   (pfd.revents & (POLLHUP | POLLERR)) ? "closed" : "has unexpected data");
		atomic_store(&dev->failed, true);
		/* Wake every channel so that its in-flight I/O fails even in interrupt mode. */
		for (uint32_t i = 0; i < dev->vq_count; i++) {
			uint64_t one = 1;

			if (dev->queues[i].callfd >= 0 &&
			    write(dev->queues[i].callfd, &one, sizeof(one)) < 0) {
				USK_ERRLOG("virtio_blk %s: waking queue %u failed\n",
					   dev->bdev.name, i);
			}
		}
		if (dev->monitor_intr != NULL) {
			usk_interrupt_unregister(&dev->monitor_intr);
		}
		return USK_POLLER_BUSY;
	}
	return USK_POLLER_IDLE;
}

static int
vblk_send_mem_table(struct vblk_dev *dev)
{
	struct vhu_mem_region r[VBLK_MAX_REGIONS];
	int i;

	for (i = 0; i < dev->nregions; i++) {
		r[i] = (struct vhu_mem_region){
			.gpa = (uint64_t)(uintptr_t)dev->regions[i].vaddr,
			.uaddr = (uint64_t)(uintptr_t)dev->regions[i].vaddr,
			.size = dev->regions[i].size,
			.offset = dev->regions[i].offset,
			.fd = dev->regions[i].fd,
		};
	}
	return vhu_client_set_mem_table(&dev->client, r, dev->nregions);
}

/*
 * DMA memory registered later: lib/env's memfd region covers all of it today; should it report
 * a new region, the back-end gets the new table before the allocation returns.
 */
static int
vblk_mem_notify(void *cb_ctx, struct usk_mem_map *map, enum usk_mem_map_notify_action action,
		void *vaddr, size_t size)
{
	struct vblk_dev *dev = cb_ctx;
	int n;

	if (action != USK_MEM_MAP_NOTIFY_REGISTER || vblk_buf_shared(dev, vaddr, size)) {
		return 0;
	}
	n = usk_dma_get_fd_regions(dev->regions, VBLK_MAX_REGIONS);
	if (n > VBLK_MAX_REGIONS) {
		USK_ERRLOG("virtio_blk %s: %d DMA regions, SET_MEM_TABLE takes %d\n",
			   dev->bdev.name, n, VBLK_MAX_REGIONS);
		n = VBLK_MAX_REGIONS;
	}
	dev->nregions = n < 0 ? 0 : n;
	if (!vblk_buf_shared(dev, vaddr, size)) {
		USK_WARNLOG("virtio_blk %s: registered memory %p (+%zu) is not fd-backed; I/O "
			    "buffers there fail\n",
			    dev->bdev.name, vaddr, size);
		return 0;
	}
	if (dev->mem_table_sent && vblk_send_mem_table(dev) != 0) {
		USK_ERRLOG("virtio_blk %s: updating the back-end's memory table failed\n",
			   dev->bdev.name);
		atomic_store(&dev->failed, true);
	}
	return 0;
}

static const struct usk_mem_map_ops g_vblk_map_ops = {
	.notify_cb = vblk_mem_notify,
};

static int
vblk_setup_queue(struct vblk_dev *dev, uint32_t i)
{
	struct vblk_queue *q = &dev->queues[i];
	struct usk_vhost_vring_addr addr = {.index = i};
	int rc;

	rc = virtio_vq_init(&q->vq, (uint16_t)dev->vq_size,
			    dev->features & (1ULL << USK_VIRTIO_F_RING_INDIRECT_DESC),
			    dev->max_bufs, sizeof(struct vblk_req));
	if (rc != 0) {
		return rc;
	}
	if (dev->features & (1ULL << USK_VIRTIO_F_RING_EVENT_IDX)) {
		virtio_vq_enable_event_idx(&q->vq);
	}
	q->kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->kickfd < 0 || q->callfd < 0) {
		return -errno;
	}
	addr.desc_user_addr = (uint64_t)(uintptr_t)q->vq.desc;
	addr.avail_user_addr = (uint64_t)(uintptr_t)q->vq.avail;
	addr.used_user_addr = (uint64_t)(uintptr_t)q->vq.used;
	rc = vhu_client_set_vring_state(&dev->client, USK_VHOST_USER_SET_VRING_NUM, i,
					dev->vq_size);
	if (rc == 0) {
		rc = vhu_client_set_vring_state(&dev->client, USK_VHOST_USER_SET_VRING_BASE, i, 0);
	}
	if (rc == 0) {
		rc = vhu_client_set_vring_addr(&dev->client, &addr);
	}
	if (rc == 0) {
		rc = vhu_client_set_u64(&dev->client, USK_VHOST_USER_SET_VRING_CALL, i, q->callfd);
	}
	if (rc == 0) {
		rc = vhu_client_set_u64(&dev->client, USK_VHOST_USER_SET_VRING_KICK, i, q->kickfd);
	}
	if (rc == 0 && (dev->features & (1ULL << USK_VHOST_USER_F_PROTOCOL_FEATURES))) {
		rc = vhu_client_set_vring_state(&dev->client, USK_VHOST_USER_SET_VRING_ENABLE, i,
						1);
	}
	return rc;
}

/* Connect and negotiate; fills dev->features, params, vq_count, max_bufs. */
static int
vblk_handshake(struct vblk_dev *dev, uint32_t vq_count)
{
	struct usk_virtio_blk_config cfg = {0};
	uint64_t host, proto = 0, qnum = 0;
	int rc;

	rc = vhu_client_get_u64(&dev->client, USK_VHOST_USER_GET_FEATURES, &host);
	if (rc != 0) {
		return rc;
	}
	if (!(host & (1ULL << USK_VHOST_USER_F_PROTOCOL_FEATURES))) {
		USK_ERRLOG("virtio_blk %s: the back-end has no protocol features (config space "
			   "needed)\n",
			   dev->bdev.name);
		return -ENOTSUP;
	}
	rc = vhu_client_get_u64(&dev->client, USK_VHOST_USER_GET_PROTOCOL_FEATURES, &proto);
	if (rc != 0) {
		return rc;
	}
	proto &= VBLK_PROTOCOL_FEATURES;
	if (!(proto & (1ULL << USK_VHOST_USER_PROTOCOL_F_CONFIG))) {
		USK_ERRLOG("virtio_blk %s: the back-end lacks the CONFIG protocol feature\n",
			   dev->bdev.name);
		return -ENOTSUP;
	}
	rc = vhu_client_set_u64(&dev->client, USK_VHOST_USER_SET_PROTOCOL_FEATURES, proto, -1);
	if (rc != 0) {
		return rc;
	}
	dev->client.protocol_features = proto;
	if (proto & (1ULL << USK_VHOST_USER_PROTOCOL_F_MQ)) {
		rc = vhu_client_get_u64(&dev->client, USK_VHOST_USER_GET_QUEUE_NUM, &qnum);
		if (rc != 0) {
			return rc;
		}
	}
	rc = vhu_client_set_owner(&dev->client);
	if (rc != 0) {
		return rc;
	}
	dev->features = host & VBLK_DRIVER_FEATURES;
	rc = vhu_client_get_config(&dev->client, &cfg, VBLK_CONFIG_READ_SIZE);
	if (rc != 0) {
		return rc;
	}
	rc = vblk_parse_config(&cfg, VBLK_CONFIG_READ_SIZE, dev->features, &dev->params);
	if (rc != 0) {
		USK_ERRLOG("virtio_blk %s: unusable device configuration\n", dev->bdev.name);
		return rc;
	}
	if (vq_count > 1 && (vq_count > dev->params.num_queues ||
			     (proto & (1ULL << USK_VHOST_USER_PROTOCOL_F_MQ) && vq_count > qnum))) {
		USK_ERRLOG("virtio_blk %s: vq_count %u but the back-end offers %u queue(s)\n",
			   dev->bdev.name, vq_count,
			   USK_MIN(dev->params.num_queues,
				   (uint32_t)(qnum ? qnum : dev->params.num_queues)));
		return -EINVAL;
	}
	dev->vq_count = vq_count;
	rc = vhu_client_set_u64(&dev->client, USK_VHOST_USER_SET_FEATURES, dev->features, -1);
	if (rc != 0) {
		return rc;
	}
	dev->max_bufs = dev->params.seg_max + 2;
	if (!(dev->features & (1ULL << USK_VIRTIO_F_RING_INDIRECT_DESC))) {
		dev->max_bufs = USK_MIN(dev->max_bufs, dev->vq_size);
	}
	if (dev->max_bufs < 3) {
		USK_ERRLOG(
			"virtio_blk %s: a %u-entry ring without indirect descriptors cannot hold "
			"a request\n",
			dev->bdev.name, dev->vq_size);
		return -EINVAL;
	}
	return 0;
}

static void
vblk_free(struct vblk_dev *dev)
{
	uint32_t i;

	if (dev->mem_map != NULL) {
		usk_mem_map_free(&dev->mem_map);
	}
	for (i = 0; dev->queues != NULL && i < dev->vq_count; i++) {
		virtio_vq_fini(&dev->queues[i].vq);
		if (dev->queues[i].kickfd >= 0) {
			close(dev->queues[i].kickfd);
		}
		if (dev->queues[i].callfd >= 0) {
			close(dev->queues[i].callfd);
		}
	}
	free(dev->queues);
	vhu_client_close(&dev->client);
	free(dev->path);
	free(dev->bdev.name);
	free(dev);
}

static void
vblk_unregister_done(void *io_device)
{
	struct vblk_dev *dev = io_device;
	uint32_t i, base;

	/* Stop the rings before the memory goes (the back-end stops reading at GET_VRING_BASE). */
	for (i = 0; !atomic_load(&dev->failed) && i < dev->vq_count; i++) {
		if (vhu_client_get_vring_base(&dev->client, i, &base) != 0) {
			break;
		}
	}
	usk_bdev_destruct_done(&dev->bdev, 0);
	vblk_free(dev);
}

static int
vblk_destruct(void *ctx)
{
	struct vblk_dev *dev = ctx;

	TAILQ_REMOVE(&g_vblk_devs, dev, link);
	usk_poller_unregister(&dev->monitor);
	if (dev->monitor_intr != NULL) {
		usk_interrupt_unregister(&dev->monitor_intr);
	}
	usk_io_device_unregister(dev, vblk_unregister_done);
	return 1;
}

static int
vblk_dump_info_json(void *ctx, json_t *driver_specific)
{
	struct vblk_dev *dev = ctx;
	json_t *o = json_object();

	usk_json_set(o, "trtype", json_string("user"));
	usk_json_set(o, "socket", json_string(dev->path));
	usk_json_set(o, "vq_count", json_integer(dev->vq_count));
	usk_json_set(o, "vq_size", json_integer(dev->vq_size));
	usk_json_set(o, "features", json_integer((json_int_t)dev->features));
	usk_json_set(o, "indirect_desc",
		     json_boolean(dev->features & (1ULL << USK_VIRTIO_F_RING_INDIRECT_DESC)));
	usk_json_set(o, "event_idx",
		     json_boolean(dev->features & (1ULL << USK_VIRTIO_F_RING_EVENT_IDX)));
	usk_json_set(o, "max_segments", json_integer(dev->max_bufs - 2));
	usk_json_set(o, "failed", json_boolean(atomic_load(&dev->failed)));
	usk_json_set(driver_specific, "virtio_blk", o);
	return 0;
}

static void
vblk_write_config_json(struct usk_bdev *bdev, json_t *config_array)
{
	struct vblk_dev *dev = bdev->ctxt;
	json_t *params = json_object();

	usk_json_set(params, "name", json_string(bdev->name));
	usk_json_set(params, "dev_type", json_string("blk"));
	usk_json_set(params, "trtype", json_string("user"));
	usk_json_set(params, "traddr", json_string(dev->path));
	usk_json_set(params, "vq_count", json_integer(dev->vq_count));
	usk_json_set(params, "vq_size", json_integer(dev->vq_size));
	usk_json_config_add(config_array, "bdev_virtio_attach_controller", params);
}

static const struct usk_bdev_fn_table g_vblk_fn_table = {
	.destruct = vblk_destruct,
	.submit_request = vblk_submit_request,
	.io_type_supported = vblk_io_type_supported,
	.get_io_channel = vblk_get_io_channel,
	.dump_info_json = vblk_dump_info_json,
	.write_config_json = vblk_write_config_json,
};

int
bdev_virtio_user_blk_create(const struct bdev_virtio_blk_opts *opts, struct usk_bdev **bdev)
{
	struct vblk_dev *dev;
	uint32_t i;
	int rc;

	if (opts->name == NULL || opts->name[0] == '\0' || opts->path == NULL ||
	    opts->vq_count == 0 || opts->vq_count > 256 || opts->vq_size < 2 ||
	    opts->vq_size > USK_VIRTQ_MAX_SIZE || !USK_IS_POW2(opts->vq_size)) {
		return -EINVAL;
	}
	if (usk_bdev_get_by_name(opts->name) != NULL) {
		return -EEXIST;
	}
	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		return -ENOMEM;
	}
	dev->client.fd = -1;
	dev->bdev.name = strdup(opts->name);
	dev->path = strdup(opts->path);
	if (dev->bdev.name == NULL || dev->path == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	dev->vq_size = opts->vq_size;
	dev->nregions = usk_dma_get_fd_regions(dev->regions, VBLK_MAX_REGIONS);
	if (dev->nregions <= 0 || dev->nregions > VBLK_MAX_REGIONS) {
		USK_ERRLOG("virtio_blk %s: DMA memory is not fd-backed (%d regions); vhost-user "
			   "needs usk's memfd memory: run without hugepages\n",
			   opts->name, dev->nregions);
		dev->nregions = 0;
		rc = -ENOTSUP;
		goto err;
	}
	rc = vhu_client_connect(&dev->client, opts->path, VBLK_TIMEOUT_MS);
	if (rc != 0) {
		USK_ERRLOG("virtio_blk %s: cannot connect to %s: %s\n", opts->name, opts->path,
			   strerror(-rc));
		goto err;
	}
	rc = vblk_handshake(dev, opts->vq_count);
	if (rc != 0) {
		goto err;
	}
	dev->mem_map = usk_mem_map_alloc(0, &g_vblk_map_ops, dev);
	if (dev->mem_map == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	rc = vblk_send_mem_table(dev);
	if (rc != 0) {
		goto err;
	}
	dev->mem_table_sent = true;
	dev->queues = calloc(dev->vq_count, sizeof(*dev->queues));
	if (dev->queues == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	for (i = 0; i < dev->vq_count; i++) {
		dev->queues[i].kickfd = -1;
		dev->queues[i].callfd = -1;
	}
	for (i = 0; i < dev->vq_count; i++) {
		rc = vblk_setup_queue(dev, i);
		if (rc != 0) {
			USK_ERRLOG("virtio_blk %s: setting up queue %u failed: %s\n", opts->name, i,
				   strerror(-rc));
			goto err;
		}
	}
	dev->bdev.product_name = "VirtioBlk Disk";
	dev->bdev.blocklen = dev->params.blk_size;
	dev->bdev.blockcnt = dev->params.num_blocks;
	dev->bdev.write_cache = dev->params.flush;
	dev->bdev.max_num_segments = dev->max_bufs - 2;
	/* Descriptor lengths are 32 bits: without a back-end limit, segments stop at 2 GiB. */
	dev->bdev.max_segment_size = dev->params.size_max != 0 ? dev->params.size_max : 1u << 31;
	dev->bdev.ctxt = dev;
	dev->bdev.fn_table = &g_vblk_fn_table;
	dev->bdev.module = &g_vblk_module;
	rc = usk_io_device_register(dev, vblk_ch_create, vblk_ch_destroy,
				    sizeof(struct vblk_channel), dev->bdev.name);
	if (rc != 0) {
		USK_ERRLOG("virtio_blk %s: cannot register io_device: %s\n", opts->name,
			   strerror(-rc));
		goto err;
	}
	if (usk_interrupt_mode_is_enabled()) {
		dev->monitor_intr = usk_interrupt_register(dev->client.fd, vblk_monitor, dev,
							   "virtio_blk_monitor");
	} else {
		dev->monitor = usk_poller_register_named(vblk_monitor, dev, VBLK_MONITOR_US,
							 "virtio_blk_monitor");
	}
	if (dev->monitor == NULL && dev->monitor_intr == NULL) {
		rc = -ENOMEM;
		goto err_unregister_device;
	}
	rc = usk_bdev_register(&dev->bdev);
	if (rc != 0) {
		goto err_unregister_device;
	}
	TAILQ_INSERT_TAIL(&g_vblk_devs, dev, link);
	USK_NOTICELOG("virtio_blk %s: %s, %" PRIu64 " blocks of %u, %u queue(s) of %u, %s "
		      "descriptors, up to %u segments\n",
		      opts->name, opts->path, dev->params.num_blocks, dev->params.blk_size,
		      dev->vq_count, dev->vq_size,
		      (dev->features & (1ULL << USK_VIRTIO_F_RING_INDIRECT_DESC)) ? "indirect" :
										    "direct",
		      dev->max_bufs - 2);
	*bdev = &dev->bdev;
	return 0;

err_unregister_device:
	usk_poller_unregister(&dev->monitor);
	if (dev->monitor_intr != NULL) {
		usk_interrupt_unregister(&dev->monitor_intr);
	}
	/* No channel exists yet: the device goes at once, then the rest is freed. */
	dev->failed = true;
	usk_io_device_unregister(dev, NULL);
err:
	vblk_free(dev);
	return rc;
}

int
bdev_virtio_blk_detach(const char *name, usk_bdev_unregister_cb cb_fn, void *cb_arg)
{
	return usk_bdev_unregister_by_name(name, &g_vblk_module, cb_fn, cb_arg);
}
