/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-blk data path of a vhost-user-blk controller (its thread only): requests taken from
 * the virtqueues in batches, adjacent reads or writes merged as QEMU's virtio_blk_submit_multireq
 * does, submitted to the bdev, completed into the used ring; one eventfd write per queue per
 * batch, with SPDK's interrupt coalescing and the driver's notification suppression.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "usk/env.h"
#include "usk/log.h"
#include "vhost_internal.h"

static void task_submit(struct vhost_blk_task *task);

uint64_t
vhost_blk_features(const struct vhost_blk_dev *dev)
{
	uint64_t f = (1ULL << USK_VIRTIO_F_VERSION_1) | (1ULL << USK_VIRTIO_F_RING_INDIRECT_DESC) |
		     (1ULL << USK_VIRTIO_F_RING_EVENT_IDX) |
		     (1ULL << USK_VHOST_USER_F_PROTOCOL_FEATURES) |
		     (1ULL << USK_VIRTIO_BLK_F_SEG_MAX) | (1ULL << USK_VIRTIO_BLK_F_BLK_SIZE) |
		     (1ULL << USK_VIRTIO_BLK_F_TOPOLOGY) | (1ULL << USK_VIRTIO_BLK_F_FLUSH) |
		     (1ULL << USK_VIRTIO_BLK_F_MQ);

	if (dev->packed_ring) {
		f |= 1ULL << USK_VIRTIO_F_RING_PACKED;
	}
	if (dev->readonly) {
		f |= 1ULL << USK_VIRTIO_BLK_F_RO;
	} else {
		f |= 1ULL << USK_VIRTIO_BLK_F_WRITE_ZEROES;
		if (dev->bdev && usk_bdev_io_type_supported(dev->bdev, USK_BDEV_IO_TYPE_UNMAP)) {
			f |= 1ULL << USK_VIRTIO_BLK_F_DISCARD;
		}
	}
	return f;
}

#define VHOST_MAX_DISCARD_SECTORS (1u << 20)

void
vhost_blk_get_config(const struct vhost_blk_dev *dev, struct usk_virtio_blk_config *cfg)
{
	uint32_t sectors_per_block = dev->block_size / USK_VIRTIO_BLK_SECTOR_SIZE;

	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = dev->num_blocks * sectors_per_block;
	/* Leave room for the header, the status and descriptors split across memory regions. */
	cfg->seg_max = VHOST_MAX_IOVS - 8;
	cfg->blk_size = dev->block_size;
	cfg->topology.min_io_size = 1;
	cfg->num_queues = VHOST_MAX_QUEUES;
	cfg->max_discard_sectors = VHOST_MAX_DISCARD_SECTORS;
	cfg->max_discard_seg = 1;
	cfg->discard_sector_alignment = sectors_per_block;
	cfg->max_write_zeroes_sectors = VHOST_MAX_DISCARD_SECTORS;
	cfg->max_write_zeroes_seg = 1;
}

uint32_t
vhost_blk_inflight(const struct vhost_blk_dev *dev)
{
	uint32_t n = 0, i;

	for (i = 0; i < VHOST_MAX_QUEUES; i++) {
		n += dev->vqs[i].inflight_cnt;
	}
	return n;
}

/* ---- packed inflight region (vhost-user.rst "Inflight I/O tracking", packed virtqueues) ----
 *
 * One DescStatePacked per ring slot. Free entries form a list through next (free_head); a
 * fetched chain takes ndescs entries from it, the first (its header) holding inflight, num,
 * last and counter, each holding a copy of one ring descriptor (the ring slots themselves are
 * overwritten by used elements of other requests before this one completes). free_head,
 * used_idx and used_wrap_counter are the working values, the old_* copies the committed ones:
 * a restart finds at most one fetch or one completion half done and finishes or undoes it.
 */

/* Record a fetched chain (copies of its ndescs descriptors). Returns false when the region's
 * free list does not hold them (a front-end scribbled on it). */
static bool
inflight_packed_fetch(struct vhost_vq *vq, struct vhost_blk_task *task,
		      const struct usk_vring_packed_desc *descs, uint16_t ndescs)
{
	struct usk_vhost_inflight_packed *inf = vq->inflight_pk;
	uint16_t hdr = inf->old_free_head, cur = hdr, last = hdr, i;

	for (i = 0; i < ndescs; i++) {
		if (cur >= vq->size) {
			return false;
		}
		inf->desc[cur].addr = descs[i].addr;
		inf->desc[cur].len = descs[i].len;
		inf->desc[cur].flags = descs[i].flags;
		inf->desc[cur].id = descs[i].id;
		last = cur;
		cur = inf->desc[cur].next;
	}
	inf->desc[hdr].num = ndescs;
	inf->desc[hdr].last = last;
	inf->desc[hdr].counter = ++vq->inflight_counter;
	inf->free_head = cur;
	/* The record is complete before it is marked, and marked before it is committed. */
	__atomic_store_n(&inf->desc[hdr].inflight, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&inf->old_free_head, cur, __ATOMIC_RELEASE);
	task->inflight_head = hdr;
	task->inflight_last = last;
	return true;
}

/* Give back a chain's entries, publish its used element, then commit. */
static void
inflight_packed_complete(struct vhost_vq *vq, struct vhost_blk_task *task)
{
	struct usk_vhost_inflight_packed *inf = vq->inflight_pk;
	uint32_t used = (uint32_t)vq->last_used_idx + task->ndescs;
	uint8_t wrap = vq->used_wrap;

	if (used >= vq->size) {
		used -= vq->size;
		wrap = !wrap;
	}
	inf->desc[task->inflight_last].next = inf->free_head;
	inf->free_head = task->inflight_head;
	inf->used_idx = (uint16_t)used;
	inf->used_wrap_counter = wrap;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vring_packed_push_used(vq, task->id, task->used_len, task->ndescs);
	__atomic_store_n(&inf->desc[task->inflight_head].inflight, 0, __ATOMIC_RELEASE);
	inf->old_free_head = inf->free_head;
	inf->old_used_idx = inf->used_idx;
	__atomic_store_n(&inf->old_used_wrap_counter, inf->used_wrap_counter, __ATOMIC_RELEASE);
}

/* A chain fetched and then found malformed: its entries go back to the free list. */
static void
inflight_packed_unfetch(struct vhost_vq *vq, struct vhost_blk_task *task)
{
	struct usk_vhost_inflight_packed *inf = vq->inflight_pk;

	__atomic_store_n(&inf->desc[task->inflight_head].inflight, 0, __ATOMIC_RELEASE);
	inf->desc[task->inflight_last].next = inf->free_head;
	inf->free_head = task->inflight_head;
	inf->old_free_head = inf->free_head;
}

