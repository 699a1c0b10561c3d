/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the driver-side split virtqueue and the virtio-blk config checks. The test plays
 * the device: it reads the avail ring and descriptors the driver wrote and writes used entries,
 * including impossible ones a hostile back-end could write.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "virtio_blk_cfg.h"
#include "virtio_vq.h"

/* Device side: the head the device finds at avail position i. */
static uint16_t
dev_avail_head(struct virtio_vq *vq, uint16_t i)
{
	return vq->avail->ring[i & (vq->size - 1)];
}

static void
dev_use(struct virtio_vq *vq, uint32_t id, uint32_t len)
{
	uint16_t idx = vq->used->idx;

	vq->used->ring[idx & (vq->size - 1)] = (struct usk_vring_used_elem){.id = id, .len = len};
	__atomic_store_n(&vq->used->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

static void
test_init_args(void **state)
{
	struct virtio_vq vq;

	assert_int_equal(virtio_vq_init(&vq, 0, true, 4, 0), -EINVAL);
	assert_int_equal(virtio_vq_init(&vq, 6, true, 4, 0), -EINVAL);	/* not a power of two */
	assert_int_equal(virtio_vq_init(&vq, 4, false, 8, 0), -EINVAL); /* chain longer than ring */
	assert_int_equal(virtio_vq_init(&vq, 4, true, VIRTIO_VQ_MAX_BUFS + 1, 0), -EINVAL);
	assert_int_equal(virtio_vq_init(&vq, 4, true, 1, 0), -EINVAL);
	assert_int_equal(virtio_vq_init(&vq, 4, true, 8, 24), 0);
	assert_int_equal(vq.slot_priv_size, 32); /* rounded up to 16 */
	assert_int_equal((uintptr_t)vq.used % 4096, 0);
	assert_int_equal((uintptr_t)vq.desc % 16, 0);
	virtio_vq_fini(&vq);
}

/*
 * Indirect: every request takes one ring slot whatever its segment count, so a 4-entry ring holds
 * 4 requests of 10 buffers; the table says readable-then-writable with NEXT links.
 */
static void
test_indirect(void **state)
{
	struct virtio_vq vq;
	struct virtio_vq_buf bufs[10];
	struct virtio_vq_done done[8];
	int cookies[5], heads[5], i, n;
	struct usk_vring_desc *d, *t;

	assert_int_equal(virtio_vq_init(&vq, 4, true, 10, 32), 0);
	for (i = 0; i < 10; i++) {
		bufs[i] = (struct virtio_vq_buf){.addr = 0x1000u * (unsigned)(i + 1),
						 .len = 100u + i};
	}
	for (i = 0; i < 4; i++) {
		heads[i] = virtio_vq_alloc_head(&vq, 10);
		assert_true(heads[i] >= 0 && heads[i] < 4);
		virtio_vq_submit(&vq, (uint16_t)heads[i], bufs, 1, 9, &cookies[i]);
	}
	assert_int_equal(virtio_vq_alloc_head(&vq, 10), -ENOMEM);
	assert_int_equal(virtio_vq_alloc_head(&vq, 11), -EINVAL);
	assert_int_equal(vq.avail->idx, 0); /* nothing visible before publish */
	assert_true(virtio_vq_publish(&vq));
	assert_int_equal(vq.avail->idx, 4);
	assert_false(virtio_vq_publish(&vq)); /* nothing new: no kick */

	d = &vq.desc[dev_avail_head(&vq, 2)];
	assert_int_equal(d->flags, USK_VRING_DESC_F_INDIRECT);
	assert_int_equal(d->len, 10 * sizeof(struct usk_vring_desc));
	t = (struct usk_vring_desc *)(uintptr_t)d->addr;
	assert_int_equal(t[0].flags, USK_VRING_DESC_F_NEXT);
	assert_int_equal(t[0].addr, 0x1000);
	for (i = 1; i < 9; i++) {
		assert_int_equal(t[i].flags, USK_VRING_DESC_F_NEXT | USK_VRING_DESC_F_WRITE);
		assert_int_equal(t[i].next, i + 1);
	}
	assert_int_equal(t[9].flags, USK_VRING_DESC_F_WRITE);
	assert_int_equal(t[9].len, 109);

	/* Out of order completion; the second in one batch. */
	dev_use(&vq, (uint32_t)heads[2], 50);
	dev_use(&vq, (uint32_t)heads[0], 0);
	n = virtio_vq_poll(&vq, done, 8);
	assert_int_equal(n, 2);
	assert_ptr_equal(done[0].cookie, &cookies[2]);
	assert_int_equal(done[0].head, heads[2]);
	assert_int_equal(done[0].len, 50);
	assert_true(done[0].len_ok);
	assert_ptr_equal(done[1].cookie, &cookies[0]);
	/* Reaped but not released: the heads are not reusable yet (their status is being read). */
	assert_int_equal(virtio_vq_alloc_head(&vq, 2), -ENOMEM);
	virtio_vq_release(&vq, done[0].head);
	virtio_vq_release(&vq, done[1].head);
	heads[4] = virtio_vq_alloc_head(&vq, 2);
	assert_true(heads[4] == heads[0] || heads[4] == heads[2]);
	assert_int_equal(vq.inflight, 2);
	virtio_vq_fini(&vq);
}

/* Direct chains: a request takes as many ring slots as buffers; links follow the chain. */
static void
test_direct_chains(void **state)
{
	struct virtio_vq vq;
	struct virtio_vq_buf bufs[3] = {{0x10, 16}, {0x20, 4096}, {0x30, 1}};
	struct virtio_vq_done done[4];
	int c1, c2, h1, h2, h3;
	struct usk_vring_desc *d;

	assert_int_equal(virtio_vq_init(&vq, 8, false, 3, 0), 0);
	h1 = virtio_vq_alloc_head(&vq, 3);
	virtio_vq_submit(&vq, (uint16_t)h1, bufs, 2, 1, &c1);
	h2 = virtio_vq_alloc_head(&vq, 3);
	virtio_vq_submit(&vq, (uint16_t)h2, bufs, 1, 2, &c2);
	assert_int_equal(vq.num_free, 2);
	assert_int_equal(virtio_vq_alloc_head(&vq, 3), -ENOMEM);
	virtio_vq_publish(&vq);
	/* Walk the second chain as a device would. */
	d = &vq.desc[dev_avail_head(&vq, 1)];
	assert_int_equal(d->flags, USK_VRING_DESC_F_NEXT);
	assert_int_equal(d->addr, 0x10);
	d = &vq.desc[d->next];
	assert_int_equal(d->flags, USK_VRING_DESC_F_NEXT | USK_VRING_DESC_F_WRITE);
	assert_int_equal(d->len, 4096);
	d = &vq.desc[d->next];
	assert_int_equal(d->flags, USK_VRING_DESC_F_WRITE);
	assert_int_equal(d->addr, 0x30);

	/* The device scribbles over the descriptor links: the free list is private, unharmed. */
	vq.desc[h1].next = 0xffff;
	dev_use(&vq, (uint32_t)h1, 1);
	assert_int_equal(virtio_vq_poll(&vq, done, 4), 1);
	assert_false(done[0].len_ok == false);
	virtio_vq_release(&vq, done[0].head);
	assert_int_equal(vq.num_free, 5);
	h3 = virtio_vq_alloc_head(&vq, 3);
	assert_true(h3 >= 0);
	assert_int_equal(vq.num_free, 2);
	/* Written length larger than the writable bytes (4096 + 1): flagged. */
	dev_use(&vq, (uint32_t)h2, 4098);
	assert_int_equal(virtio_vq_poll(&vq, done, 4), 1);
	assert_false(done[0].len_ok);
	virtio_vq_fini(&vq);
}

/* A device may only complete what is in flight, once. */
static void
test_hostile_used_ring(void **state)
{
	struct virtio_vq vq;
	struct virtio_vq_buf bufs[2] = {{0x10, 16}, {0x20, 1}};
	struct virtio_vq_done done[8];
	void *drained[8];
	int c[3], h[3], i;

	/* id out of range */
	assert_int_equal(virtio_vq_init(&vq, 8, true, 2, 0), 0);
	h[0] = virtio_vq_alloc_head(&vq, 2);
	virtio_vq_submit(&vq, (uint16_t)h[0], bufs, 1, 1, &c[0]);
	virtio_vq_publish(&vq);
	dev_use(&vq, 8, 0);
	assert_int_equal(virtio_vq_poll(&vq, done, 8), -EIO);
	assert_true(vq.broken);
	assert_int_equal(virtio_vq_alloc_head(&vq, 2), -ENOMEM); /* a broken queue takes nothing */
	assert_int_equal(virtio_vq_drain_inflight(&vq, drained, 8), 1);
	assert_ptr_equal(drained[0], &c[0]);
	virtio_vq_fini(&vq);

	/* a free (never submitted) id */
	assert_int_equal(virtio_vq_init(&vq, 8, true, 2, 0), 0);
	h[0] = virtio_vq_alloc_head(&vq, 2);
	virtio_vq_submit(&vq, (uint16_t)h[0], bufs, 1, 1, &c[0]);
	dev_use(&vq, (uint32_t)(h[0] + 1), 0);
	assert_int_equal(virtio_vq_poll(&vq, done, 8), -EIO);
	virtio_vq_fini(&vq);

	/* the same id twice in one batch: the first completes, the second breaks the queue */
	assert_int_equal(virtio_vq_init(&vq, 8, true, 2, 0), 0);
	for (i = 0; i < 3; i++) {
		h[i] = virtio_vq_alloc_head(&vq, 2);
		virtio_vq_submit(&vq, (uint16_t)h[i], bufs, 1, 1, &c[i]);
	}
	dev_use(&vq, (uint32_t)h[1], 1);
	dev_use(&vq, (uint32_t)h[1], 1);
	assert_int_equal(virtio_vq_poll(&vq, done, 8), 1);
	assert_ptr_equal(done[0].cookie, &c[1]);
	assert_true(vq.broken);
	virtio_vq_release(&vq, done[0].head);
	assert_int_equal(virtio_vq_drain_inflight(&vq, drained, 8), 2);
	assert_int_equal(vq.inflight, 0);
	virtio_vq_fini(&vq);

	/* used idx jumps past what is in flight */
	assert_int_equal(virtio_vq_init(&vq, 8, true, 2, 0), 0);
	h[0] = virtio_vq_alloc_head(&vq, 2);
	virtio_vq_submit(&vq, (uint16_t)h[0], bufs, 1, 1, &c[0]);
	vq.used->idx = 5;
	assert_int_equal(virtio_vq_poll(&vq, done, 8), -EIO);
	virtio_vq_fini(&vq);
}

/* Notification suppression both ways, and the index wrapping past 65535. */
static void
test_notify_and_wrap(void **state)
{
	struct virtio_vq vq;
	struct virtio_vq_buf bufs[2] = {{0x10, 16}, {0x20, 1}};
	struct virtio_vq_done done[4];
	int c, h;
	uint32_t i;

	assert_int_equal(virtio_vq_init(&vq, 4, true, 2, 0), 0);
	virtio_vq_set_interrupts(&vq, false);
	assert_int_equal(vq.avail->flags, USK_VRING_AVAIL_F_NO_INTERRUPT);
	virtio_vq_set_interrupts(&vq, true);
	assert_int_equal(vq.avail->flags, 0);
	vq.used->flags = USK_VRING_USED_F_NO_NOTIFY;
	for (i = 0; i < 70000; i++) {
		h = virtio_vq_alloc_head(&vq, 2);
		assert_true(h >= 0);
		virtio_vq_submit(&vq, (uint16_t)h, bufs, 1, 1, &c);
		assert_false(virtio_vq_publish(&vq)); /* the device polls: no kick */
		assert_int_equal(dev_avail_head(&vq, (uint16_t)i), h);
		dev_use(&vq, (uint32_t)h, 1);
		assert_int_equal(virtio_vq_poll(&vq, done, 4), 1);
		virtio_vq_release(&vq, done[0].head);
	}
	assert_int_equal(vq.avail->idx, (uint16_t)70000);
	vq.used->flags = 0;
	h = virtio_vq_alloc_head(&vq, 2);
	virtio_vq_submit(&vq, (uint16_t)h, bufs, 1, 1, &c);
	assert_true(virtio_vq_publish(&vq));
	virtio_vq_fini(&vq);
}

/* EVENT_IDX: kicks follow avail_event, interrupts are asked for through used_event. */
static void
test_event_idx(void **state)
{
	struct virtio_vq vq;
	struct virtio_vq_buf bufs[2] = {{0x10, 16}, {0x20, 1}};
	struct virtio_vq_done done[4];
	uint16_t *avail_event, *used_event;
	int c, h, i;

	assert_int_equal(virtio_vq_init(&vq, 8, true, 2, 0), 0);
	virtio_vq_enable_event_idx(&vq);
	avail_event = (uint16_t *)&vq.used->ring[8];
	used_event = &vq.avail->ring[8];
	vq.used->flags = USK_VRING_USED_F_NO_NOTIFY; /* ignored with EVENT_IDX */
	/* avail_event 0: the device wants a kick once entry 0 is made available. */
	h = virtio_vq_alloc_head(&vq, 2);
	virtio_vq_submit(&vq, (uint16_t)h, bufs, 1, 1, &c);
	assert_true(virtio_vq_publish(&vq));
	/* The device has not caught up (still waits at 0): no kick for entries 1 and 2. */
	for (i = 0; i < 2; i++) {
		h = virtio_vq_alloc_head(&vq, 2);
		virtio_vq_submit(&vq, (uint16_t)h, bufs, 1, 1, &c);
		assert_false(virtio_vq_publish(&vq));
	}
	/* The device asks to be told about entry 3. */
	*avail_event = 3;
	h = virtio_vq_alloc_head(&vq, 2);
	virtio_vq_submit(&vq, (uint16_t)h, bufs, 1, 1, &c);
	assert_true(virtio_vq_publish(&vq));

	/* Interrupts: off = one behind the reaped index, on = the next entry. */
	virtio_vq_set_interrupts(&vq, false);
	assert_int_equal(*used_event, (uint16_t)(vq.last_used_idx - 1));
	assert_int_equal(vq.avail->flags, 0);
	dev_use(&vq, (uint32_t)dev_avail_head(&vq, 0), 1);
	assert_int_equal(virtio_vq_poll(&vq, done, 4), 1);
	virtio_vq_release(&vq, done[0].head);
	assert_false(virtio_vq_arm_interrupt(&vq));
	assert_int_equal(*used_event, 1);
	/* An entry that lands before the re-arm is reported so the caller reaps it. */
	dev_use(&vq, (uint32_t)dev_avail_head(&vq, 1), 1);
	assert_true(virtio_vq_arm_interrupt(&vq));
	assert_int_equal(virtio_vq_poll(&vq, done, 4), 1);
	virtio_vq_fini(&vq);

	/* Without EVENT_IDX nothing needs re-arming. */
	assert_int_equal(virtio_vq_init(&vq, 8, true, 2, 0), 0);
	assert_false(virtio_vq_arm_interrupt(&vq));
	virtio_vq_fini(&vq);
}

static struct usk_virtio_blk_config
good_cfg(void)
{
	struct usk_virtio_blk_config c = {0};

	c.capacity = 2048;
	c.blk_size = 4096;
	c.seg_max = 254;
	c.num_queues = 4;
	c.max_discard_sectors = 1003; /* not a whole number of 4 KiB blocks: rounded down */
	c.max_discard_seg = 1;
	c.max_write_zeroes_sectors = 64;
	c.max_write_zeroes_seg = 1;
	return c;
}

#define ALLF (VBLK_DRIVER_FEATURES)

static void
test_config(void **state)
{
	struct usk_virtio_blk_config c = good_cfg();
	struct vblk_params p;

	assert_int_equal(VBLK_CONFIG_READ_SIZE, 60);
	assert_int_equal(vblk_parse_config(&c, VBLK_CONFIG_READ_SIZE, ALLF, &p), 0);
	assert_int_equal(p.blk_size, 4096);
	assert_int_equal(p.num_blocks, 256);
	assert_int_equal(p.seg_max, VBLK_MAX_SEGMENTS);
	assert_int_equal(p.num_queues, 4);
	assert_int_equal(p.max_discard_sectors, 1000);
	assert_int_equal(p.max_write_zeroes_sectors, 64);
	assert_int_equal(p.size_max, 0); /* 0 in the config: no limit */
	assert_true(p.read_only && p.flush);
	/* Features not negotiated: defaults, the fields ignored. */
	assert_int_equal(vblk_parse_config(&c, VBLK_CONFIG_READ_SIZE, 0, &p), 0);
	assert_int_equal(p.blk_size, 512);
	assert_int_equal(p.num_blocks, 2048);
	assert_int_equal(p.num_queues, 1);
	assert_int_equal(p.max_discard_sectors, 0);
	assert_false(p.read_only);

	assert_int_equal(vblk_parse_config(&c, VBLK_CONFIG_READ_SIZE - 1, ALLF, &p), -EINVAL);
	c.blk_size = 3000;
	assert_int_equal(vblk_parse_config(&c, VBLK_CONFIG_READ_SIZE, ALLF, &p), -EINVAL);
	c.blk_size = 256;
	assert_int_equal(vblk_parse_config(&c, VBLK_CONFIG_READ_SIZE, ALLF, &p), -EINVAL);
	c = good_cfg();
	c.capacity = 0;
	assert_int_equal(vblk_parse_config(&c, VBLK_CONFIG_READ_SIZE, ALLF, &p), -EINVAL);
	c.capacity = 2049; /* not whole 4 KiB blocks */
	assert_int_equal(vblk_parse_config(&c, VBLK_CONFIG_READ_SIZE, ALLF, &p), -EINVAL);
	c.capacity = UINT64_MAX - 7; /* bytes overflow 64 bits */
	assert_int_equal(vblk_parse_config(&c, VBLK_CONFIG_READ_SIZE, ALLF, &p), -EINVAL);
	c = good_cfg();
	c.seg_max = 0;
	assert_int_equal(vblk_parse_config(&c, VBLK_CONFIG_READ_SIZE, ALLF, &p), -EINVAL);
	c = good_cfg();
	c.num_queues = 0;
	assert_int_equal(vblk_parse_config(&c, VBLK_CONFIG_READ_SIZE, ALLF, &p), -EINVAL);
	c = good_cfg();
	c.size_max = 1024; /* below a block */
	assert_int_equal(vblk_parse_config(&c, VBLK_CONFIG_READ_SIZE, ALLF, &p), -EINVAL);
	c.size_max = 65536 + 100;
	assert_int_equal(vblk_parse_config(&c, VBLK_CONFIG_READ_SIZE, ALLF, &p), 0);
	assert_int_equal(p.size_max, 65536);
	/* Discard offered with no usable limit: not used, not fatal. */
	c = good_cfg();
	c.max_discard_sectors = 7;
	c.max_write_zeroes_seg = 0;
	assert_int_equal(vblk_parse_config(&c, VBLK_CONFIG_READ_SIZE, ALLF, &p), 0);
	assert_int_equal(p.max_discard_sectors, 0);
	assert_int_equal(p.max_write_zeroes_sectors, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_args),	cmocka_unit_test(test_indirect),
		cmocka_unit_test(test_direct_chains),	cmocka_unit_test(test_hostile_used_ring),
		cmocka_unit_test(test_notify_and_wrap), cmocka_unit_test(test_event_idx),
		cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
