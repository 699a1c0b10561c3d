/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user-blk target: one controller per unix socket <socket dir>/<name>, speaking the
 * vhost-user protocol itself (QEMU docs/interop/vhost-user.rst; no rte_vhost). Each controller
 * runs on its own usk_thread, created on the controller's cpumask; that thread owns the socket,
 * the guest memory mappings, the virtqueues and the bdev channel.
 *
 * Threading: every function here is called on the app thread (RPC handlers, subsystem init and
 * fini). Callbacks run on the app thread.
 */
#ifndef USK_VHOST_H
#define USK_VHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define USK_VHOST_MAX_NAME_LEN	     128
#define USK_VHOST_DEFAULT_SOCKET_DIR "/var/tmp"

struct usk_vhost_blk_opts {
	size_t opts_size; /* sizeof(struct usk_vhost_blk_opts) */
	const char *name; /* controller name = socket file name */
	const char *bdev_name;
	const char *cpumask; /* NULL = the app's core mask */
	bool readonly;
	bool packed_ring; /* offer VIRTIO_F_RING_PACKED (off unless asked, as SPDK) */
};

typedef void (*usk_vhost_cb)(void *cb_arg, int rc);

/**
 * Directory for controller sockets (usk_tgt -S DIR). Call before any controller exists.
 * Returns 0, -ENAMETOOLONG, -EBUSY (a controller exists).
 */
int usk_vhost_set_socket_dir(const char *dir);
const char *usk_vhost_get_socket_dir(void);

/**
 * Create a vhost-user-blk controller: opens bdev_name on a new thread, listens on its socket.
 * Returns 0 (cb(cb_arg, rc) runs exactly once, rc 0 or -errno: -ENODEV no such bdev, -EADDRINUSE
 * socket path taken) or a negative errno (cb never runs: -EINVAL bad name or cpumask with a
 * reason in err, -EEXIST name taken).
 */
int usk_vhost_blk_construct(const struct usk_vhost_blk_opts *opts, usk_vhost_cb cb, void *cb_arg,
			    char *err, size_t err_len);

/**
 * Remove a controller: closes its connection (waiting for in-flight requests), its socket and
 * bdev, then its thread exits. Returns 0 (cb runs exactly once) or -ENODEV (cb never runs).
 */
int usk_vhost_dev_remove(const char *name, usk_vhost_cb cb, void *cb_arg);

/**
 * Interrupt coalescing (SPDK vhost_controller_set_coalescing): with delay_base_us > 0, a queue
 * whose rate exceeds iops_threshold waits delay_base_us * (rate - threshold) / threshold between
 * interrupts. delay_base_us 0 disables it. Returns 0, -ENODEV, -EINVAL.
 */
int usk_vhost_set_coalescing(const char *name, uint32_t delay_base_us, uint32_t iops_threshold);

/** Append one object per controller (vhost_get_controllers format); name NULL = all. -ENODEV. */
int usk_vhost_dump_controllers(const char *name, json_t *array);

/** Append the RPCs that recreate every controller (save_config). */
void usk_vhost_write_config_json(json_t *config_array);

/** Remove every controller; cb runs when all are gone (subsystem fini). */
void usk_vhost_fini(usk_vhost_cb cb, void *cb_arg);

#ifdef __cplusplus
}
#endif
#endif