/* ---- completion ---- */

static void
signal_flush_msg(void *arg)
{
	struct vhost_blk_dev *dev = arg;

	dev->signal_pending = false;
	vhost_blk_signal_all(dev, usk_get_ticks());
}

static void
task_complete(struct vhost_blk_task *task, uint8_t status)
{
	struct vhost_vq *vq = task->vq;
	struct vhost_blk_dev *dev = task->dev;
	struct usk_vhost_inflight_split *inf = vq->inflight;

	*task->status = status;
	task->state = VHOST_TASK_FREE;
	task->mr_next = NULL;
	task->merge = NULL;
	vq->inflight_cnt--;
	if (vq->packed) {
		vq->inflight_descs -= task->ndescs;
		if (vq->inflight_pk != NULL) {
			inflight_packed_complete(vq, task);
		} else {
			vring_packed_push_used(vq, task->id, task->used_len, task->ndescs);
		}
	} else {
		/* Inflight protocol (vhost-user.rst): name the batch head, publish, then clear. */
		if (inf != NULL) {
			inf->last_batch_head = task->id;
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
		}
		vring_split_push_used(vq, task->id, task->used_len);
		if (inf != NULL) {
			__atomic_store_n(&inf->desc[task->id].inflight, 0, __ATOMIC_RELEASE);
			__atomic_store_n(&inf->used_idx, vq->last_used_idx, __ATOMIC_RELEASE);
		}
	}
	if (usk_interrupt_mode_is_enabled() && !dev->signal_pending) {
		/* One signal per batch of completions: the message runs after this poll's batch. */
		if (usk_thread_send_msg(dev->thread, signal_flush_msg, dev) == 0) {
			dev->signal_pending = true;
		} else {
			vhost_blk_signal_all(dev, usk_get_ticks());
		}
	}
}

static void
bdev_done(struct usk_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct vhost_blk_task *task = cb_arg, *next;

	usk_bdev_free_io(bdev_io);
	if (task->merge != NULL) {
		task->merge->used = false;
	}
	for (; task != NULL; task = next) {
		next = task->mr_next;
		task_complete(task, success ? USK_VIRTIO_BLK_S_OK : USK_VIRTIO_BLK_S_IOERR);
	}
}

static void
fail_chain(struct vhost_blk_task *task, uint8_t status)
{
	struct vhost_blk_task *next;

	if (task->merge != NULL) {
		task->merge->used = false;
	}
	for (; task != NULL; task = next) {
		next = task->mr_next;
		task_complete(task, status);
	}
}

static void
task_retry(void *arg)
{
	task_submit(arg);
}

/* ---- request decoding ---- */

/* Drop n bytes from the front of iovs[*start, end) (the request header). */
static int
iov_skip(struct iovec *iovs, uint16_t *start, uint16_t end, size_t n)
{
	while (n > 0 && *start < end) {
		struct iovec *v = &iovs[*start];

		if (v->iov_len > n) {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= n;
			return 0;
		}
		n -= v->iov_len;
		(*start)++;
	}
	return n == 0 ? 0 : -EINVAL;
}

static bool
range_ok(const struct vhost_blk_dev *dev, uint64_t sector, uint64_t nbytes)
{
	uint64_t offset, end;

	if (nbytes % dev->block_size != 0 || sector > UINT64_MAX / USK_VIRTIO_BLK_SECTOR_SIZE) {
		return false;
	}
	offset = sector * USK_VIRTIO_BLK_SECTOR_SIZE;
	return offset % dev->block_size == 0 && !__builtin_add_overflow(offset, nbytes, &end) &&
	       end <= dev->num_blocks * dev->block_size;
}

/*
 * Fill task from its walked chain. Returns 0 (task ready: submit it), 1 (already completed with
 * an error status), -EINVAL (no status byte: a protocol error that closes the connection).
 */
static int
task_setup(struct vhost_blk_dev *dev, struct vhost_blk_task *task, const struct vring_chain *chain)
{
	struct usk_virtio_blk_outhdr hdr;
	uint16_t start = 0;
	struct iovec *last;

	task->id = chain->id;
	task->ndescs = chain->ndescs;
	task->mr_next = NULL;
	task->merge = NULL;
	if (chain->in_len == 0 || chain->iovcnt == chain->out_iovcnt) {
		return -EINVAL;
	}
	last = &task->iovs[chain->iovcnt - 1];
	task->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	task->used_len = 1;
	if (chain->out_len < sizeof(hdr)) {
		task_complete(task, USK_VIRTIO_BLK_S_IOERR);
		return 1;
	}
	usk_iov_to_buf(task->iovs, chain->out_iovcnt, &hdr, sizeof(hdr));
	task->type = hdr.type;
	task->sector = hdr.sector;
	iov_skip(task->iovs, &start, chain->out_iovcnt, sizeof(hdr));
	switch (hdr.type) {
	case USK_VIRTIO_BLK_T_IN:
	case USK_VIRTIO_BLK_T_GET_ID:
		/* Data: the writable bytes before the status byte. */
		last->iov_len--;
		task->data_iovs = &task->iovs[chain->out_iovcnt];
		task->data_iovcnt =
			chain->iovcnt - chain->out_iovcnt - (last->iov_len == 0 ? 1 : 0);
		task->nbytes = chain->in_len - 1;
		if (hdr.type == USK_VIRTIO_BLK_T_IN) {
			task->used_len = chain->in_len;
		}
		break;
	default:
		task->data_iovs = &task->iovs[start];
		task->data_iovcnt = chain->out_iovcnt - start;
		task->nbytes = chain->out_len - sizeof(hdr);
		break;
	}
	switch (hdr.type) {
	case USK_VIRTIO_BLK_T_IN:
	case USK_VIRTIO_BLK_T_OUT:
		if ((hdr.type == USK_VIRTIO_BLK_T_OUT && dev->readonly) ||
		    !range_ok(dev, hdr.sector, task->nbytes)) {
			task_complete(task, USK_VIRTIO_BLK_S_IOERR);
			return 1;
		}
		return 0;
	case USK_VIRTIO_BLK_T_FLUSH:
	case USK_VIRTIO_BLK_T_GET_ID:
		return 0;
	case USK_VIRTIO_BLK_T_DISCARD:
	case USK_VIRTIO_BLK_T_WRITE_ZEROES: {
		struct usk_virtio_blk_discard_write_zeroes seg;
		uint32_t allowed = hdr.type == USK_VIRTIO_BLK_T_WRITE_ZEROES ?
					   USK_VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP :
					   0;

		if (!(vhost_blk_features(dev) &
		      (1ULL << (hdr.type == USK_VIRTIO_BLK_T_DISCARD ?
					USK_VIRTIO_BLK_F_DISCARD :
					USK_VIRTIO_BLK_F_WRITE_ZEROES)))) {
			task_complete(task, dev->readonly ? USK_VIRTIO_BLK_S_IOERR :
							    USK_VIRTIO_BLK_S_UNSUPP);
			return 1;
		}
		if (task->nbytes != sizeof(seg)) {
			/* max_discard_seg and max_write_zeroes_seg are 1. */
			task_complete(task, USK_VIRTIO_BLK_S_IOERR);
			return 1;
		}
		usk_iov_to_buf(task->data_iovs, task->data_iovcnt, &seg, sizeof(seg));
		if (seg.flags & ~allowed) {
			task_complete(task, USK_VIRTIO_BLK_S_UNSUPP);
			return 1;
		}
		task->sector = seg.sector;
		task->nbytes = (uint64_t)seg.num_sectors * USK_VIRTIO_BLK_SECTOR_SIZE;
		if (seg.num_sectors > VHOST_MAX_DISCARD_SECTORS ||
		    !range_ok(dev, seg.sector, task->nbytes)) {
			task_complete(task, USK_VIRTIO_BLK_S_IOERR);
			return 1;
		}
		return 0;
	}
	default:
		task_complete(task, USK_VIRTIO_BLK_S_UNSUPP);
		return 1;
	}
}

