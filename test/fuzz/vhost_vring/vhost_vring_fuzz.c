/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: descriptor chain walking of split and packed virtqueues (vring.c) over
 * guest memory the input fills: two adjacent regions, the descriptor table (and any indirect
 * table) and the avail/used words are all attacker-controlled. Every chain the walker accepts
 * must lie inside guest memory with readable iovecs before writable ones and consistent totals.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../../lib/vhost/vhost_internal.h"

#define RAM_SIZE (64 * 1024)
#define GPA_BASE 0x100000ULL
#define MAX_IOVS 64

static uint8_t g_ram[RAM_SIZE] __attribute__((aligned(4096)));

static void
check_chain(const struct vhost_mem *mem, const struct iovec *iovs, const struct vring_chain *c)
{
	uint64_t out = 0, in = 0;
	uint16_t i;

	if (c->iovcnt > MAX_IOVS || c->out_iovcnt > c->iovcnt) {
		abort();
	}
	for (i = 0; i < c->iovcnt; i++) {
		const uint8_t *b = iovs[i].iov_base;

		if (b < g_ram || b + iovs[i].iov_len > g_ram + RAM_SIZE) {
			abort(); /* an iovec outside guest memory */
		}
		if (i < c->out_iovcnt) {
			out += iovs[i].iov_len;
		} else {
			in += iovs[i].iov_len;
		}
	}
	if (out != c->out_len || in != c->in_len) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vhost_mem mem = {};
	struct vhost_vq vq = {};
	struct iovec iovs[MAX_IOVS], iovs2[MAX_IOVS];
	struct usk_vring_packed_desc copies[16];
	struct vring_chain c, c2;
	uint8_t ctl;
	uint16_t qsize, head;
	int i, rc;

	if (size < 4) {
		return 0;
	}
	ctl = data[0];
	qsize = (uint16_t)(1u << (data[1] % 9)); /* 1..256 */
	head = data[2];
	memset(g_ram, 0, sizeof(g_ram));
	memcpy(g_ram, data + 3, USK_MIN(size - 3, sizeof(g_ram)));
	/* two adjacent regions, so buffers may straddle a region boundary */
	mem.nregions = 2;
	mem.regions[0] = (struct vhost_mem_region){
		.gpa = GPA_BASE, .size = RAM_SIZE / 2, .uva = 0x1000000, .host = g_ram};
	mem.regions[1] = (struct vhost_mem_region){.gpa = GPA_BASE + RAM_SIZE / 2,
						   .size = RAM_SIZE / 2,
						   .uva = 0x2000000,
						   .host = g_ram + RAM_SIZE / 2};
	vq.size = qsize;
	vq.event_idx = ctl & 2;
	if (ctl & 1) {
		vq.packed = true;
		vq.pk.desc = (void *)g_ram;
		vq.pk.driver_event = (void *)(g_ram + 0x3000);
		vq.pk.device_event = (void *)(g_ram + 0x3004);
		vq.last_avail_idx = head % qsize;
		vq.avail_wrap = ctl & 4;
		vq.used_wrap = ctl & 8;
		vq.last_used_idx = (uint16_t)(data[2] * 7) % qsize;
		for (i = 0; i < 4 && vring_packed_avail(&vq); i++) {
			rc = vring_packed_get_chain(&vq, &mem, iovs, MAX_IOVS, &c);
			if (rc != 0) {
				break;
			}
			check_chain(&mem, iovs, &c);
			if (c.id >= qsize || c.ndescs == 0 || c.ndescs > qsize) {
				abort();
			}
			/* The copying walk (what the inflight region records) agrees, and walking
			 * the copies again (a resubmission after a restart) gives the same chain.
			 */
			rc = vring_packed_get_chain_copy(&vq, &mem, copies, USK_COUNTOF(copies),
							 iovs2, MAX_IOVS, &c2);
			if (rc == 0) {
				if (memcmp(&c, &c2, sizeof(c)) != 0 ||
				    memcmp(iovs, iovs2, c.iovcnt * sizeof(iovs[0])) != 0) {
					abort();
				}
				rc = vring_packed_walk_descs(&vq, &mem, copies, c.ndescs, iovs2,
							     MAX_IOVS, &c2);
				if (rc != 0 || memcmp(&c, &c2, sizeof(c)) != 0 ||
				    memcmp(iovs, iovs2, c.iovcnt * sizeof(iovs[0])) != 0) {
					abort();
				}
			} else if (rc != -E2BIG || c.ndescs <= USK_COUNTOF(copies)) {
				abort();
			}
			vring_packed_advance(&vq, c.ndescs);
			vring_packed_push_used(&vq, c.id, c.in_len, c.ndescs);
			if (vq.last_avail_idx >= qsize || vq.last_used_idx >= qsize) {
				abort();
			}
		}
		vring_need_signal(&vq);
	} else {
		vq.split.desc = (void *)g_ram;
		vq.split.avail = (void *)(g_ram + 0x3000);
		vq.split.used = (void *)(g_ram + 0x4000);
		vq.last_avail_idx = (uint16_t)(data[2] << 8 | data[1]);
		rc = vring_split_avail_count(&vq);
		if (rc > 0) {
			/* Reads ahead of the walk: must stay inside guest memory whatever it finds.
			 */
			vring_split_prefetch(&vq, &mem, rc);
		}
		for (i = 0; i < rc && i < 8; i++) {
			if (vring_split_next_head(&vq, &head) != 0) {
				break;
			}
			if (vring_split_get_chain(&vq, &mem, head, iovs, MAX_IOVS, &c) == 0) {
				check_chain(&mem, iovs, &c);
				vring_split_push_used(&vq, head, c.in_len);
			}
		}
		vring_need_signal(&vq);
		vring_set_notification(&vq, ctl & 4);
	}
	return 0;
}
