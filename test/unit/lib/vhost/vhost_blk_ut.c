/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the vhost-blk data path (vhost_blk.c) over a split ring in plain memory and a
 * mocked bdev: request decoding and status, QEMU-style merging of a poll batch (sort, sequential
 * runs, direction change, iovec and size limits), completion of each merged request, errors;
 * the inflight region of split and packed rings across a restart.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../../../../lib/vhost/vhost_internal.h"

#define GPA_BASE   0x40000000ULL
#define MEM_SIZE   (8u << 20)
#define QSIZE	   64
#define DESC_OFF   0x0
#define AVAIL_OFF  0x1000
#define USED_OFF   0x2000
#define HDR_OFF	   0x4000 /* 64 headers of 16 bytes */
#define STATUS_OFF 0x5000 /* 64 status bytes */
#define DATA_OFF   0x10000

/* ---- mocks of the layers below ---- */

struct mock_io {
	enum usk_bdev_io_type type;
	uint64_t offset_blocks;
	uint64_t num_blocks;
	int iovcnt;
	uint64_t bytes;
	usk_bdev_io_completion_cb cb;
	void *cb_arg;
};

static struct mock_io g_ios[64];
static int g_nios;
static int g_submit_rc;
static bool g_unmap_supported = true;
static int g_closed;

static int
mock_submit(enum usk_bdev_io_type type, struct iovec *iov, int iovcnt, uint64_t off, uint64_t num,
	    usk_bdev_io_completion_cb cb, void *cb_arg)
{
	struct mock_io *io;

	if (g_submit_rc != 0) {
		return g_submit_rc;
	}
	io = &g_ios[g_nios++];
	io->type = type;
	io->offset_blocks = off;
	io->num_blocks = num;
	io->iovcnt = iovcnt;
	io->bytes = iov ? usk_iov_length(iov, iovcnt) : 0;
	io->cb = cb;
	io->cb_arg = cb_arg;
	return 0;
}

bool
usk_bdev_io_type_supported(struct usk_bdev *bdev, enum usk_bdev_io_type t)
{
	return t != USK_BDEV_IO_TYPE_UNMAP || g_unmap_supported;
}

int
usk_bdev_readv_blocks(struct usk_bdev_desc *d, struct usk_io_channel *ch, struct iovec *iov,
		      int iovcnt, uint64_t off, uint64_t num, usk_bdev_io_completion_cb cb,
		      void *arg)
{
	return mock_submit(USK_BDEV_IO_TYPE_READ, iov, iovcnt, off, num, cb, arg);
}

int
usk_bdev_writev_blocks(struct usk_bdev_desc *d, struct usk_io_channel *ch, struct iovec *iov,
		       int iovcnt, uint64_t off, uint64_t num, usk_bdev_io_completion_cb cb,
		       void *arg)
{
	return mock_submit(USK_BDEV_IO_TYPE_WRITE, iov, iovcnt, off, num, cb, arg);
}

int
usk_bdev_flush_blocks(struct usk_bdev_desc *d, struct usk_io_channel *ch, uint64_t off,
		      uint64_t num, usk_bdev_io_completion_cb cb, void *arg)
{
	return mock_submit(USK_BDEV_IO_TYPE_FLUSH, NULL, 0, off, num, cb, arg);
}

int
usk_bdev_unmap_blocks(struct usk_bdev_desc *d, struct usk_io_channel *ch, uint64_t off,
		      uint64_t num, usk_bdev_io_completion_cb cb, void *arg)
{
	return mock_submit(USK_BDEV_IO_TYPE_UNMAP, NULL, 0, off, num, cb, arg);
}

int
usk_bdev_write_zeroes_blocks(struct usk_bdev_desc *d, struct usk_io_channel *ch, uint64_t off,
			     uint64_t num, usk_bdev_io_completion_cb cb, void *arg)
{
	return mock_submit(USK_BDEV_IO_TYPE_WRITE_ZEROES, NULL, 0, off, num, cb, arg);
}

void
usk_bdev_free_io(struct usk_bdev_io *bdev_io)
{
}

int
usk_bdev_queue_io_wait(struct usk_bdev *bdev, struct usk_io_channel *ch,
		       struct usk_bdev_io_wait_entry *entry)
{
	return -EINVAL;
}

static uint64_t g_now = 1000;
uint64_t
usk_get_ticks(void)
{
	return g_now;
}
uint64_t
usk_get_ticks_hz(void)
{
	return 1000000;
}
bool
usk_interrupt_mode_is_enabled(void)
{
	return false;
}
int
usk_thread_send_msg(const struct usk_thread *t, usk_msg_fn fn, void *ctx)
{
	return 0;
}
struct usk_interrupt *
usk_interrupt_register(int efd, usk_interrupt_fn fn, void *arg, const char *n)
{
	return NULL;
}
void
usk_interrupt_unregister(struct usk_interrupt **p)
{
	*p = NULL;
}
struct usk_poller *
usk_poller_register_named(usk_poller_fn fn, void *arg, uint64_t us, const char *n)
{
	return (struct usk_poller *)arg;
}
void
usk_poller_unregister(struct usk_poller **p)
{
	*p = NULL;
}

