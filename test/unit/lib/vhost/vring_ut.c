/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the device-side virtqueue logic (vring.c), guest memory translation (vhost_mem.c)
 * and vhost-user message checks (vhost_msg.c), on plain memory standing in for guest RAM. */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../../../lib/vhost/vhost_internal.h"

#define GPA_BASE  0x10000000ULL
#define MEM_SIZE  (1u << 20)
#define QSIZE	  16
#define DESC_OFF  0x0
#define AVAIL_OFF 0x1000
#define USED_OFF  0x2000
#define DATA_OFF  0x10000

static uint8_t *g_ram;
static struct vhost_mem g_mem;
static struct vhost_vq g_vq;

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
	memset(&g_mem, 0, sizeof(g_mem));
	g_mem.nregions = 1;
	g_mem.regions[0] = (struct vhost_mem_region){
		.gpa = GPA_BASE, .size = MEM_SIZE, .uva = 0x7f0000000000ULL, .host = g_ram};
	memset(&g_vq, 0, sizeof(g_vq));
	g_vq.size = QSIZE;
	g_vq.split.desc = (void *)(g_ram + DESC_OFF);
	g_vq.split.avail = (void *)(g_ram + AVAIL_OFF);
	g_vq.split.used = (void *)(g_ram + USED_OFF);
	g_vq.callfd = -1;
	return 0;
}

static int
teardown(void **state)
{
	free(g_ram);
	return 0;
}

static void
set_desc(struct usk_vring_desc *t, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
	 uint16_t next)
{
	t[i] = (struct usk_vring_desc){.addr = addr, .len = len, .flags = flags, .next = next};
}

static void
test_mem_translate(void **state)
{
	struct iovec iovs[4];
	uint16_t cnt = 0;

	assert_ptr_equal(vhost_gpa_to_vva(&g_mem, gpa(0x100), 16), g_ram + 0x100);
	assert_null(vhost_gpa_to_vva(&g_mem, GPA_BASE - 1, 2));
	assert_null(vhost_gpa_to_vva(&g_mem, gpa(MEM_SIZE - 8), 16)); /* runs off the end */
	assert_null(vhost_gpa_to_vva(&g_mem, UINT64_MAX - 4, 16));
	assert_ptr_equal(vhost_uva_to_vva(&g_mem, 0x7f0000000010ULL, 4), g_ram + 0x10);
	assert_null(vhost_uva_to_vva(&g_mem, 0x7f0000000000ULL + MEM_SIZE, 1));
	/* two adjacent regions: a buffer across them becomes two iovecs */
	g_mem.nregions = 2;
	g_mem.regions[0].size = MEM_SIZE / 2;
	g_mem.regions[1] = (struct vhost_mem_region){.gpa = GPA_BASE + MEM_SIZE / 2,
						     .size = MEM_SIZE / 2,
						     .uva = 0x7e0000000000ULL,
						     .host = g_ram + MEM_SIZE / 2};
	assert_int_equal(vhost_gpa_to_iovs(&g_mem, gpa(MEM_SIZE / 2 - 100), 300, iovs, &cnt, 4), 0);
	assert_int_equal(cnt, 2);
	assert_int_equal(iovs[0].iov_len, 100);
	assert_int_equal(iovs[1].iov_len, 200);
	assert_ptr_equal(iovs[1].iov_base, g_ram + MEM_SIZE / 2);
	cnt = 0;
	assert_int_equal(vhost_gpa_to_iovs(&g_mem, gpa(MEM_SIZE / 2 - 100), 300, iovs, &cnt, 1),
			 -E2BIG);
	cnt = 0;
	assert_int_equal(vhost_gpa_to_iovs(&g_mem, gpa(MEM_SIZE - 10), 20, iovs, &cnt, 4), -EFAULT);
}