/* ---- submission ---- */

static void
task_submit(struct vhost_blk_task *task)
{
	struct vhost_blk_dev *dev = task->dev;
	struct iovec *iovs = task->merge ? task->merge->iovs : task->data_iovs;
	int iovcnt = task->data_iovcnt;
	uint64_t offset_blocks = task->sector * USK_VIRTIO_BLK_SECTOR_SIZE / dev->block_size;
	uint64_t nbytes = task->nbytes, num_blocks;
	struct vhost_blk_task *t;
	int rc;

	if (task->merge) {
		for (t = task->mr_next, nbytes = task->nbytes, iovcnt = task->data_iovcnt; t;
		     t = t->mr_next) {
			nbytes += t->nbytes;
			iovcnt += t->data_iovcnt;
		}
	}
	num_blocks = nbytes / dev->block_size;
	if (dev->bdev_desc == NULL) {
		fail_chain(task, USK_VIRTIO_BLK_S_IOERR);
		return;
	}
	task->state = VHOST_TASK_SUBMITTED;
	switch (task->type) {
	case USK_VIRTIO_BLK_T_IN:
		rc = usk_bdev_readv_blocks(dev->bdev_desc, dev->ch, iovs, iovcnt, offset_blocks,
					   num_blocks, bdev_done, task);
		break;
	case USK_VIRTIO_BLK_T_OUT:
		rc = usk_bdev_writev_blocks(dev->bdev_desc, dev->ch, iovs, iovcnt, offset_blocks,
					    num_blocks, bdev_done, task);
		break;
	case USK_VIRTIO_BLK_T_FLUSH:
		rc = usk_bdev_flush_blocks(dev->bdev_desc, dev->ch, 0, dev->num_blocks, bdev_done,
					   task);
		break;
	case USK_VIRTIO_BLK_T_DISCARD:
		rc = usk_bdev_unmap_blocks(dev->bdev_desc, dev->ch, offset_blocks, num_blocks,
					   bdev_done, task);
		break;
	case USK_VIRTIO_BLK_T_WRITE_ZEROES:
		rc = usk_bdev_write_zeroes_blocks(dev->bdev_desc, dev->ch, offset_blocks,
						  num_blocks, bdev_done, task);
		break;
	case USK_VIRTIO_BLK_T_GET_ID: {
		/* The serial: the bdev name, NUL-padded, not terminated when it fills 20 bytes. */
		char id[USK_VIRTIO_BLK_ID_BYTES] = {0};

		memcpy(id, dev->bdev_name, USK_MIN(strlen(dev->bdev_name), sizeof(id)));
		usk_iov_from_buf(task->data_iovs, task->data_iovcnt, id, sizeof(id));
		task->used_len = (uint32_t)USK_MIN(task->nbytes, sizeof(id)) + 1;
		task_complete(task, USK_VIRTIO_BLK_S_OK);
		return;
	}
	default:
		rc = -EINVAL;
		break;
	}
	if (rc == -ENOMEM) {
		task->state = VHOST_TASK_WAIT_IO;
		task->wait.bdev = dev->bdev;
		task->wait.cb_fn = task_retry;
		task->wait.cb_arg = task;
		if (usk_bdev_queue_io_wait(dev->bdev, dev->ch, &task->wait) == 0) {
			return;
		}
		task_submit(task);
		return;
	}
	if (rc != 0) {
		fail_chain(task, USK_VIRTIO_BLK_S_IOERR);
	}
}

/* Stable insertion sort by sector (n <= VHOST_BATCH), as QEMU's qsort(multireq_compare). */
void
vhost_blk_sort_tasks(struct vhost_blk_task **tasks, int n)
{
	int i, j;

	for (i = 1; i < n; i++) {
		struct vhost_blk_task *t = tasks[i];

		for (j = i; j > 0 && tasks[j - 1]->sector > t->sector; j--) {
			tasks[j] = tasks[j - 1];
		}
		tasks[j] = t;
	}
}

/*
 * Does any task start where another ends? One pass over an open-addressed table of end sectors
 * (n <= VHOST_BATCH), so a batch of random requests costs no sort.
 */
bool
vhost_blk_any_adjacent(struct vhost_blk_task *const *tasks, int n)
{
	enum {
		SLOTS = 2 * VHOST_BATCH
	};
	uint64_t ends[SLOTS];
	bool used[SLOTS] = {false};
	int i;

	for (i = 0; i < n; i++) {
		uint64_t end = tasks[i]->sector + tasks[i]->nbytes / USK_VIRTIO_BLK_SECTOR_SIZE;
		uint32_t h = (uint32_t)(end * 0x9E3779B97F4A7C15ull >> 58);

		while (used[h] && ends[h] != end) {
			h = (h + 1) % SLOTS;
		}
		used[h] = true;
		ends[h] = end;
	}
	for (i = 0; i < n; i++) {
		uint64_t start = tasks[i]->sector;
		uint32_t h = (uint32_t)(start * 0x9E3779B97F4A7C15ull >> 58);

		for (; used[h]; h = (h + 1) % SLOTS) {
			if (ends[h] == start) {
				return true;
			}
		}
	}
	return false;
}