void
vhost_user_close_conn(struct vhost_blk_dev *dev, const char *why)
{
	g_closed++;
	dev->paused = true;
}

/* ---- fixture: one split queue of QSIZE in a fake guest ---- */

static uint8_t *g_ram;
static struct vhost_blk_dev *g_dev;
static struct vhost_vq *g_vq;
static uint16_t g_next_desc;

static uint64_t
gpa(uint32_t off)
{
	return GPA_BASE + off;
}

static int
setup(void **state)
{
	g_ram = aligned_alloc(4096, MEM_SIZE);
	memset(g_ram, 0, MEM_SIZE);
	g_dev = calloc(1, sizeof(*g_dev));
	g_dev->mem.nregions = 1;
	g_dev->mem.regions[0] = (struct vhost_mem_region){
		.gpa = GPA_BASE, .size = MEM_SIZE, .uva = 0x7f0000000000ULL, .host = g_ram};
	g_dev->block_size = 512;
	g_dev->num_blocks = 1 << 20;
	g_dev->bdev_desc = (void *)0x1;
	g_dev->bdev = (void *)0x1;
	snprintf(g_dev->bdev_name, sizeof(g_dev->bdev_name), "Malloc0");
	g_dev->features = (1ULL << USK_VIRTIO_F_VERSION_1);
	g_vq = &g_dev->vqs[0];
	g_vq->size = QSIZE;
	g_vq->desc_uva = 0x7f0000000000ULL + DESC_OFF;
	g_vq->avail_uva = 0x7f0000000000ULL + AVAIL_OFF;
	g_vq->used_uva = 0x7f0000000000ULL + USED_OFF;
	g_vq->kickfd = g_vq->callfd = g_vq->errfd = -1;
	assert_int_equal(vhost_blk_vq_start(g_dev, g_vq), 0);
	g_nios = 0;
	g_submit_rc = 0;
	g_closed = 0;
	g_next_desc = 0;
	g_unmap_supported = true;
	return 0;
}

static int
teardown(void **state)
{
	vhost_blk_vq_stop(g_dev, g_vq);
	free(g_vq->tasks);
	free(g_dev);
	free(g_ram);
	return 0;
}

/* Make a request available: header, nseg data segments of seg_len each, status. Returns head. */
static uint16_t
add_req(uint32_t type, uint64_t sector, uint32_t nseg, uint32_t seg_len)
{
	struct usk_vring_desc *d = g_vq->split.desc;
	uint16_t head = g_next_desc, i, cur;
	struct usk_virtio_blk_outhdr *hdr = (void *)(g_ram + HDR_OFF + head * 16);
	bool in = type == USK_VIRTIO_BLK_T_IN || type == USK_VIRTIO_BLK_T_GET_ID;

	hdr->type = type;
	hdr->sector = sector;
	d[head] = (struct usk_vring_desc){.addr = gpa(HDR_OFF + head * 16),
					  .len = 16,
					  .flags = USK_VRING_DESC_F_NEXT,
					  .next = (uint16_t)(head + 1)};
	cur = head + 1;
	for (i = 0; i < nseg; i++, cur++) {
		d[cur] = (struct usk_vring_desc){.addr = gpa(DATA_OFF + cur * 0x10000),
						 .len = seg_len,
						 .flags = USK_VRING_DESC_F_NEXT |
							  (in ? USK_VRING_DESC_F_WRITE : 0),
						 .next = (uint16_t)(cur + 1)};
	}
	g_ram[STATUS_OFF + head] = 0xee;
	d[cur] = (struct usk_vring_desc){
		.addr = gpa(STATUS_OFF + head), .len = 1, .flags = USK_VRING_DESC_F_WRITE};
	g_next_desc = cur + 1;
	g_vq->split.avail->ring[g_vq->split.avail->idx % QSIZE] = head;
	g_vq->split.avail->idx++;
	return head;
}

static uint8_t
status_of(uint16_t head)
{
	return g_ram[STATUS_OFF + head];
}

static void
complete_all(bool success)
{
	int i, n = g_nios;

	g_nios = 0;
	for (i = 0; i < n; i++) {
		g_ios[i].cb((void *)0x1, success, g_ios[i].cb_arg);
	}
}

static void
test_single_read(void **state)
{
	uint16_t h = add_req(USK_VIRTIO_BLK_T_IN, 8, 2, 2048);

	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), 1);
	assert_int_equal(g_nios, 1);
	assert_int_equal(g_ios[0].type, USK_BDEV_IO_TYPE_READ);
	assert_int_equal(g_ios[0].offset_blocks, 8);
	assert_int_equal(g_ios[0].num_blocks, 8);
	assert_int_equal(g_ios[0].iovcnt, 2);
	assert_int_equal(vhost_blk_inflight(g_dev), 1);
	complete_all(true);
	assert_int_equal(status_of(h), USK_VIRTIO_BLK_S_OK);
	assert_int_equal(g_vq->split.used->idx, 1);
	assert_int_equal(g_vq->split.used->ring[0].id, h);
	assert_int_equal(g_vq->split.used->ring[0].len, 4097); /* data + status */
	assert_int_equal(vhost_blk_inflight(g_dev), 0);
}