static void
test_mem_map_checks(void **state)
{
	struct usk_vhost_user_memory m = {.nregions = 1};
	struct vhost_mem mem;
	char err[256];
	int fd;

	/* a region larger than its file would SIGBUS on access: refused */
	fd = memfd_create("ut", MFD_CLOEXEC);
	assert_int_equal(ftruncate(fd, 65536), 0);
	m.regions[0] = (struct usk_vhost_user_memory_region){.guest_phys_addr = 0,
							     .memory_size = 65536,
							     .userspace_addr = 0x1000,
							     .mmap_offset = 4096};
	assert_int_equal(vhost_mem_map(&mem, &m, &fd, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "beyond the end of its file"));
	/* it fits with offset 0; the translation honours the offset */
	fd = memfd_create("ut", MFD_CLOEXEC);
	assert_int_equal(ftruncate(fd, 65536), 0);
	m.regions[0].memory_size = 61440;
	assert_int_equal(vhost_mem_map(&mem, &m, &fd, 1, err, sizeof(err)), 0);
	assert_ptr_equal(vhost_gpa_to_vva(&mem, 0, 1), (uint8_t *)mem.regions[0].mmap_addr + 4096);
	vhost_mem_unmap(&mem);
	/* overlapping regions, fd count mismatch */
	m.nregions = 2;
	m.regions[1] = m.regions[0];
	fd = memfd_create("ut", MFD_CLOEXEC);
	int fds[2] = {fd, dup(fd)};
	assert_int_equal(vhost_mem_map(&mem, &m, fds, 2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "overlap"));
	fd = memfd_create("ut", MFD_CLOEXEC);
	assert_int_equal(vhost_mem_map(&mem, &m, &fd, 1, err, sizeof(err)), -EINVAL);
}

static void
test_split_chain_direct(void **state)
{
	struct usk_vring_desc *d = g_vq.split.desc;
	struct vring_chain c;
	struct iovec iovs[8];

	set_desc(d, 3, gpa(DATA_OFF), 16, USK_VRING_DESC_F_NEXT, 7);
	set_desc(d, 7, gpa(DATA_OFF + 0x1000), 4096, USK_VRING_DESC_F_NEXT | USK_VRING_DESC_F_WRITE,
		 1);
	set_desc(d, 1, gpa(DATA_OFF + 0x3000), 1, USK_VRING_DESC_F_WRITE, 0);
	assert_int_equal(vring_split_get_chain(&g_vq, &g_mem, 3, iovs, 8, &c), 0);
	assert_int_equal(c.id, 3);
	assert_int_equal(c.iovcnt, 3);
	assert_int_equal(c.out_iovcnt, 1);
	assert_int_equal(c.out_len, 16);
	assert_int_equal(c.in_len, 4097);
	assert_ptr_equal(iovs[1].iov_base, g_ram + DATA_OFF + 0x1000);
	/* too many iovecs for the caller's array */
	assert_int_equal(vring_split_get_chain(&g_vq, &g_mem, 3, iovs, 2, &c), -E2BIG);
	/* head out of range */
	assert_int_equal(vring_split_get_chain(&g_vq, &g_mem, QSIZE, iovs, 8, &c), -EINVAL);
}