static struct vhost_blk_merge *
merge_get(struct vhost_blk_dev *dev)
{
	uint32_t i;

	for (i = 0; i < VHOST_MERGE_SLOTS; i++) {
		if (!dev->merges[i].used) {
			dev->merges[i].used = true;
			return &dev->merges[i];
		}
	}
	return NULL;
}

static void
submit_run(struct vhost_blk_dev *dev, struct vhost_blk_task **tasks, int n)
{
	struct vhost_blk_merge *m;
	int i, k = 0;

	if (n > 1 && (m = merge_get(dev)) != NULL) {
		for (i = 0; i < n; i++) {
			memcpy(&m->iovs[k], tasks[i]->data_iovs,
			       tasks[i]->data_iovcnt * sizeof(struct iovec));
			k += tasks[i]->data_iovcnt;
			tasks[i]->mr_next = i + 1 < n ? tasks[i + 1] : NULL;
		}
		tasks[0]->merge = m;
		task_submit(tasks[0]);
		return;
	}
	for (i = 0; i < n; i++) {
		task_submit(tasks[i]);
	}
}

/*
 * QEMU's virtio_blk_submit_multireq: sort the window by sector, cut it into runs of sequential
 * requests whose merged iovec count and size stay within the limits, one bdev I/O per run.
 */
static void
submit_multireq(struct vhost_blk_dev *dev, struct vhost_blk_task **tasks, int n)
{
	uint64_t sector_num = 0, nb_sectors = 0;
	int i, start = 0, num = 0;
	uint32_t niov = 0;

	if (n == 1) {
		task_submit(tasks[0]);
		return;
	}
	if (!vhost_blk_any_adjacent(tasks, n)) {
		/* Random I/O: nothing would merge; skip the sort and keep the arrival order. */
		for (i = 0; i < n; i++) {
			task_submit(tasks[i]);
		}
		return;
	}
	vhost_blk_sort_tasks(tasks, n);
	for (i = 0; i < n; i++) {
		struct vhost_blk_task *t = tasks[i];

		if (num > 0 &&
		    (sector_num + nb_sectors != t->sector ||
		     niov + t->data_iovcnt > VHOST_MERGE_MAX_IOVS ||
		     t->nbytes > VHOST_MERGE_MAX_BYTES ||
		     nb_sectors * USK_VIRTIO_BLK_SECTOR_SIZE > VHOST_MERGE_MAX_BYTES - t->nbytes)) {
			submit_run(dev, &tasks[start], num);
			num = 0;
		}
		if (num == 0) {
			sector_num = t->sector;
			nb_sectors = 0;
			niov = 0;
			start = i;
		}
		nb_sectors += t->nbytes / USK_VIRTIO_BLK_SECTOR_SIZE;
		niov += t->data_iovcnt;
		num++;
	}
	submit_run(dev, &tasks[start], num);
}

/* ---- fetching ---- */

/* Undo the fetch of a task that turned out malformed (the connection is closing). */
static void
task_unfetch(struct vhost_vq *vq, struct vhost_blk_task *task)
{
	task->state = VHOST_TASK_FREE;
	vq->inflight_cnt--;
	if (vq->packed) {
		vq->inflight_descs -= task->ndescs;
		if (vq->inflight_pk != NULL) {
			inflight_packed_unfetch(vq, task);
		}
	} else if (vq->inflight != NULL) {
		vq->inflight->desc[task->id].inflight = 0;
	}
}

/*
 * Parse a fetched task's request. *slot gets the task, or NULL when it completed at once.
 * Returns 0, or -EINVAL after closing the connection (the task is given back first).
 */
static int
fetch_setup(struct vhost_blk_dev *dev, struct vhost_vq *vq, struct vhost_blk_task *task,
	    const struct vring_chain *chain, struct vhost_blk_task **slot)
{
	int rc = task_setup(dev, task, chain);

	if (rc < 0) {
		task_unfetch(vq, task);
		vhost_user_close_conn(dev, "request without a status byte");
		return -EINVAL;
	}
	*slot = rc == 0 ? task : NULL;
	return 0;
}

/*
 * Take up to VHOST_BATCH requests; *count says how many went into batch (NULL entries were
 * completed at once). Returns 0, or -EINVAL after closing the connection on bad input (the
 * requests taken before it are still in batch and must be submitted).
 */
static int
fetch_split(struct vhost_blk_dev *dev, struct vhost_vq *vq, struct vhost_blk_task **batch,
	    int *count)
{
	struct vring_chain chain;
	int avail, n = 0, rc;
	uint16_t head;

	*count = 0;

	avail = vring_split_avail_count(vq);
	if (avail < 0) {
		vhost_user_close_conn(dev,
				      "split ring: avail index ran more than the queue size ahead");
		return -EINVAL;
	}
	avail = USK_MIN(avail, VHOST_BATCH);
	if (avail > 1) {
		vring_split_prefetch(vq, &dev->mem, avail);
	}
	while (n < avail) {
		struct vhost_blk_task *task;

		if (vring_split_next_head(vq, &head) != 0) {
			vhost_user_close_conn(dev, "split ring: avail entry out of range");
			return -EINVAL;
		}
		task = &vq->tasks[head];
		if (task->state != VHOST_TASK_FREE) {
			vhost_user_close_conn(dev, "split ring: head made available twice");
			return -EINVAL;
		}
		rc = vring_split_get_chain(vq, &dev->mem, head, task->iovs, VHOST_MAX_IOVS, &chain);
		if (rc != 0) {
			vhost_user_close_conn(dev, rc == -EFAULT ?
							   "descriptor outside guest memory" :
						   rc == -E2BIG ? "descriptor chain too long" :
								  "malformed descriptor chain");
			return -EINVAL;
		}
		task->state = VHOST_TASK_QUEUED;
		task->id = head;
		vq->inflight_cnt++;
		if (vq->inflight != NULL) {
			vq->inflight->desc[head].counter = ++vq->inflight_counter;
			__atomic_store_n(&vq->inflight->desc[head].inflight, 1, __ATOMIC_RELEASE);
		}
		if (fetch_setup(dev, vq, task, &chain, &batch[n]) != 0) {
			return -EINVAL;
		}
		*count = ++n;
	}
	return 0;
}