static void
test_merge_sequential_sorted(void **state)
{
	/* writes at sectors 16, 0, 8, 24 (4 KiB each): sorted, they form one run */
	uint16_t h[4];
	int i;

	h[0] = add_req(USK_VIRTIO_BLK_T_OUT, 16, 1, 4096);
	h[1] = add_req(USK_VIRTIO_BLK_T_OUT, 0, 1, 4096);
	h[2] = add_req(USK_VIRTIO_BLK_T_OUT, 8, 1, 4096);
	h[3] = add_req(USK_VIRTIO_BLK_T_OUT, 24, 1, 4096);
	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), 4);
	assert_int_equal(g_nios, 1);
	assert_int_equal(g_ios[0].type, USK_BDEV_IO_TYPE_WRITE);
	assert_int_equal(g_ios[0].offset_blocks, 0);
	assert_int_equal(g_ios[0].num_blocks, 32);
	assert_int_equal(g_ios[0].iovcnt, 4);
	assert_int_equal(g_ios[0].bytes, 16384);
	complete_all(true);
	for (i = 0; i < 4; i++) {
		assert_int_equal(status_of(h[i]), USK_VIRTIO_BLK_S_OK);
	}
	assert_int_equal(g_vq->split.used->idx, 4);
	assert_int_equal(vhost_blk_inflight(g_dev), 0);
}

static void
test_merge_gap_and_direction(void **state)
{
	/* read 0, read 8, write 16, read 24, read 40 (gap): R[0+8] | W16 | R24 | R40 */
	add_req(USK_VIRTIO_BLK_T_IN, 0, 1, 4096);
	add_req(USK_VIRTIO_BLK_T_IN, 8, 1, 4096);
	add_req(USK_VIRTIO_BLK_T_OUT, 16, 1, 4096);
	add_req(USK_VIRTIO_BLK_T_IN, 24, 1, 4096);
	add_req(USK_VIRTIO_BLK_T_IN, 40, 1, 4096);
	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), 5);
	assert_int_equal(g_nios, 4);
	assert_int_equal(g_ios[0].type, USK_BDEV_IO_TYPE_READ);
	assert_int_equal(g_ios[0].num_blocks, 16);
	assert_int_equal(g_ios[1].type, USK_BDEV_IO_TYPE_WRITE);
	assert_int_equal(g_ios[2].offset_blocks, 24);
	assert_int_equal(g_ios[2].num_blocks, 8);
	assert_int_equal(g_ios[3].offset_blocks, 40);
	complete_all(true);
	assert_int_equal(g_vq->split.used->idx, 5);
}

static void
test_merge_limits(void **state)
{
	/* 3 sequential 512 KiB writes: merged size would exceed 1 MiB after two */
	add_req(USK_VIRTIO_BLK_T_OUT, 0, 1, 512 * 1024);
	add_req(USK_VIRTIO_BLK_T_OUT, 1024, 1, 512 * 1024);
	add_req(USK_VIRTIO_BLK_T_OUT, 2048, 1, 512 * 1024);
	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), 3);
	assert_int_equal(g_nios, 2);
	assert_int_equal(g_ios[0].num_blocks, 2048);
	assert_int_equal(g_ios[1].offset_blocks, 2048);
	complete_all(true);
}

static void
test_merge_failure_completes_each(void **state)
{
	uint16_t a = add_req(USK_VIRTIO_BLK_T_OUT, 0, 1, 4096);
	uint16_t b = add_req(USK_VIRTIO_BLK_T_OUT, 8, 1, 4096);

	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), 2);
	assert_int_equal(g_nios, 1);
	complete_all(false);
	assert_int_equal(status_of(a), USK_VIRTIO_BLK_S_IOERR);
	assert_int_equal(status_of(b), USK_VIRTIO_BLK_S_IOERR);
	assert_int_equal(g_vq->split.used->idx, 2);
	/* a submission error fails the whole merged chain at once */
	g_submit_rc = -EINVAL;
	a = add_req(USK_VIRTIO_BLK_T_IN, 0, 1, 4096);
	b = add_req(USK_VIRTIO_BLK_T_IN, 8, 1, 4096);
	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), 2);
	assert_int_equal(status_of(a), USK_VIRTIO_BLK_S_IOERR);
	assert_int_equal(status_of(b), USK_VIRTIO_BLK_S_IOERR);
	assert_int_equal(vhost_blk_inflight(g_dev), 0);
}

