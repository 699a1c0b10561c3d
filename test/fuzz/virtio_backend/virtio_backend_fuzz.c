/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz what a vhost-user-blk back-end controls: input = [u16 length A][A: the back-end's byte
 * stream on the socket][B: used-ring writes].
 *  A is queued on a socketpair and the front-end runs the attach handshake against it
 *    (GET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_OWNER with
 *    REPLY_ACK, GET_CONFIG, SET_FEATURES, SET_MEM_TABLE), then the config is checked; every reply
 *    is parsed from the wire by the real receive path.
 *  B drives a virtqueue with every head in flight: each 9-byte record writes one used element
 *    (id, len) and advances used->idx by a count byte, then the driver reaps. A reaped cookie
 *    must be one in flight, never twice; after a refusal (broken queue) what drains is the rest.
 *    Inputs of odd length run the queue with EVENT_IDX.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "vhost_user_client.h"
#include "virtio_blk_cfg.h"
#include "virtio_vq.h"

#define QSIZE 16

static void
fuzz_socket(const uint8_t *data, size_t len)
{
	struct vhu_client c = {.fd = -1};
	struct usk_virtio_blk_config cfg;
	struct vblk_params params;
	struct vhu_mem_region r = {.gpa = 0x200000, .size = 0x200000, .uaddr = 0x200000};
	uint64_t features = 0, proto = 0, qnum = 0;
	int sv[2], sndbuf = 1 << 20;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		return;
	}
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (len > 0 && write(sv[1], data, len) != (ssize_t)len) {
		goto out;
	}
	/* EOF after the input: a short stream ends a read instead of waiting for a timeout. */
	shutdown(sv[1], SHUT_WR);
	c.fd = sv[0];
	c.timeout_ms = 1000;
	pthread_mutex_init(&c.lock, NULL);
	r.fd = sv[1];
	if (vhu_client_get_u64(&c, USK_VHOST_USER_GET_FEATURES, &features) != 0 ||
	    vhu_client_get_u64(&c, USK_VHOST_USER_GET_PROTOCOL_FEATURES, &proto) != 0) {
		goto out;
	}
	proto &= VBLK_PROTOCOL_FEATURES;
	if (vhu_client_set_u64(&c, USK_VHOST_USER_SET_PROTOCOL_FEATURES, proto, -1) != 0) {
		goto out;
	}
	c.protocol_features = proto;
	if (vhu_client_get_u64(&c, USK_VHOST_USER_GET_QUEUE_NUM, &qnum) != 0 ||
	    vhu_client_set_owner(&c) != 0 ||
	    vhu_client_get_config(&c, &cfg, VBLK_CONFIG_READ_SIZE) != 0) {
		goto out;
	}
	features &= VBLK_DRIVER_FEATURES;
	if (vblk_parse_config(&cfg, VBLK_CONFIG_READ_SIZE, features, &params) == 0) {
		/* What the bdev derives from it must be sane. */
		if (params.blk_size < 512 || (params.blk_size & (params.blk_size - 1)) != 0 ||
		    params.num_blocks == 0 || params.seg_max == 0 ||
		    params.seg_max > VBLK_MAX_SEGMENTS || params.num_queues == 0 ||
		    (params.size_max != 0 && params.size_max < params.blk_size)) {
			abort();
		}
	}
	if (vhu_client_set_u64(&c, USK_VHOST_USER_SET_FEATURES, features, -1) != 0) {
		goto out;
	}
	vhu_client_set_mem_table(&c, &r, 1);
out:
	if (c.fd >= 0) {
		vhu_client_close(&c);
	} else {
		close(sv[0]);
	}
	close(sv[1]);
}

static void
fuzz_used_ring(const uint8_t *data, size_t len)
{
	static struct virtio_vq vq;
	static bool ready;
	struct virtio_vq_buf bufs[3] = {{0x1000, 16}, {0x2000, 4096}, {0x3000, 1}};
	struct virtio_vq_done done[QSIZE];
	void *drained[QSIZE];
	static int cookies[QSIZE];
	bool inflight[QSIZE];
	int i, n, h;

	if (!ready) {
		/* DMA memory once; reset per input. */
		if (virtio_vq_init(&vq, QSIZE, true, 3, 32) != 0) {
			abort();
		}
		ready = true;
	}
	virtio_vq_reset(&vq);
	/* Odd length: EVENT_IDX, so the device's avail_event decides the kicks. */
	vq.event_idx = len & 1;
	memset(inflight, 0, sizeof(inflight));
	for (i = 0; i < QSIZE; i++) {
		h = virtio_vq_alloc_head(&vq, 3);
		if (h < 0) {
			abort();
		}
		virtio_vq_submit(&vq, (uint16_t)h, bufs, 1, 2, &cookies[h]);
		inflight[h] = true;
	}
	virtio_vq_publish(&vq);
	while (len >= 9) {
		struct usk_vring_used_elem e;
		uint8_t step = data[8];

		memcpy(&e, data, 8);
		vq.used->ring[vq.used->idx & (QSIZE - 1)] = e;
		vq.used->idx = (uint16_t)(vq.used->idx + step);
		data += 9;
		len -= 9;
		n = virtio_vq_poll(&vq, done, QSIZE);
		for (i = 0; i < (n > 0 ? n : 0); i++) {
			int idx = (int)((int *)done[i].cookie - cookies);

			if (idx < 0 || idx >= QSIZE || !inflight[idx] || done[i].head != idx ||
			    (done[i].len_ok && done[i].len > 4097)) {
				abort();
			}
			inflight[idx] = false;
			virtio_vq_release(&vq, done[i].head);
			/* Resubmit: heads cycle as in the driver. */
			h = virtio_vq_alloc_head(&vq, 3);
			if (h >= 0) {
				virtio_vq_submit(&vq, (uint16_t)h, bufs, 1, 2, &cookies[h]);
				inflight[h] = true;
				/* The device's avail_event word: whatever the input put there. */
				*(uint16_t *)&vq.used->ring[QSIZE] = (uint16_t)(e.len >> 16);
				virtio_vq_publish(&vq);
			}
		}
		if (n >= 0) {
			virtio_vq_arm_interrupt(&vq);
		}
		if (vq.broken) {
			break;
		}
	}
	n = virtio_vq_drain_inflight(&vq, drained, QSIZE);
	for (i = 0; i < n; i++) {
		int idx = (int)((int *)drained[i] - cookies);

		if (idx < 0 || idx >= QSIZE || !inflight[idx]) {
			abort();
		}
		inflight[idx] = false;
	}
	for (i = 0; i < QSIZE; i++) {
		if (inflight[i]) {
			abort(); /* a request lost: neither reaped nor drained */
		}
	}
	if (vq.num_free != QSIZE || vq.inflight != 0) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t a;

	if (size < 2 || size > 65536) {
		return 0;
	}
	a = (size_t)data[0] | (size_t)data[1] << 8;
	data += 2;
	size -= 2;
	if (a > size) {
		a = size;
	}
	fuzz_socket(data, a);
	fuzz_used_ring(data + a, size - a);
	return 0;
}