static int
fetch_packed(struct vhost_blk_dev *dev, struct vhost_vq *vq, struct vhost_blk_task **batch,
	     int *count)
{
	struct iovec scratch[VHOST_MAX_IOVS];
	struct usk_vring_packed_desc descs[VHOST_MAX_PACKED_CHAIN];
	struct vring_chain chain;
	int n = 0, rc;

	*count = 0;

	while (n < VHOST_BATCH && vring_packed_avail(vq)) {
		struct vhost_blk_task *task;

		/* The buffer id that names the task is in the chain's last descriptor: walk into
		 * scratch iovecs, then copy them to the task. */
		rc = vring_packed_get_chain_copy(vq, &dev->mem, descs, USK_COUNTOF(descs), scratch,
						 VHOST_MAX_IOVS, &chain);
		if (rc != 0) {
			vhost_user_close_conn(dev,
					      rc == -EFAULT ? "descriptor outside guest memory" :
					      rc == -E2BIG  ? "descriptor chain too long" :
							      "malformed packed descriptor chain");
			return -EINVAL;
		}
		task = &vq->tasks[chain.id];
		if (task->state != VHOST_TASK_FREE) {
			vhost_user_close_conn(dev, "packed ring: buffer id in use");
			return -EINVAL;
		}
		if (vq->inflight_descs + chain.ndescs > vq->size) {
			vhost_user_close_conn(
				dev, "packed ring: more descriptors in flight than entries");
			return -EINVAL;
		}
		if (vq->inflight_pk != NULL &&
		    !inflight_packed_fetch(vq, task, descs, chain.ndescs)) {
			vhost_user_close_conn(dev, "packed inflight region: free list broken");
			return -EINVAL;
		}
		memcpy(task->iovs, scratch, chain.iovcnt * sizeof(struct iovec));
		vring_packed_advance(vq, chain.ndescs);
		task->state = VHOST_TASK_QUEUED;
		vq->inflight_cnt++;
		vq->inflight_descs += chain.ndescs;
		if (fetch_setup(dev, vq, task, &chain, &batch[n]) != 0) {
			return -EINVAL;
		}
		*count = ++n;
	}
	return 0;
}

static bool
is_rw(const struct vhost_blk_task *t)
{
	return t->type == USK_VIRTIO_BLK_T_IN || t->type == USK_VIRTIO_BLK_T_OUT;
}

/* Take one batch from vq and submit it. Returns the number of requests taken (< 0: closed). */
int
vhost_blk_vq_poll(struct vhost_blk_dev *dev, struct vhost_vq *vq)
{
	struct vhost_blk_task *batch[VHOST_BATCH], *mrb[VHOST_BATCH];
	int n, i, nm = 0, rc;

	if (!vq->live || dev->paused) {
		return 0;
	}
	rc = vq->packed ? fetch_packed(dev, vq, batch, &n) : fetch_split(dev, vq, batch, &n);
	/* QEMU virtio_blk_handle_vq: consecutive requests of one direction form a merge window. */
	for (i = 0; i < n; i++) {
		struct vhost_blk_task *t = batch[i];

		if (t == NULL) {
			continue;
		}
		if (is_rw(t)) {
			if (nm > 0 && mrb[0]->type != t->type) {
				submit_multireq(dev, mrb, nm);
				nm = 0;
			}
			mrb[nm++] = t;
			continue;
		}
		if (nm > 0) {
			submit_multireq(dev, mrb, nm);
			nm = 0;
		}
		task_submit(t);
	}
	if (nm > 0) {
		submit_multireq(dev, mrb, nm);
	}
	return rc < 0 ? rc : n;
}

/* ---- notifications and coalescing ---- */

static void
check_dev_io_stats(struct vhost_blk_dev *dev, uint64_t now)
{
	uint32_t i, req_cnt, threshold = dev->coalescing_io_threshold;

	if (now < dev->next_stats_check_time) {
		return;
	}
	dev->next_stats_check_time = now + dev->stats_check_ticks;
	for (i = 0; i < dev->max_queues; i++) {
		struct vhost_vq *vq = &dev->vqs[i];

		req_cnt = vq->req_cnt + vq->used_since_signal;
		vq->req_cnt = 0;
		if (threshold == 0 || req_cnt <= threshold) {
			/* SPDK keeps the last delay below the threshold; usk drops it, so a queue
			 * that calmed down gets its interrupts at once again. */
			vq->irq_delay_ticks = 0;
			continue;
		}
		vq->irq_delay_ticks =
			dev->coalescing_delay_ticks * (req_cnt - threshold) / threshold;
		vq->next_event_time = now;
	}
}

static void
vq_signal(struct vhost_vq *vq)
{
	uint64_t one = 1;
	ssize_t rc;

	vq->req_cnt += vq->used_since_signal;
	vq->used_since_signal = 0;
	if (vq->callfd >= 0 && vring_need_signal(vq)) {
		rc = write(vq->callfd, &one, sizeof(one));
		(void)rc;
	}
}

void
vhost_blk_signal_all(struct vhost_blk_dev *dev, uint64_t now)
{
	uint32_t i;

	if (dev->coalescing_delay_ticks != 0 && !usk_interrupt_mode_is_enabled()) {
		check_dev_io_stats(dev, now);
	}
	for (i = 0; i < dev->max_queues; i++) {
		struct vhost_vq *vq = &dev->vqs[i];

		if (vq->used_since_signal == 0 || vq->callfd < 0) {
			continue;
		}
		if (vq->irq_delay_ticks != 0 && !usk_interrupt_mode_is_enabled()) {
			if (now < vq->next_event_time) {
				continue;
			}
			vq_signal(vq);
			vq->next_event_time = now + vq->irq_delay_ticks;
			continue;
		}
		vq_signal(vq);
	}
}

void
vhost_blk_set_coalescing_ticks(struct vhost_blk_dev *dev)
{
	uint64_t hz = usk_get_ticks_hz();

	dev->coalescing_delay_ticks = (uint64_t)dev->delay_base_us * hz / USK_SEC_TO_USEC;
	dev->coalescing_io_threshold = dev->iops_threshold * VHOST_STATS_CHECK_INTERVAL_MS / 1000;
	dev->stats_check_ticks = hz * VHOST_STATS_CHECK_INTERVAL_MS / 1000;
	if (dev->coalescing_delay_ticks == 0) {
		for (uint32_t i = 0; i < VHOST_MAX_QUEUES; i++) {
			dev->vqs[i].irq_delay_ticks = 0;
		}
	}
}

/* ---- pollers ---- */