static void
test_request_types(void **state)
{
	struct usk_virtio_blk_discard_write_zeroes *seg;
	uint16_t h, f, u, r, g;

	/* unknown type: UNSUPP at once */
	u = add_req(0x55, 0, 0, 0);
	/* out of range read: IOERR */
	r = add_req(USK_VIRTIO_BLK_T_IN, (1 << 20) - 1, 1, 4096);
	/* GET_ID: the bdev name */
	g = add_req(USK_VIRTIO_BLK_T_GET_ID, 0, 1, 20);
	f = add_req(USK_VIRTIO_BLK_T_FLUSH, 0, 0, 0);
	h = add_req(USK_VIRTIO_BLK_T_DISCARD, 0, 1, 16);
	seg = (void *)(g_ram + DATA_OFF + (h + 1) * 0x10000);
	seg->sector = 64;
	seg->num_sectors = 128;
	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), 5);
	assert_int_equal(status_of(u), USK_VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(status_of(r), USK_VIRTIO_BLK_S_IOERR);
	assert_int_equal(status_of(g), USK_VIRTIO_BLK_S_OK);
	assert_memory_equal(g_ram + DATA_OFF + (g + 1) * 0x10000, "Malloc0\0", 8);
	assert_int_equal(g_nios, 2);
	assert_int_equal(g_ios[0].type, USK_BDEV_IO_TYPE_FLUSH);
	assert_int_equal(g_ios[1].type, USK_BDEV_IO_TYPE_UNMAP);
	assert_int_equal(g_ios[1].offset_blocks, 64);
	assert_int_equal(g_ios[1].num_blocks, 128);
	complete_all(true);
	assert_int_equal(status_of(f), USK_VIRTIO_BLK_S_OK);
	assert_int_equal(status_of(h), USK_VIRTIO_BLK_S_OK);
	/* DISCARD with the UNMAP flag is UNSUPP (virtio 1.2 5.2.6.2) */
	h = add_req(USK_VIRTIO_BLK_T_DISCARD, 0, 1, 16);
	seg = (void *)(g_ram + DATA_OFF + (h + 1) * 0x10000);
	seg->num_sectors = 8;
	seg->flags = USK_VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), 1);
	assert_int_equal(status_of(h), USK_VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(g_nios, 0);
	assert_int_equal(g_closed, 0);
}

static void
test_readonly(void **state)
{
	uint16_t w, z, r;

	g_dev->readonly = true;
	w = add_req(USK_VIRTIO_BLK_T_OUT, 0, 1, 4096);
	z = add_req(USK_VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 16);
	r = add_req(USK_VIRTIO_BLK_T_IN, 0, 1, 4096);
	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), 3);
	assert_int_equal(status_of(w), USK_VIRTIO_BLK_S_IOERR);
	assert_int_equal(status_of(z), USK_VIRTIO_BLK_S_IOERR);
	assert_int_equal(g_nios, 1);
	complete_all(true);
	assert_int_equal(status_of(r), USK_VIRTIO_BLK_S_OK);
	assert_true(vhost_blk_features(g_dev) & (1ULL << USK_VIRTIO_BLK_F_RO));
}

static void
test_bad_chain_closes(void **state)
{
	struct usk_vring_desc *d = g_vq->split.desc;
	uint16_t a, b;

	a = add_req(USK_VIRTIO_BLK_T_IN, 0, 1, 4096);
	b = add_req(USK_VIRTIO_BLK_T_IN, 8, 1, 4096);
	d[b + 1].addr = 0x10; /* the second one points outside guest memory */
	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), -EINVAL);
	assert_int_equal(g_closed, 1);
	/* the request taken before the bad one was still submitted, and completes */
	assert_int_equal(g_nios, 1);
	complete_all(true);
	assert_int_equal(status_of(a), USK_VIRTIO_BLK_S_OK);
	assert_int_equal(vhost_blk_inflight(g_dev), 0);
	(void)b;
}

static void
test_no_status_byte_closes(void **state)
{
	struct usk_vring_desc *d = g_vq->split.desc;
	uint16_t h = add_req(USK_VIRTIO_BLK_T_OUT, 0, 1, 4096);

	d[h + 1].flags = 0; /* chain ends before the status descriptor */
	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), -EINVAL);
	assert_int_equal(g_closed, 1);
	assert_int_equal(vhost_blk_inflight(g_dev), 0);
}

/* eventfd writes since the last call (each write adds 1) */
static uint64_t
signals(int efd)
{
	uint64_t v = 0;

	if (read(efd, &v, sizeof(v)) != sizeof(v)) {
		return 0;
	}
	return v;
}

static void
test_one_signal_per_batch(void **state)
{
	int efd = eventfd(0, EFD_NONBLOCK);
	int i;

	g_vq->callfd = efd;
	for (i = 0; i < 8; i++) {
		add_req(USK_VIRTIO_BLK_T_IN, (uint64_t)i * 64, 1, 512);
	}
	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), 8);
	complete_all(true);
	assert_int_equal(g_vq->used_since_signal, 8);
	vhost_blk_signal_all(g_dev, g_now);
	assert_int_equal(signals(efd), 1); /* 8 completions, one eventfd write */
	vhost_blk_signal_all(g_dev, g_now);
	assert_int_equal(signals(efd), 0); /* nothing new */
	/* the driver asked for no interrupts */
	g_vq->split.avail->flags = USK_VRING_AVAIL_F_NO_INTERRUPT;
	add_req(USK_VIRTIO_BLK_T_IN, 0, 1, 512);
	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), 1);
	complete_all(true);
	vhost_blk_signal_all(g_dev, g_now);
	assert_int_equal(signals(efd), 0);
	g_vq->callfd = -1;
	close(efd);
}

