/* SPDX-License-Identifier: BSD-3-Clause */
/* virtio-blk device configuration as the driver uses it: checked and reduced to what it needs. */
#ifndef USK_BDEV_VIRTIO_BLK_CFG_H
#define USK_BDEV_VIRTIO_BLK_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "usk/virtio_spec.h"

/* Feature bits the driver accepts (the back-end's offer is masked with these). */
#define VBLK_DRIVER_FEATURES \
	((1ULL << USK_VIRTIO_F_VERSION_1) | (1ULL << USK_VIRTIO_F_RING_INDIRECT_DESC) | \
	 (1ULL << USK_VIRTIO_F_RING_EVENT_IDX) | (1ULL << USK_VHOST_USER_F_PROTOCOL_FEATURES) | \
	 (1ULL << USK_VIRTIO_BLK_F_SIZE_MAX) | (1ULL << USK_VIRTIO_BLK_F_SEG_MAX) | \
	 (1ULL << USK_VIRTIO_BLK_F_RO) | (1ULL << USK_VIRTIO_BLK_F_BLK_SIZE) | \
	 (1ULL << USK_VIRTIO_BLK_F_FLUSH) | (1ULL << USK_VIRTIO_BLK_F_MQ) | \
	 (1ULL << USK_VIRTIO_BLK_F_DISCARD) | (1ULL << USK_VIRTIO_BLK_F_WRITE_ZEROES))

#define VBLK_PROTOCOL_FEATURES \
	((1ULL << USK_VHOST_USER_PROTOCOL_F_MQ) | (1ULL << USK_VHOST_USER_PROTOCOL_F_REPLY_ACK) | \
	 (1ULL << USK_VHOST_USER_PROTOCOL_F_CONFIG))

/*
 * Config bytes read with GET_CONFIG: up to write_zeroes_may_unmap (virtio 1.1's struct). QEMU's
 * back-ends refuse a window larger than their own struct, which may predate the later fields.
 */
#define VBLK_CONFIG_READ_SIZE offsetof(struct usk_virtio_blk_config, max_secure_erase_sectors)

/* Largest data segment count usk uses per request (the back-end's seg_max may be lower). */
#define VBLK_MAX_SEGMENTS 128

struct vblk_params {
	uint64_t num_blocks;
	uint32_t blk_size;
	uint32_t seg_max;  /* data segments per request, 1..VBLK_MAX_SEGMENTS */
	uint32_t size_max; /* bytes per segment; 0 = no limit (also what 0 in the config means) */
	uint32_t num_queues;
	uint32_t max_discard_sectors;	   /* 0: no DISCARD */
	uint32_t max_write_zeroes_sectors; /* 0: no WRITE_ZEROES */
	bool read_only;
	bool flush;
};

/**
 * Check the config (len bytes valid) against the negotiated features and fill *out: blk_size a
 * power of two in 512..64 KiB, capacity non-zero and a whole number of blocks fitting 64 bits of
 * bytes, num_queues >= 1 with MQ, discard / write-zeroes limits non-zero when offered (else the
 * command is not used). Returns 0 or -EINVAL with a log line naming the field.
 */
int vblk_parse_config(const struct usk_virtio_blk_config *cfg, size_t len, uint64_t features,
		      struct vblk_params *out);

#endif
