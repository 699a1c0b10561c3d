/* SPDX-License-Identifier: BSD-3-Clause */
/* Lockless SP_SC / MP_SC / MP_MC rings of pointers (public API over ring_internal.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "usk/log.h"
#include "ring_internal.h"

struct usk_ring *
ring_create_internal(enum usk_ring_type type, uint32_t count)
{
	struct usk_ring *r;
	size_t size;

	size = sizeof(*r) + (size_t)count * sizeof(void *);
	r = aligned_alloc(USK_CACHE_LINE_SIZE * 2, USK_ALIGN_CEIL(size, USK_CACHE_LINE_SIZE * 2));
	if (r == NULL) {
		return NULL;
	}
	memset(r, 0, sizeof(*r));
	r->mask = count - 1;
	r->capacity = count - 1;
	r->type = type;
	r->prod.single = type == USK_RING_TYPE_SP_SC;
	r->cons.single = type != USK_RING_TYPE_MP_MC;
	return r;
}

struct usk_ring *
usk_ring_create(enum usk_ring_type type, size_t count, int socket_id)
{
	if (type != USK_RING_TYPE_SP_SC && type != USK_RING_TYPE_MP_SC &&
	    type != USK_RING_TYPE_MP_MC) {
		USK_ERRLOG("ring: unknown type %d\n", (int)type);
		return NULL;
	}
	if (count < 2 || !USK_IS_POW2(count) || count > (1u << 31)) {
		USK_ERRLOG("ring: count %zu must be a power of two in 2..2^31\n", count);
		return NULL;
	}
	return ring_create_internal(type, (uint32_t)count);
}

void
usk_ring_free(struct usk_ring *ring)
{
	free(ring);
}

size_t
usk_ring_count(struct usk_ring *ring)
{
	return ring_count(ring);
}

size_t
usk_ring_enqueue(struct usk_ring *ring, void **objs, size_t count, size_t *free_space)
{
	uint32_t fs, n;

	if (usk_unlikely(count > ring->capacity)) {
		if (ring->type != USK_RING_TYPE_MP_MC) {
			if (free_space != NULL) {
				*free_space = ring->capacity - ring_count(ring);
			}
			return 0;
		}
		count = ring->capacity;
	}
	switch (ring->type) {
	case USK_RING_TYPE_SP_SC:
		n = ring_enqueue_x(ring, objs, (uint32_t)count, true, true, &fs);
		break;
	case USK_RING_TYPE_MP_SC:
		n = ring_enqueue_x(ring, objs, (uint32_t)count, true, false, &fs);
		break;
	default:
		n = ring_enqueue_x(ring, objs, (uint32_t)count, false, false, &fs);
		break;
	}
	if (free_space != NULL) {
		*free_space = fs;
	}
	return n;
}

size_t
usk_ring_dequeue(struct usk_ring *ring, void **objs, size_t count)
{
	if (usk_unlikely(count > ring->capacity)) {
		count = ring->capacity;
	}
	if (ring->type == USK_RING_TYPE_MP_MC) {
		return ring_dequeue_x(ring, objs, (uint32_t)count, false, false);
	}
	return ring_dequeue_x(ring, objs, (uint32_t)count, false, true);
}
