/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-blk bdevs over vhost-user ("virtio-user"): a user-space virtio driver that connects to
 * a vhost-user-blk back-end's unix socket (usk_tgt's vhost target, qemu-storage-daemon, SPDK)
 * and shares usk's DMA memory with it (memfd; no hugepages needed). One virtqueue per usk thread
 * that opens a channel. All functions: app thread.
 */
#ifndef USK_BDEV_VIRTIO_H
#define USK_BDEV_VIRTIO_H

#include <stdint.h>
#include "usk/bdev_module.h"

#define BDEV_VIRTIO_DEFAULT_VQ_COUNT 1
#define BDEV_VIRTIO_DEFAULT_VQ_SIZE  512

struct bdev_virtio_blk_opts {
	const char *name;  /* controller and bdev name */
	const char *path;  /* vhost-user socket */
	uint32_t vq_count; /* queues wanted (at most what the back-end offers) */
	uint32_t vq_size;  /* entries per queue: a power of two, 2..32768 */
};

/**
 * Connect, negotiate and register the bdev (named opts->name). Blocks the calling thread for the
 * handshake (each reply within 5 s). Returns 0, -EINVAL (opts, or the back-end's config), -EEXIST,
 * -ENOTSUP (the back-end lacks a required feature, or DMA memory is not fd-backed: hugepages),
 * -ECONNREFUSED/-ENOENT (socket), -ETIMEDOUT, -EPROTO (malformed reply), -ENOMEM.
 */
int bdev_virtio_user_blk_create(const struct bdev_virtio_blk_opts *opts, struct usk_bdev **bdev);

/** Unregister; cb_fn(cb_arg, rc) once the rings are stopped and the socket closed. -ENODEV. */
int bdev_virtio_blk_detach(const char *name, usk_bdev_unregister_cb cb_fn, void *cb_arg);

#endif