static void
test_coalescing(void **state)
{
	int efd = eventfd(0, EFD_NONBLOCK);
	uint64_t hz = 1000000, window = hz * VHOST_STATS_CHECK_INTERVAL_MS / 1000;
	int i, round;

	/* 1000 IOPS threshold = 10 per 10 ms window; delay base 100 us */
	g_dev->delay_base_us = 100;
	g_dev->iops_threshold = 1000;
	vhost_blk_set_coalescing_ticks(g_dev);
	g_vq->callfd = efd;
	g_now = 1000000;
	/* two batches of 20 at the same instant: the first stats check sees 20 > 10 per window and
	 * sets a delay of 100 * (20 - 10) / 10 = 100 us; the first batch is signalled at once, the
	 * second is held back */
	for (round = 0; round < 2; round++) {
		for (i = 0; i < 20; i++) {
			add_req(USK_VIRTIO_BLK_T_IN, (uint64_t)i * 64, 0, 0);
		}
		g_next_desc = 0;
		vhost_blk_vq_poll(g_dev, g_vq);
		complete_all(true);
		vhost_blk_signal_all(g_dev, g_now);
	}
	assert_int_equal(g_vq->irq_delay_ticks, 100);
	assert_int_equal(signals(efd), 1);
	assert_int_equal(g_vq->used_since_signal, 20);
	/* next window: 20 signalled + 20 held + 1 new = 41 -> 100 * (41 - 10) / 10 = 310 us */
	g_now += window;
	add_req(USK_VIRTIO_BLK_T_IN, 0, 0, 0);
	g_next_desc = 0;
	vhost_blk_vq_poll(g_dev, g_vq);
	complete_all(true);
	vhost_blk_signal_all(g_dev, g_now); /* stats check: delay set, first signal goes at once */
	assert_int_equal(g_vq->irq_delay_ticks, 100 * (41 - 10) / 10);
	assert_int_equal(signals(efd), 1);
	/* a completion 100 us later waits: delay 310 us */
	g_now += 100;
	add_req(USK_VIRTIO_BLK_T_IN, 0, 0, 0);
	g_next_desc = 0;
	vhost_blk_vq_poll(g_dev, g_vq);
	complete_all(true);
	vhost_blk_signal_all(g_dev, g_now);
	assert_int_equal(signals(efd), 0);
	assert_int_equal(g_vq->used_since_signal, 1);
	/* ... and is signalled by a later poll once the delay has passed, with no new I/O */
	g_now += 300;
	vhost_blk_signal_all(g_dev, g_now);
	assert_int_equal(signals(efd), 1);
	/* a quiet window drops the delay again */
	g_now += window;
	vhost_blk_signal_all(g_dev, g_now);
	g_now += window;
	vhost_blk_signal_all(g_dev, g_now);
	assert_int_equal(g_vq->irq_delay_ticks, 0);
	g_vq->callfd = -1;
	close(efd);
}

static void
test_inflight_resubmit(void **state)
{
	struct usk_vhost_inflight_split *inf =
		calloc(1, sizeof(*inf) + QSIZE * sizeof(inf->desc[0]));
	uint16_t h0, h1, h2;

	/* before the "crash": three requests fetched, h1 completed (used idx 1) but the back-end
	 * died before clearing its inflight entry and storing used_idx */
	h0 = add_req(USK_VIRTIO_BLK_T_OUT, 0, 1, 4096);
	h1 = add_req(USK_VIRTIO_BLK_T_OUT, 64, 1, 4096);
	h2 = add_req(USK_VIRTIO_BLK_T_IN, 128, 1, 4096);
	vhost_blk_vq_stop(g_dev, g_vq);
	g_vq->split.used->ring[0] = (struct usk_vring_used_elem){.id = h1, .len = 1};
	g_vq->split.used->idx = 1;
	inf->version = USK_VHOST_INFLIGHT_VERSION;
	inf->desc_num = QSIZE;
	inf->used_idx = 0;
	inf->last_batch_head = h1;
	inf->desc[h0] = (struct usk_vhost_inflight_desc_split){.inflight = 1, .counter = 7};
	inf->desc[h1] = (struct usk_vhost_inflight_desc_split){.inflight = 1, .counter = 8};
	inf->desc[h2] = (struct usk_vhost_inflight_desc_split){.inflight = 1, .counter = 5};
	/* restart: QEMU sets the base to used->idx */
	g_vq->inflight = inf;
	g_vq->base_idx = 1;
	assert_int_equal(vhost_blk_vq_start(g_dev, g_vq), 0);
	/* h1 repaired (not resubmitted); h2 (counter 5) then h0 (7) resubmitted, in fetch order */
	assert_int_equal(inf->desc[h1].inflight, 0);
	assert_int_equal(inf->used_idx, 1);
	assert_int_equal(g_nios, 2);
	assert_int_equal(g_ios[0].type, USK_BDEV_IO_TYPE_READ);
	assert_int_equal(g_ios[0].offset_blocks, 128);
	assert_int_equal(g_ios[1].type, USK_BDEV_IO_TYPE_WRITE);
	assert_int_equal(g_ios[1].offset_blocks, 0);
	/* fetching continues after the three requests already taken */
	assert_int_equal(g_vq->last_avail_idx, 3);
	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), 0);
	complete_all(true);
	assert_int_equal(g_vq->split.used->idx, 3);
	assert_int_equal(inf->used_idx, 3);
	assert_int_equal(inf->desc[h0].inflight, 0);
	assert_int_equal(inf->desc[h2].inflight, 0);
	/* a new request is tracked: inflight while in the bdev, cleared on completion */
	h1 = add_req(USK_VIRTIO_BLK_T_IN, 8, 1, 512);
	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), 1);
	assert_int_equal(inf->desc[h1].inflight, 1);
	assert_true(inf->desc[h1].counter > 7);
	complete_all(true);
	assert_int_equal(inf->desc[h1].inflight, 0);
	assert_int_equal(inf->used_idx, 4);
	g_vq->inflight = NULL;
	free(inf);
}

