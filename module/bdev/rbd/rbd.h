/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rbd bdev module: bdevs on Ceph RBD images through librbd / librados. Registered clusters are
 * one librados connection shared by many bdevs; each bdev opens its image once. Connecting and
 * opening block (tens of ms, seconds when the cluster is unreachable), so they run on the
 * module's worker thread and their callbacks run later on the calling (app) thread.
 */
#ifndef USK_MODULE_BDEV_RBD_H
#define USK_MODULE_BDEV_RBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct usk_bdev;

/*
 * Client options set on every connection unless the config file or config map sets them, so
 * an unreachable cluster fails in seconds and an OSD that never comes back fails I/O instead of
 * holding it (and shutdown) forever. Values in seconds.
 */
#define USK_RBD_DEFAULT_MOUNT_TIMEOUT  "10"
#define USK_RBD_DEFAULT_MON_OP_TIMEOUT "10"
#define USK_RBD_DEFAULT_OSD_OP_TIMEOUT "30"

/** Parameters of a cluster connection (all strings may be NULL; the module copies them). */
struct usk_rbd_cluster_opts {
	const char *name;	 /* registered clusters only */
	const char *user_id;	 /* cephx user without "client.", NULL: admin */
	const json_t *config;	 /* object of string values: rados_conf_set each, may be NULL */
	const char *config_file; /* NULL: the default search (/etc/ceph/ceph.conf) */
	const char *key_file;	 /* keyring path, NULL: from the config */
	const char *core_mask;	 /* hex cpu mask for librados' threads, NULL: inherit */
};

/** Callback of an asynchronous call: rc 0 or -errno; err says why (empty on success). */
typedef void (*usk_rbd_cb)(void *cb_arg, int rc, const char *err);

/**
 * Register cluster opts->name and connect to it (app thread). cb runs on the calling thread
 * once connected or failed (err names the cluster and the reason). Returns 0 (cb will run),
 * -EEXIST (name taken: cb never runs), -EINVAL (no name, bad core_mask), -ENOMEM.
 */
int usk_rbd_register_cluster(const struct usk_rbd_cluster_opts *opts, usk_rbd_cb cb, void *cb_arg);

/**
 * Disconnect and forget cluster name (app thread); cb runs on the calling thread when done.
 * Returns 0, -ENOENT (no such cluster), -EBUSY (bdevs use it or it is connecting).
 */
int usk_rbd_unregister_cluster(const char *name, usk_rbd_cb cb, void *cb_arg);

/**
 * JSON description of cluster name (NULL: an array of all). Returns NULL when there is no such
 * cluster. App thread.
 */
json_t *usk_rbd_get_clusters_info(const char *name);

struct usk_rbd_bdev_opts {
	const char *name; /* NULL: "Ceph<N>" */
	const char *pool_name;
	const char *rbd_name;
	uint32_t block_size;	  /* power of two >= 512 */
	const uint8_t *uuid;	  /* 16 bytes, NULL: generated */
	const char *cluster_name; /* registered cluster, or NULL: a private connection with: */
	const char *user_id;
	const json_t *config;
};

typedef void (*usk_rbd_create_cb)(void *cb_arg, struct usk_bdev *bdev, int rc, const char *err);

/**
 * Create an rbd bdev (app thread): open the image on the worker thread, then register the
 * bdev; cb runs on the calling thread with the bdev or the error (err names the cluster, pool
 * or image and the reason). Returns 0 (cb will run) or -EINVAL (bad block_size, missing pool or
 * image), -ENODEV (cluster_name not registered or not connected), -EEXIST (name taken),
 * -ENOMEM; then cb never runs.
 */
int usk_rbd_bdev_create(const struct usk_rbd_bdev_opts *opts, usk_rbd_create_cb cb, void *cb_arg);

typedef void (*usk_rbd_delete_cb)(void *cb_arg, int rc);
/** Unregister rbd bdev name (app thread); cb_fn(cb_arg, rc) once closed. 0 or -ENODEV. */
int usk_rbd_bdev_delete(const char *name, usk_rbd_delete_cb cb_fn, void *cb_arg);

/**
 * Grow rbd bdev name's image to new_size_mib MiB and report the new block count to the bdev
 * layer (app thread); cb on the calling thread. Returns 0 (cb will run), -ENODEV, -EINVAL
 * (not larger than the current size).
 */
int usk_rbd_bdev_resize(const char *name, uint64_t new_size_mib, usk_rbd_cb cb, void *cb_arg);

#endif