static int
vq_poller(void *arg)
{
	struct vhost_blk_dev *dev = arg;
	uint32_t i;
	int n, busy = 0;

	for (i = 0; i < dev->max_queues; i++) {
		n = vhost_blk_vq_poll(dev, &dev->vqs[i]);
		if (n < 0) {
			return USK_POLLER_BUSY;
		}
		busy += n;
	}
	vhost_blk_signal_all(dev, usk_get_ticks());
	if (busy > 0) {
		dev->idle_polls = 0;
		return USK_POLLER_BUSY;
	}
	if (dev->yield_when_idle && dev->idle_polls > 0) {
		/*
		 * A polled target pinned to a core it shares (an oversubscribed host) waits for its
		 * time slices while its driver, on another core, waits for it. From the second
		 * empty poll in a row give the core to whoever else is runnable instead of spinning
		 * out the slice (sched_yield returns at once when nobody is), as the uring bdev
		 * does for its io-wq workers. 4 KiB randread QD 128 at load 14 on 2 vCPUs: 70-74 K
		 * IOPS spinning, 115-200 K yielding (docs/performance.md).
		 */
		sched_yield();
	}
	dev->idle_polls = 1;
	return USK_POLLER_IDLE;
}

/* Interrupt mode: take everything the driver made available, then ask for the next kick. */
static int
vq_process_notified(struct vhost_blk_dev *dev, struct vhost_vq *vq)
{
	int n, total = 0;

	for (;;) {
		n = vhost_blk_vq_poll(dev, vq);
		if (n < 0) {
			return 1;
		}
		total += n;
		if (n == VHOST_BATCH) {
			continue;
		}
		/* Ask for the next kick, then look once more: a request made available before the
		 * driver saw the new avail_event would otherwise wait for the next one. */
		vring_set_notification(vq, true);
		if (!vq->live || dev->paused ||
		    (vq->packed ? !vring_packed_avail(vq) : vring_split_avail_count(vq) == 0)) {
			/* (Paused: a held message waits for a drain; its end polls the queues
			 * again.) */
			break;
		}
	}
	vhost_blk_signal_all(dev, usk_get_ticks());
	return total > 0;
}

static int
vq_kick_handler(void *arg)
{
	struct vhost_vq *vq = arg;
	struct vhost_blk_dev *dev = USK_CONTAINEROF(vq - vq->index, struct vhost_blk_dev, vqs);
	uint64_t v;
	ssize_t rc;

	rc = read(vq->kickfd, &v, sizeof(v));
	(void)rc;
	return vq_process_notified(dev, vq);
}

void
vhost_blk_resume(struct vhost_blk_dev *dev)
{
	uint32_t i;

	/* Kicks that came while paused were consumed without fetching: look at every ring. */
	if (!usk_interrupt_mode_is_enabled()) {
		return;
	}
	for (i = 0; i < VHOST_MAX_QUEUES; i++) {
		if (dev->vqs[i].live) {
			vq_process_notified(dev, &dev->vqs[i]);
		}
	}
}

void
vhost_blk_update_poller(struct vhost_blk_dev *dev)
{
	uint16_t i, max = 0;
	bool need_poll = !usk_interrupt_mode_is_enabled();

	for (i = 0; i < VHOST_MAX_QUEUES; i++) {
		if (dev->vqs[i].live || dev->vqs[i].inflight_cnt > 0 ||
		    dev->vqs[i].used_since_signal) {
			max = i + 1;
		}
		if (dev->vqs[i].live && dev->vqs[i].kickfd < 0) {
			/* A front-end that gave no kick fd ("no fd" bit) is polled even in
			 * interrupt mode: nothing would wake us for it. */
			need_poll = true;
		}
	}
	dev->max_queues = max;
	if (!need_poll) {
		if (dev->vq_poller != NULL) {
			usk_poller_unregister(&dev->vq_poller);
		}
		return;
	}
	if (max > 0 && dev->vq_poller == NULL) {
		cpu_set_t set;

		/* (Runs on the controller thread: the affinity is that of its reactor.) */
		dev->yield_when_idle = sched_getaffinity(0, sizeof(set), &set) == 0 &&
				       CPU_COUNT(&set) == 1;
		dev->idle_polls = 0;
		dev->vq_poller = usk_poller_register_named(vq_poller, dev, 0, "vhost_vq_poller");
	} else if (max == 0 && dev->vq_poller != NULL) {
		usk_poller_unregister(&dev->vq_poller);
	}
}

/* ---- queue start / stop ---- */

/* Split ring after a restart of usk_tgt: resubmit what the inflight region says never completed. */
static int
resubmit_inflight(struct vhost_blk_dev *dev, struct vhost_vq *vq)
{
	struct usk_vhost_inflight_split *inf = vq->inflight;
	uint16_t used_idx = __atomic_load_n(&vq->split.used->idx, __ATOMIC_ACQUIRE);
	uint16_t heads[USK_VIRTQ_MAX_SIZE > 1024 ? 1024 : USK_VIRTQ_MAX_SIZE];
	uint32_t n = 0, i, j;

	if (inf->version != USK_VHOST_INFLIGHT_VERSION || inf->desc_num != vq->size) {
		/* A fresh region (QEMU zero-fills it): claim it. */
		memset(inf->desc, 0, sizeof(inf->desc[0]) * vq->size);
		inf->version = USK_VHOST_INFLIGHT_VERSION;
		inf->desc_num = vq->size;
		inf->features = dev->features;
		inf->used_idx = used_idx;
		inf->last_batch_head = 0;
		vq->last_used_idx = used_idx;
		return 0;
	}
	if (inf->used_idx != used_idx) {
		/* We died between publishing used->idx and clearing the batch head (an index the
		 * front-end can write: checked). */
		if (inf->last_batch_head >= vq->size) {
			USK_ERRLOG("vhost %s: queue %u: inflight last_batch_head %u out of range\n",
				   dev->name, vq->index, inf->last_batch_head);
			return -EINVAL;
		}
		inf->desc[inf->last_batch_head].inflight = 0;
		inf->used_idx = used_idx;
	}
	vq->last_used_idx = used_idx;
	vq->inflight_counter = 0;
	for (i = 0; i < vq->size && n < USK_COUNTOF(heads); i++) {
		if (inf->desc[i].inflight == 1) {
			heads[n++] = (uint16_t)i;
			vq->inflight_counter = USK_MAX(vq->inflight_counter, inf->desc[i].counter);
		} else {
			inf->desc[i].inflight = 0;
		}
	}
	/* Oldest first. */
	for (i = 1; i < n; i++) {
		uint16_t h = heads[i];

		for (j = i; j > 0 && inf->desc[heads[j - 1]].counter > inf->desc[h].counter; j--) {
			heads[j] = heads[j - 1];
		}
		heads[j] = h;
	}
	/* Every fetched request is either used (used_idx of them) or in flight (n). */
	vq->last_avail_idx = (uint16_t)(used_idx + n);
	if (n > 0) {
		USK_NOTICELOG("vhost %s: queue %u resubmits %u in-flight requests\n", dev->name,
			      vq->index, n);
	}
	for (i = 0; i < n; i++) {
		struct vhost_blk_task *task = &vq->tasks[heads[i]];
		struct vring_chain chain;
		int rc;

		rc = vring_split_get_chain(vq, &dev->mem, heads[i], task->iovs, VHOST_MAX_IOVS,
					   &chain);
		if (rc != 0) {
			return rc;
		}
		task->state = VHOST_TASK_QUEUED;
		vq->inflight_cnt++;
		rc = task_setup(dev, task, &chain);
		if (rc < 0) {
			return rc;
		}
		if (rc == 0) {
			task_submit(task);
		}
	}
	return 0;
}