static void
test_inflight_split_bad_batch_head(void **state)
{
	struct usk_vhost_inflight_split *inf =
		calloc(1, sizeof(*inf) + QSIZE * sizeof(inf->desc[0]));

	/* a half-finished completion naming a head past the queue: refused, nothing written */
	vhost_blk_vq_stop(g_dev, g_vq);
	g_vq->split.used->idx = 1;
	inf->version = USK_VHOST_INFLIGHT_VERSION;
	inf->desc_num = QSIZE;
	inf->used_idx = 0;
	inf->last_batch_head = 60000;
	g_vq->inflight = inf;
	g_vq->base_idx = 1;
	assert_int_equal(vhost_blk_vq_start(g_dev, g_vq), -EINVAL);
	assert_int_equal(g_nios, 0);
	g_vq->inflight = NULL;
	free(inf);
}

static void
test_inflight_fresh_region(void **state)
{
	struct usk_vhost_inflight_split *inf =
		calloc(1, sizeof(*inf) + QSIZE * sizeof(inf->desc[0]));

	/* QEMU's first GET_INFLIGHT_FD region is zeroed: claimed, nothing resubmitted */
	vhost_blk_vq_stop(g_dev, g_vq);
	g_vq->inflight = inf;
	assert_int_equal(vhost_blk_vq_start(g_dev, g_vq), 0);
	assert_int_equal(inf->version, USK_VHOST_INFLIGHT_VERSION);
	assert_int_equal(inf->desc_num, QSIZE);
	assert_int_equal(g_nios, 0);
	g_vq->inflight = NULL;
	free(inf);
}

/* ---- packed ring with an inflight region ---- */

#define PK_REGION_SIZE \
	(sizeof(struct usk_vhost_inflight_packed) + \
	 QSIZE * sizeof(struct usk_vhost_inflight_desc_packed))

static uint16_t g_pk_slot;
static bool g_pk_wrap;

/* Restart the queue as packed over region inf ("usk_tgt restarted": no task survives). */
static int
packed_restart(struct usk_vhost_inflight_packed *inf, uint32_t base)
{
	vhost_blk_vq_stop(g_dev, g_vq);
	free(g_vq->tasks);
	g_vq->tasks = NULL;
	g_vq->inflight_cnt = 0;
	g_vq->inflight_descs = 0;
	g_nios = 0;
	g_dev->features |= 1ULL << USK_VIRTIO_F_RING_PACKED;
	g_vq->inflight_pk = inf;
	g_vq->base_idx = base;
	return vhost_blk_vq_start(g_dev, g_vq);
}

static void
pk_put(struct usk_vring_packed_desc d)
{
	d.flags |= g_pk_wrap ? USK_VRING_PACKED_DESC_F_AVAIL : USK_VRING_PACKED_DESC_F_USED;
	g_vq->pk.desc[g_pk_slot] = d;
	if (++g_pk_slot == QSIZE) {
		g_pk_slot = 0;
		g_pk_wrap = !g_pk_wrap;
	}
}

/* A three-descriptor request (header, one data segment, status) with buffer id. */
static void
add_req_packed(uint16_t id, uint32_t type, uint64_t sector, uint32_t len)
{
	struct usk_virtio_blk_outhdr *hdr = (void *)(g_ram + HDR_OFF + id * 16);
	bool in = type == USK_VIRTIO_BLK_T_IN;

	hdr->type = type;
	hdr->sector = sector;
	g_ram[STATUS_OFF + id] = 0xee;
	pk_put((struct usk_vring_packed_desc){
		.addr = gpa(HDR_OFF + id * 16), .len = 16, .flags = USK_VRING_DESC_F_NEXT});
	pk_put((struct usk_vring_packed_desc){.addr = gpa(DATA_OFF + id * 0x10000),
					      .len = len,
					      .flags = USK_VRING_DESC_F_NEXT |
						       (in ? USK_VRING_DESC_F_WRITE : 0)});
	pk_put((struct usk_vring_packed_desc){
		.addr = gpa(STATUS_OFF + id), .len = 1, .id = id, .flags = USK_VRING_DESC_F_WRITE});
}

static int
find_io(uint64_t offset)
{
	int i;

	for (i = 0; i < g_nios; i++) {
		if (g_ios[i].offset_blocks == offset) {
			return i;
		}
	}
	fail_msg("no I/O at block %llu", (unsigned long long)offset);
	return -1;
}

/* Complete the mocked I/O at offset alone (the others stay in the bdev). */
static void
complete_one(uint64_t offset)
{
	int i = find_io(offset);
	struct mock_io io = g_ios[i];

	g_ios[i] = g_ios[--g_nios];
	io.cb((void *)0x1, true, io.cb_arg);
}

