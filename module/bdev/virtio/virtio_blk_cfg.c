/* SPDX-License-Identifier: BSD-3-Clause */
/* virtio-blk config space checks (see virtio_blk_cfg.h). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "virtio_blk_cfg.h"
#include "usk/log.h"
#include "usk/util.h"

static inline bool
has(uint64_t features, unsigned bit)
{
	return features & (1ULL << bit);
}

int
vblk_parse_config(const struct usk_virtio_blk_config *cfg, size_t len, uint64_t features,
		  struct vblk_params *out)
{
	uint32_t spb;

	memset(out, 0, sizeof(*out));
	if (len < VBLK_CONFIG_READ_SIZE) {
		USK_ERRLOG("virtio_blk config: %zu bytes, %zu needed\n", len,
			   (size_t)VBLK_CONFIG_READ_SIZE);
		return -EINVAL;
	}
	out->blk_size = USK_VIRTIO_BLK_SECTOR_SIZE;
	if (has(features, USK_VIRTIO_BLK_F_BLK_SIZE)) {
		if (cfg->blk_size < 512 || cfg->blk_size > 65536 || !USK_IS_POW2(cfg->blk_size)) {
			USK_ERRLOG("virtio_blk config: blk_size %u is not a power of two in "
				   "512..65536\n",
				   cfg->blk_size);
			return -EINVAL;
		}
		out->blk_size = cfg->blk_size;
	}
	spb = out->blk_size / USK_VIRTIO_BLK_SECTOR_SIZE;
	if (cfg->capacity == 0 || cfg->capacity % spb != 0 || cfg->capacity > (UINT64_MAX >> 9)) {
		USK_ERRLOG("virtio_blk config: capacity %" PRIu64 " sectors is not a non-zero "
			   "multiple of %u\n",
			   cfg->capacity, spb);
		return -EINVAL;
	}
	out->num_blocks = cfg->capacity / spb;
	out->seg_max = VBLK_MAX_SEGMENTS;
	if (has(features, USK_VIRTIO_BLK_F_SEG_MAX)) {
		if (cfg->seg_max == 0) {
			USK_ERRLOG("virtio_blk config: seg_max 0\n");
			return -EINVAL;
		}
		out->seg_max = USK_MIN(cfg->seg_max, (uint32_t)VBLK_MAX_SEGMENTS);
	}
	if (has(features, USK_VIRTIO_BLK_F_SIZE_MAX)) {
		/*
		 * 0 means no limit (qemu-storage-daemon offers the bit with 0). Otherwise a segment
		 * must hold at least one block, or no I/O could be built.
		 */
		if (cfg->size_max != 0 && cfg->size_max < out->blk_size) {
			USK_ERRLOG("virtio_blk config: size_max %u below blk_size %u\n",
				   cfg->size_max, out->blk_size);
			return -EINVAL;
		}
		out->size_max = cfg->size_max & ~(out->blk_size - 1);
	}
	out->num_queues = 1;
	if (has(features, USK_VIRTIO_BLK_F_MQ)) {
		if (cfg->num_queues == 0) {
			USK_ERRLOG("virtio_blk config: num_queues 0\n");
			return -EINVAL;
		}
		out->num_queues = cfg->num_queues;
	}
	out->read_only = has(features, USK_VIRTIO_BLK_F_RO);
	out->flush = has(features, USK_VIRTIO_BLK_F_FLUSH);
	/* Ranges go one per request; a limit is whole blocks so pieces stay block-aligned. */
	if (has(features, USK_VIRTIO_BLK_F_DISCARD)) {
		out->max_discard_sectors =
			cfg->max_discard_sectors - cfg->max_discard_sectors % spb;
		if (cfg->max_discard_seg == 0 || out->max_discard_sectors == 0) {
			USK_WARNLOG(
				"virtio_blk config: DISCARD offered with max_discard_sectors %u, "
				"max_discard_seg %u: not used\n",
				cfg->max_discard_sectors, cfg->max_discard_seg);
			out->max_discard_sectors = 0;
		}
	}
	if (has(features, USK_VIRTIO_BLK_F_WRITE_ZEROES)) {
		out->max_write_zeroes_sectors =
			cfg->max_write_zeroes_sectors - cfg->max_write_zeroes_sectors % spb;
		if (cfg->max_write_zeroes_seg == 0 || out->max_write_zeroes_sectors == 0) {
			USK_WARNLOG(
				"virtio_blk config: WRITE_ZEROES offered with "
				"max_write_zeroes_sectors %u, max_write_zeroes_seg %u: not used\n",
				cfg->max_write_zeroes_sectors, cfg->max_write_zeroes_seg);
			out->max_write_zeroes_sectors = 0;
		}
	}
	return 0;
}