static void
test_split_chain_bad(void **state)
{
	struct usk_vring_desc *d = g_vq.split.desc;
	struct vring_chain c;
	struct iovec iovs[64];

	/* a loop 0 -> 1 -> 0 */
	set_desc(d, 0, gpa(DATA_OFF), 16, USK_VRING_DESC_F_NEXT, 1);
	set_desc(d, 1, gpa(DATA_OFF), 16, USK_VRING_DESC_F_NEXT, 0);
	assert_int_equal(vring_split_get_chain(&g_vq, &g_mem, 0, iovs, 64, &c), -EINVAL);
	/* next out of range */
	set_desc(d, 1, gpa(DATA_OFF), 16, USK_VRING_DESC_F_NEXT, QSIZE);
	assert_int_equal(vring_split_get_chain(&g_vq, &g_mem, 0, iovs, 64, &c), -EINVAL);
	/* device-readable after device-writable */
	set_desc(d, 0, gpa(DATA_OFF), 16, USK_VRING_DESC_F_NEXT | USK_VRING_DESC_F_WRITE, 1);
	set_desc(d, 1, gpa(DATA_OFF), 16, 0, 0);
	assert_int_equal(vring_split_get_chain(&g_vq, &g_mem, 0, iovs, 64, &c), -EINVAL);
	/* outside guest memory, and straddling its end */
	set_desc(d, 0, 0x1000, 16, 0, 0);
	assert_int_equal(vring_split_get_chain(&g_vq, &g_mem, 0, iovs, 64, &c), -EFAULT);
	set_desc(d, 0, gpa(MEM_SIZE - 8), 16, 0, 0);
	assert_int_equal(vring_split_get_chain(&g_vq, &g_mem, 0, iovs, 64, &c), -EFAULT);
	/* a length that overflows the 32-bit total */
	set_desc(d, 0, gpa(0), 0xffffffff, USK_VRING_DESC_F_NEXT | USK_VRING_DESC_F_WRITE, 1);
	set_desc(d, 1, gpa(0), 0xffffffff, USK_VRING_DESC_F_WRITE, 0);
	assert_int_not_equal(vring_split_get_chain(&g_vq, &g_mem, 0, iovs, 64, &c), 0);
	/* an indirect descriptor in the middle of a chain */
	set_desc(d, 0, gpa(DATA_OFF), 16, USK_VRING_DESC_F_NEXT, 1);
	set_desc(d, 1, gpa(DATA_OFF), 32, USK_VRING_DESC_F_INDIRECT, 0);
	assert_int_equal(vring_split_get_chain(&g_vq, &g_mem, 0, iovs, 64, &c), -EINVAL);
}

static void
test_split_chain_indirect(void **state)
{
	struct usk_vring_desc *d = g_vq.split.desc;
	struct usk_vring_desc *ind = (void *)(g_ram + DATA_OFF + 0x8000);
	struct vring_chain c;
	struct iovec iovs[8];

	set_desc(ind, 0, gpa(DATA_OFF), 16, USK_VRING_DESC_F_NEXT, 2);
	set_desc(ind, 2, gpa(DATA_OFF + 0x1000), 512, USK_VRING_DESC_F_NEXT, 1);
	set_desc(ind, 1, gpa(DATA_OFF + 0x2000), 1, USK_VRING_DESC_F_WRITE, 0);
	set_desc(d, 5, gpa(DATA_OFF + 0x8000), 3 * 16, USK_VRING_DESC_F_INDIRECT, 0);
	assert_int_equal(vring_split_get_chain(&g_vq, &g_mem, 5, iovs, 8, &c), 0);
	assert_int_equal(c.iovcnt, 3);
	assert_int_equal(c.out_iovcnt, 2);
	assert_int_equal(c.out_len, 528);
	assert_int_equal(c.in_len, 1);
	/* INDIRECT together with NEXT */
	set_desc(d, 5, gpa(DATA_OFF + 0x8000), 3 * 16,
		 USK_VRING_DESC_F_INDIRECT | USK_VRING_DESC_F_NEXT, 6);
	assert_int_equal(vring_split_get_chain(&g_vq, &g_mem, 5, iovs, 8, &c), -EINVAL);
	/* table length not a multiple of 16, zero, outside memory */
	set_desc(d, 5, gpa(DATA_OFF + 0x8000), 40, USK_VRING_DESC_F_INDIRECT, 0);
	assert_int_equal(vring_split_get_chain(&g_vq, &g_mem, 5, iovs, 8, &c), -EINVAL);
	set_desc(d, 5, gpa(DATA_OFF + 0x8000), 0, USK_VRING_DESC_F_INDIRECT, 0);
	assert_int_equal(vring_split_get_chain(&g_vq, &g_mem, 5, iovs, 8, &c), -EINVAL);
	set_desc(d, 5, gpa(MEM_SIZE - 16), 32, USK_VRING_DESC_F_INDIRECT, 0);
	assert_int_equal(vring_split_get_chain(&g_vq, &g_mem, 5, iovs, 8, &c), -EFAULT);
	/* nested indirect, a loop inside the table, next beyond the table */
	set_desc(d, 5, gpa(DATA_OFF + 0x8000), 3 * 16, USK_VRING_DESC_F_INDIRECT, 0);
	set_desc(ind, 2, gpa(DATA_OFF + 0x8000), 48, USK_VRING_DESC_F_INDIRECT, 0);
	assert_int_equal(vring_split_get_chain(&g_vq, &g_mem, 5, iovs, 8, &c), -EINVAL);
	set_desc(ind, 2, gpa(DATA_OFF), 16, USK_VRING_DESC_F_NEXT, 0);
	assert_int_equal(vring_split_get_chain(&g_vq, &g_mem, 5, iovs, 8, &c), -EINVAL);
	set_desc(ind, 2, gpa(DATA_OFF), 16, USK_VRING_DESC_F_NEXT, 3);
	assert_int_equal(vring_split_get_chain(&g_vq, &g_mem, 5, iovs, 8, &c), -EINVAL);
}