/* Three requests A (id 5, write 0), B (id 9, write 64), C (id 2, read 128) in slots 0..8. */
static struct usk_vhost_inflight_packed *
packed_three(void)
{
	struct usk_vhost_inflight_packed *inf = calloc(1, PK_REGION_SIZE);

	g_pk_slot = 0;
	g_pk_wrap = true;
	/* a zeroed region (QEMU's first GET_INFLIGHT_FD) is claimed at the SET_VRING_BASE position
	 */
	assert_int_equal(packed_restart(inf, 0x80008000u), 0);
	assert_int_equal(inf->version, USK_VHOST_INFLIGHT_VERSION);
	assert_int_equal(inf->desc_num, QSIZE);
	assert_int_equal(inf->desc[7].next, 8);
	assert_int_equal(inf->used_wrap_counter, 1);
	add_req_packed(5, USK_VIRTIO_BLK_T_OUT, 0, 4096);
	add_req_packed(9, USK_VIRTIO_BLK_T_OUT, 64, 4096);
	add_req_packed(2, USK_VIRTIO_BLK_T_IN, 128, 4096);
	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), 3);
	assert_int_equal(g_nios, 3);
	/* each chain recorded: header entry with num/last/counter, a copy of each descriptor */
	assert_int_equal(inf->desc[0].inflight, 1);
	assert_int_equal(inf->desc[0].num, 3);
	assert_int_equal(inf->desc[0].last, 2);
	assert_int_equal(inf->desc[2].id, 5);
	assert_int_equal(inf->desc[1].len, 4096);
	assert_int_equal(inf->desc[3].inflight, 1);
	assert_int_equal(inf->desc[6].inflight, 1);
	assert_true(inf->desc[0].counter < inf->desc[3].counter);
	assert_true(inf->desc[3].counter < inf->desc[6].counter);
	assert_int_equal(inf->free_head, 9);
	assert_int_equal(inf->old_free_head, 9);
	return inf;
}

static void
test_inflight_packed_resubmit(void **state)
{
	struct usk_vhost_inflight_packed *inf = packed_three();

	/* B completes: used element at slot 0, its entries back on the free list, committed */
	complete_one(64);
	assert_int_equal(g_vq->pk.desc[0].id, 9);
	assert_int_equal(inf->desc[3].inflight, 0);
	assert_int_equal(inf->old_used_idx, 3);
	assert_int_equal(inf->used_idx, 3);
	assert_int_equal(inf->free_head, 3);
	assert_int_equal(status_of(9), USK_VIRTIO_BLK_S_OK);
	/* usk_tgt dies with A and C in the bdev; QEMU's base for a packed ring is stale (0) */
	assert_int_equal(packed_restart(inf, 0x80008000u), 0);
	assert_int_equal(g_nios, 2);
	assert_int_equal(g_ios[0].type, USK_BDEV_IO_TYPE_WRITE); /* A first: fetch order */
	assert_int_equal(g_ios[0].offset_blocks, 0);
	assert_int_equal(g_ios[1].type, USK_BDEV_IO_TYPE_READ);
	assert_int_equal(g_ios[1].offset_blocks, 128);
	/* used position from the region, fetching after everything already taken */
	assert_int_equal(g_vq->last_used_idx, 3);
	assert_true(g_vq->used_wrap);
	assert_int_equal(g_vq->last_avail_idx, 9);
	assert_true(g_vq->avail_wrap);
	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), 0);
	/* C then A complete: used elements at slots 3 and 6 with the device's wrap bits */
	complete_one(128);
	complete_one(0);
	assert_int_equal(g_vq->pk.desc[3].id, 2);
	assert_int_equal(g_vq->pk.desc[6].id, 5);
	assert_int_equal(g_vq->pk.desc[6].flags &
				 (USK_VRING_PACKED_DESC_F_AVAIL | USK_VRING_PACKED_DESC_F_USED),
			 USK_VRING_PACKED_DESC_F_AVAIL | USK_VRING_PACKED_DESC_F_USED);
	assert_int_equal(status_of(5), USK_VIRTIO_BLK_S_OK);
	assert_int_equal(status_of(2), USK_VIRTIO_BLK_S_OK);
	assert_int_equal(inf->old_used_idx, 9);
	assert_int_equal(g_vq->inflight_descs, 0);
	/* a new request is tracked and completed like the others */
	add_req_packed(9, USK_VIRTIO_BLK_T_IN, 8, 512);
	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), 1);
	/* A's entries were given back last: the new chain takes them */
	assert_int_equal(g_vq->tasks[9].inflight_head, 0);
	assert_int_equal(inf->desc[0].inflight, 1);
	complete_all(true);
	assert_int_equal(g_vq->pk.desc[9].id, 9);
	assert_int_equal(inf->old_used_idx, 12);
	assert_int_equal(g_closed, 0);
	g_vq->inflight_pk = NULL;
	free(inf);
}