/* Claim a fresh (or foreign) packed region: every entry free, positions from SET_VRING_BASE. */
static void
inflight_packed_claim(struct vhost_blk_dev *dev, struct vhost_vq *vq)
{
	struct usk_vhost_inflight_packed *inf = vq->inflight_pk;
	uint16_t i;

	memset(inf->desc, 0, sizeof(inf->desc[0]) * vq->size);
	for (i = 0; i < vq->size; i++) {
		inf->desc[i].next = i + 1;
	}
	inf->features = dev->features;
	inf->desc_num = vq->size;
	inf->free_head = inf->old_free_head = 0;
	inf->used_idx = inf->old_used_idx = vq->last_used_idx;
	inf->used_wrap_counter = inf->old_used_wrap_counter = vq->used_wrap;
	__atomic_store_n(&inf->version, USK_VHOST_INFLIGHT_VERSION, __ATOMIC_RELEASE);
}

/*
 * Packed ring after a restart of usk_tgt. SET_VRING_BASE is no help here: QEMU cannot read a
 * packed ring's used position back when the back-end died, so the region's committed positions
 * are the truth. Every chain fetched is either used (up to old_used_idx) or in flight (its num
 * entries in the region), so fetching resumes at old_used_idx plus their descriptors. Indexes
 * read from the region are checked: the front-end can write it.
 */
static int
resubmit_inflight_packed(struct vhost_blk_dev *dev, struct vhost_vq *vq)
{
	struct usk_vhost_inflight_packed *inf = vq->inflight_pk;
	uint16_t heads[USK_VIRTQ_MAX_SIZE > 1024 ? 1024 : USK_VIRTQ_MAX_SIZE];
	struct usk_vring_packed_desc descs[VHOST_MAX_PACKED_CHAIN];
	uint32_t n = 0, i, j, total = 0, pos;
	uint8_t *owned;
	uint16_t prev;
	int rc = 0;

	if (inf->version != USK_VHOST_INFLIGHT_VERSION || inf->desc_num != vq->size ||
	    !(inf->features & (1ULL << USK_VIRTIO_F_RING_PACKED))) {
		inflight_packed_claim(dev, vq);
		return 0;
	}
	if (inf->free_head > vq->size || inf->old_free_head > vq->size ||
	    inf->used_idx >= vq->size || inf->old_used_idx >= vq->size ||
	    inf->used_wrap_counter > 1 || inf->old_used_wrap_counter > 1) {
		USK_ERRLOG("vhost %s: queue %u: packed inflight region positions out of range\n",
			   dev->name, vq->index);
		return -EINVAL;
	}
	if (inf->used_idx != inf->old_used_idx ||
	    inf->used_wrap_counter != inf->old_used_wrap_counter) {
		/* We died inside a completion. Its chain (now at free_head) was used if the ring
		 * slot at the committed used position carries the device's USED bit of that lap. */
		uint16_t flags = vq->pk.desc[inf->old_used_idx].flags;
		bool published = !!(flags & USK_VRING_PACKED_DESC_F_USED) ==
				 inf->old_used_wrap_counter;

		if (published && inf->free_head < vq->size) {
			inf->desc[inf->free_head].inflight = 0;
			inf->old_used_idx = inf->used_idx;
			inf->old_used_wrap_counter = inf->used_wrap_counter;
		}
	}
	/* A fetch that died before marking its header left nothing in flight; one marked and not
	 * committed counts as in flight. Either way the free list is rebuilt below. */
	vq->last_used_idx = inf->old_used_idx;
	vq->used_wrap = inf->old_used_wrap_counter;
	vq->inflight_counter = 0;
	for (i = 0; i < vq->size && n < USK_COUNTOF(heads); i++) {
		if (inf->desc[i].inflight == 1) {
			heads[n++] = (uint16_t)i;
			vq->inflight_counter = USK_MAX(vq->inflight_counter, inf->desc[i].counter);
		}
	}
	for (i = 1; i < n; i++) {
		uint16_t h = heads[i];

		for (j = i; j > 0 && inf->desc[heads[j - 1]].counter > inf->desc[h].counter; j--) {
			heads[j] = heads[j - 1];
		}
		heads[j] = h;
	}
	/* Which entries the in-flight chains hold; the free list is rebuilt from the rest. */
	owned = calloc(vq->size, 1);
	if (owned == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < n && rc == 0; i++) {
		uint16_t e = heads[i], num = inf->desc[e].num;

		if (num == 0 || num > VHOST_MAX_PACKED_CHAIN || total + num > vq->size) {
			rc = -EINVAL;
			break;
		}
		total += num;
		for (j = 0; j < num; j++) {
			if (e >= vq->size || owned[e]) {
				rc = -EINVAL;
				break;
			}
			owned[e] = 1;
			if (j + 1 < num) {
				e = inf->desc[e].next;
			}
		}
		if (rc == 0 && inf->desc[heads[i]].last != e) {
			rc = -EINVAL;
		}
	}
	if (rc != 0) {
		free(owned);
		USK_ERRLOG("vhost %s: queue %u: packed inflight region chains are inconsistent\n",
			   dev->name, vq->index);
		return rc;
	}
	prev = UINT16_MAX;
	for (i = 0; i < vq->size; i++) {
		if (owned[i]) {
			continue;
		}
		if (prev == UINT16_MAX) {
			inf->free_head = (uint16_t)i;
		} else {
			inf->desc[prev].next = (uint16_t)i;
		}
		prev = (uint16_t)i;
	}
	if (prev == UINT16_MAX) {
		inf->free_head = vq->size;
	} else {
		inf->desc[prev].next = vq->size;
	}
	free(owned);
	inf->old_free_head = inf->free_head;
	inf->used_idx = inf->old_used_idx;
	inf->used_wrap_counter = inf->old_used_wrap_counter;

	pos = (uint32_t)vq->last_used_idx + total;
	vq->avail_wrap = vq->used_wrap;
	if (pos >= vq->size) {
		pos -= vq->size;
		vq->avail_wrap = !vq->avail_wrap;
	}
	vq->last_avail_idx = (uint16_t)pos;
	if (n > 0) {
		USK_NOTICELOG("vhost %s: queue %u resubmits %u in-flight requests (packed)\n",
			      dev->name, vq->index, n);
	}
	for (i = 0; i < n; i++) {
		uint16_t e = heads[i], num = inf->desc[e].num;
		struct vhost_blk_task *task;
		struct vring_chain chain;

		for (j = 0; j < num; j++) {
			descs[j] = (struct usk_vring_packed_desc){
				.addr = inf->desc[e].addr,
				.len = inf->desc[e].len,
				.id = inf->desc[e].id,
				.flags = inf->desc[e].flags,
			};
			e = inf->desc[e].next;
		}
		/* The buffer id is in the chain's last descriptor (the indirect one when alone). */
		if (descs[num - 1].id >= vq->size) {
			return -EINVAL;
		}
		task = &vq->tasks[descs[num - 1].id];
		if (task->state != VHOST_TASK_FREE) {
			return -EINVAL;
		}
		rc = vring_packed_walk_descs(vq, &dev->mem, descs, num, task->iovs, VHOST_MAX_IOVS,
					     &chain);
		if (rc != 0) {
			return rc;
		}
		task->inflight_head = heads[i];
		task->inflight_last = inf->desc[heads[i]].last;
		task->state = VHOST_TASK_QUEUED;
		vq->inflight_cnt++;
		vq->inflight_descs += num;
		rc = task_setup(dev, task, &chain);
		if (rc < 0) {
			return rc;
		}
		if (rc == 0) {
			task_submit(task);
		}
	}
	return 0;
}