static void
test_split_avail_used(void **state)
{
	struct usk_vring_avail *a = g_vq.split.avail;
	struct usk_vring_used *u = g_vq.split.used;
	uint16_t head;

	g_vq.last_avail_idx = 65534; /* across the 16-bit wrap */
	a->idx = 65534;
	assert_int_equal(vring_split_avail_count(&g_vq), 0);
	a->ring[65534 % QSIZE] = 4;
	a->ring[65535 % QSIZE] = 9;
	a->idx = 0;
	assert_int_equal(vring_split_avail_count(&g_vq), 2);
	assert_int_equal(vring_split_next_head(&g_vq, &head), 0);
	assert_int_equal(head, 4);
	assert_int_equal(vring_split_next_head(&g_vq, &head), 0);
	assert_int_equal(head, 9);
	assert_int_equal(g_vq.last_avail_idx, 0);
	/* a driver that claims more than size new entries, a head out of range */
	a->idx = QSIZE + 1;
	assert_int_equal(vring_split_avail_count(&g_vq), -EINVAL);
	a->idx = 1;
	a->ring[0] = QSIZE;
	assert_int_equal(vring_split_next_head(&g_vq, &head), -EINVAL);

	g_vq.last_used_idx = 65535;
	vring_split_push_used(&g_vq, 9, 4097);
	assert_int_equal(u->idx, 0);
	assert_int_equal(u->ring[65535 % QSIZE].id, 9);
	assert_int_equal(u->ring[65535 % QSIZE].len, 4097);
	assert_int_equal(g_vq.used_since_signal, 1);
}

static void
test_split_notify(void **state)
{
	struct usk_vring_avail *a = g_vq.split.avail;
	struct usk_vring_used *u = g_vq.split.used;
	uint16_t *used_event = &a->ring[QSIZE];
	uint16_t *avail_event = (uint16_t *)&u->ring[QSIZE];

	/* no EVENT_IDX: the NO_INTERRUPT flag, and NO_NOTIFY for our side */
	vring_split_push_used(&g_vq, 0, 1);
	assert_true(vring_need_signal(&g_vq));
	a->flags = USK_VRING_AVAIL_F_NO_INTERRUPT;
	assert_false(vring_need_signal(&g_vq));
	vring_set_notification(&g_vq, false);
	assert_int_equal(u->flags, USK_VRING_USED_F_NO_NOTIFY);
	vring_set_notification(&g_vq, true);
	assert_int_equal(u->flags, 0);
	/* EVENT_IDX: signal only when used idx passes used_event */
	g_vq.event_idx = true;
	a->flags = USK_VRING_AVAIL_F_NO_INTERRUPT; /* ignored with EVENT_IDX */
	assert_true(vring_need_signal(&g_vq));	   /* first signal: always */
	*used_event = 3;
	vring_split_push_used(&g_vq, 1, 1); /* used idx 2 */
	assert_false(vring_need_signal(&g_vq));
	vring_split_push_used(&g_vq, 2, 1); /* 3 */
	vring_split_push_used(&g_vq, 3, 1); /* 4: passed 3 */
	assert_true(vring_need_signal(&g_vq));
	vring_split_push_used(&g_vq, 4, 1); /* 5: event 3 is behind */
	assert_false(vring_need_signal(&g_vq));
	g_vq.last_avail_idx = 42;
	vring_set_notification(&g_vq, true);
	assert_int_equal(*avail_event, 42);
}