static void
test_inflight_packed_half_completion(void **state)
{
	struct usk_vhost_inflight_packed *inf = packed_three();

	/* died after publishing B's used element but before clearing and committing */
	complete_one(64);
	inf->desc[3].inflight = 1;
	inf->old_used_idx = 0;
	inf->old_free_head = 9;
	assert_int_equal(packed_restart(inf, 0x80008000u), 0);
	assert_int_equal(g_nios, 2); /* B not done twice */
	assert_int_equal(inf->desc[3].inflight, 0);
	assert_int_equal(g_vq->last_used_idx, 3);
	assert_int_equal(g_vq->last_avail_idx, 9);
	g_vq->inflight_pk = NULL;
	free(inf);

	/* died after giving back B's entries, before its used element was written */
	inf = packed_three();
	inf->desc[5].next = inf->free_head;
	inf->free_head = 3;
	inf->used_idx = 3;
	assert_int_equal(packed_restart(inf, 0x80008000u), 0);
	assert_int_equal(g_nios, 3); /* B resubmitted */
	assert_int_equal(g_ios[1].offset_blocks, 64);
	assert_int_equal(g_vq->last_used_idx, 0);
	assert_int_equal(inf->used_idx, 0);
	assert_int_equal(g_vq->last_avail_idx, 9);
	/* the rebuilt free list starts past the three chains */
	assert_int_equal(inf->free_head, 9);
	complete_all(true);
	assert_int_equal(g_vq->last_used_idx, 9);
	assert_int_equal(g_closed, 0);
	g_vq->inflight_pk = NULL;
	free(inf);
}

static void
test_inflight_packed_bad_region(void **state)
{
	struct usk_vhost_inflight_packed *inf = packed_three();

	/* a front-end that scribbled a chain link out of range: the queue does not start */
	inf->desc[0].next = QSIZE + 5;
	assert_int_equal(packed_restart(inf, 0x80008000u), -EINVAL);
	assert_int_equal(g_nios, 0);
	inf->desc[0].next = 1;
	inf->desc[3].num = 0;
	assert_int_equal(packed_restart(inf, 0x80008000u), -EINVAL);
	inf->desc[3].num = 3;
	inf->old_used_idx = QSIZE;
	assert_int_equal(packed_restart(inf, 0x80008000u), -EINVAL);
	inf->old_used_idx = 0;
	/* two chains claiming one entry */
	inf->desc[3].next = 1;
	assert_int_equal(packed_restart(inf, 0x80008000u), -EINVAL);
	g_vq->inflight_pk = NULL;
	free(inf);
}

static void
test_sort(void **state)
{
	struct vhost_blk_task t[5], *p[5];
	uint64_t s[5] = {9, 3, 7, 3, 1};
	int i;

	for (i = 0; i < 5; i++) {
		t[i].sector = s[i];
		p[i] = &t[i];
	}
	vhost_blk_sort_tasks(p, 5);
	assert_ptr_equal(p[0], &t[4]);
	assert_ptr_equal(p[1], &t[1]); /* stable: the first 3 before the second */
	assert_ptr_equal(p[2], &t[3]);
	assert_ptr_equal(p[3], &t[2]);
	assert_ptr_equal(p[4], &t[0]);
}

static void
test_any_adjacent(void **state)
{
	struct vhost_blk_task t[VHOST_BATCH], *p[VHOST_BATCH];
	int i;

	/* 32 requests of 8 sectors, 64 sectors apart: nothing touches */
	for (i = 0; i < VHOST_BATCH; i++) {
		t[i].sector = (uint64_t)(VHOST_BATCH - i) * 64;
		t[i].nbytes = 4096;
		p[i] = &t[i];
	}
	assert_false(vhost_blk_any_adjacent(p, VHOST_BATCH));
	/* one request right behind another, anywhere in the batch */
	t[17].sector = t[3].sector + 8;
	assert_true(vhost_blk_any_adjacent(p, VHOST_BATCH));
	/* the same start twice is not adjacency */
	t[17].sector = t[3].sector;
	assert_false(vhost_blk_any_adjacent(p, VHOST_BATCH));
	/* ends that collide in the table (same hash slot) still find their match */
	t[0].sector = 0;
	t[1].sector = 8;
	assert_true(vhost_blk_any_adjacent(p, 2));
}

static void
test_random_batch_keeps_order(void **state)
{
	/* reads at 64, 8, 200: nothing merges, each goes down in arrival order, unsorted */
	add_req(USK_VIRTIO_BLK_T_IN, 64, 1, 4096);
	add_req(USK_VIRTIO_BLK_T_IN, 8, 1, 4096);
	add_req(USK_VIRTIO_BLK_T_IN, 200, 1, 4096);
	assert_int_equal(vhost_blk_vq_poll(g_dev, g_vq), 3);
	assert_int_equal(g_nios, 3);
	assert_int_equal(g_ios[0].offset_blocks, 64);
	assert_int_equal(g_ios[1].offset_blocks, 8);
	assert_int_equal(g_ios[2].offset_blocks, 200);
	complete_all(true);
	assert_int_equal(g_vq->split.used->idx, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_single_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_sequential_sorted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_gap_and_direction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_failure_completes_each, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_chain_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_status_byte_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_signal_per_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coalescing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_resubmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_fresh_region, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_split_bad_batch_head, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_inflight_packed_resubmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_packed_half_completion, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_inflight_packed_bad_region, setup, teardown),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_any_adjacent),
		cmocka_unit_test_setup_teardown(test_random_batch_keeps_order, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
