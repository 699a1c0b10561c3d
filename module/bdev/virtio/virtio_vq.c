/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split virtqueue, driver side. Layout: descriptor table, avail ring, then the used ring on its
 * own 4 KiB page (the device writes it; keeping it off the driver's lines avoids false sharing).
 * Free descriptors are linked through a private array, so a device that rewrites desc.next or
 * the indirect tables cannot corrupt the driver's bookkeeping; a used entry is accepted only for
 * a head that is in flight.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "virtio_vq.h"
#include "usk/env.h"
#include "usk/log.h"
#include "usk/util.h"

#define USED_ALIGN 4096

static size_t
used_offset(uint16_t size)
{
	return USK_ALIGN_CEIL(usk_vring_desc_size(size) + usk_vring_avail_size(size),
			      (size_t)USED_ALIGN);
}

void
virtio_vq_reset(struct virtio_vq *vq)
{
	uint32_t i;

	memset(vq->ring_mem, 0, used_offset(vq->size) + usk_vring_used_size(vq->size));
	for (i = 0; i < vq->size; i++) {
		vq->next_free[i] = (uint16_t)(i + 1);
		vq->slots[i] = (struct virtio_vq_slot){0};
	}
	vq->free_head = 0;
	vq->num_free = vq->size;
	vq->avail_idx = 0;
	vq->published_idx = 0;
	vq->last_used_idx = 0;
	vq->inflight = 0;
	vq->broken = false;
}

/* EVENT_IDX words after the rings (virtio 1.2 2.7.10). */
static inline uint16_t *
used_event_word(struct virtio_vq *vq)
{
	return &vq->avail->ring[vq->size];
}

static inline uint16_t *
avail_event_word(struct virtio_vq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

void
virtio_vq_enable_event_idx(struct virtio_vq *vq)
{
	vq->event_idx = true;
}

int
virtio_vq_init(struct virtio_vq *vq, uint16_t size, bool indirect, uint32_t max_bufs,
	       uint32_t slot_priv_size)
{
	size_t ring_len;

	memset(vq, 0, sizeof(*vq));
	if (size < 2 || !USK_IS_POW2(size) || max_bufs < 2 || max_bufs > VIRTIO_VQ_MAX_BUFS ||
	    (!indirect && max_bufs > size)) {
		return -EINVAL;
	}
	vq->size = size;
	vq->indirect = indirect;
	vq->max_bufs = max_bufs;
	vq->slot_priv_size = (uint32_t)USK_ALIGN_CEIL((size_t)slot_priv_size, (size_t)16);
	ring_len = used_offset(size) + usk_vring_used_size(size);
	vq->ring_mem = usk_dma_zmalloc(ring_len, USED_ALIGN, NULL);
	vq->next_free = calloc(size, sizeof(*vq->next_free));
	vq->slots = calloc(size, sizeof(*vq->slots));
	if (vq->ring_mem == NULL || vq->next_free == NULL || vq->slots == NULL) {
		goto err;
	}
	if (vq->slot_priv_size > 0) {
		vq->slot_priv = usk_dma_zmalloc((size_t)size * vq->slot_priv_size, 64, NULL);
		if (vq->slot_priv == NULL) {
			goto err;
		}
	}
	if (indirect) {
		vq->indirect_tables = usk_dma_zmalloc(
			(size_t)size * max_bufs * sizeof(struct usk_vring_desc), 64, NULL);
		if (vq->indirect_tables == NULL) {
			goto err;
		}
	}
	vq->desc = vq->ring_mem;
	vq->avail = (struct usk_vring_avail *)((uint8_t *)vq->ring_mem + usk_vring_desc_size(size));
	vq->used = (struct usk_vring_used *)((uint8_t *)vq->ring_mem + used_offset(size));
	virtio_vq_reset(vq);
	return 0;
err:
	virtio_vq_fini(vq);
	return -ENOMEM;
}

void
virtio_vq_fini(struct virtio_vq *vq)
{
	usk_dma_free(vq->ring_mem);
	usk_dma_free(vq->slot_priv);
	usk_dma_free(vq->indirect_tables);
	free(vq->next_free);
	free(vq->slots);
	memset(vq, 0, sizeof(*vq));
}

int
virtio_vq_alloc_head(struct virtio_vq *vq, uint32_t nbufs)
{
	uint32_t ndesc = vq->indirect ? 1 : nbufs;
	uint16_t head, d;
	uint32_t i;

	if (usk_unlikely(nbufs == 0 || nbufs > vq->max_bufs)) {
		return -EINVAL;
	}
	if (usk_unlikely(ndesc > vq->num_free || vq->broken)) {
		return -ENOMEM;
	}
	head = vq->free_head;
	d = head;
	for (i = 1; i < ndesc; i++) {
		d = vq->next_free[d];
	}
	vq->free_head = vq->next_free[d];
	vq->num_free = (uint16_t)(vq->num_free - ndesc);
	vq->slots[head].ndesc = (uint16_t)ndesc;
	vq->slots[head].last = d;
	return head;
}

void
virtio_vq_submit(struct virtio_vq *vq, uint16_t head, const struct virtio_vq_buf *bufs,
		 uint32_t nout, uint32_t nin, void *cookie)
{
	struct virtio_vq_slot *slot = &vq->slots[head];
	uint32_t n = nout + nin, i, wlen = 0;
	struct usk_vring_desc *table;
	uint16_t d = head;

	if (vq->indirect) {
		table = &vq->indirect_tables[(size_t)head * vq->max_bufs];
		for (i = 0; i < n; i++) {
			table[i].addr = bufs[i].addr;
			table[i].len = bufs[i].len;
			table[i].flags = (uint16_t)((i >= nout ? USK_VRING_DESC_F_WRITE : 0) |
						    (i + 1 < n ? USK_VRING_DESC_F_NEXT : 0));
			table[i].next = (uint16_t)(i + 1);
			if (i >= nout) {
				wlen += bufs[i].len;
			}
		}
		/* Each head owns one table, so its descriptor rarely changes: rewriting it anyway
		 * would take the line away from the back-end's cache on every request. */
		if (vq->desc[head].addr != (uint64_t)(uintptr_t)table ||
		    vq->desc[head].len != n * (uint32_t)sizeof(struct usk_vring_desc) ||
		    vq->desc[head].flags != USK_VRING_DESC_F_INDIRECT) {
			vq->desc[head].addr = (uint64_t)(uintptr_t)table;
			vq->desc[head].len = n * (uint32_t)sizeof(struct usk_vring_desc);
			vq->desc[head].flags = USK_VRING_DESC_F_INDIRECT;
			vq->desc[head].next = 0;
		}
	} else {
		for (i = 0; i < n; i++) {
			vq->desc[d].addr = bufs[i].addr;
			vq->desc[d].len = bufs[i].len;
			vq->desc[d].flags = (uint16_t)((i >= nout ? USK_VRING_DESC_F_WRITE : 0) |
						       (i + 1 < n ? USK_VRING_DESC_F_NEXT : 0));
			vq->desc[d].next = vq->next_free[d];
			if (i >= nout) {
				wlen += bufs[i].len;
			}
			d = vq->next_free[d];
		}
	}
	slot->cookie = cookie;
	slot->wlen = wlen;
	vq->inflight++;
	vq->avail->ring[vq->avail_idx & (vq->size - 1)] = head;
	vq->avail_idx++;
}

bool
virtio_vq_publish(struct virtio_vq *vq)
{
	uint16_t flags;

	if (vq->avail_idx == vq->published_idx) {
		return false;
	}
	/* Descriptors and ring entries before the index (the device reads them after it). */
	uint16_t old = vq->published_idx;

	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
	vq->published_idx = vq->avail_idx;
	/* The index store before the flags / event load: else the device may go idle unkicked. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		return usk_vring_need_event(__atomic_load_n(avail_event_word(vq), __ATOMIC_RELAXED),
					    vq->avail_idx, old);
	}
	flags = __atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED);
	return !(flags & USK_VRING_USED_F_NO_NOTIFY);
}

void
virtio_vq_set_interrupts(struct virtio_vq *vq, bool enable)
{
	if (vq->event_idx) {
		__atomic_store_n(used_event_word(vq),
				 (uint16_t)(vq->last_used_idx - (enable ? 0 : 1)),
				 __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&vq->avail->flags, enable ? 0 : USK_VRING_AVAIL_F_NO_INTERRUPT,
				 __ATOMIC_RELAXED);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

bool
virtio_vq_arm_interrupt(struct virtio_vq *vq)
{
	if (!vq->event_idx) {
		return false;
	}
	__atomic_store_n(used_event_word(vq), vq->last_used_idx, __ATOMIC_RELAXED);
	/* The event store before the index load: an entry written meanwhile is seen here. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE) != vq->last_used_idx;
}

void
virtio_vq_release(struct virtio_vq *vq, uint16_t head)
{
	struct virtio_vq_slot *slot = &vq->slots[head];

	vq->next_free[slot->last] = vq->free_head;
	vq->free_head = head;
	vq->num_free = (uint16_t)(vq->num_free + slot->ndesc);
}

static void
free_head(struct virtio_vq *vq, uint16_t head)
{
	vq->slots[head].cookie = NULL;
	vq->inflight--;
	virtio_vq_release(vq, head);
}

int
virtio_vq_poll(struct virtio_vq *vq, struct virtio_vq_done *done, int max)
{
	uint16_t used_idx, n, i;
	struct usk_vring_used_elem e;
	struct virtio_vq_slot *slot;
	int count = 0;

	if (usk_unlikely(vq->broken)) {
		return -EIO;
	}
	used_idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	n = (uint16_t)(used_idx - vq->last_used_idx);
	if (n == 0) {
		return 0;
	}
	if (usk_unlikely(n > vq->inflight)) {
		USK_ERRLOG("virtio: queue %p: used idx %u is %u entries ahead, only %u in flight\n",
			   (void *)vq, used_idx, n, vq->inflight);
		vq->broken = true;
		return -EIO;
	}
	for (i = 0; i < n && count < max; i++) {
		e = vq->used->ring[vq->last_used_idx & (vq->size - 1)];
		if (usk_unlikely(e.id >= vq->size || vq->slots[e.id].cookie == NULL)) {
			USK_ERRLOG("virtio: queue %p: used id %u is not an in-flight request\n",
				   (void *)vq, e.id);
			vq->broken = true;
			return count > 0 ? count : -EIO;
		}
		slot = &vq->slots[e.id];
		done[count].cookie = slot->cookie;
		done[count].len = e.len;
		done[count].head = (uint16_t)e.id;
		done[count].len_ok = e.len <= slot->wlen;
		count++;
		vq->last_used_idx++;
		/* Reaped: a second used entry for it is refused; the caller releases it. */
		slot->cookie = NULL;
		vq->inflight--;
	}
	return count;
}

int
virtio_vq_drain_inflight(struct virtio_vq *vq, void **cookies, int max)
{
	uint32_t i;
	int count = 0;

	for (i = 0; i < vq->size && count < max; i++) {
		if (vq->slots[i].cookie != NULL) {
			cookies[count++] = vq->slots[i].cookie;
			free_head(vq, (uint16_t)i);
		}
	}
	return count;
}