/* ---- packed ---- */

static struct usk_vring_packed_desc *g_pd;

static void
packed_setup(void)
{
	g_vq.packed = true;
	g_vq.avail_wrap = g_vq.used_wrap = true;
	g_pd = (void *)(g_ram + DESC_OFF);
	g_vq.pk.desc = g_pd;
	g_vq.pk.driver_event = (void *)(g_ram + AVAIL_OFF);
	g_vq.pk.device_event = (void *)(g_ram + USED_OFF);
}

static void
set_pdesc(uint16_t pos, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags, bool wrap)
{
	if (wrap) {
		flags |= USK_VRING_PACKED_DESC_F_AVAIL;
	} else {
		flags |= USK_VRING_PACKED_DESC_F_USED;
	}
	g_pd[pos] =
		(struct usk_vring_packed_desc){.addr = addr, .len = len, .id = id, .flags = flags};
}

static void
test_packed_ring(void **state)
{
	struct iovec iovs[8];
	struct vring_chain c;

	packed_setup();
	assert_false(vring_packed_avail(&g_vq));
	/* a 3-descriptor chain at the end of the ring, wrapping to slot 0; id in the last one */
	g_vq.last_avail_idx = QSIZE - 2;
	set_pdesc(QSIZE - 2, gpa(DATA_OFF), 16, 99, USK_VRING_DESC_F_NEXT, true);
	set_pdesc(QSIZE - 1, gpa(DATA_OFF + 0x1000), 4096, 99,
		  USK_VRING_DESC_F_NEXT | USK_VRING_DESC_F_WRITE, true);
	set_pdesc(0, gpa(DATA_OFF + 0x3000), 1, 5, USK_VRING_DESC_F_WRITE, false);
	assert_true(vring_packed_avail(&g_vq));
	assert_int_equal(vring_packed_get_chain(&g_vq, &g_mem, iovs, 8, &c), 0);
	assert_int_equal(c.id, 5);
	assert_int_equal(c.ndescs, 3);
	assert_int_equal(c.out_len, 16);
	assert_int_equal(c.in_len, 4097);
	vring_packed_advance(&g_vq, c.ndescs);
	assert_int_equal(g_vq.last_avail_idx, 1);
	assert_false(g_vq.avail_wrap);
	/* used: written at the used position with our wrap counter, advancing by the chain length
	 */
	g_vq.last_used_idx = QSIZE - 2;
	vring_packed_push_used(&g_vq, 5, 4097, 3);
	assert_int_equal(g_pd[QSIZE - 2].id, 5);
	assert_int_equal(g_pd[QSIZE - 2].len, 4097);
	assert_int_equal(g_pd[QSIZE - 2].flags,
			 USK_VRING_PACKED_DESC_F_AVAIL | USK_VRING_PACKED_DESC_F_USED);
	assert_int_equal(g_vq.last_used_idx, 1);
	assert_false(g_vq.used_wrap);
	/* the slot we just used is not "available" to us any more */
	g_vq.last_avail_idx = QSIZE - 2;
	g_vq.avail_wrap = true;
	assert_false(vring_packed_avail(&g_vq));
}