int
vhost_blk_vq_start(struct vhost_blk_dev *dev, struct vhost_vq *vq)
{
	uint16_t i;

	vq->packed = dev->features & (1ULL << USK_VIRTIO_F_RING_PACKED);
	vq->event_idx = dev->features & (1ULL << USK_VIRTIO_F_RING_EVENT_IDX);
	if (vq->packed) {
		vq->pk.desc =
			vhost_uva_to_vva(&dev->mem, vq->desc_uva, usk_vring_desc_size(vq->size));
		vq->pk.driver_event = vhost_uva_to_vva(&dev->mem, vq->avail_uva, 4);
		vq->pk.device_event = vhost_uva_to_vva(&dev->mem, vq->used_uva, 4);
		if (vq->pk.desc == NULL || vq->pk.driver_event == NULL ||
		    vq->pk.device_event == NULL || ((uintptr_t)vq->pk.desc % 16) ||
		    ((uintptr_t)vq->pk.driver_event % 4) || ((uintptr_t)vq->pk.device_event % 4)) {
			return -EFAULT;
		}
		/* QEMU's encoding: bits 0-14 avail index, 15 avail wrap, 16-30 used, 31 used wrap.
		 */
		vq->last_avail_idx = vq->base_idx & 0x7fff;
		vq->avail_wrap = (vq->base_idx >> 15) & 1;
		vq->last_used_idx = (vq->base_idx >> 16) & 0x7fff;
		vq->used_wrap = vq->base_idx >> 31;
		if (vq->last_avail_idx >= vq->size || vq->last_used_idx >= vq->size) {
			return -EINVAL;
		}
	} else {
		if (!USK_IS_POW2(vq->size)) {
			return -EINVAL;
		}
		vq->split.desc =
			vhost_uva_to_vva(&dev->mem, vq->desc_uva, usk_vring_desc_size(vq->size));
		vq->split.avail =
			vhost_uva_to_vva(&dev->mem, vq->avail_uva, usk_vring_avail_size(vq->size));
		vq->split.used =
			vhost_uva_to_vva(&dev->mem, vq->used_uva, usk_vring_used_size(vq->size));
		if (vq->split.desc == NULL || vq->split.avail == NULL || vq->split.used == NULL ||
		    ((uintptr_t)vq->split.desc % USK_VRING_DESC_ALIGN) ||
		    ((uintptr_t)vq->split.avail % USK_VRING_AVAIL_ALIGN) ||
		    ((uintptr_t)vq->split.used % USK_VRING_USED_ALIGN)) {
			return -EFAULT;
		}
		vq->last_avail_idx = (uint16_t)vq->base_idx;
		vq->last_used_idx = (uint16_t)vq->base_idx;
	}
	vq->signalled_used_valid = false;
	vq->used_since_signal = 0;
	vq->req_cnt = 0;
	vq->irq_delay_ticks = 0;
	if (vq->tasks == NULL) {
		vq->tasks = calloc(vq->size, sizeof(*vq->tasks));
		if (vq->tasks == NULL) {
			return -ENOMEM;
		}
		for (i = 0; i < vq->size; i++) {
			vq->tasks[i].dev = dev;
			vq->tasks[i].vq = vq;
		}
	}
	vq->live = true;
	vring_set_notification(vq, usk_interrupt_mode_is_enabled());
	if (usk_interrupt_mode_is_enabled() && vq->kickfd >= 0) {
		vq->kick_intr =
			usk_interrupt_register(vq->kickfd, vq_kick_handler, vq, "vhost_kick");
		if (vq->kick_intr == NULL) {
			vq->live = false;
			return -ENOMEM;
		}
	}
	vhost_blk_update_poller(dev);
	if (vq->inflight != NULL) {
		int rc = vq->packed ? resubmit_inflight_packed(dev, vq) :
				      resubmit_inflight(dev, vq);

		if (rc != 0) {
			return rc;
		}
	}
	if (usk_interrupt_mode_is_enabled()) {
		/* Requests made available before the kick fd joined the fd group. */
		vq_process_notified(dev, vq);
	}
	return 0;
}

void
vhost_blk_vq_stop(struct vhost_blk_dev *dev, struct vhost_vq *vq)
{
	if (vq->kick_intr != NULL) {
		usk_interrupt_unregister(&vq->kick_intr);
	}
	if (vq->live) {
		vhost_blk_signal_all(dev, usk_get_ticks());
	}
	vq->live = false;
	vhost_blk_update_poller(dev);
}
