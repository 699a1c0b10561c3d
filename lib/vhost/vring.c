/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split and packed virtqueue logic of the device side (virtio 1.2 2.7, 2.8): descriptor chains
 * walked and validated into iovecs, used elements pushed, notification suppression. No syscalls
 * and no allocation: unit-tested and fuzzed on plain memory.
 *
 * The guest writes these rings concurrently. Every descriptor is copied once before it is
 * checked (no double fetch), and every index read from guest memory is range-checked.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "vhost_internal.h"

/* Loads and stores of ring words shared with the guest. */
static inline uint16_t
load_acquire16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline uint16_t
load16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void
store_release16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline void
read_desc(const void *table, uint32_t idx, struct usk_vring_desc *d)
{
	/* Indirect tables need not be aligned: memcpy, and a compiler barrier so it is one fetch.
	 */
	memcpy(d, (const uint8_t *)table + (size_t)idx * sizeof(*d), sizeof(*d));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static int
chain_add(const struct vhost_mem *mem, uint64_t addr, uint32_t len, bool writable,
	  struct iovec *iovs, uint16_t max_iovs, struct vring_chain *chain)
{
	int rc;

	if (writable) {
		chain->writable_seen = true;
	} else if (chain->writable_seen) {
		/* virtio 1.2 2.7.4.2: device-readable descriptors come before device-writable ones.
		 */
		return -EINVAL;
	}
	rc = vhost_gpa_to_iovs(mem, addr, len, iovs, &chain->iovcnt, max_iovs);
	if (rc != 0) {
		return rc;
	}
	if (writable) {
		if (__builtin_add_overflow(chain->in_len, len, &chain->in_len)) {
			return -EINVAL;
		}
	} else {
		if (__builtin_add_overflow(chain->out_len, len, &chain->out_len)) {
			return -EINVAL;
		}
		chain->out_iovcnt = chain->iovcnt;
	}
	return 0;
}

static int
walk_indirect(const struct vhost_mem *mem, const struct usk_vring_desc *ind, bool packed,
	      struct iovec *iovs, uint16_t max_iovs, struct vring_chain *chain)
{
	const void *table;
	uint32_t n, idx = 0, count = 0;
	struct usk_vring_desc d;
	int rc;

	if (ind->len == 0 || ind->len % sizeof(struct usk_vring_desc) != 0 ||
	    ind->len / sizeof(struct usk_vring_desc) > USK_VIRTQ_MAX_SIZE) {
		return -EINVAL;
	}
	n = ind->len / sizeof(struct usk_vring_desc);
	table = vhost_gpa_to_vva(mem, ind->addr, ind->len);
	if (table == NULL) {
		return -EFAULT;
	}
	for (;;) {
		if (++count > n) {
			return -EINVAL; /* a loop */
		}
		if (packed) {
			struct usk_vring_packed_desc pd;

			/* Packed tables hold packed descriptors: flags where split has next. */
			memcpy(&pd, (const uint8_t *)table + (size_t)idx * sizeof(pd), sizeof(pd));
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
			d.addr = pd.addr;
			d.len = pd.len;
			d.flags = pd.flags;
			d.next = 0;
		} else {
			read_desc(table, idx, &d);
		}
		if (d.flags & USK_VRING_DESC_F_INDIRECT) {
			return -EINVAL; /* nested indirection (2.7.5.3.1) */
		}
		rc = chain_add(mem, d.addr, d.len, d.flags & USK_VRING_DESC_F_WRITE, iovs, max_iovs,
			       chain);
		if (rc != 0) {
			return rc;
		}
		if (packed) {
			/* Packed indirect tables are used in order, all of them (2.8.8). */
			if (++idx == n) {
				return 0;
			}
			count = idx;
			continue;
		}
		if (!(d.flags & USK_VRING_DESC_F_NEXT)) {
			return 0;
		}
		idx = d.next;
		if (idx >= n) {
			return -EINVAL;
		}
	}
}

int
vring_split_get_chain(const struct vhost_vq *vq, const struct vhost_mem *mem, uint16_t head,
		      struct iovec *iovs, uint16_t max_iovs, struct vring_chain *chain)
{
	struct usk_vring_desc d;
	uint32_t count = 0;
	uint16_t idx = head;
	int rc;

	memset(chain, 0, sizeof(*chain));
	chain->id = head;
	chain->ndescs = 1;
	if (head >= vq->size) {
		return -EINVAL;
	}
	read_desc(vq->split.desc, head, &d);
	if (d.flags & USK_VRING_DESC_F_INDIRECT) {
		if (d.flags & USK_VRING_DESC_F_NEXT) {
			return -EINVAL; /* INDIRECT and NEXT together (2.7.5.3.1) */
		}
		return walk_indirect(mem, &d, false, iovs, max_iovs, chain);
	}
	for (;;) {
		if (++count > vq->size) {
			return -EINVAL; /* a loop */
		}
		if (d.flags & USK_VRING_DESC_F_INDIRECT) {
			return -EINVAL; /* only the head may be indirect */
		}
		rc = chain_add(mem, d.addr, d.len, d.flags & USK_VRING_DESC_F_WRITE, iovs, max_iovs,
			       chain);
		if (rc != 0) {
			return rc;
		}
		if (!(d.flags & USK_VRING_DESC_F_NEXT)) {
			return 0;
		}
		idx = d.next;
		if (idx >= vq->size) {
			return -EINVAL;
		}
		read_desc(vq->split.desc, idx, &d);
	}
}

int
vring_split_avail_count(const struct vhost_vq *vq)
{
	/* Acquire pairs with the driver's write barrier before it publishes avail->idx. */
	uint16_t n = (uint16_t)(load_acquire16(&vq->split.avail->idx) - vq->last_avail_idx);

	if (n > vq->size) {
		return -EINVAL;
	}
	return n;
}

int
vring_split_next_head(struct vhost_vq *vq, uint16_t *head)
{
	uint16_t h = load16(&vq->split.avail->ring[vq->last_avail_idx & (vq->size - 1)]);

	if (h >= vq->size) {
		return -EINVAL;
	}
	vq->last_avail_idx++;
	*head = h;
	return 0;
}

/*
 * Hint the cache about the next n chains before they are walked: the driver wrote their
 * indirect tables and request headers on another core, and walking them one by one stalls on
 * each miss in turn. Nothing read here is trusted: every value is validated again by the walk.
 */
void
vring_split_prefetch(const struct vhost_vq *vq, const struct vhost_mem *mem, int n)
{
	const void *tables[VHOST_BATCH];
	struct usk_vring_desc d;
	int i, k = 0;

	n = USK_MIN(n, VHOST_BATCH);
	for (i = 0; i < n; i++) {
		uint16_t h = load16(
			&vq->split.avail->ring[(uint16_t)(vq->last_avail_idx + i) & (vq->size - 1)]);

		if (h >= vq->size) {
			break;
		}
		read_desc(vq->split.desc, h, &d);
		if (!(d.flags & USK_VRING_DESC_F_INDIRECT) || d.len < sizeof(d)) {
			continue;
		}
		tables[k] = vhost_gpa_to_vva(mem, d.addr, sizeof(d));
		if (tables[k] != NULL) {
			__builtin_prefetch(tables[k]);
			k++;
		}
	}
	/* The first descriptor of each table points at the request header. */
	for (i = 0; i < k; i++) {
		const void *hdr;

		read_desc(tables[i], 0, &d);
		hdr = vhost_gpa_to_vva(mem, d.addr, 1);
		if (hdr != NULL) {
			__builtin_prefetch(hdr);
		}
	}
}

void
vring_split_push_used(struct vhost_vq *vq, uint16_t id, uint32_t len)
{
	struct usk_vring_used_elem *e = &vq->split.used->ring[vq->last_used_idx & (vq->size - 1)];

	e->id = id;
	e->len = len;
	vq->last_used_idx++;
	/* Release: the element is visible before the index that publishes it. */
	store_release16(&vq->split.used->idx, vq->last_used_idx);
	vq->used_since_signal++;
}

bool
vring_packed_avail(const struct vhost_vq *vq)
{
	/* Acquire pairs with the driver's barrier before it writes the head's flags. */
	uint16_t flags = load_acquire16(&vq->pk.desc[vq->last_avail_idx].flags);
	bool avail = flags & USK_VRING_PACKED_DESC_F_AVAIL;
	bool used = flags & USK_VRING_PACKED_DESC_F_USED;

	return avail == vq->avail_wrap && used != vq->avail_wrap;
}

/*
 * Walk a packed chain of ring[pos..] (wrapping at ring_len, at most ring_len descriptors). With
 * copies, each descriptor as read is stored there (at most max_copies: else -E2BIG), so that the
 * inflight region records exactly what was checked.
 */
static int
packed_walk(const struct vhost_vq *vq, const struct vhost_mem *mem,
	    const struct usk_vring_packed_desc *ring, uint16_t ring_len, uint16_t pos,
	    struct usk_vring_packed_desc *copies, uint16_t max_copies, struct iovec *iovs,
	    uint16_t max_iovs, struct vring_chain *chain)
{
	struct usk_vring_desc d;
	int rc;

	memset(chain, 0, sizeof(*chain));
	for (;;) {
		const struct usk_vring_packed_desc *p = &ring[pos];
		struct usk_vring_packed_desc pd;

		memcpy(&pd, p, sizeof(pd));
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (++chain->ndescs > ring_len) {
			return -EINVAL;
		}
		if (copies != NULL) {
			if (chain->ndescs > max_copies) {
				return -E2BIG;
			}
			copies[chain->ndescs - 1] = pd;
		}
		d.addr = pd.addr;
		d.len = pd.len;
		d.flags = pd.flags;
		if (pd.flags & USK_VRING_DESC_F_INDIRECT) {
			if (chain->ndescs != 1 || (pd.flags & USK_VRING_DESC_F_NEXT)) {
				return -EINVAL;
			}
			chain->id = pd.id;
			rc = walk_indirect(mem, &d, true, iovs, max_iovs, chain);
			break;
		}
		rc = chain_add(mem, pd.addr, pd.len, pd.flags & USK_VRING_DESC_F_WRITE, iovs,
			       max_iovs, chain);
		if (rc != 0) {
			return rc;
		}
		if (!(pd.flags & USK_VRING_DESC_F_NEXT)) {
			/* The buffer id is in the last descriptor of the chain (2.8.6). */
			chain->id = pd.id;
			break;
		}
		if (++pos == ring_len) {
			pos = 0;
		}
	}
	if (rc == 0 && chain->id >= vq->size) {
		/* usk keeps one task per id: ids must be below the queue size (Linux and QEMU do).
		 */
		return -EINVAL;
	}
	return rc;
}

int
vring_packed_get_chain(const struct vhost_vq *vq, const struct vhost_mem *mem, struct iovec *iovs,
		       uint16_t max_iovs, struct vring_chain *chain)
{
	return packed_walk(vq, mem, vq->pk.desc, vq->size, vq->last_avail_idx, NULL, 0, iovs,
			   max_iovs, chain);
}

int
vring_packed_get_chain_copy(const struct vhost_vq *vq, const struct vhost_mem *mem,
			    struct usk_vring_packed_desc *copies, uint16_t max_copies,
			    struct iovec *iovs, uint16_t max_iovs, struct vring_chain *chain)
{
	return packed_walk(vq, mem, vq->pk.desc, vq->size, vq->last_avail_idx, copies, max_copies,
			   iovs, max_iovs, chain);
}

int
vring_packed_walk_descs(const struct vhost_vq *vq, const struct vhost_mem *mem,
			const struct usk_vring_packed_desc *descs, uint16_t ndescs,
			struct iovec *iovs, uint16_t max_iovs, struct vring_chain *chain)
{
	int rc;

	if (ndescs == 0) {
		return -EINVAL;
	}
	rc = packed_walk(vq, mem, descs, ndescs, 0, NULL, 0, iovs, max_iovs, chain);
	/* The recorded chain must end exactly at its last descriptor. */
	if (rc == 0 && chain->ndescs != ndescs) {
		return -EINVAL;
	}
	return rc;
}

void
vring_packed_advance(struct vhost_vq *vq, uint16_t ndescs)
{
	vq->last_avail_idx += ndescs;
	if (vq->last_avail_idx >= vq->size) {
		vq->last_avail_idx -= vq->size;
		vq->avail_wrap = !vq->avail_wrap;
	}
}

void
vring_packed_push_used(struct vhost_vq *vq, uint16_t id, uint32_t len, uint16_t ndescs)
{
	struct usk_vring_packed_desc *d = &vq->pk.desc[vq->last_used_idx];
	uint16_t flags =
		vq->used_wrap ? (USK_VRING_PACKED_DESC_F_AVAIL | USK_VRING_PACKED_DESC_F_USED) : 0;

	d->id = id;
	d->len = len;
	/* Release: id and len are visible before the flags that hand the slot to the driver. */
	store_release16(&d->flags, flags);
	vq->last_used_idx += ndescs;
	if (vq->last_used_idx >= vq->size) {
		vq->last_used_idx -= vq->size;
		vq->used_wrap = !vq->used_wrap;
	}
	vq->used_since_signal++;
}

bool
vring_need_signal(struct vhost_vq *vq)
{
	uint16_t old, new, event, flags, off_wrap;
	bool valid;

	/* Full barrier: our used-ring stores before the driver's suppression fields are read
	 * (pairs with the driver's barrier between updating them and re-checking the used ring). */
	atomic_thread_fence(memory_order_seq_cst);
	if (!vq->packed) {
		if (!vq->event_idx) {
			return !(load16(&vq->split.avail->flags) & USK_VRING_AVAIL_F_NO_INTERRUPT);
		}
		old = vq->signalled_used;
		new = vq->last_used_idx;
		valid = vq->signalled_used_valid;
		vq->signalled_used = new;
		vq->signalled_used_valid = true;
		event = load16(&vq->split.avail->ring[vq->size]); /* used_event */
		return !valid || usk_vring_need_event(event, new, old);
	}
	flags = load16(&vq->pk.driver_event->flags);
	if (!vq->event_idx || flags != USK_VRING_PACKED_EVENT_FLAG_DESC) {
		if (vq->event_idx) {
			vq->signalled_used = vq->last_used_idx;
			vq->signalled_used_valid = true;
		}
		return flags != USK_VRING_PACKED_EVENT_FLAG_DISABLE;
	}
	old = vq->signalled_used;
	new = vq->last_used_idx;
	valid = vq->signalled_used_valid;
	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	if (!valid) {
		return true;
	}
	off_wrap = load_acquire16(&vq->pk.driver_event->off_wrap);
	event = off_wrap & 0x7fff;
	/* Ring positions wrap at size, not 2^16: unfold old and event onto new's lap (as DPDK). */
	if (new <= old) {
		old -= vq->size;
	}
	if (vq->used_wrap != (bool)(off_wrap >> USK_VRING_PACKED_EVENT_F_WRAP_CTR)) {
		event -= vq->size;
	}
	return usk_vring_need_event(event, new, old);
}

void
vring_set_notification(struct vhost_vq *vq, bool enable)
{
	if (vq->packed) {
		store_release16(&vq->pk.device_event->flags,
				enable ? USK_VRING_PACKED_EVENT_FLAG_ENABLE :
					 USK_VRING_PACKED_EVENT_FLAG_DISABLE);
	} else if (vq->event_idx) {
		/* avail_event: kick us once avail->idx passes what we have consumed. Left stale
		 * when disabled, so the driver's vring_need_event stays false. */
		if (enable) {
			store_release16((uint16_t *)&vq->split.used->ring[vq->size],
					vq->last_avail_idx);
		}
	} else {
		store_release16(&vq->split.used->flags, enable ? 0 : USK_VRING_USED_F_NO_NOTIFY);
	}
	/* The caller re-checks the avail ring after enabling: order that load after this store. */
	atomic_thread_fence(memory_order_seq_cst);
}