static void
test_packed_bad(void **state)
{
	struct usk_vring_packed_desc *ind = (void *)(g_ram + DATA_OFF + 0x8000);
	struct iovec iovs[64];
	struct vring_chain c;
	uint16_t i;

	packed_setup();
	/* buffer id >= queue size */
	set_pdesc(0, gpa(DATA_OFF), 16, QSIZE, 0, true);
	assert_int_equal(vring_packed_get_chain(&g_vq, &g_mem, iovs, 8, &c), -EINVAL);
	/* a chain longer than the ring (every slot says NEXT) */
	for (i = 0; i < QSIZE; i++) {
		set_pdesc(i, gpa(DATA_OFF), 1, 0, USK_VRING_DESC_F_NEXT, true);
	}
	assert_int_not_equal(vring_packed_get_chain(&g_vq, &g_mem, iovs, 64, &c), 0);
	/* outside memory */
	set_pdesc(0, 0x42, 16, 1, 0, true);
	assert_int_equal(vring_packed_get_chain(&g_vq, &g_mem, iovs, 8, &c), -EFAULT);
	/* indirect: the whole table, in order, NEXT ignored */
	ind[0] = (struct usk_vring_packed_desc){.addr = gpa(DATA_OFF), .len = 16};
	ind[1] = (struct usk_vring_packed_desc){
		.addr = gpa(DATA_OFF + 0x1000), .len = 512, .flags = USK_VRING_DESC_F_WRITE};
	ind[2] = (struct usk_vring_packed_desc){
		.addr = gpa(DATA_OFF + 0x2000), .len = 1, .flags = USK_VRING_DESC_F_WRITE};
	set_pdesc(0, gpa(DATA_OFF + 0x8000), 48, 7, USK_VRING_DESC_F_INDIRECT, true);
	assert_int_equal(vring_packed_get_chain(&g_vq, &g_mem, iovs, 8, &c), 0);
	assert_int_equal(c.id, 7);
	assert_int_equal(c.ndescs, 1);
	assert_int_equal(c.iovcnt, 3);
	assert_int_equal(c.in_len, 513);
	/* an indirect descriptor that is not the first of its chain, nested indirect */
	set_pdesc(0, gpa(DATA_OFF), 16, 7, USK_VRING_DESC_F_NEXT, true);
	set_pdesc(1, gpa(DATA_OFF + 0x8000), 48, 7, USK_VRING_DESC_F_INDIRECT, true);
	assert_int_equal(vring_packed_get_chain(&g_vq, &g_mem, iovs, 8, &c), -EINVAL);
	set_pdesc(0, gpa(DATA_OFF + 0x8000), 48, 7, USK_VRING_DESC_F_INDIRECT, true);
	ind[1].flags = USK_VRING_DESC_F_INDIRECT;
	assert_int_equal(vring_packed_get_chain(&g_vq, &g_mem, iovs, 8, &c), -EINVAL);
}

