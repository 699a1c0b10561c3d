/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Driver side of a split virtqueue (virtio 1.2 2.7) in DMA memory: descriptor allocation (direct
 * chains or one indirect table per request), publishing to the avail ring, notification
 * decisions and reaping the used ring with every entry the device wrote checked (the device is
 * another process and is not trusted with our memory layout). Single-threaded: one queue belongs
 * to one usk thread; nothing here blocks or allocates after virtio_vq_init.
 */
#ifndef USK_BDEV_VIRTIO_VQ_H
#define USK_BDEV_VIRTIO_VQ_H

#include <stdbool.h>
#include <stdint.h>

#include "usk/virtio_spec.h"

/* Largest number of buffers (header and status included) one request may have. */
#define VIRTIO_VQ_MAX_BUFS 258

struct virtio_vq_buf {
	uint64_t addr; /* address the device uses (usk: the virtual address, see SET_MEM_TABLE) */
	uint32_t len;
};

/* Private (never device-visible) state of one descriptor head. */
struct virtio_vq_slot {
	void *cookie;	/* NULL while the head is free */
	uint32_t wlen;	/* device-writable bytes of the request: a used len above is refused */
	uint16_t ndesc; /* ring descriptors the request holds */
	uint16_t last;	/* last ring descriptor of a direct chain */
};

struct virtio_vq {
	uint16_t size;
	uint16_t num_free;
	uint16_t free_head;
	uint16_t avail_idx;	/* next avail->idx to publish (shadow) */
	uint16_t last_used_idx; /* used entries consumed */
	uint16_t published_idx; /* avail->idx as last published */
	uint16_t inflight;
	bool indirect;
	bool event_idx;	   /* VIRTIO_F_RING_EVENT_IDX: used_event / avail_event, not flags */
	bool broken;	   /* the device wrote something impossible; stop using the queue */
	uint32_t max_bufs; /* per request */
	struct usk_vring_desc *desc;
	struct usk_vring_avail *avail;
	struct usk_vring_used *used;
	struct usk_vring_desc *indirect_tables; /* size * max_bufs, one table per head */
	uint8_t *slot_priv; /* size * slot_priv_size bytes of DMA memory per head */
	uint32_t slot_priv_size;
	uint16_t *next_free; /* private free-list links (device-visible desc.next is not trusted) */
	struct virtio_vq_slot *slots;
	void *ring_mem;
};

/**
 * Allocate the rings (DMA memory, zeroed) for size entries (a power of two, 2..32768). indirect:
 * each request takes one ring descriptor pointing to its own table of max_bufs descriptors;
 * otherwise a request takes as many ring descriptors as buffers (max_bufs <= size).
 * slot_priv_size: DMA bytes the caller gets per head (request header, status). Returns 0,
 * -EINVAL or -ENOMEM.
 */
int virtio_vq_init(struct virtio_vq *vq, uint16_t size, bool indirect, uint32_t max_bufs,
		   uint32_t slot_priv_size);
void virtio_vq_fini(struct virtio_vq *vq);

/** Rewind to the empty state (after the device stopped the queue); slots are forgotten. */
void virtio_vq_reset(struct virtio_vq *vq);

/** Take a head for a request of nbufs buffers: the head (>= 0), -ENOMEM (ring full), -EINVAL. */
int virtio_vq_alloc_head(struct virtio_vq *vq, uint32_t nbufs);
/** The caller's DMA area of head (slot_priv_size bytes). */
static inline void *
virtio_vq_slot_priv(struct virtio_vq *vq, uint16_t head)
{
	return vq->slot_priv + (size_t)head * vq->slot_priv_size;
}

/**
 * Fill head's descriptors with bufs (nout device-readable ones, then nin device-writable ones,
 * nout + nin as given to virtio_vq_alloc_head) and queue it in the avail ring; the device sees it
 * after virtio_vq_publish. cookie (not NULL) comes back from virtio_vq_poll.
 */
void virtio_vq_submit(struct virtio_vq *vq, uint16_t head, const struct virtio_vq_buf *bufs,
		      uint32_t nout, uint32_t nin, void *cookie);

/**
 * Make queued requests visible. Returns true when the device wants a kick now: it has not set
 * VRING_USED_F_NO_NOTIFY or, with EVENT_IDX, the new requests pass its avail_event.
 */
bool virtio_vq_publish(struct virtio_vq *vq);

/** Use EVENT_IDX (negotiated): call once after init, before any request. */
void virtio_vq_enable_event_idx(struct virtio_vq *vq);

/**
 * Ask the device for (or to stop) used-buffer notifications: VRING_AVAIL_F_NO_INTERRUPT, or with
 * EVENT_IDX used_event at the next entry (enable) or one behind the last one reaped (disable: the
 * device would signal only after 65535 more).
 */
void virtio_vq_set_interrupts(struct virtio_vq *vq, bool enable);

/**
 * Interrupt mode with EVENT_IDX, after reaping: move used_event to the next entry. Returns true
 * when entries arrived meanwhile (their notification may have been skipped): reap again.
 * Without EVENT_IDX every used entry notifies and this returns false.
 */
bool virtio_vq_arm_interrupt(struct virtio_vq *vq);

/** One reaped request. len_ok false: the device claimed more written bytes than it had room. */
struct virtio_vq_done {
	void *cookie;
	uint32_t len;
	uint16_t head;
	bool len_ok;
};

/**
 * Reap up to max used entries into done[]; returns how many, or -EIO when the device wrote an
 * impossible used ring (an index past what is in flight, an id that is not an in-flight head,
 * the same head twice): the queue is then marked broken and the caller fails what is in flight
 * with virtio_vq_drain_inflight. Each reaped head stays allocated (its slot_priv intact) until
 * virtio_vq_release: read the status, release, then complete (a completion may submit anew).
 */
int virtio_vq_poll(struct virtio_vq *vq, struct virtio_vq_done *done, int max);
/** Return a head reaped by virtio_vq_poll to the free list. */
void virtio_vq_release(struct virtio_vq *vq, uint16_t head);

/** Cookies of every in-flight request (at most max), freeing their heads. Returns the count. */
int virtio_vq_drain_inflight(struct virtio_vq *vq, void **cookies, int max);

#endif
