/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user front-end (the "client" of QEMU docs/interop/vhost-user.rst): one unix socket to a
 * back-end, synchronous request/reply with a timeout. Control path only (attach, detach, memory
 * table updates); the data path never touches the socket. Every reply is checked (request type,
 * flags, size) before use. All calls take the client's mutex, so a memory notification on
 * another thread may send while the app thread is talking.
 */
#ifndef USK_BDEV_VHOST_USER_CLIENT_H
#define USK_BDEV_VHOST_USER_CLIENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "usk/virtio_spec.h"

struct vhu_client {
	int fd;
	uint64_t protocol_features; /* negotiated (set by the caller after SET_PROTOCOL_FEATURES) */
	int timeout_ms;
	pthread_mutex_t lock;
};

/** A memory region as SET_MEM_TABLE sends it, with its fd. */
struct vhu_mem_region {
	uint64_t gpa; /* what descriptors will carry (usk: = uaddr) */
	uint64_t size;
	uint64_t uaddr;
	uint64_t offset;
	int fd;
};

/** Connect to path. 0, or -errno (-ENAMETOOLONG, -ECONNREFUSED, -ENOENT, ...). */
int vhu_client_connect(struct vhu_client *c, const char *path, int timeout_ms);
void vhu_client_close(struct vhu_client *c);

/** GET_FEATURES, GET_PROTOCOL_FEATURES, GET_QUEUE_NUM (u64 replies). */
int vhu_client_get_u64(struct vhu_client *c, enum usk_vhost_user_request req, uint64_t *val);
/**
 * A message with a u64 payload (SET_FEATURES, SET_PROTOCOL_FEATURES, SET_VRING_KICK/CALL with
 * fd >= 0, or without a payload when req is SET_OWNER). Waits for the ack when REPLY_ACK is
 * negotiated (not for SET_PROTOCOL_FEATURES itself, nor SET_FEATURES... as the spec allows).
 */
int vhu_client_set_u64(struct vhu_client *c, enum usk_vhost_user_request req, uint64_t val, int fd);
int vhu_client_set_owner(struct vhu_client *c);
/** SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ENABLE. */
int vhu_client_set_vring_state(struct vhu_client *c, enum usk_vhost_user_request req,
			       uint32_t index, uint32_t num);
/** GET_VRING_BASE: stops the ring in the back-end; *num its next avail index. */
int vhu_client_get_vring_base(struct vhu_client *c, uint32_t index, uint32_t *num);
int vhu_client_set_vring_addr(struct vhu_client *c, const struct usk_vhost_vring_addr *addr);
/** SET_MEM_TABLE with 1..8 regions. */
int vhu_client_set_mem_table(struct vhu_client *c, const struct vhu_mem_region *regions, int n);
/** GET_CONFIG of [0, size) into buf (size <= 256). */
int vhu_client_get_config(struct vhu_client *c, void *buf, uint32_t size);

/*
 * Reply checks, exposed for the unit tests and the fuzz target: 0 when hdr/payload (len bytes
 * of payload read) is a well-formed reply to req with a payload size in [min, max]; else -EPROTO
 * with a log line.
 */
int vhu_check_reply(const struct usk_vhost_user_hdr *hdr, uint32_t req, uint32_t min_size,
		    uint32_t max_size);
/** A GET_CONFIG reply payload of len bytes to a request for size bytes at offset 0. */
int vhu_check_config_reply(const struct usk_vhost_user_config *cfg, uint32_t len, uint32_t size);
/** A REPLY_ACK payload: 0 or -EIO (the back-end said it failed). */
int vhu_check_ack(uint64_t val, uint32_t req);

const char *vhu_request_name(uint32_t req);

#endif