static void
test_packed_notify(void **state)
{
	struct usk_vring_packed_desc_event *drv, *devev;

	packed_setup();
	drv = g_vq.pk.driver_event;
	devev = g_vq.pk.device_event;
	vring_set_notification(&g_vq, false);
	assert_int_equal(devev->flags, USK_VRING_PACKED_EVENT_FLAG_DISABLE);
	vring_set_notification(&g_vq, true);
	assert_int_equal(devev->flags, USK_VRING_PACKED_EVENT_FLAG_ENABLE);
	drv->flags = USK_VRING_PACKED_EVENT_FLAG_DISABLE;
	assert_false(vring_need_signal(&g_vq));
	drv->flags = USK_VRING_PACKED_EVENT_FLAG_ENABLE;
	assert_true(vring_need_signal(&g_vq));
	/* EVENT_IDX with a descriptor event: signal once used passes off (same wrap) */
	g_vq.event_idx = true;
	g_vq.signalled_used_valid = false;
	drv->flags = USK_VRING_PACKED_EVENT_FLAG_DESC;
	g_vq.last_used_idx = 2;
	assert_true(vring_need_signal(&g_vq)); /* first: always */
	drv->off_wrap = 5 | (1u << 15);
	g_vq.last_used_idx = 4;
	assert_false(vring_need_signal(&g_vq));
	g_vq.last_used_idx = 6;
	assert_true(vring_need_signal(&g_vq));
	/* event on the previous lap (other wrap counter) is behind: no signal */
	g_vq.last_used_idx = 8;
	drv->off_wrap = 7;
	assert_false(vring_need_signal(&g_vq));
}

static void
test_msg_check(void **state)
{
	struct usk_vhost_user_hdr h = {
		.request = USK_VHOST_USER_GET_FEATURES, .flags = 1, .size = 0};
	char err[128];

	assert_int_equal(vhost_user_msg_check(&h, 0, err, sizeof(err)), 0);
	h.flags = 2; /* version 2 */
	assert_int_equal(vhost_user_msg_check(&h, 0, err, sizeof(err)), -EINVAL);
	h.flags = 1 | USK_VHOST_USER_REPLY_MASK; /* a reply sent to the back-end */
	assert_int_equal(vhost_user_msg_check(&h, 0, err, sizeof(err)), -EINVAL);
	h.flags = 1;
	h.request = USK_VHOST_USER_SET_FEATURES;
	h.size = 4;
	assert_int_equal(vhost_user_msg_check(&h, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "SET_FEATURES"));
	h.size = 8;
	assert_int_equal(vhost_user_msg_check(&h, 1, err, sizeof(err)), -EINVAL); /* stray fd */
	h.request = USK_VHOST_USER_SET_MEM_TABLE;
	h.size = 8 + 32;
	assert_int_equal(vhost_user_msg_check(&h, 0, err, sizeof(err)), -EINVAL); /* no fd */
	assert_int_equal(vhost_user_msg_check(&h, 1, err, sizeof(err)), 0);
	h.size = 8 + 9 * 32;
	assert_int_equal(vhost_user_msg_check(&h, 1, err, sizeof(err)), -EINVAL);
	h.request = USK_VHOST_USER_SET_VRING_KICK;
	h.size = 8;
	assert_int_equal(vhost_user_msg_check(&h, 2, err, sizeof(err)), -EINVAL);
	assert_int_equal(vhost_user_msg_check(&h, 1, err, sizeof(err)), 0);
	h.request = USK_VHOST_USER_SET_LOG_BASE; /* LOG_SHMFD is not offered */
	assert_int_equal(vhost_user_msg_check(&h, 1, err, sizeof(err)), -ENOTSUP);
	h.request = 0xdeadbeef;
	assert_int_equal(vhost_user_msg_check(&h, 0, err, sizeof(err)), -ENOTSUP);
	h.request = USK_VHOST_USER_GET_CONFIG;
	h.size = 12 + 257;
	assert_int_equal(vhost_user_msg_check(&h, 0, err, sizeof(err)), -EINVAL);
}

static void
test_escape(void **state)
{
	char out[64];

	vhost_escape("ab\x01\xff\\", 5, out, sizeof(out));
	assert_string_equal(out, "ab\\x01\\xff\\x5c");
	vhost_escape("abcdefgh", 8, out, 6);
	assert_true(strlen(out) < 6);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mem_translate, setup, teardown),
		cmocka_unit_test(test_mem_map_checks),
		cmocka_unit_test_setup_teardown(test_split_chain_direct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_chain_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_chain_indirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_avail_used, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_notify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_notify, setup, teardown),
		cmocka_unit_test(test_msg_check),
		cmocka_unit_test(test_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
